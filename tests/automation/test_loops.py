"""Loop protection with a real loop (SPEC §4.5).

A workflow with a state-only condition re-saves the lead in its own FIELD
action, which triggers it again. Everything runs synchronously: the on_commit
hand-off → django-q2 in sync mode (tests/conftest.py) → runner.run_entry →
the FIELD executor → lead.save() → the engine again. The rate limit (9 per
lead per 3 minutes) cuts each lead's loop after 8 self-re-triggers, so it
takes 13 leads to reach the 100th iteration, counted across leads.
"""

import pytest
from django.core import mail

from automation.constants import LOOP_LIMIT, EntryState, TriggerOutcome
from automation.models import LogEntry, Notification, Trigger
from leads.models import Lead
from tests.automation.engine_helpers import (  # noqa: F401
    fresh_rules,
    make_workflow,
    outcomes,
)

pytestmark = pytest.mark.django_db

ALWAYS = [
    ("LEAD_FIELDS", {"field": "called_count", "operator": "greater_than_or_equal", "value": 0})
]
BUMP_COUNT = ("FIELD", {"field": "called_count", "op": "add", "value": 1})


@pytest.fixture
def loop(make_lead, settings):
    settings.ADMIN_EMAILS = ["ops@example.com", "lead@example.com"]
    leads = [make_lead() for _ in range(15)]  # before the workflow: no triggers yet
    wf = make_workflow(ALWAYS, actions=[BUMP_COUNT], name="Count forever")
    return wf, leads


def run_saves(leads, capture):
    for lead in leads:
        with capture(execute=True):
            Lead.objects.get(pk=lead.pk).save()


def test_it_disables_a_workflow_that_keeps_retriggering_itself(
    loop, django_capture_on_commit_callbacks
):
    wf, leads = loop
    run_saves(leads, django_capture_on_commit_callbacks)

    wf.refresh_from_db()
    assert not wf.active
    assert wf.loop_iterations == LOOP_LIMIT
    assert wf.disabled_reason.startswith(f"Loop detected: its actions re-triggered it {LOOP_LIMIT}")

    [disabled] = Trigger.objects.filter(workflow=wf, outcome=TriggerOutcome.LOOP_DISABLED)
    assert disabled.chain == [wf.pk]
    assert disabled.lead_id == leads[12].pk  # 12 leads × 8 re-triggers, then 4 more

    [note] = Notification.objects.filter(workflow=wf)
    assert "Count forever" in note.message
    assert note.acknowledged_at is None

    [email] = mail.outbox
    assert email.to == ["ops@example.com", "lead@example.com"]
    assert "Count forever" in email.subject
    assert "Loop detected" in email.body


def test_it_runs_each_leads_loop_until_the_rate_limit(loop, django_capture_on_commit_callbacks):
    wf, leads = loop
    run_saves(leads[:1], django_capture_on_commit_callbacks)
    first = leads[0]
    assert outcomes(wf, first) == [TriggerOutcome.FIRED] * 9 + [TriggerOutcome.RATE_LIMITED]
    assert Lead.objects.get(pk=first.pk).called_count == 9
    states = set(LogEntry.objects.filter(workflow=wf).values_list("state", flat=True))
    assert states == {EntryState.SUCCEEDED}
    chains = list(
        Trigger.objects.filter(workflow=wf).order_by("id").values_list("chain", flat=True)
    )
    assert chains == [[]] + [[wf.pk]] * 9
    wf.refresh_from_db()
    assert wf.active
    assert wf.loop_iterations == 8


def test_it_creates_no_entries_after_disabling(loop, django_capture_on_commit_callbacks):
    wf, leads = loop
    run_saves(leads, django_capture_on_commit_callbacks)

    # 12 leads: 9 fired triggers each; the 13th: the save and 3 re-triggers, then disabled.
    assert LogEntry.objects.filter(workflow=wf).count() == 12 * 9 + 4
    assert Trigger.objects.filter(workflow=wf, outcome=TriggerOutcome.FIRED).count() == 12 * 9 + 4
    assert Lead.objects.get(pk=leads[12].pk).called_count == 4
    for lead in leads[13:]:
        assert outcomes(wf, lead) == []
        assert Lead.objects.get(pk=lead.pk).called_count == 0
    assert not LogEntry.objects.filter(workflow=wf, state=EntryState.PENDING).exists()

    before = Trigger.objects.filter(workflow=wf).count()
    run_saves(leads, django_capture_on_commit_callbacks)
    assert Trigger.objects.filter(workflow=wf).count() == before
    assert LogEntry.objects.filter(workflow=wf).count() == 12 * 9 + 4


def test_it_loops_again_only_after_an_operator_reenables_it(
    loop, django_capture_on_commit_callbacks
):
    wf, leads = loop
    run_saves(leads[:13], django_capture_on_commit_callbacks)
    wf.refresh_from_db()
    assert not wf.active
    wf.reenable()
    assert Notification.objects.get(workflow=wf).acknowledged_at is not None
    run_saves(leads[13:], django_capture_on_commit_callbacks)
    wf.refresh_from_db()
    assert wf.active
    assert wf.loop_iterations == 16


def test_it_disables_a_loop_through_another_workflow(make_lead, django_capture_on_commit_callbacks):
    leads = [make_lead(custom_fields={"ping": "0"}) for _ in range(15)]
    ping = make_workflow(
        [("LEAD_FIELDS", {"field": "custom.ping", "operator": "equals", "value": "1"})],
        actions=[("FIELD", {"field": "custom.ping", "op": "set", "value": "2"})],
        name="Ping",
    )
    pong = make_workflow(
        [("LEAD_FIELDS", {"field": "custom.ping", "operator": "equals", "value": "2"})],
        actions=[("FIELD", {"field": "custom.ping", "op": "set", "value": "1"})],
        name="Pong",
    )
    for lead in leads:
        with django_capture_on_commit_callbacks(execute=True):
            lead = Lead.objects.get(pk=lead.pk)
            lead.custom_fields = {"ping": "1"}
            lead.save()

    ping.refresh_from_db()
    pong.refresh_from_db()
    # Ping started every loop, so it is the first to count 100 re-triggers.
    assert not ping.active
    assert pong.active
    [disabled] = Trigger.objects.filter(outcome=TriggerOutcome.LOOP_DISABLED)
    assert disabled.workflow_id == ping.pk
    assert disabled.chain == [ping.pk, pong.pk]
    assert "Ping → Pong → Ping" in ping.disabled_reason
    assert Notification.objects.get().workflow_id == ping.pk
    # With Ping off, Pong's next run re-triggers nothing.
    last = leads[-1]
    assert outcomes(ping, last) == []


def test_it_carries_the_chain_through_a_callback_an_action_schedules(
    make_lead, django_capture_on_commit_callbacks
):
    lead = make_lead()
    scheduler = make_workflow(
        [("LEAD_ACTION", {"values": ["save"]})],
        actions=[("CALLBACK", {"seconds": 3600})],
        name="Schedule a callback",
    )
    on_callback = make_workflow(
        [("CALLBACK", {})], delay={"delay_mode": "fixed", "delay_hours": 1}, name="On callback"
    )
    with django_capture_on_commit_callbacks(execute=True):
        Lead.objects.get(pk=lead.pk).save()
    assert outcomes(scheduler) == [TriggerOutcome.FIRED]
    [trigger] = Trigger.objects.filter(workflow=on_callback)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.chain == [scheduler.pk]
    [entry] = LogEntry.objects.filter(workflow=on_callback)
    assert entry.context["chain"] == [scheduler.pk, on_callback.pk]
