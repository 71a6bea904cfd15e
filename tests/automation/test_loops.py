"""Loop protection with real loops (SPEC §4.5, C.4).

A workflow with a state-only condition re-saves the lead in its own FIELD
action, which triggers it again. Everything runs synchronously: the on_commit
hand-off → django-q2 in sync mode (tests/conftest.py) → runner.run_entry →
the FIELD executor → lead.save() → the engine again, carrying the causal
chain. An *iteration* is a trigger whose chain already holds its workflow
twice; the rate limit (9 fired per lead per 3 minutes) cuts each lead's fast
loop after 7 iterations, so a fast loop is disabled by the workflow-wide
count (100 iterations within 60 minutes, across leads) and a slow one, through
delays, by its chain (100 iterations in one chain, however long it takes).
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from automation.constants import LOOP_LIMIT, EntryState, TriggerOutcome
from automation.execution import runner
from automation.models import LogEntry, Notification, Trigger, Workflow
from leads.models import Lead
from tests.automation.engine_helpers import (  # noqa: F401
    fresh_rules,
    handle,
    make_workflow,
    outcomes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """The custom fields these tests' workflows name, declared (SPEC C.2)."""
    declare("flag", "ping")


ALWAYS = [
    ("LEAD_FIELDS", {"field": "called_count", "operator": "greater_than_or_equal", "value": 0})
]
BUMP_COUNT = ("FIELD", {"field": "called_count", "op": "add", "value": 1})
SET_FLAG = ("FIELD", {"field": "custom.flag", "op": "set", "value": "seen"})
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
ITERATIONS_PER_LEAD = 7  # fired at chain lengths 0…8 (the rate limit), iterations from 2


@pytest.fixture
def loop(make_lead, settings):
    settings.ADMIN_EMAILS = ["ops@example.com", "lead@example.com"]
    leads = [make_lead() for _ in range(20)]  # before the workflow: no triggers yet
    wf = make_workflow(ALWAYS, actions=[BUMP_COUNT], name="Count forever")
    return wf, leads


def run_saves(leads, capture):
    for lead in leads:
        with capture(execute=True):
            Lead.objects.get(pk=lead.pk).save()


def fired_iterations(wf):
    return Trigger.objects.filter(workflow=wf, outcome="fired", loop_iteration__gt=0).count()


def test_a_real_loop_on_20_leads_is_disabled_within_the_limit_and_notified_once(
    loop, django_capture_on_commit_callbacks
):
    wf, leads = loop
    run_saves(leads, django_capture_on_commit_callbacks)

    wf.refresh_from_db()
    assert not wf.active
    assert wf.disabled_reason.startswith(f"Loop detected: {LOOP_LIMIT} iterations in 60 minutes")
    assert fired_iterations(wf) == LOOP_LIMIT - 1  # the 100th closed the gate

    [disabled] = Trigger.objects.filter(workflow=wf, outcome=TriggerOutcome.LOOP_DISABLED)
    # 14 leads × 7 iterations = 98; the 15th lead's second iteration is the 100th.
    assert disabled.lead_id == leads[14].pk
    assert disabled.chain == [wf.pk] * 3
    assert disabled.loop_iteration == 2

    [note] = Notification.objects.filter(workflow=wf)
    assert "Count forever" in note.message
    assert note.acknowledged_at is None

    [email] = mail.outbox
    assert email.to == ["ops@example.com", "lead@example.com"]
    assert "Count forever" in email.subject
    assert "Loop detected" in email.body

    # Nothing more: no entries after it, leads after it untouched.
    assert not LogEntry.objects.filter(workflow=wf, state=EntryState.PENDING).exists()
    for lead in leads[15:]:
        assert outcomes(wf, lead) == []
        assert Lead.objects.get(pk=lead.pk).called_count == 0


def test_it_runs_each_leads_loop_until_the_rate_limit(loop, django_capture_on_commit_callbacks):
    wf, leads = loop
    run_saves(leads[:1], django_capture_on_commit_callbacks)
    first = leads[0]
    assert outcomes(wf, first) == [TriggerOutcome.FIRED] * 9 + [TriggerOutcome.RATE_LIMITED]
    assert Lead.objects.get(pk=first.pk).called_count == 9
    chains = list(
        Trigger.objects.filter(workflow=wf).order_by("id").values_list("chain", flat=True)
    )
    assert chains == [[wf.pk] * n for n in range(10)]
    assert fired_iterations(wf) == ITERATIONS_PER_LEAD
    wf.refresh_from_db()
    assert wf.active


def test_a_one_off_retrigger_over_200_leads_never_disables(
    make_lead, django_capture_on_commit_callbacks
):
    """A state condition plus a FIELD action setting a flag: each lead re-triggers the
    workflow once (the flag's save), then the set changes nothing and it settles."""
    leads = [make_lead() for _ in range(200)]
    wf = make_workflow(ALWAYS, actions=[SET_FLAG], name="Flag once")
    run_saves(leads, django_capture_on_commit_callbacks)
    wf.refresh_from_db()
    assert wf.active and wf.disabled_reason == ""
    assert Trigger.objects.filter(workflow=wf, outcome="fired").count() == 400
    assert Trigger.objects.filter(workflow=wf, chain=[wf.pk]).count() == 200
    assert fired_iterations(wf) == 0
    assert not Notification.objects.exists()
    assert Lead.objects.filter(custom_fields__flag="seen").count() == 200


