"""Backtest exactness (SPEC C.6): over a period in which a workflow was active and
unchanged, replaying the journal through it gives the Trigger rows it produced,
outcome for outcome, lead for lead.

Each workload is seeded random: leads saved, called (dispositions, some final:
stop-if), reopened, in bursts (the rate limit) and pauses, on a frozen clock
that moves on; the workflow runs for real (its entries run when they are due,
its own FIELD action re-triggers it: chains), with the journal on. Then the
same workflow is backtested over that period.
"""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from automation.constants import EntryState, TriggerOutcome
from automation.execution import runner
from automation.insight import backtest
from automation.models import LogEntry, Trigger
from leads.models import Call, Lead
from tests.automation.engine_helpers import fresh_rules, make_workflow  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
TOUCH = ("FIELD", {"field": "custom.touched", "op": "add", "value": 1})
MARK = ("FIELD", {"field": "custom.seen", "op": "set", "value": "yes"})

WORKFLOWS = {
    # Every save, its own action saving again: bursts hit the rate limit, chains repeat.
    "bursts": dict(
        events=[("LEAD_ACTION", {"values": ["save"]})],
        actions=[TOUCH],
    ),
    # Dispositions, an action 10 minutes later: skip if pending; a final status stops it.
    "pending_and_stop": dict(
        events=[("DISPOSITION", {"values": ["NA", "B", "CALLBK"]})],
        actions=[MARK],
        delay={"delay_mode": "fixed", "delay_minutes": 10},
        skip_if_pending=True,
        stop_if="final_status",
    ),
    # A state that "becomes" true, once a day per lead, for half of the leads.
    "becomes_once_a_day": dict(
        events=[
            (
                "LEAD_FIELDS",
                {
                    "field": "called_count",
                    "operator": "greater_than",
                    "value": 1,
                    "when": "becomes",
                },
            )
        ],
        actions=[MARK],
        reenrollment="once_per_days",
        reenroll_after_days=1,
        perform_action_on=50,
    ),
    # Status changes with a delayed action and a stop filter (skip if pending too).
    "status_with_filter": dict(
        events=[("LEAD_STATUS", {"to": ["NA", "B", "FOLLOW", "NEW"]})],
        actions=[TOUCH],
        delay={"delay_mode": "fixed", "delay_minutes": 3},
        skip_if_pending=True,
        stop_if="lead_filter",
        stop_filter=[{"field": "city", "operator": "equals", "value": "Stopville"}],
    ),
}

STEPS = [0, 0, 2, 5, 20, 60, 200, 900, 4000]


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """What TOUCH and MARK write (SPEC C.2: declared)."""
    declare("touched", type="number")
    declare("seen")


def run_due(capture, now):
    """The dispatcher's job: run every entry due by now (what it starts, at commit)."""
    due = list(
        LogEntry.objects.filter(state=EntryState.PENDING, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)
    )
    if due:
        with capture(execute=True):
            runner.run_entries(due, now)


def act(rng, lead_id, statuses, capture):
    """One random change to a lead, its on-commit work (immediate entries) run."""
    lead = Lead.objects.get(pk=lead_id)
    roll = rng.random()
    with capture(execute=True):
        if roll < 0.35:
            Call.record(
                lead=lead,
                disposition=statuses[rng.choice(["NA", "NA", "B", "CALLBK", "SALE", "NI"])],
            )
        elif roll < 0.5:
            lead.status = statuses[rng.choice(["NEW", "FOLLOW", "NA"])]
            lead.save()
        elif roll < 0.6:
            lead.city = rng.choice(["Fresno", "Reno", "Stopville"])
            lead.save()
        elif roll < 0.75:
            lead.called_count = rng.choice([0, 1, 2, 3])
            lead.save()
        else:
            lead.save()  # a plain save: nothing changed


def workload(seed, wf_spec, make_lead, statuses, capture, steps=220, leads=12):
    rng = random.Random(seed)
    with time_machine.travel(T0 - timedelta(hours=1), tick=False):
        ids = [make_lead(status=statuses["NEW"]).pk for _ in range(leads)]
    with time_machine.travel(T0, tick=False):
        spec = dict(wf_spec)
        wf = make_workflow(spec.pop("events"), spec.pop("actions"), **spec)
    now = T0
    for _ in range(steps):
        now += timedelta(seconds=rng.choice(STEPS))
        with time_machine.travel(now, tick=False):
            run_due(capture, now)
            # A burst: one lead changed again and again at this instant or the next.
            lead_id = rng.choice(ids)
            for _ in range(rng.choice([1, 1, 1, 4, 12])):
                act(rng, lead_id, statuses, capture)
    return wf, now + timedelta(seconds=1)


