"""The one gate pipeline (automation.engine.gates): its order, and the dry run agreeing with
the engine because both call it."""

import itertools
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from automation.constants import RATE_LIMIT_TRIGGERS, EntryState, TriggerOutcome
from automation.document import dryrun
from automation.engine import gates
from automation.engine.occurrences import Occurrence
from automation.models import LogEntry, Trigger
from tests.automation.engine_helpers import fresh_rules, make_workflow  # noqa: F401

ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]
LATER = {"delay_mode": "fixed", "delay_hours": 1}


def rule(**fields):
    base = {
        "id": 7,
        "stop_if": "final_status",
        "skip_if_pending": True,
        "perform_action_on": 0,
        "all_campaigns": True,
        "relation": "campaign",
        "relation_mode": "within",
        "stopped": lambda lead, flags, call=None: lead.final,
        "selected": lambda lead_id: False,
        "matches": lambda occ, lead, before=None: True,
        "reenrollment": "always",
        "reenroll_after_days": None,
    }
    return SimpleNamespace(**{**base, **fields})


def snapshot(r, chain=(), **fields):
    lead = SimpleNamespace(pk=1, final=True)
    occ = Occurrence(lead_id=1, occurred_at=timezone.now(), lead_action="save", chain=chain)
    base = {"rule": r, "occ": occ, "lead": lead, "before": lead, "status_flags": {}}
    return gates.Snapshot(**{**base, **fields})


def test_it_decides_by_the_first_closed_gate_in_spec_order():
    # Every gate after the conditions is closed: stop-if decides.
    s = snapshot(
        rule(reenrollment="once"),
        pending=True,
        fired_recently=RATE_LIMIT_TRIGGERS,
        enrolled_at=timezone.now(),
        chain=(7,) * 101,
    )
    assert gates.admit(s).outcome == TriggerOutcome.STOPPED
    opened = rule(stop_if="never", stopped=lambda *a: False)
    s = snapshot(opened.__class__(**{**vars(opened), "reenrollment": "once"}), pending=True)
    assert gates.admit(replace(s, enrolled_at=timezone.now())).outcome == (
        TriggerOutcome.ALREADY_ENROLLED
    )
    assert gates.admit(snapshot(opened, pending=True)).outcome == TriggerOutcome.SKIPPED_PENDING
    s = snapshot(opened, fired_recently=RATE_LIMIT_TRIGGERS)
    assert gates.admit(s).outcome == TriggerOutcome.RATE_LIMITED
    assert gates.admit(snapshot(opened)).outcome == TriggerOutcome.NOT_SELECTED
    chosen = rule(stop_if="never", stopped=lambda *a: False, selected=lambda lead_id: True)
    looping = snapshot(chosen, chain=(7,) * 101)  # iteration 100 of its chain
    assert gates.admit(looping).outcome == TriggerOutcome.LOOP_DISABLED
    assert gates.admit(snapshot(chosen, chain=(7,) * 100)).outcome == TriggerOutcome.FIRED
    assert gates.admit(snapshot(chosen)).reason == ""


def test_it_reports_every_gate_when_asked_to_explain():
    s = snapshot(rule(), pending=True, fired_recently=3)
    verdict = gates.evaluate(s)
    assert [c.gate for c in verdict.checks] == [
        "active", "scope", "conditions",
        "stop_if", "reenrollment", "skip_if_pending", "rate_limit", "perform_action_on", "loop",
    ]  # fmt: skip
    assert [c.passed for c in verdict.checks] == [
        True, True, True, False, True, False, True, False, True
    ]  # fmt: skip
    assert verdict.outcome == TriggerOutcome.STOPPED
    assert verdict.reason == "Stop Workflow If: final status"


def test_a_workflow_that_is_not_about_the_occurrence_is_no_match():
    s = snapshot(rule(matches=lambda occ, lead, before=None: False))
    assert gates.evaluate(s).outcome == gates.NO_MATCH
    assert gates.evaluate(snapshot(rule(), active=False)).outcome == gates.INACTIVE
    assert gates.evaluate(snapshot(rule(), in_scope=False)).outcome == gates.OUT_OF_SCOPE


