"""The rollups (automation.insight.rollups): a fold of the log, equal to counting the log.

The property test writes random workloads in steps: each step moves the clock,
writes triggers and finished entries (some "committed late": their time is up
to 9 minutes before the fold that first sees them, within the fold's overlap)
and folds. At the end, the stats read from the rollups equal the same numbers
counted from the log rows directly, and a rebuild gives the same rows.
"""

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.constants import EntryState, TriggerOutcome
from automation.insight import rollups, stats
from automation.models import (
    LogEntry,
    Rollup,
    RollupSlice,
    RollupState,
    Trigger,
    Workflow,
)
from automation.models.rollups import LATENESS_BINS, LATENESS_BOUNDS

T0 = datetime(2026, 3, 2, 9, 50, tzinfo=UTC)
STATES = ["succeeded", "failed", "skipped", "cancelled", "flushed"]
REASONS = ["http 503: down (attempt 3 of 3: giving up)", "no phone number", "timeout"]

rows = st.one_of(
    st.tuples(
        st.just("trigger"),
        st.integers(0, 1),
        st.sampled_from(TriggerOutcome.values),
        st.integers(0, 9 * 60),  # seconds before the step's time
    ),
    st.tuples(
        st.just("entry"),
        st.integers(0, 3),  # action: two per workflow
        st.sampled_from(STATES),
        st.integers(0, 9 * 60),
        st.one_of(st.none(), st.integers(0, 100_000)),  # lateness (None: never started)
        st.sampled_from(REASONS),
    ),
    st.tuples(st.just("pending"), st.integers(0, 3)),
)
steps = st.lists(
    st.tuples(st.integers(0, 150), st.lists(rows, max_size=6), st.booleans()),
    min_size=1,
    max_size=8,
)


def expected(workflow, actions, since, until):
    """SPEC C.5's stats of `workflow` counted from the log rows (the same hour rounding)."""
    lo = since.replace(minute=0, second=0, microsecond=0)

    def inside(t):
        return lo <= t.astimezone(UTC).replace(minute=0, second=0, microsecond=0) < until

    triggers = Counter(
        t.outcome for t in Trigger.objects.filter(workflow=workflow) if inside(t.occurred_at)
    )
    out = []
    entries = LogEntry.objects.filter(workflow=workflow)
    for action in actions:
        mine = [e for e in entries if e.action_id == action.pk]
        done = [e for e in mine if e.state in STATES and inside(e.finished_at)]
        late = sorted(
            max(0.0, (e.started_at - e.due_at).total_seconds()) for e in done if e.started_at
        )
        out.append(
            {
                "action": action.pk,
                "type": action.type,
                **{s: sum(1 for e in done if e.state == s) for s in STATES},
                "pending": sum(1 for e in mine if e.state == EntryState.PENDING),
                "lateness_p50_seconds": bin_bound(late, 0.5),
                "lateness_p95_seconds": bin_bound(late, 0.95),
            }
        )
    reasons = Counter(
        e.reason for e in entries if e.state == EntryState.FAILED and inside(e.finished_at)
    )
    return dict(triggers), out, reasons


def bin_bound(values, fraction):
    """The upper bound of the lateness bin holding the rank: from the sorted values."""
    if not values:
        return None
    value = values[max(1, math.ceil(fraction * len(values))) - 1]
    return next((b for b in LATENESS_BOUNDS if value < b), LATENESS_BOUNDS[-1])


def rollup_rows():
    return sorted(
        (r.workflow_id, r.kind, r.hour, r.action_id, r.action_type, r.key, r.count,
         tuple(r.lateness or [0] * LATENESS_BINS))
        for r in Rollup.objects.all()
    )  # fmt: skip


@pytest.fixture
def world(make_lead, make_action):
    lead = make_lead()
    first, second = Workflow.objects.create(name="A"), Workflow.objects.create(name="B")
    actions = [
        make_action("SMS", {}, workflow=first),
        make_action("EMAIL", {}, workflow=first),
        make_action("FIELD", {}, workflow=second),
        make_action("SMS", {}, workflow=second),
    ]
    return lead, [first, second], actions


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=steps)
def test_it_equals_the_counts_of_the_log_for_random_workloads(world, workload):
    lead, workflows, actions = world
    for model in (Trigger, LogEntry, Rollup, RollupSlice, RollupState):
        model.objects.all().delete()
    now = T0
    for advance, written, fold in workload:
        now += timedelta(minutes=advance)
        for row in written:
            if row[0] == "trigger":
                _, w, outcome, back = row
                Trigger.objects.create(
                    workflow=workflows[w],
                    lead_id=lead.pk,
                    outcome=outcome,
                    occurred_at=now - timedelta(seconds=back),
                )
                continue
            action = actions[row[1]]
            workflow = action.action_set.workflow
            if row[0] == "pending":
                LogEntry.objects.create(
                    workflow=workflow, action=action, lead_id=lead.pk, action_type=action.type,
                    due_at=now, created_at=now,
                )  # fmt: skip
                continue
            _, _, state, back, late, reason = row
            finished = now - timedelta(seconds=back)
            due = finished - timedelta(hours=2)
            LogEntry.objects.create(
                workflow=workflow, action=action, lead_id=lead.pk, action_type=action.type,
                state=state, reason=reason if state == EntryState.FAILED else "", due_at=due,
                started_at=None if late is None else due + timedelta(seconds=late),
                finished_at=finished, created_at=due,
            )  # fmt: skip
        if fold:
            rollups.fold(now)
    end = now + timedelta(seconds=1)
    rollups.fold(end)
    since, until = T0 - timedelta(hours=1), end + timedelta(hours=1)
    for workflow in workflows:
        got = stats.stats(workflow, since, until)
        mine = [a for a in actions if a.action_set.workflow_id == workflow.pk]
        triggers, per_action, reasons = expected(workflow, mine, since, until)
        assert got["triggers"] == triggers
        assert got["actions"] == per_action
        assert {r["reason"]: r["count"] for r in got["top_reasons"]} == reasons
        assert sum(p["fired"] for p in got["series"]) == triggers.get("fired", 0)
        assert sum(p["failed"] for p in got["series"]) == sum(a["failed"] for a in per_action)
    folded = rollup_rows()
    rollups.rebuild(end)
    assert rollup_rows() == folded


