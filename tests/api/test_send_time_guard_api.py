"""calling-rules/, contact-policies/, dnc/ with e-mail addresses, and the dry run's
send-time checks (SPEC C.3)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from rest_framework.test import APIClient

from automation.constants import EntryState
from automation.models import (
    Action,
    ActionSet,
    CallingRule,
    ContactPolicy,
    EventCondition,
    LogEntry,
    Workflow,
)
from leads.models import DncEntry

TEXAS = {"name": "Texas", "state": "tx", "hours": {"6": ["12:00", "21:00"], "0": None}}


def client_in(group_name):
    user = User.objects.create_user(f"{group_name}-user", password="pw-123456")
    user.groups.add(Group.objects.get(name=group_name))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_creates_lists_and_filters_calling_rules(api):
    response = api.post("/api/v1/calling-rules/", TEXAS, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "id": response.json()["id"],
        "name": "Texas",
        "state": "TX",
        "timezone": "",
        "hours": {"6": ["12:00", "21:00"], "0": None},
        "blocked_dates": [],
        "active": True,
    }
    api.post("/api/v1/calling-rules/", {"timezone": "America/Denver"}, format="json")
    page = api.get("/api/v1/calling-rules/?state=tx").json()
    assert page["count"] == 1 and page["results"][0]["name"] == "Texas"
    assert api.get("/api/v1/calling-rules/?limit=1").json()["next"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"state": "TX", "timezone": "America/Chicago"}, "state", "exactly one"),
        ({}, "state", "exactly one"),
        ({"state": "T1"}, "state", "two-letter"),
        ({"timezone": "Mars/Base"}, "timezone", "IANA"),
        ({"state": "TX", "hours": {"1": ["9", "17:00"]}}, "hours", "HH:MM"),
        ({"state": "TX", "hours": {"8": None}}, "hours", "weekday"),
        ({"state": "TX", "blocked_dates": ["25/12/2026"]}, "blocked_dates", "ISO date"),
    ],
)
def test_it_refuses_a_bad_calling_rule_naming_the_field(api, body, field, message):
    response = api.post("/api/v1/calling-rules/", body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()


def test_it_keeps_one_default_policy_per_channel_and_one_per_campaign(api, campaign):
    body = {"channel": "sms", "max_per_24h": 1, "max_per_7d": None, "over_budget": "defer"}
    assert api.post("/api/v1/contact-policies/", body, format="json").status_code == 201
    again = api.post("/api/v1/contact-policies/", body, format="json")
    assert again.status_code == 400 and "default policy for sms" in again.json()["channel"][0]
    own = {**body, "campaign": campaign.pk, "over_budget": "skip"}
    assert api.post("/api/v1/contact-policies/", own, format="json").status_code == 201
    bad = api.post("/api/v1/contact-policies/", {**body, "channel": "fax"}, format="json")
    assert bad.status_code == 400 and "channel" in bad.json()
    assert api.get("/api/v1/contact-policies/?is_default=true").json()["count"] == 1
    assert api.get(f"/api/v1/contact-policies/?campaign={campaign.pk}").json()["count"] == 1


def test_dnc_takes_an_email_address_in_place_of_a_number(api):
    response = api.post("/api/v1/dnc/", {"email": "Ada@Example.com"}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["email"], response.json()["phone_number"]) == ("ada@example.com", "")
    assert api.post("/api/v1/dnc/", {"email": "ada@example.com"}, format="json").status_code == 200
    both = api.post(
        "/api/v1/dnc/", {"email": "x@example.com", "phone_number": "+13105550100"}, format="json"
    )
    assert both.status_code == 400 and "phone_number" in both.json()
    assert api.post("/api/v1/dnc/", {}, format="json").status_code == 400
    assert api.get("/api/v1/dnc/?email=ADA@example.com").json()["count"] == 1
    assert DncEntry.objects.get().email == "ada@example.com"


@pytest.mark.parametrize("path", ["/api/v1/calling-rules/", "/api/v1/contact-policies/"])
def test_viewers_and_operators_read_the_guards_settings_but_do_not_write_them(db, path):
    for group in ("viewer", "operator"):
        client = client_in(group)
        assert client.get(path).status_code == 200
        body = {"state": "TX"} if "calling" in path else {"channel": "sms", "max_per_24h": 1}
        assert client.post(path, body, format="json").status_code == 403
    stranger = APIClient()
    stranger.force_authenticate(User.objects.create_user("nobody"))
    assert stranger.get(path).status_code == 403


def test_the_dry_run_shows_every_send_time_check_per_action(api, make_lead, campaign, statuses):
    workflow = Workflow.objects.create(name="Texts", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow, type="LEAD_ACTION", config={"values": ["save"]}
    )
    action_set = ActionSet.objects.create(workflow=workflow)
    sms = Action.objects.create(action_set=action_set, type="SMS", config={"message": "Hi"})
    Action.objects.create(action_set=action_set, type="STATUS", config={"status": "FOLLOW"})
    lead = make_lead(phone_number="+12145550100", state="TX", timezone="America/Chicago")
    ContactPolicy.objects.create(channel="sms", max_per_24h=1)
    sent = timezone.now() - timedelta(hours=1)
    LogEntry.objects.create(
        workflow=workflow, action=sms, lead_id=lead.pk, action_type="SMS", due_at=sent,
        state=EntryState.SUCCEEDED, finished_at=sent,
    )  # fmt: skip

    report = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/", {"lead": lead.pk}, format="json"
    ).json()

    text, status = report["actions"]
    checks = {c["check"]: c for c in text["send_time"]["checks"]}
    assert list(checks) == [
        "workflow", "stop_if", "window", "dnc", "calling_rules", "contact_budget", "live_call",
    ]  # fmt: skip
    assert checks["dnc"]["passed"] is True
    assert checks["contact_budget"]["passed"] is False
    assert text["send_time"]["decision"] == "deferred"
    assert text["send_time"]["reason"] == (
        "deferred: contact budget: sms 1 of 1 in 24 h (default policy)"
    )
    assert text["send_time"]["deferred_to"] == (sent + timedelta(hours=24)).isoformat()
    assert status["send_time"]["decision"] == "run"
    assert {c["check"]: c["passed"] for c in status["send_time"]["checks"]}["dnc"] is None

    DncEntry.add(lead.phone_number)
    CallingRule.objects.create(state="TX", hours={str(d): None for d in range(7)})
    report = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/", {"lead": lead.pk}, format="json"
    ).json()
    text = report["actions"][0]["send_time"]
    assert text["decision"] == "skipped"
    assert text["reason"] == "DNC: +12145550100 is on the global DNC list"
    assert [c["passed"] for c in text["checks"]][3:6] == [False, False, False]
