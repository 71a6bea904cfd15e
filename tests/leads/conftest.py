"""API clients for the CRM endpoint tests."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient


@pytest.fixture
def api(admin_user):
    """A client authenticated as a superuser."""
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def make_user(django_user_model):
    """A non-staff user holding the named permissions (`leads.view_lead`)."""

    def make(username, *perms):
        user = django_user_model.objects.create_user(username, password="secret-pass")
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make
