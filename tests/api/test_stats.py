"""`workflows/{id}/stats/` (SPEC C.5): exactly its keys, from the rollups; 400 naming a bad parameter."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from automation.insight import rollups
from automation.models import Action, ActionSet, LogEntry, Trigger, Workflow

NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


@pytest.fixture
def workflow(db):
    workflow = Workflow.objects.create(name="Sale SMS", all_campaigns=True)
    action_set = ActionSet.objects.create(workflow=workflow)
    Action.objects.create(action_set=action_set, type="SMS", config={}, position=0)
    return workflow


@pytest.fixture
def history(workflow, make_lead):
    """Two hours of work: 3 fired and 1 rate-limited trigger; 2 SMS sent, 1 failed, 1 pending."""
    lead = make_lead()
    action = Action.objects.get(action_set__workflow=workflow)
    for hour, outcome in ((10, "fired"), (10, "fired"), (11, "fired"), (11, "rate_limited")):
        Trigger.objects.create(
            workflow=workflow, lead_id=lead.pk, outcome=outcome,
            occurred_at=NOW.replace(hour=hour, minute=5),
        )  # fmt: skip
    for hour, state, late, reason in (
        (10, "succeeded", 2, ""),
        (11, "succeeded", 2, ""),
        (11, "failed", 400, "http 503: down (attempt 3 of 3: giving up)"),
    ):
        due = NOW.replace(hour=hour, minute=5)
        LogEntry.objects.create(
            workflow=workflow, action=action, lead_id=lead.pk, action_type="SMS", state=state,
            reason=reason, due_at=due, started_at=due + timedelta(seconds=late),
            finished_at=due + timedelta(seconds=late + 1),
        )  # fmt: skip
    LogEntry.objects.create(
        workflow=workflow, action=action, lead_id=lead.pk, action_type="SMS", due_at=NOW
    )
    rollups.fold(NOW)
    return action


def test_it_answers_from_the_rollups_with_exactly_the_spec_keys(api, workflow, history):
    url = f"/api/v1/workflows/{workflow.pk}/stats/"
    response = api.get(url, {"since": "2026-03-02T10:00:00Z", "until": "2026-03-02T12:00:00Z"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"triggers", "actions", "series", "top_reasons"}
    assert body["triggers"] == {"fired": 3, "rate_limited": 1}
    assert body["actions"] == [
        {
            "action": history.pk, "type": "SMS", "succeeded": 2, "failed": 1, "skipped": 0,
            "cancelled": 0, "flushed": 0, "pending": 1,
            "lateness_p50_seconds": 5, "lateness_p95_seconds": 900,
        }
    ]  # fmt: skip
    assert body["series"] == [
        {"t": "2026-03-02T10:00:00Z", "fired": 2, "succeeded": 1, "failed": 0},
        {"t": "2026-03-02T11:00:00Z", "fired": 1, "succeeded": 1, "failed": 1},
    ]
    assert body["top_reasons"] == [
        {"reason": "http 503: down (attempt 3 of 3: giving up)", "count": 1}
    ]


def test_it_buckets_by_day(api, workflow, history):
    response = api.get(
        f"/api/v1/workflows/{workflow.pk}/stats/",
        {"since": "2026-03-01", "until": "2026-03-03", "bucket": "day"},
    )
    assert response.status_code == 200
    assert response.json()["series"] == [
        {"t": "2026-03-01T00:00:00Z", "fired": 0, "succeeded": 0, "failed": 0},
        {"t": "2026-03-02T00:00:00Z", "fired": 3, "succeeded": 2, "failed": 1},
    ]


def test_it_leaves_out_what_is_outside_the_range(api, workflow, history):
    response = api.get(
        f"/api/v1/workflows/{workflow.pk}/stats/",
        {"since": "2026-03-02T11:00:00+00:00", "until": "2026-03-02T12:00:00+00:00"},
    )
    assert response.json()["triggers"] == {"fired": 1, "rate_limited": 1}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"until": "2026-03-02T10:00:00"}, "until"),
        ({"bucket": "week"}, "bucket"),
        ({"since": "2026-03-02T12:00:00Z", "until": "2026-03-02T10:00:00Z"}, "since"),
        ({"since": "2020-01-01", "until": "2026-03-02"}, "since"),
        ({"since": "99999-01-01T00:00:00Z"}, "since"),
        ({"since": "2026-03-02T10:00:00Z\x00"}, "since"),
    ],
)
def test_it_refuses_a_bad_parameter_naming_it(api, workflow, query, field):
    response = api.get(f"/api/v1/workflows/{workflow.pk}/stats/", query)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_it_needs_the_view_permission_on_workflows(db, workflow):
    user = User.objects.create_user("agent", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/v1/workflows/{workflow.pk}/stats/"
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_workflow"))
    user = User.objects.get(pk=user.pk)
    client.force_authenticate(user)
    assert client.get(url).status_code == 200


def test_it_answers_404_for_no_such_workflow(api, db):
    assert api.get("/api/v1/workflows/999999/stats/").status_code == 404
    assert api.get("/api/v1/workflows/x/stats/").status_code == 404


def test_it_reads_the_rollups_not_the_log(api, workflow, history):
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/workflows/{workflow.pk}/stats/", {"since": "2026-02-01"})
    assert response.status_code == 200
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "automation_rollup" in tables
    assert "automation_logentry" not in tables and "automation_trigger" not in tables
