"""`POST /api/v1/workflows/backtest/` and `GET /api/v1/backtests/{id}/` (SPEC C.6)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from automation.document import document
from automation.execution import tasks
from automation.models import Backtest, JournalEntry, Trigger, Workflow
from leads.models import Call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
SINCE, UNTIL = "2026-06-01T13:00:00Z", "2026-06-01T20:00:00+00:00"

SALE_FOLLOW_UP = {
    "name": "Sales to follow up",
    "all_campaigns": True,
    "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
    "action_sets": [
        {
            "delay": {"mode": "fixed", "hours": 1},
            "window": "24hr",
            "actions": [{"type": "STATUS", "config": {"status": "FOLLOW"}}],
        }
    ],
}


@pytest.fixture
def history(make_lead, statuses):
    """Three sales and a no-answer, at 14:00, 14:10 (twice) and 16:30 UTC."""
    leads = [make_lead() for _ in range(3)]
    calls = [(0, "SALE", 0), (1, "SALE", 10), (2, "NA", 10), (2, "SALE", 150)]
    for i, code, minutes in calls:
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            Call.record(lead=leads[i], disposition=statuses[code])
    return leads


def started(api, body, capture):
    with capture(execute=True):  # the task runs when the request's transaction commits
        response = api.post("/api/v1/workflows/backtest/", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()


def test_it_backtests_a_draft_document(api, history, django_capture_on_commit_callbacks):
    workflows, triggers = Workflow.objects.count(), Trigger.objects.count()
    body = {"document": SALE_FOLLOW_UP, "since": SINCE, "until": UNTIL}
    answer = started(api, body, django_capture_on_commit_callbacks)
    assert answer["status"] == "running" and set(answer) == {"id", "status"}

    result = api.get(f"/api/v1/backtests/{answer['id']}/").json()
    assert result["status"] == "done" and result["progress"] == 1.0
    in_period = JournalEntry.objects.filter(
        occurred_at__gte=T0 - timedelta(hours=1), occurred_at__lt=T0 + timedelta(hours=6)
    )
    assert result["occurrences"] == in_period.count() == 4  # the calls (the leads' saves)
    assert result["leads"] == 3
    assert result["outcomes"] == {"fired": 3}
    assert result["actions"] == {"STATUS": 3}
    fired = {row["t"]: row["fired"] for row in result["by_hour"]}
    assert len(result["by_hour"]) == 7
    assert fired["2026-06-01T14:00:00+00:00"] == 2 and fired["2026-06-01T16:00:00+00:00"] == 1
    # Due an hour later, in the account's zone (America/New_York: UTC-4 in June).
    hours = result["sends_by_hour_of_day"]
    assert hours[11] == 2 and hours[13] == 1 and sum(hours) == 3
    assert [s["lead"] for s in result["sample"]] == [h.pk for h in history]
    assert all(s["outcome"] == "fired" and "rate_limit" in s["why"] for s in result["sample"])
    # It stored nothing but its result.
    assert Workflow.objects.count() == workflows and Trigger.objects.count() == triggers


def test_it_backtests_a_saved_workflow_with_its_gates(
    api, history, statuses, django_capture_on_commit_callbacks
):
    workflow = document.save({**SALE_FOLLOW_UP, "active": False, "skip_if_pending": True})
    with time_machine.travel(T0 + timedelta(minutes=20), tick=False):
        Call.record(lead=history[0], disposition=statuses["SALE"])  # within the hour: pending
    body = {"workflow": workflow.pk, "since": SINCE, "until": UNTIL}
    answer = started(api, body, django_capture_on_commit_callbacks)
    result = api.get(f"/api/v1/backtests/{answer['id']}/").json()
    assert result["outcomes"] == {"fired": 3, "skipped_pending": 1}
    skipped = [s for s in result["sample"] if s["outcome"] == "skipped_pending"]
    assert skipped == [
        {
            "lead": history[0].pk,
            "occurred_at": (T0 + timedelta(minutes=20)).isoformat(),
            "outcome": "skipped_pending",
            "why": "the lead has unexecuted actions of this workflow",
        }
    ]
    assert Backtest.objects.get(pk=answer["id"]).workflow == workflow


def test_it_refuses_a_bad_draft_with_the_paths(api, statuses):
    bad = {**SALE_FOLLOW_UP, "events": [{"type": "DISPOSITION", "values": 7}]}
    response = api.post("/api/v1/workflows/backtest/", {"document": bad}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["document.events[0].values"]
    assert Backtest.objects.count() == 0


@pytest.mark.parametrize(
    "body, path",
    [
        ({}, "non_field_errors"),
        ({"workflow": 1, "document": SALE_FOLLOW_UP}, "non_field_errors"),
        ({"workflow": "x"}, "workflow"),
        ({"workflow": 999999}, "workflow"),
        ({"document": [1]}, "document"),
        ({"workflow": 1, "since": "yesterday"}, "since"),
        ({"workflow": 1, "since": 5}, "since"),
        ({"workflow": 1, "since": UNTIL, "until": SINCE}, "since"),
        ({"workflow": 1, "until": "2026-06-01T20:00:00"}, "until"),
    ],
)
def test_it_refuses_a_bad_request_naming_what(api, db, body, path):
    response = api.post("/api/v1/workflows/backtest/", body, format="json")
    assert response.status_code == 400
    assert path in response.json()


def test_a_cancelled_backtest_stops_and_says_so(api, history):
    workflow = document.save({**SALE_FOLLOW_UP, "active": False})
    bt = Backtest.objects.create(
        workflow=workflow, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=6)
    )
    response = api.post(f"/api/v1/backtests/{bt.pk}/cancel/")
    assert response.json() == {"cancelled": True}
    tasks.run_backtest(bt.pk)
    result = api.get(f"/api/v1/backtests/{bt.pk}/").json()
    assert result["status"] == "failed" and result["error"] == "cancelled"
    assert 0 < result["progress"] < 1.0  # where it stopped: after its first page
    assert result["outcomes"] == {}  # no result stored
    # A finished backtest cannot be cancelled again.
    assert api.post(f"/api/v1/backtests/{bt.pk}/cancel/").json() == {"cancelled": False}


def test_a_backtest_that_cannot_run_fails_with_the_reason(api, db):
    bt = Backtest.objects.create(since=T0, until=T0 + timedelta(hours=1), document={"x": 1})
    tasks.run_backtest(bt.pk)
    bt.refresh_from_db()
    assert bt.status == "failed" and bt.error.startswith("ConfigError")