def test_an_occurrence_that_brings_the_lead_to_its_stop_state_still_enters():
    before = SimpleNamespace(pk=1, final=False)
    s = snapshot(rule(selected=lambda lead_id: True, skip_if_pending=False), before=before)
    assert gates.admit(s).outcome == TriggerOutcome.FIRED
    assert gates.just_stopped(s.rule, s.lead, before, {})


@pytest.mark.parametrize(
    ("known", "active", "present", "on", "lead", "stopped", "at_trigger", "live", "expected"),
    [
        (False, True, True, True, True, False, False, False, EntryState.FAILED),
        (True, False, True, True, True, False, False, False, EntryState.SKIPPED),
        (True, True, False, True, True, False, False, False, EntryState.SKIPPED),
        (True, True, True, False, True, False, False, False, EntryState.SKIPPED),
        (True, True, True, True, False, False, False, False, EntryState.SKIPPED),
        (True, True, True, True, True, True, False, False, EntryState.CANCELLED),
        (True, True, True, True, True, True, True, False, None),
        (True, True, True, True, True, False, False, True, EntryState.SKIPPED),
        (True, True, True, True, True, False, False, False, None),
    ],
)
def test_it_checks_an_entry_again_just_before_it_runs(
    known, active, present, on, lead, stopped, at_trigger, live, expected
):
    verdict = gates.before_run(
        gates.EntrySnapshot(
            action_type="SMS",
            known_type=known,
            workflow_active=active,
            action_present=present,
            action_active=on,
            lead_present=lead,
            runs_without_lead=False,
            stopped_now=stopped,
            stopped_at_trigger=at_trigger,
            stop_reason="Stop Workflow If: final status",
            skip_if_live_call=True,
            live_calls=(timezone.now(),) if live else (),
        )
    )
    assert (verdict[0] if verdict else None) == expected


CASES = list(
    itertools.product(
        ["never", "final_status"],  # stop_if
        ["NEW", "SALE"],  # the lead's status (SALE is final)
        [False, True],  # skip if pending, with a pending entry of the workflow
        [0, 100],  # perform action on
        [0, RATE_LIMIT_TRIGGERS],  # fired triggers in the rate-limit window
        [("always", None), ("once", None), ("once_per_days", 1)],  # re-enrollment
    )
)


@pytest.mark.django_db
@pytest.mark.parametrize(("stop_if", "status", "skip_pending", "share", "fired", "again"), CASES)
def test_the_dry_run_predicts_what_the_engine_records(
    make_lead, stop_if, status, skip_pending, share, fired, again
):
    wf = make_workflow(
        ON_SAVE,
        delay=LATER,
        stop_if=stop_if,
        skip_if_pending=skip_pending,
        perform_action_on=share,
        reenrollment=again[0],
        reenroll_after_days=again[1],
    )
    lead = make_lead(status_id=status)
    Trigger.objects.all().delete()
    LogEntry.objects.all().delete()
    now = timezone.now()
    Trigger.objects.bulk_create(
        Trigger(workflow=wf, lead_id=lead.pk, occurred_at=now, outcome=TriggerOutcome.FIRED)
        for _ in range(fired)
    )
    if not fired:  # fired two days ago: a once-workflow holds it back, once a day lets it in
        Trigger.objects.create(
            workflow=wf,
            lead_id=lead.pk,
            occurred_at=now - timedelta(days=2),
            outcome=TriggerOutcome.FIRED,
        )
    if skip_pending:
        LogEntry.objects.create(
            workflow=wf, lead_id=lead.pk, action_type="STATUS", due_at=now, created_at=now
        )
    predicted = dryrun.explain(wf, lead)["outcome"]
    lead.save()
    recorded = Trigger.objects.filter(workflow=wf).latest("id").outcome
    assert predicted == recorded
