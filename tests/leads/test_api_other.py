"""Callbacks, hopper, DNC, statuses and the configuration endpoints."""

import pytest

from leads.models import (
    Callback,
    Campaign,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    List,
    Queue,
    Status,
)


@pytest.fixture
def queue(campaign):
    return Queue.objects.create(name="Sales Inbound", campaign=campaign)


def test_it_schedules_a_callback(api, make_lead):
    lead = make_lead()

    response = api.post(
        "/api/v1/callbacks/",
        {"lead": lead.pk, "due_at": "2025-03-05T16:00:00Z", "note": "After lunch"},
        format="json",
    )

    assert response.status_code == 201, response.data
    callback = Callback.objects.get(pk=response.data["id"])
    assert (callback.lead_id, callback.state, callback.recipient) == (lead.pk, "PENDING", "system")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"recipient": "personal"}, "agent"),
        ({"due_at": None}, "due_at"),
        ({"state": "SNOOZED"}, "state"),
        ({"lead": 999999}, "lead"),
    ],
)
def test_it_rejects_a_bad_callback(api, make_lead, change, field):
    payload = {"lead": make_lead().pk, "due_at": "2025-03-05T16:00:00Z"} | change

    response = api.post("/api/v1/callbacks/", payload, format="json")

    assert response.status_code == 400
    assert field in response.data


def test_it_filters_callbacks_by_lead_and_state(api, make_lead):
    lead = make_lead()
    pending = Callback.objects.create(lead=lead, due_at="2025-03-05T16:00:00Z")
    Callback.objects.create(lead=lead, due_at="2025-03-04T16:00:00Z", state="COMPLETED")
    Callback.objects.create(lead=make_lead(), due_at="2025-03-05T16:00:00Z")

    response = api.get("/api/v1/callbacks/", {"lead": lead.pk, "state": "PENDING"})

    assert [row["id"] for row in response.data["results"]] == [pending.pk]


def test_it_puts_a_lead_in_the_hopper(api, make_lead, campaign):
    lead = make_lead()

    response = api.post(
        "/api/v1/hopper/", {"lead": lead.pk, "campaign": campaign.pk, "priority": 90}, format="json"
    )

    assert response.status_code == 201, response.data
    entry = HopperEntry.objects.get(pk=response.data["id"])
    assert (entry.priority, entry.state, entry.source) == (90, "WAITING", "API")
    filtered = api.get("/api/v1/hopper/", {"lead": lead.pk, "state": "WAITING"}).data["results"]
    assert [row["id"] for row in filtered] == [entry.pk]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"priority": 100}, "priority"), ({"campaign": None}, "campaign"), ({"state": "X"}, "state")],
)
def test_it_rejects_a_bad_hopper_entry(api, make_lead, campaign, change, field):
    payload = {"lead": make_lead().pk, "campaign": campaign.pk} | change

    response = api.post("/api/v1/hopper/", payload, format="json")

    assert response.status_code == 400
    assert field in response.data


def test_it_adds_a_dnc_number_once(api, campaign):
    first = api.post("/api/v1/dnc/", {"phone_number": "(212) 555-0111"}, format="json")
    again = api.post("/api/v1/dnc/", {"phone_number": "+1 212 555 0111"}, format="json")
    per_campaign = api.post(
        "/api/v1/dnc/", {"phone_number": "2125550111", "campaign": campaign.pk}, format="json"
    )

    assert (first.status_code, again.status_code, per_campaign.status_code) == (201, 200, 201)
    assert again.data["id"] == first.data["id"]
    assert DncEntry.objects.filter(phone_number="+12125550111").count() == 2
    assert DncEntry.objects.get(pk=first.data["id"]).source == "api"


def test_it_filters_dnc_by_phone_and_scope(api, campaign):
    global_entry, _ = DncEntry.add("+12125550111")
    campaign_entry, _ = DncEntry.add("+12125550111", campaign=campaign)
    DncEntry.add("+12125550112")

    by_phone = api.get("/api/v1/dnc/", {"phone_number": "212-555-0111"}).data["results"]
    by_campaign = api.get("/api/v1/dnc/", {"campaign": campaign.pk}).data["results"]
    only_global = api.get("/api/v1/dnc/", {"is_global": "true", "phone_number": "2125550111"})

    assert {row["id"] for row in by_phone} == {global_entry.pk, campaign_entry.pk}
    assert [row["id"] for row in by_campaign] == [campaign_entry.pk]
    assert [row["id"] for row in only_global.data["results"]] == [global_entry.pk]


