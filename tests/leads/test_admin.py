"""The CRM admin: every page renders, calls added there update their lead."""

import pytest
from django.urls import reverse

from leads.models import Call, Callback, DncEntry, HopperEntry, InboundNumber, Queue

MODELS = [
    "campaign", "list", "queue", "inboundnumber", "emailtemplate", "status", "lead", "call",
    "callback", "dncentry", "hopperentry",
]  # fmt: skip


@pytest.fixture
def world(make_lead, campaign, statuses):
    lead = make_lead(phone_number="+13125550142")
    queue = Queue.objects.create(name="Sales Inbound", campaign=campaign)
    InboundNumber.objects.create(number="+13125550150", queue=queue)
    Call.record(lead=lead, disposition=statuses["CALLBK"], external_id="x-1")
    Callback.objects.create(lead=lead, due_at="2025-03-05T16:00:00Z")
    HopperEntry.objects.create(lead=lead, campaign=campaign)
    DncEntry.add("+13125550199")
    return lead


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_and_add_page_renders(admin_client, world, model):
    changelist = admin_client.get(reverse(f"admin:leads_{model}_changelist"))
    add = admin_client.get(reverse(f"admin:leads_{model}_add"))

    assert (changelist.status_code, add.status_code) == (200, 200)


def test_the_lead_page_shows_its_calls_callbacks_and_hopper_entries(admin_client, world):
    response = admin_client.get(reverse("admin:leads_lead_change", args=[world.pk]))

    assert response.status_code == 200
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    assert {"calls", "callbacks", "hopper_entries"} <= prefixes


def test_it_finds_a_lead_by_phone_in_any_spelling(admin_client, world, make_lead):
    make_lead(phone_number="+13125550143")

    response = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": "(312) 555-0142"})

    assert [lead.pk for lead in response.context["cl"].result_list] == [world.pk]


def test_a_call_added_in_the_admin_updates_its_lead(admin_client, make_lead, statuses):
    lead = make_lead()
    form = {
        "lead": lead.pk,
        "call_type": "OUTBOUND",
        "started_at_0": "2025-03-04",
        "started_at_1": "10:00:00",
        "length": 30,
        "disposition": "NA",
        "revenue": "0",
    }

    response = admin_client.post(reverse("admin:leads_call_add"), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    call = Call.objects.get(lead=lead)
    lead.refresh_from_db()
    assert (lead.called_count, lead.status_id) == (1, "NA")
    assert call.campaign_id == lead.list.campaign_id


def test_a_disposition_changed_in_the_admin_is_a_redisposition(admin_client, make_lead, statuses):
    lead = make_lead()
    call, _ = Call.record(lead=lead, disposition=statuses["CALLBK"], started_at="2025-03-04T10:00Z")
    form = {
        "call_type": "OUTBOUND",
        "started_at_0": "2025-03-04",
        "started_at_1": "10:00:00",
        "length": 30,
        "disposition": "SALE",
        "revenue": "100",
    }

    response = admin_client.post(reverse("admin:leads_call_change", args=[call.pk]), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    call.refresh_from_db()
    lead.refresh_from_db()
    assert (call.disposition_id, call.revenue) == ("SALE", 100)
    assert (lead.status_id, lead.called_count) == ("SALE", 1)
