"""Every API write runs in one transaction, so workflow records commit with the change."""

import pytest
from django.db import connection
from django.db.models.signals import post_save

from leads.models import Campaign


@pytest.fixture
def atomic_saves():
    """Records, for each Campaign save, whether it ran inside a transaction."""
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(connection.in_atomic_block)

    post_save.connect(receiver, sender=Campaign, dispatch_uid="test-atomic-saves")
    yield seen
    post_save.disconnect(sender=Campaign, dispatch_uid="test-atomic-saves")


@pytest.mark.django_db(transaction=True)
def test_it_saves_inside_a_transaction(api, atomic_saves):
    Campaign.objects.create(name="Outside the API")
    response = api.post("/api/v1/campaigns/", {"name": "Through the API"}, format="json")
    api.patch(f"/api/v1/campaigns/{response.data['id']}/", {"active": False}, format="json")

    assert atomic_saves == [False, True, True]
