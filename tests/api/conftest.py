import copy

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from automation.engine import rules
from tests.api.test_workflow_documents import DOC


@pytest.fixture(autouse=True)
def fresh_rules():
    """Each test compiles the rule index from its own workflows."""
    rules.invalidate()
    yield
    rules.invalidate()


@pytest.fixture
def doc(campaign, lead_list, statuses):
    """SPEC Appendix A's document (a copy), with what it names created."""
    return copy.deepcopy(DOC)


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client