def test_a_slow_loop_through_delays_counts_its_chain_across_time(make_lead, settings):
    """Ten minutes between turns: the rate limit never bites and the last hour never holds
    more than 6 iterations, yet the chain's 100th iteration disables it."""
    settings.ADMIN_EMAILS = ["ops@example.com"]
    wf = make_workflow(
        ALWAYS,
        actions=[BUMP_COUNT],
        delay={"delay_mode": "fixed", "delay_minutes": 10},
        name="Slow loop",
    )
    with time_machine.travel(T0, tick=False) as traveller:
        lead = make_lead()  # the creation fires it: chain []
        for _ in range(LOOP_LIMIT + 5):
            [entry] = LogEntry.objects.filter(workflow=wf, state=EntryState.PENDING)
            traveller.shift(timedelta(minutes=10))
            runner.run_entry(entry.pk)
            if not Workflow.objects.get(pk=wf.pk).active:
                break
    wf.refresh_from_db()
    assert not wf.active
    assert wf.disabled_reason.startswith(f"Loop detected: iteration {LOOP_LIMIT} in one chain")
    assert outcomes(wf).count(TriggerOutcome.RATE_LIMITED) == 0
    [disabled] = Trigger.objects.filter(workflow=wf, outcome=TriggerOutcome.LOOP_DISABLED)
    assert disabled.loop_iteration == LOOP_LIMIT
    assert len(disabled.chain) == LOOP_LIMIT + 1
    assert fired_iterations(wf) == LOOP_LIMIT - 1
    assert Lead.objects.get(pk=lead.pk).called_count == LOOP_LIMIT + 1
    assert Notification.objects.filter(workflow=wf).count() == 1


def test_the_workflow_wide_count_forgets_iterations_older_than_an_hour(make_lead):
    wf = make_workflow(ALWAYS, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    Trigger.objects.all().delete()
    with time_machine.travel(T0, tick=False):
        Trigger.objects.bulk_create(
            Trigger(
                workflow=wf,
                lead_id=lead.pk,
                outcome="fired",
                loop_iteration=1,
                occurred_at=T0 - timedelta(minutes=61),
            )
            for _ in range(LOOP_LIMIT)
        )
        handle(lead, lead_action="save", chain=(wf.pk, wf.pk))
        assert outcomes(wf)[-1] == TriggerOutcome.FIRED
        Trigger.objects.filter(loop_iteration=1).update(occurred_at=T0 - timedelta(minutes=59))
        handle(lead, lead_action="save", chain=(wf.pk, wf.pk))
        assert outcomes(wf)[-1] == TriggerOutcome.LOOP_DISABLED


def test_it_never_counts_a_workflow_that_is_not_repeating_itself(make_lead):
    """Triggers whose chains hold the workflow once (or not at all) are never counted."""
    wf = make_workflow(ALWAYS, delay={"delay_mode": "fixed", "delay_hours": 1})
    other = make_workflow([("CALLBACK", {})], delay={"delay_mode": "fixed", "delay_hours": 1})
    leads = [make_lead() for _ in range(120)]
    for lead in leads:
        handle(lead, lead_action="save", chain=(other.pk, wf.pk, other.pk))
    wf.refresh_from_db()
    assert wf.active
    assert fired_iterations(wf) == 0


def test_it_loops_again_only_after_an_operator_reenables_it(
    loop, django_capture_on_commit_callbacks
):
    wf, leads = loop
    run_saves(leads[:15], django_capture_on_commit_callbacks)
    wf.refresh_from_db()
    assert not wf.active
    wf.reenable()
    assert Notification.objects.get(workflow=wf).acknowledged_at is not None
    # Still looping within the hour: its next iteration disables it again, notified again.
    run_saves(leads[15:16], django_capture_on_commit_callbacks)
    wf.refresh_from_db()
    assert not wf.active
    assert Notification.objects.filter(workflow=wf).count() == 2


def test_it_disables_a_loop_through_another_workflow(make_lead, django_capture_on_commit_callbacks):
    leads = [make_lead(custom_fields={"ping": "0"}) for _ in range(16)]
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
    # Ping started every loop, so it is the first to count 100 iterations.
    assert not ping.active
    assert pong.active
    [disabled] = Trigger.objects.filter(outcome=TriggerOutcome.LOOP_DISABLED)
    assert disabled.workflow_id == ping.pk
    assert disabled.chain == [ping.pk, pong.pk] * 3  # Ping's 100th iteration
    assert disabled.loop_iteration == 2
    assert "Ping → Pong → Ping" in ping.disabled_reason
    assert Notification.objects.get().workflow_id == ping.pk
    assert disabled.lead_id == leads[14].pk  # 14 leads × 7 iterations, then 2 more
    # With Ping off, the next lead's change triggers Pong no more.
    assert outcomes(ping, leads[15]) == []
    assert outcomes(pong, leads[15]) == []


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
