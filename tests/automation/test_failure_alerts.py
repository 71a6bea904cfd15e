"""Failure alerts (SPEC C.5): 20 or more failed entries of a workflow within 10 minutes
raise a notification, mailed to ADMIN_EMAILS, at most one per workflow per hour."""

from datetime import UTC, datetime, timedelta

import pytest

from automation.constants import EntryState
from automation.execution import alerts, runner
from automation.models import LogEntry, Notification

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# An INTEGRATION to an endpoint that does not exist: fails at once, no retry, no HTTP.
BROKEN = ("INTEGRATION", {"endpoint": "Gone"})


@pytest.fixture(autouse=True)
def forget_alerts():
    alerts.forget()
    yield
    alerts.forget()


@pytest.fixture
def failing(make_lead, make_action, make_entry):
    """`failing(n, at)`: n pending entries of one broken action, due at `at`."""
    action = make_action(*BROKEN)
    lead = make_lead()

    def make(n, at=NOW):
        return [make_entry(lead, action, occurred_at=at) for _ in range(n)]

    make.workflow = action.action_set.workflow
    return make


def run_all(entries, now):
    for entry in entries:
        runner.run_entry(entry.pk, now=now)


def test_it_alerts_at_the_twentieth_failure_within_ten_minutes(
    failing, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.ADMIN_EMAILS = ["ops@example.com"]
    workflow = failing.workflow
    first = failing(19)
    with django_capture_on_commit_callbacks(execute=True):
        run_all(first, NOW)
    assert LogEntry.objects.filter(state=EntryState.FAILED).count() == 19
    assert not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        run_all(failing(1), NOW + timedelta(minutes=9))
    [notification] = Notification.objects.filter(workflow=workflow)
    assert "20 or more entries failed within the last 10 minutes" in notification.message
    assert "invalid config" in notification.message  # the most common reason
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == f"Workflow failing: {workflow.name}"
    assert mailoutbox[0].to == ["ops@example.com"]


def test_failures_spread_over_more_than_ten_minutes_do_not_alert(failing):
    run_all(failing(10), NOW)
    run_all(failing(10), NOW + timedelta(minutes=11))
    assert not Notification.objects.exists()


def test_it_alerts_at_most_once_an_hour_per_workflow(failing):
    workflow = failing.workflow
    run_all(failing(25), NOW)
    alerts.forget()  # as a second process would: it relies on the database alone
    run_all(failing(25), NOW + timedelta(minutes=30))
    alerts.forget()
    run_all(failing(25), NOW + timedelta(minutes=59))
    assert Notification.objects.filter(workflow=workflow).count() == 1
    alerts.forget()
    run_all(failing(25), NOW + timedelta(minutes=61))
    assert Notification.objects.filter(workflow=workflow).count() == 2


def test_it_alerts_each_workflow_on_its_own(make_lead, make_action, make_entry):
    lead = make_lead()
    actions = [make_action(*BROKEN), make_action(*BROKEN)]
    for action in actions:
        run_all([make_entry(lead, action, occurred_at=NOW) for _ in range(20)], NOW)
    for action in actions:
        assert Notification.objects.filter(workflow=action.action_set.workflow).count() == 1


def test_two_processes_deciding_at_once_store_one_alert(failing):
    workflow = failing.workflow
    run_all(failing(20), NOW)
    alerts.forget()
    # What the losing process meets: the key already taken, by a notification of this hour.
    assert alerts.alert(workflow.pk, NOW + timedelta(seconds=1)) is False
    # An hour on, two processes both find the old alert: one gives its key up and alerts.
    later = NOW + timedelta(minutes=61)
    run_all(failing(20, later), later)
    alerts.forget()
    assert alerts.alert(workflow.pk, later) is False
    assert Notification.objects.filter(workflow=workflow).count() == 2
    assert Notification.objects.filter(dedup_key=alerts.key_of(workflow.pk)).count() == 1