def test_it_adds_nothing_when_folding_again(world):
    lead, workflows, actions = world
    rollups.fold(T0)
    Trigger.objects.create(workflow=workflows[0], lead_id=lead.pk, outcome="fired", occurred_at=T0)
    rollups.fold(T0 + timedelta(minutes=1))
    rollups.fold(T0 + timedelta(minutes=2))
    rollups.fold(T0 + timedelta(minutes=2))
    assert [(r.key, r.count) for r in Rollup.objects.all()] == [("fired", 1)]


def test_it_counts_a_row_committed_late_within_the_overlap(world):
    lead, workflows, actions = world
    rollups.fold(T0)
    rollups.fold(T0 + timedelta(minutes=5))
    # Committed now, stamped 4 minutes before the last fold.
    Trigger.objects.create(
        workflow=workflows[0], lead_id=lead.pk, outcome="rate_limited",
        occurred_at=T0 + timedelta(minutes=1),
    )  # fmt: skip
    rollups.fold(T0 + timedelta(minutes=6))
    assert Rollup.objects.get().key == "rate_limited"


def test_it_subtracts_an_entry_that_left_its_terminal_state_within_the_overlap(world):
    lead, workflows, actions = world
    action = actions[0]
    entry = LogEntry.objects.create(
        workflow=workflows[0], action=action, lead_id=lead.pk, action_type="SMS",
        state="failed", due_at=T0, finished_at=T0, started_at=T0,
    )  # fmt: skip
    rollups.fold(T0 + timedelta(minutes=1))
    assert Rollup.objects.filter(kind="entry").get().count == 1
    LogEntry.objects.filter(pk=entry.pk).update(state="pending", finished_at=None)
    rollups.fold(T0 + timedelta(minutes=2))
    assert not Rollup.objects.filter(kind="entry").exists()


def test_it_measures_lateness_from_due_to_start(world):
    lead, workflows, actions = world
    for late in (0, 2, 2, 40, 4000):
        LogEntry.objects.create(
            workflow=workflows[0], action=actions[0], lead_id=lead.pk, action_type="SMS",
            state="succeeded", due_at=T0, started_at=T0 + timedelta(seconds=late),
            finished_at=T0 + timedelta(seconds=late + 1),
        )  # fmt: skip
    rollups.fold(T0 + timedelta(hours=2))
    got = stats.stats(workflows[0], T0, T0 + timedelta(hours=3))["actions"][0]
    assert (got["lateness_p50_seconds"], got["lateness_p95_seconds"]) == (5, 21600)


def test_it_is_folded_every_minute_by_a_django_q2_schedule(db):
    schedule = Schedule.objects.get(name="Fold workflow rollups")
    assert schedule.func == "automation.execution.tasks.fold_rollups"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)


def test_the_fold_task_folds(world):
    from automation.execution import tasks

    lead, workflows, _ = world
    Trigger.objects.create(workflow=workflows[1], lead_id=lead.pk, outcome="fired")
    tasks.fold_rollups()
    assert Rollup.objects.get().workflow_id == workflows[1].pk


def test_it_bins_lateness_below_each_bound():
    assert [rollups.lateness_bin(s) for s in (0, 0.5, 1, 4.9, 5, 86399, 86400, 10**7)] == [
        0, 0, 1, 1, 2, 11, 12, 12,
    ]  # fmt: skip


def test_the_command_rebuilds_and_folds(world):
    lead, workflows, _ = world
    Trigger.objects.create(workflow=workflows[0], lead_id=lead.pk, outcome="stopped")
    Rollup.objects.create(workflow=workflows[1], kind="trigger", hour=T0, key="fired", count=9)
    out = StringIO()
    call_command("rollups", "--rebuild", stdout=out)
    assert "rebuilt" in out.getvalue()
    assert [(r.workflow_id, r.key, r.count) for r in Rollup.objects.all()] == [
        (workflows[0].pk, "stopped", 1)
    ]
    call_command("rollups", stdout=out)
    assert "folded" in out.getvalue() and Rollup.objects.count() == 1