def test_it_refuses_to_move_a_dnc_entry_onto_another(api):
    DncEntry.add("+12125550111")
    entry, _ = DncEntry.add("+12125550112")

    response = api.patch(f"/api/v1/dnc/{entry.pk}/", {"phone_number": "2125550111"}, format="json")

    assert response.status_code == 400
    assert "phone_number" in response.data


def test_it_rejects_a_malformed_dnc_number(api):
    response = api.post("/api/v1/dnc/", {"phone_number": "12"}, format="json")

    assert response.status_code == 400
    assert "phone_number" in response.data


def test_it_serves_statuses_with_their_flags(api, statuses):
    response = api.get("/api/v1/statuses/SALE/")

    assert response.data == {
        "code": "SALE", "name": "Sale", "final": True, "reached": True, "sale": True,
        "dnc": False, "callback": False, "contact": True, "voicemail": False,
    }  # fmt: skip


def test_it_creates_a_status_and_keeps_its_code(api):
    created = api.post("/api/v1/statuses/", {"code": "XFER", "name": "Transferred"}, format="json")
    renamed = api.patch("/api/v1/statuses/XFER/", {"code": "OTHER", "name": "Xfer"}, format="json")

    assert (created.status_code, renamed.status_code) == (201, 200)
    assert list(Status.objects.values_list("code", "name")) == [("XFER", "Xfer")]


@pytest.mark.parametrize("code", ["sale", "TOOLONG7", "", "A-B"])
def test_it_rejects_a_bad_status_code(api, code):
    response = api.post("/api/v1/statuses/", {"code": code, "name": "X"}, format="json")

    assert response.status_code == 400
    assert "code" in response.data


def test_it_will_not_delete_a_status_in_use(api, make_lead, statuses):
    make_lead(status=statuses["SALE"])

    response = api.delete("/api/v1/statuses/SALE/")

    assert response.status_code == 409
    assert "lead" in str(response.data["detail"])
    assert Status.objects.filter(code="SALE").exists()


def test_it_manages_campaigns_and_lists(api):
    campaign = api.post("/api/v1/campaigns/", {"name": "Roofing"}, format="json")
    lst = api.post("/api/v1/lists/", {"name": "Roofing TX", "campaign": campaign.data["id"]})

    assert (campaign.status_code, lst.status_code) == (201, 201)
    assert List.objects.get(name="Roofing TX").campaign.name == "Roofing"
    deleting = api.delete(f"/api/v1/campaigns/{campaign.data['id']}/")
    assert deleting.status_code == 409
    assert Campaign.objects.filter(name="Roofing").exists()


def test_it_rejects_a_list_without_an_existing_campaign(api, campaign):
    missing = api.post("/api/v1/lists/", {"name": "Orphans", "campaign": 999999}, format="json")
    duplicate = api.post("/api/v1/campaigns/", {"name": campaign.name}, format="json")

    assert (missing.status_code, duplicate.status_code) == (400, 400)
    assert "campaign" in missing.data
    assert "name" in duplicate.data


def test_it_manages_queues_and_inbound_numbers(api, queue):
    created = api.post(
        "/api/v1/inbound-numbers/", {"number": "(415) 555-0150", "queue": queue.pk}, format="json"
    )
    bad = api.post("/api/v1/inbound-numbers/", {"number": "411", "queue": queue.pk}, format="json")
    queues = api.get("/api/v1/queues/", {"campaign": queue.campaign_id})

    assert created.status_code == 201, created.data
    assert InboundNumber.objects.get().number == "+14155550150"
    assert bad.status_code == 400
    assert "number" in bad.data
    assert [row["name"] for row in queues.data["results"]] == ["Sales Inbound"]


def test_it_manages_email_templates(api, declare):
    declare("roof_type")
    created = api.post(
        "/api/v1/email-templates/",
        {"name": "Welcome", "subject": "Hi {first_name}", "body": "Your {{ref}}: {roof_type}"},
        format="json",
    )

    assert created.status_code == 201, created.data
    assert EmailTemplate.objects.get().subject == "Hi {first_name}"


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [("Hi {first_name", "ok", "subject"), ("ok", "{call.nope}", "body"), ("ok", "}", "body")],
)
def test_it_rejects_bad_placeholders(api, subject, body, field):
    response = api.post(
        "/api/v1/email-templates/", {"name": "T", "subject": subject, "body": body}, format="json"
    )

    assert response.status_code == 400
    assert field in response.data