def stored(wf):
    rows = Trigger.objects.filter(workflow=wf).order_by("occurred_at", "id")
    return list(rows.values_list("lead_id", "occurred_at", "outcome"))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_the_backtest_equals_the_stored_triggers(
    name, seed, make_lead, statuses, django_capture_on_commit_callbacks
):
    wf, until = workload(
        seed, WORKFLOWS[name], make_lead, statuses, django_capture_on_commit_callbacks
    )
    wf.refresh_from_db()
    index, rule = backtest.compiled(workflow=wf)
    result = backtest.replay(index, rule, T0, until, keep_triggers=True)

    real = stored(wf)
    assert len(real) > 20  # the workload did drive the workflow
    assert result.outcomes == Counter(outcome for _, _, outcome in real)
    by_lead = {}
    for lead_id, at, outcome in real:
        by_lead.setdefault(lead_id, []).append((at, outcome))
    replayed = {}
    for lead_id, at, outcome in result.triggers:
        replayed.setdefault(lead_id, []).append((at, outcome))
    assert replayed == by_lead


@pytest.mark.parametrize("name", ["pending_and_stop", "becomes_once_a_day", "status_with_filter"])
def test_a_backtest_of_part_of_the_period_starts_where_the_workflow_stood(
    name, make_lead, statuses, django_capture_on_commit_callbacks
):
    """From the middle of the period on: the leads' enrollments, recent fires and pending
    entries of the first half come from the log (Simulation.seed)."""
    wf, until = workload(
        5, WORKFLOWS[name], make_lead, statuses, django_capture_on_commit_callbacks
    )
    middle = T0 + (until - T0) / 2
    index, rule = backtest.compiled(workflow=wf)
    result = backtest.replay(index, rule, middle, until, keep_triggers=True)
    real = [t for t in stored(wf) if t[1] >= middle]
    assert len(real) > 10
    assert sorted(result.triggers) == sorted(real)
    cold = backtest.replay(index, rule, middle, until, saved=False)
    if name == "becomes_once_a_day":  # enrollments before the middle matter
        assert cold.outcomes[TriggerOutcome.FIRED] > result.outcomes[TriggerOutcome.FIRED]


def test_the_workloads_reach_every_gate(make_lead, statuses, django_capture_on_commit_callbacks):
    """The property above is only as strong as the outcomes its workloads produce."""
    seen = Counter()
    for name in sorted(WORKFLOWS):
        wf, _ = workload(
            3, WORKFLOWS[name], make_lead, statuses, django_capture_on_commit_callbacks
        )
        seen.update(outcome for _, _, outcome in stored(wf))
    for outcome in (
        TriggerOutcome.FIRED,
        TriggerOutcome.RATE_LIMITED,
        TriggerOutcome.SKIPPED_PENDING,
        TriggerOutcome.STOPPED,
        TriggerOutcome.ALREADY_ENROLLED,
        TriggerOutcome.NOT_SELECTED,
    ):
        assert seen[outcome] > 0, outcome


def test_it_replays_a_draft_document_without_storing_it(
    make_lead, statuses, django_capture_on_commit_callbacks
):
    from automation.document import document
    from automation.models import Workflow

    wf, until = workload(
        4, WORKFLOWS["pending_and_stop"], make_lead, statuses, django_capture_on_commit_callbacks
    )
    doc = document.export(wf)
    workflows = Workflow.objects.count()
    index, rule = backtest.compiled(doc=doc)
    assert Workflow.objects.count() == workflows
    result = backtest.replay(index, rule, T0, until)
    # The same settings: the same outcomes (perform-action-on is 100 %, ids play no part).
    assert result.outcomes == Counter(outcome for _, _, outcome in stored(wf))
    assert sum(result.actions.values()) == result.outcomes[TriggerOutcome.FIRED]


def test_an_enrollment_is_replayed_for_its_workflow_only_and_exactly(make_lead, statuses):
    """A bulk enrollment's occurrences (journaled for its workflow) replay through the
    same scope, conditions and gates as handler.enroll_many; no other workflow sees them."""
    from automation.engine import handler, rules
    from automation.engine.occurrences import Occurrence

    with time_machine.travel(T0 - timedelta(hours=1), tick=False):  # before the workflows
        leads = [make_lead(city=city) for city in ("Fresno", "Fresno", "Reno")]
    in_fresno = [("LEAD_FIELDS", {"field": "city", "operator": "equals", "value": "Fresno"})]
    mine = make_workflow(in_fresno, [MARK], reenrollment="once")
    other = make_workflow(in_fresno, [MARK])
    with time_machine.travel(T0, tick=False):
        Lead.objects.get(pk=leads[0].pk).save()  # for every workflow: fires both
    for minutes in (1, 2):  # enrolled twice: the second time, already enrolled
        at = T0 + timedelta(minutes=minutes)
        pairs = [(Occurrence(lead.pk, at, enrollment_id=minutes), lead) for lead in leads]
        handler.enroll_many(pairs, rules.current().rules[mine.pk])
    until = T0 + timedelta(minutes=3)
    for wf in (mine, other):
        index, rule = backtest.compiled(workflow=wf)
        result = backtest.replay(index, rule, T0, until, keep_triggers=True)
        assert sorted(result.triggers) == sorted(stored(wf))
    assert Counter(o for _, _, o in stored(mine)) == {"fired": 2, "already_enrolled": 3}
    assert Counter(o for _, _, o in stored(other)) == {"fired": 1}
