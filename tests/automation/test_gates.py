"""The gates after the conditions, their order, and the trigger record of each outcome.

Order (automation.engine.handler): stop-if → skip if pending → rate limit →
perform-action-on → loop protection → fired. Every outcome is a Trigger row.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from automation.constants import RATE_LIMIT_TRIGGERS, EntryState, TriggerOutcome
from automation.models import LogEntry, Notification, Trigger
from leads.models import Call, Lead
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    handle,
    make_workflow,
    outcomes,
    phone,
)

pytestmark = pytest.mark.django_db

ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]
LATER = {"delay_mode": "fixed", "delay_hours": 1}
T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday


def settle(workflow, lead, state=EntryState.SUCCEEDED):
    """The worker ran every pending entry of this workflow for this lead."""
    return LogEntry.objects.filter(
        workflow=workflow, lead_id=lead.pk, state=EntryState.PENDING
    ).update(state=state, finished_at=timezone.now())


def sale(lead, statuses):
    Call.record(lead=lead, disposition=statuses["SALE"], ended_at=timezone.now())


# --- Stop Workflow If ------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_if", "status", "stopped"),
    [
        ("reached_status", "CALLBK", True),
        ("reached_status", "A", False),
        ("final_status", "SALE", True),
        ("final_status", "CALLBK", False),
        ("never", "SALE", False),
    ],
)
def test_it_stops_a_lead_with_a_stopping_status(make_lead, stop_if, status, stopped):
    wf = make_workflow(ON_SAVE, delay=LATER, stop_if=stop_if)
    lead = make_lead(status_id=status)
    lead.save()
    trigger = Trigger.objects.get(workflow=wf)
    if stopped:
        assert trigger.outcome == TriggerOutcome.STOPPED
        assert trigger.reason == f"Stop Workflow If: {stop_if.replace('_', ' ')}"
        assert entries(wf) == []
    else:
        assert trigger.outcome == TriggerOutcome.FIRED
        assert len(entries(wf)) == 1


def test_it_stops_a_lead_matching_the_advanced_filter(make_lead):
    wf = make_workflow(
        ON_SAVE,
        delay=LATER,
        stop_if="lead_filter",
        stop_filter=[
            {"field": "state", "operator": "equals", "value": "CA"},
            {"field": "custom.plan", "operator": "within", "values": ["gold", "platinum"]},
        ],
    )
    stopped = make_lead(state="CA", custom_fields={"plan": "gold"})
    only_state = make_lead(state="CA", custom_fields={"plan": "silver"})
    for lead in (stopped, only_state):
        lead.save()
    assert outcomes(wf, stopped) == [TriggerOutcome.STOPPED]
    assert outcomes(wf, only_state) == [TriggerOutcome.FIRED]
    assert [e.lead_id for e in entries(wf)] == [only_state.pk]


def test_it_cancels_pending_entries_when_the_lead_reaches_a_final_status(make_lead, statuses):
    wf = make_workflow(ON_SAVE, delay=LATER, stop_if="final_status")
    keeps = make_workflow(ON_SAVE, delay=LATER, stop_if="never")
    lead = make_lead(status_id="NEW")
    other = make_lead(status_id="NEW")
    lead.save()
    other.save()
    [before] = entries(wf, lead)
    sale(lead, statuses)
    before.refresh_from_db()
    assert before.state == EntryState.CANCELLED
    assert before.reason == "Stop Workflow If: final status matched"
    assert before.finished_at is not None
    assert [e.state for e in entries(keeps, lead)] == [EntryState.PENDING, EntryState.PENDING]
    assert [e.state for e in entries(wf, other)] == [EntryState.PENDING]


def test_it_fires_on_the_occurrence_that_brings_the_lead_to_the_stop_status(make_lead, statuses):
    # Appendix A: a SALE disposition fires a "stop if final status" workflow; the
    # gate reads the lead as it was before the occurrence.
    wf = make_workflow([("DISPOSITION", {"values": ["SALE"]})], delay=LATER, stop_if="final_status")
    lead = make_lead(status_id="NEW")
    sale(lead, statuses)
    assert outcomes(wf) == [TriggerOutcome.FIRED]
    [entry] = entries(wf)
    assert entry.state == EntryState.PENDING
    assert entry.context["stopped_at_trigger"] is True
    sale(lead, statuses)  # a second sale: the lead was already stopped
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.STOPPED]
    assert [e.state for e in entries(wf)] == [EntryState.PENDING]


def test_it_lets_in_a_lead_that_just_left_the_stop_status(make_lead):
    # Re-opened: NI (final) → CALLBK. The lead is no longer stopped, so it enters.
    wf = make_workflow([("LEAD_STATUS", {"to": ["CALLBK"]})], delay=LATER, stop_if="final_status")
    lead = make_lead(status_id="NI")
    lead.status_id = "CALLBK"
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED]
    [entry] = entries(wf)
    assert entry.state == EntryState.PENDING
    assert "stopped_at_trigger" not in entry.context


def test_it_stops_a_lead_already_in_the_stop_status(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, stop_if="final_status")
    lead = make_lead(status_id="NEW")
    lead.status_id = "NI"
    lead.save()  # the save that reaches it
    lead.first_name = "Grace"
    lead.save()  # a later one
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.STOPPED]
    assert len(entries(wf)) == 1


def test_it_cancels_pending_entries_of_a_workflow_the_save_does_not_match(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})], delay=LATER, stop_if="reached_status"
    )
    lead = make_lead(status_id="NEW")
    assert [e.state for e in entries(wf)] == [EntryState.PENDING]
    lead.status_id = "FOLLOW"
    lead.save()
    [entry] = entries(wf)
    assert entry.state == EntryState.CANCELLED
    assert entry.reason == "Stop Workflow If: reached status matched"
    assert outcomes(wf) == [TriggerOutcome.FIRED]  # the save itself matched nothing


def test_it_cancels_pending_entries_when_the_lead_matches_the_filter(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})],
        delay=LATER,
        stop_if="lead_filter",
        stop_filter=[{"field": "email", "operator": "is_not_blank"}],
    )
    lead = make_lead()
    lead.first_name = "Grace"
    lead.save()
    assert [e.state for e in entries(wf)] == [EntryState.PENDING]
    lead.email = "grace@example.com"
    lead.save()
    [entry] = entries(wf)
    assert entry.state == EntryState.CANCELLED
    assert entry.reason == "Stop Workflow If: lead filter matched"


def test_it_leaves_finished_entries_alone_when_stopping(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})], delay=LATER, stop_if="final_status"
    )
    lead = make_lead(status_id="NEW")
    settle(wf, lead, EntryState.SUCCEEDED)
    lead.status_id = "NI"
    lead.save()
    assert [e.state for e in entries(wf)] == [EntryState.SUCCEEDED]


def test_it_does_not_cancel_again_when_the_lead_stays_stopped(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})], delay=LATER, stop_if="final_status"
    )
    make_lead(status_id="SALE")  # created stopped: does not enter
    assert outcomes(wf) == [TriggerOutcome.STOPPED]
    assert entries(wf) == []


# --- Skip if pending actions -------------------------------------------------------


def test_it_skips_a_lead_with_pending_actions_and_fires_once_they_are_done(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, skip_if_pending=True)
    lead = make_lead()
    lead.save()
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.SKIPPED_PENDING]
    skipped = Trigger.objects.get(workflow=wf, outcome=TriggerOutcome.SKIPPED_PENDING)
    assert skipped.reason == "the lead has unexecuted actions of this workflow"
    assert len(entries(wf)) == 1
    settle(wf, lead)
    lead.save()
    assert outcomes(wf)[-1] == TriggerOutcome.FIRED
    assert len(entries(wf)) == 2


def test_it_counts_a_running_entry_as_pending(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, skip_if_pending=True)
    lead = make_lead()
    lead.save()
    settle(wf, lead, EntryState.RUNNING)
    lead.save()
    assert outcomes(wf)[-1] == TriggerOutcome.SKIPPED_PENDING


def test_it_skips_only_for_pending_actions_of_the_same_workflow_and_lead(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, skip_if_pending=True)
    other_wf = make_workflow(ON_SAVE, delay=LATER)
    a, b = make_lead(), make_lead()
    a.save()  # a: pending entries of both workflows
    b.save()
    assert outcomes(wf, a) == [TriggerOutcome.FIRED]
    assert outcomes(wf, b) == [TriggerOutcome.FIRED]
    a.save()
    assert outcomes(wf, a)[-1] == TriggerOutcome.SKIPPED_PENDING
    assert outcomes(other_wf, a) == [TriggerOutcome.FIRED, TriggerOutcome.FIRED]


def test_it_fires_again_without_skip_if_pending(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    lead = make_lead()
    lead.save()
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.FIRED]
    assert len(entries(wf)) == 2


# --- Rate limit ----------------------------------------------------------------------


def test_it_suppresses_the_tenth_trigger_within_three_minutes(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    with time_machine.travel(T0, tick=False) as traveller:
        lead = make_lead()
        for _ in range(RATE_LIMIT_TRIGGERS):
            lead.save()
            traveller.shift(timedelta(seconds=19))
        assert outcomes(wf) == [TriggerOutcome.FIRED] * 9
        lead.save()  # T0 + 171 s: the 10th
        assert outcomes(wf)[-1] == TriggerOutcome.RATE_LIMITED
        limited = Trigger.objects.get(workflow=wf, outcome=TriggerOutcome.RATE_LIMITED)
        assert limited.reason == "9 triggers in the last 180 s"
        assert len(entries(wf)) == 9
        traveller.move_to(T0 + timedelta(seconds=179))
        lead.save()  # the first fired trigger is still inside the window
        assert outcomes(wf)[-1] == TriggerOutcome.RATE_LIMITED
        traveller.move_to(T0 + timedelta(seconds=180, milliseconds=1))
        lead.save()  # it rolled out: a slot is free again
        assert outcomes(wf)[-1] == TriggerOutcome.FIRED
        lead.save()  # ... and only one
        assert outcomes(wf)[-1] == TriggerOutcome.RATE_LIMITED
        assert len(entries(wf)) == 10


def test_it_fires_nine_times_in_a_burst(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    with time_machine.travel(T0, tick=False) as traveller:
        lead = make_lead()
        for _ in range(12):
            lead.save()
        assert outcomes(wf) == [TriggerOutcome.FIRED] * 9 + [TriggerOutcome.RATE_LIMITED] * 3
        traveller.shift(timedelta(seconds=181))
        for _ in range(10):
            lead.save()
    assert outcomes(wf).count(TriggerOutcome.FIRED) == 18
    assert len(entries(wf)) == 18


def test_it_rate_limits_per_lead_and_per_workflow(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    with time_machine.travel(T0, tick=False):
        a, b = make_lead(), make_lead()
        for _ in range(10):
            a.save()
        other = make_workflow(ON_SAVE, delay=LATER)
        a.save()
        b.save()
    assert outcomes(wf, a)[-1] == TriggerOutcome.RATE_LIMITED
    assert outcomes(other, a) == [TriggerOutcome.FIRED]
    assert outcomes(wf, b) == [TriggerOutcome.FIRED]


# --- Perform Action On ------------------------------------------------------------


@pytest.fixture
def many_leads(lead_list, statuses):
    def make(n):
        leads = Lead.objects.bulk_create(
            Lead(
                list=lead_list,
                phone_number=phone(i),
                timezone="America/Los_Angeles",
                status_id="NEW",
            )
            for i in range(n)
        )
        return list(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("pk"))

    return make


def selected_leads(workflow):
    return set(
        Trigger.objects.filter(workflow=workflow, outcome=TriggerOutcome.FIRED).values_list(
            "lead_id", flat=True
        )
    )


def test_it_performs_actions_on_about_the_given_share_of_leads(many_leads):
    wf = make_workflow(ON_SAVE, delay=LATER, perform_action_on=30)
    leads = many_leads(1000)
    for lead in leads:
        lead.save()
    chosen = selected_leads(wf)
    assert 240 <= len(chosen) <= 360
    assert Trigger.objects.filter(workflow=wf).count() == 1000
    assert Trigger.objects.filter(workflow=wf, outcome=TriggerOutcome.NOT_SELECTED).count() == (
        1000 - len(chosen)
    )
    assert Trigger.objects.filter(
        workflow=wf, outcome=TriggerOutcome.NOT_SELECTED
    ).first().reason == ("outside the 30% group")
    assert set(LogEntry.objects.filter(workflow=wf).values_list("lead_id", flat=True)) == chosen

    # Sticky: the same leads again, the same groups.
    Trigger.objects.filter(workflow=wf).delete()
    for lead in leads:
        handle(lead, lead_action="save")
    assert selected_leads(wf) == chosen


@pytest.mark.parametrize(("percent", "outcome"), [(0, "not_selected"), (100, "fired")])
def test_it_performs_actions_on_none_or_all(many_leads, percent, outcome):
    wf = make_workflow(ON_SAVE, delay=LATER, perform_action_on=percent)
    for lead in many_leads(200):
        handle(lead, lead_action="save")
    assert set(outcomes(wf)) == {outcome}
    assert len(outcomes(wf)) == 200
    assert len(entries(wf)) == (200 if percent == 100 else 0)


def test_it_chooses_independently_for_each_workflow(many_leads):
    a = make_workflow(ON_SAVE, delay=LATER, perform_action_on=50)
    b = make_workflow(ON_SAVE, delay=LATER, perform_action_on=50)
    for lead in many_leads(200):
        handle(lead, lead_action="save")
    assert selected_leads(a) != selected_leads(b)


# --- Loop protection (the gate; a real loop is in test_loops) ---------------------


def test_it_disables_a_workflow_on_the_hundredth_iteration_of_one_chain(
    make_lead, settings, mailoutbox
):
    settings.ADMIN_EMAILS = ["ops@example.com"]
    wf = make_workflow(ON_SAVE, delay=LATER)
    lead = make_lead()
    handle(lead, lead_action="save", chain=(wf.pk,) * 100)  # iteration 99
    assert outcomes(wf) == [TriggerOutcome.FIRED]
    handle(lead, lead_action="save", chain=(wf.pk,) * 101)  # iteration 100
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.LOOP_DISABLED]
    disabled = Trigger.objects.get(workflow=wf, outcome=TriggerOutcome.LOOP_DISABLED)
    assert disabled.chain == [wf.pk] * 101
    assert disabled.loop_iteration == 100
    assert disabled.reason == "Loop detected: iteration 100 in one chain"
    wf.refresh_from_db()
    assert not wf.active
    assert wf.disabled_reason.startswith("Loop detected: iteration 100 in one chain")
    assert Notification.objects.get(workflow=wf).chain == [wf.pk] * 101
    assert len(mailoutbox) == 0  # sent when the transaction commits
    assert len(entries(wf)) == 1  # none for the loop_disabled trigger
    lead.save()
    assert len(outcomes(wf)) == 2  # no longer evaluated


def test_a_single_retrigger_is_not_an_iteration(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER)
    other = make_workflow([("LEAD_ACTION", {"values": ["create"]})], delay=LATER)
    lead = make_lead()
    handle(lead, lead_action="save")
    handle(lead, lead_action="save", chain=(other.pk,))
    handle(lead, lead_action="save", chain=(other.pk, wf.pk))  # re-triggered once: settles
    handle(lead, lead_action="save", chain=(wf.pk, other.pk, wf.pk))  # the second repetition
    assert outcomes(wf) == [TriggerOutcome.FIRED] * 4
    assert list(
        Trigger.objects.filter(workflow=wf).order_by("id").values_list("loop_iteration", flat=True)
    ) == [0, 0, 0, 1]


# --- The order of the gates --------------------------------------------------------


def test_it_stops_before_skipping_for_pending_actions(make_lead):
    wf = make_workflow(
        ON_SAVE,
        delay=LATER,
        stop_if="lead_filter",
        stop_filter=[{"field": "state", "operator": "equals", "value": "CA"}],
        skip_if_pending=True,
    )
    lead = make_lead()
    lead.save()
    assert [e.state for e in entries(wf)] == [EntryState.PENDING]
    Lead.objects.filter(pk=lead.pk).update(state="CA")  # stopped, pending entries kept
    Lead.objects.get(pk=lead.pk).save()
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.STOPPED]


def test_it_stops_before_rate_limiting(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, stop_if="final_status")
    with time_machine.travel(T0, tick=False):
        lead = make_lead(status_id="NEW")
        for _ in range(9):
            lead.save()
        Lead.objects.filter(pk=lead.pk).update(status_id="NI")
        Lead.objects.get(pk=lead.pk).save()
    assert outcomes(wf) == [TriggerOutcome.FIRED] * 9 + [TriggerOutcome.STOPPED]


def test_it_skips_for_pending_actions_before_rate_limiting(make_lead):
    wf = make_workflow(ON_SAVE, delay=LATER, skip_if_pending=True)
    with time_machine.travel(T0, tick=False):
        lead = make_lead()
        for _ in range(9):
            lead.save()
            settle(wf, lead)
        lead.save()
        assert outcomes(wf)[-1] == TriggerOutcome.RATE_LIMITED
        LogEntry.objects.filter(workflow=wf).update(state=EntryState.PENDING)
        lead.save()
        assert outcomes(wf)[-1] == TriggerOutcome.SKIPPED_PENDING


def test_it_rate_limits_before_choosing_the_group(many_leads):
    wf = make_workflow(ON_SAVE, delay=LATER)
    with time_machine.travel(T0, tick=False) as traveller:
        [lead] = many_leads(1)
        for _ in range(9):
            handle(lead, lead_action="save")
        wf.perform_action_on = 0
        wf.save()
        handle(lead, lead_action="save")
        assert outcomes(wf)[-1] == TriggerOutcome.RATE_LIMITED
        traveller.shift(timedelta(seconds=181))
        handle(lead, lead_action="save")
        assert outcomes(wf)[-1] == TriggerOutcome.NOT_SELECTED


def test_it_chooses_the_group_before_counting_a_loop(many_leads):
    wf = make_workflow(ON_SAVE, delay=LATER, perform_action_on=0)
    [lead] = many_leads(1)
    handle(lead, lead_action="save", chain=(wf.pk,) * 101)
    wf.refresh_from_db()
    assert outcomes(wf) == [TriggerOutcome.NOT_SELECTED]
    assert wf.active


def test_it_records_every_outcome_as_a_trigger(make_lead, many_leads):
    stopped = make_workflow(ON_SAVE, delay=LATER, stop_if="final_status")
    skipped = make_workflow(ON_SAVE, delay=LATER, skip_if_pending=True)
    limited = make_workflow(ON_SAVE, delay=LATER)
    not_selected = make_workflow(ON_SAVE, delay=LATER, perform_action_on=0)
    looped = make_workflow(ON_SAVE, delay=LATER)
    with time_machine.travel(T0, tick=False):
        lead = make_lead(status_id="SALE")
        Trigger.objects.bulk_create(
            Trigger(workflow=limited, lead_id=lead.pk, outcome="fired", occurred_at=T0)
            for _ in range(9)
        )
        LogEntry.objects.create(
            workflow=skipped, lead_id=lead.pk, action_type="STATUS", due_at=T0 + timedelta(hours=1)
        )
        handle(lead, lead_action="save", chain=(looped.pk,) * 101)
    got = {
        t.workflow_id: (t.outcome, bool(t.reason), t.occurred_at, t.occurrence["lead_action"])
        for t in Trigger.objects.exclude(workflow=limited, outcome="fired")
    }
    assert got == {
        stopped.pk: ("stopped", True, T0, "save"),
        skipped.pk: ("skipped_pending", True, T0, "save"),
        limited.pk: ("rate_limited", True, T0, "save"),
        not_selected.pk: ("not_selected", True, T0, "save"),
        looped.pk: ("loop_disabled", True, T0, "save"),
    }
    assert not LogEntry.objects.exclude(workflow=skipped).exists()
