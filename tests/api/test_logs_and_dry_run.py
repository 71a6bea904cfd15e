"""workflow-logs (filters, flush), workflow-triggers, notifications and the dry run."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.test import APIClient

from automation.models import (
    Action,
    ActionSet,
    EventCondition,
    LogEntry,
    Notification,
    Trigger,
    Workflow,
)
from leads.models import Call


@pytest.fixture
def workflow(campaign, statuses):
    wf = Workflow.objects.create(name="Sale follow-up")
    wf.campaigns.add(campaign)
    EventCondition.objects.create(workflow=wf, type="DISPOSITION", config={"values": ["SALE"]})
    later = ActionSet.objects.create(workflow=wf, delay_mode="fixed", delay_days=1)
    Action.objects.create(action_set=later, type="STATUS", config={"status": "FOLLOW"})
    Action.objects.create(action_set=later, type="MOVE", config={"list": "Solar CA"})
    return wf


@pytest.fixture
def two_sales(workflow, make_lead, statuses):
    leads = [make_lead(), make_lead()]
    for lead in leads:
        Call.record(lead=lead, disposition=statuses["SALE"], ended_at=timezone.now())
    return leads


def test_it_lists_log_entries_with_the_contract_fields(api, two_sales):
    data = api.get("/api/v1/workflow-logs/").json()
    assert len(data["results"]) == 4
    entry = data["results"][0]
    for field in (
        "id", "workflow", "lead", "list", "action_type", "action", "state", "reason",
        "due_at", "started_at", "finished_at", "attempts", "result", "trigger",
    ):  # fmt: skip
        assert field in entry
    assert entry["state"] == "pending"


def test_a_log_entry_of_a_deleted_action_says_action_null(api, two_sales, workflow):
    action = Action.objects.get(action_set__workflow=workflow, type="MOVE")
    action.delete()  # the entries keep its id: the log is not rewritten
    rows = api.get(f"/api/v1/workflow-logs/?workflow={workflow.pk}").json()["results"]
    assert sorted((row["action_type"], row["action"] is None) for row in rows) == [
        ("MOVE", True), ("MOVE", True), ("STATUS", False), ("STATUS", False)
    ]  # fmt: skip


def test_it_filters_log_entries(api, two_sales, workflow, lead_list):
    lead = two_sales[0]
    assert len(api.get(f"/api/v1/workflow-logs/?lead={lead.pk}").json()["results"]) == 2
    assert len(api.get("/api/v1/workflow-logs/?action_type=MOVE").json()["results"]) == 2
    assert (
        len(
            api.get(f"/api/v1/workflow-logs/?list={lead_list.pk}&workflow={workflow.pk}").json()[
                "results"
            ]
        )
        == 4
    )
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get("/api/v1/workflow-logs/", {"created_after": later}).json()["results"] == []
    assert len(api.get("/api/v1/workflow-logs/", {"created_before": later}).json()["results"]) == 4
    assert api.get("/api/v1/workflow-logs/?state=succeeded").json()["results"] == []


def test_it_rejects_a_bad_filter_value(api, two_sales):
    response = api.get("/api/v1/workflow-logs/?created_after=yesterday")
    assert response.status_code == 400
    assert "created_after" in response.json()


def test_it_flushes_pending_entries_by_id(api, two_sales):
    lead = two_sales[0]
    ids = list(LogEntry.objects.filter(lead_id=lead.pk).values_list("pk", flat=True))
    response = api.post("/api/v1/workflow-logs/flush/", {"ids": ids}, format="json")
    assert response.json() == {"flushed": 2, "leads": 1}
    assert set(LogEntry.objects.filter(lead_id=lead.pk).values_list("state", flat=True)) == {
        "flushed"
    }
    assert set(LogEntry.objects.exclude(lead_id=lead.pk).values_list("state", flat=True)) == {
        "pending"
    }


def test_it_flushes_only_pending_entries(api, two_sales):
    done = LogEntry.objects.first()
    LogEntry.objects.filter(pk=done.pk).update(state="succeeded")
    response = api.post(
        "/api/v1/workflow-logs/flush/", {"action_type": ["STATUS", "MOVE"]}, format="json"
    )
    assert response.json()["flushed"] == 3
    assert LogEntry.objects.get(pk=done.pk).state == "succeeded"


def test_it_refuses_to_flush_everything_without_a_filter(api, two_sales):
    response = api.post("/api/v1/workflow-logs/flush/", {}, format="json")
    assert response.status_code == 400
    assert LogEntry.objects.filter(state="pending").count() == 4


def test_flush_needs_the_change_permission(two_sales, lead_list):
    viewer = User.objects.create_user("viewer", password="pw-viewer-123")
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_logentry", content_type__app_label="automation")
    )
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/v1/workflow-logs/").status_code == 200
    ids = list(LogEntry.objects.values_list("pk", flat=True))
    assert (
        client.post("/api/v1/workflow-logs/flush/", {"ids": ids}, format="json").status_code == 403
    )
    assert LogEntry.objects.filter(state="pending").count() == 4


def test_it_lists_triggers_with_outcome_filter(api, two_sales, workflow):
    data = api.get(f"/api/v1/workflow-triggers/?workflow={workflow.pk}&outcome=fired").json()
    assert len(data["results"]) == 2
    trigger = data["results"][0]
    assert trigger["occurrence"]["disposition"] == "SALE"
    assert trigger["chain"] == []
    assert api.get("/api/v1/workflow-triggers/?outcome=rate_limited").json()["results"] == []


def test_the_dry_run_explains_and_stores_nothing(api, workflow, make_lead, statuses):
    lead = make_lead(timezone="America/Los_Angeles")
    Call.objects.create(lead=lead, disposition=statuses["SALE"], ended_at=timezone.now())
    before = (Trigger.objects.count(), LogEntry.objects.count())
    report = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/", {"lead": lead.pk}, format="json"
    ).json()
    assert report["outcome"] == "fired"
    assert report["conditions"][0]["matched"] is True
    assert [g["gate"] for g in report["gates"]][:3] == ["active", "scope", "conditions"]
    assert [a["type"] for a in report["actions"]] == ["STATUS", "MOVE"]
    assert report["actions"][0]["due_local"].endswith(("-08:00", "-07:00"))
    assert (Trigger.objects.count(), LogEntry.objects.count()) == before


def test_the_dry_run_says_why_a_condition_does_not_match(api, workflow, make_lead, statuses):
    lead = make_lead()
    Call.objects.create(lead=lead, disposition=statuses["NA"])
    report = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/", {"lead": lead.pk}, format="json"
    ).json()
    assert report["outcome"] == "no_match"
    assert report["conditions"][0]["matched"] is False


def test_the_dry_run_rejects_an_unknown_lead(api, workflow):
    response = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/", {"lead": 999999}, format="json"
    )
    assert response.status_code == 400
    assert "lead" in response.json()


def test_it_lists_and_acknowledges_notifications(api, workflow, admin_user):
    note = Notification.objects.create(workflow=workflow, message="Sale follow-up: loop detected")
    assert (
        api.get("/api/v1/notifications/?acknowledged=false").json()["results"][0]["id"] == note.pk
    )
    assert api.post(f"/api/v1/notifications/{note.pk}/acknowledge/").status_code == 200
    note.refresh_from_db()
    assert note.acknowledged_by == admin_user
    assert api.get("/api/v1/notifications/?acknowledged=false").json()["results"] == []


@pytest.mark.parametrize(
    "facts, path",
    [
        ({"call": "x"}, "facts.call"),
        ({"changed_fields": 5}, "facts.changed_fields"),
        ({"mood": 1}, "facts.mood"),
    ],
)
def test_the_dry_run_rejects_bad_facts_naming_them(api, workflow, make_lead, facts, path):
    lead = make_lead()
    response = api.post(
        f"/api/v1/workflows/{workflow.pk}/dry-run/",
        {"lead": lead.pk, "facts": facts},
        format="json",
    )
    assert response.status_code == 400
    assert path in response.json()


def test_the_dry_run_uses_given_facts(api, workflow, make_lead):
    lead = make_lead()
    body = {"lead": lead.pk, "facts": {"disposition": "SALE", "call": None}}
    report = api.post(f"/api/v1/workflows/{workflow.pk}/dry-run/", body, format="json").json()
    assert report["conditions"][0]["matched"] is True


def test_listing_workflows_takes_a_fixed_number_of_queries(
    api, workflow, lead_list, django_assert_max_num_queries
):
    from automation.document import document

    for i in range(5):
        document.save({**document.export(workflow), "name": f"Copy {i}"})
    with django_assert_max_num_queries(15):
        data = api.get("/api/v1/workflows/").json()
    assert data["count"] == 6 and len(data["results"]) == 6
