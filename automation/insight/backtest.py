"""Backtest (SPEC C.6): what one workflow would have done over [since, until).

The journal (automation.engine.journal) is replayed in time order through
the engine's own code: its matching (handler.match over an index holding the
one workflow), its stop-if cancellation (handler.stopping), its gates
(handler.verdicts → gates.admit) and its due times (handler.plan). What the
gates read from the log in the engine — pending entries, recent fired
triggers, the last enrollment, the loop count — is read from a `Simulation`
instead, kept in memory per lead:

- pending: a fired trigger's entries are pending until the last one's due
  time (the runner runs it then), or until the lead meets the stop condition;
- fired times: the last RATE_LIMIT_TRIGGERS per lead (rate limit) and the
  last one (re-enrollment); the workflow's last LOOP_LIMIT fired iterations;
- a loop gate that closes disables the workflow for the rest of the replay.

Steps of `replay`:
1. Stream the journal in keyset pages of (occurred_at, id): the rows of
   every workflow (workflow null) and those meant for this one (enrollments).
2. For each row, rebuild the occurrence; the lead only when the workflow
   could be concerned (its fact is among the occurrence's, or a stop
   condition could cancel the lead's simulated pending entries).
3. Stop-if, match, gates, plan, as the engine does, and count the outcome.
4. After each page, report progress (time replayed ÷ the period) and stop
   if the backtest was cancelled.

Nothing is stored but the result, nothing sent. Not simulated: the flood
hold (entries held past `flood_limit` are pending here), retries of failing
external actions and send-time deferrals (here an entry runs at its due
time), and the email-template scope, which reads what was sent as it stands now.

Exactness (tests/automation/test_backtest.py): over a period in which a
workflow was active and unchanged, the replay's outcomes equal its Trigger
rows, lead for lead. A saved workflow's replay starts from its log as it
stood at `since` (Simulation.seed), so this holds for any part of such a
period too; a draft starts with no history.
"""

import json
import logging
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from automation.constants import (
    LOOP_LIMIT,
    LOOP_WINDOW_SECONDS,
    RATE_LIMIT_SECONDS,
    RATE_LIMIT_TRIGGERS,
    EntryState,
    OccurrenceKind,
    TriggerOutcome,
)
from automation.engine import gates, handler, journal, rules
from automation.engine.events import EVENTS

log = logging.getLogger(__name__)

PAGE = 5_000
SAMPLE_PER_OUTCOME = 5
SAMPLE_MAX = 25
NEVER = datetime.min.replace(tzinfo=UTC)
CHANGES = frozenset({"create", "save", "call"})  # kinds whose lead_action is create or save


class Cancelled(Exception):
    pass


class Simulation:
    """The log of one workflow, simulated: what the gates read (handler.gate_reads and
    the loop count), per lead."""

    def __init__(self, rule):
        self.rule = rule
        self.now = NEVER
        self.pending_until = {}  # lead id -> the due time of its last pending entry
        self.fired = {}  # lead id -> deque of its last fired trigger times
        self.iterations = deque(maxlen=LOOP_LIMIT)  # the workflow's fired iterations' times
        self.disabled = False

    def has_pending(self, lead_id):
        return self.pending_until.get(lead_id, NEVER) > self.now

    def pending(self, lead_id, workflow_ids):
        return {self.rule.id} if self.has_pending(lead_id) else set()

    def fired_recently(self, lead_id, workflow_ids, now):
        since = now - timedelta(seconds=RATE_LIMIT_SECONDS)
        times = self.fired.get(lead_id, ())
        count = sum(1 for t in times if t > since)
        return {self.rule.id: count} if count else {}

    def enrolled(self, lead_id, workflow_ids):
        times = self.fired.get(lead_id)
        return {self.rule.id: times[-1]} if times else {}

    def reads(self, lead_id, now):
        """(pending, recent, enrolled) as handler.gate_reads gives them for one lead."""
        return (
            self.pending(lead_id, ()),
            self.fired_recently(lead_id, (), now),
            self.enrolled(lead_id, ()),
        )

    def loop_window_count(self, workflow_id, now):
        since = now - timedelta(seconds=LOOP_WINDOW_SECONDS)
        return sum(1 for t in self.iterations if since < t <= now)

    def fire(self, lead_id, occ, sets):
        """A fired trigger: its time, and its entries pending until their due times."""
        self.fired.setdefault(lead_id, deque(maxlen=RATE_LIMIT_TRIGGERS)).append(occ.occurred_at)
        if gates.iteration(self.rule, occ):
            self.iterations.append(occ.occurred_at)
        due = [s["due_at"] for s in sets if s["state"] == EntryState.PENDING]
        if due:
            self.pending_until[lead_id] = max(self.pending_until.get(lead_id, NEVER), *due)

    def stop(self, lead_id):
        """The lead met the stop condition: its pending entries are cancelled."""
        self.pending_until.pop(lead_id, None)

    def seed(self, since):
        """A saved workflow's log as it stood at `since`: each lead's last fired trigger
        and those in the rate-limit window, its entries pending then (created before,
        due after, not finished before), the fired iterations in the loop window. So a
        replay of part of a period in which the workflow was active starts where the
        workflow stood (a draft has no history: it starts empty)."""
        from django.db.models import Max

        from automation.models import LogEntry, Trigger

        fired = Trigger.objects.filter(
            workflow_id=self.rule.id, outcome=TriggerOutcome.FIRED, occurred_at__lt=since
        )
        for lead_id, last in (
            fired.values_list("lead_id").annotate(last=Max("occurred_at")).order_by()
        ):
            self.fired[lead_id] = deque([last], maxlen=RATE_LIMIT_TRIGGERS)
        recent = fired.filter(occurred_at__gt=since - timedelta(seconds=RATE_LIMIT_SECONDS))
        by_lead = {}
        for lead_id, at in recent.order_by("occurred_at", "id").values_list(
            "lead_id", "occurred_at"
        ):
            by_lead.setdefault(lead_id, []).append(at)
        for lead_id, times in by_lead.items():
            self.fired[lead_id] = deque(times, maxlen=RATE_LIMIT_TRIGGERS)
        loops = fired.filter(
            loop_iteration__gt=0, occurred_at__gt=since - timedelta(seconds=LOOP_WINDOW_SECONDS)
        )
        self.iterations.extend(loops.order_by("occurred_at").values_list("occurred_at", flat=True))
        pending = (
            LogEntry.objects.filter(
                workflow_id=self.rule.id, created_at__lt=since, due_at__gt=since
            )
            .exclude(finished_at__lt=since)
            .exclude(state=EntryState.HELD)
        )
        for lead_id, due in pending.values_list("lead_id").annotate(due=Max("due_at")).order_by():
            self.pending_until[lead_id] = due


@dataclass
class Result:
    """What the replay found (the API's result, `as_dict`)."""

    zone: object
    occurrences: int = 0
    leads: set = field(default_factory=set)
    outcomes: Counter = field(default_factory=Counter)
    actions: Counter = field(default_factory=Counter)
    fired_by_hour: Counter = field(default_factory=Counter)
    sends_by_hour_of_day: list = field(default_factory=lambda: [0] * 24)
    sample: list = field(default_factory=list)
    triggers: list | None = None  # (lead id, occurred_at, outcome) of each, when kept

    def add(self, occ, lead, verdict, sets):
        outcome = str(verdict.outcome)
        self.outcomes[outcome] += 1
        if self.triggers is not None:
            self.triggers.append((lead.pk, occ.occurred_at, outcome))
        if outcome == TriggerOutcome.FIRED:
            hour = occ.occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            self.fired_by_hour[hour] += 1
            for aset in sets:
                if aset["state"] != EntryState.PENDING:
                    continue
                hour_of_day = aset["due_at"].astimezone(self.zone).hour
                for _, action_type in aset["actions"]:
                    self.actions[action_type] += 1
                    self.sends_by_hour_of_day[hour_of_day] += 1
        if len(self.sample) < SAMPLE_MAX and (
            sum(1 for s in self.sample if s["outcome"] == outcome) < SAMPLE_PER_OUTCOME
        ):
            why = verdict.reason or "; ".join(f"{c.gate}: {c.why}" for c in verdict.checks)
            self.sample.append(
                {
                    "lead": lead.pk,
                    "occurred_at": occ.occurred_at.isoformat(),
                    "outcome": outcome,
                    "why": why,
                }
            )

    def as_dict(self, since, until):
        start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hours, t = [], start
        while t < until:
            hours.append({"t": t.isoformat(), "fired": self.fired_by_hour.get(t, 0)})
            t += timedelta(hours=1)
        return {
            "occurrences": self.occurrences,
            "leads": len(self.leads),
            "outcomes": dict(self.outcomes),
            "actions": dict(self.actions),
            "by_hour": hours,
            "sends_by_hour_of_day": self.sends_by_hour_of_day,
            "sample": self.sample,
        }


def pages(since, until, workflow_id=None):
    """The journal of [since, until), in (occurred_at, id) order, in keyset pages:
    never all of it in memory, no long-held cursor (journal_time_idx).

    Rows: (id, occurred_at, lead id, kind, facts, values, before, workflow id), the
    JSON as text (decoded by the replay only where it needs it) and the time as
    ISO text (parsed by fromisoformat: a driver's datetime loader cost more per
    row than the rest of a skipped row).
    """
    from automation.models import JournalEntry

    quote = connection.ops.quote_name
    table = quote(JournalEntry._meta.db_table)
    text = ", ".join(
        f"CAST({quote(c)} AS text)" for c in ("occurred_at", "lead_id", "kind", "facts")
    )
    mine = "workflow_id IS NULL" + (" OR workflow_id = %s" if workflow_id is not None else "")
    select = (
        f"SELECT id, {text}, CAST({quote('values')} AS text), CAST(before AS text), workflow_id "
        f"FROM {table} WHERE occurred_at >= %s AND occurred_at < %s AND ({mine})"
    )
    adapt = connection.ops.adapt_datetimefield_value
    base = [adapt(since), adapt(until)] + ([workflow_id] if workflow_id is not None else [])
    after = []
    while True:
        sql = select
        if after:
            sql += " AND occurred_at >= %s AND (occurred_at > %s OR id > %s)"
        with connection.cursor() as cursor:
            # Ordered by the table's columns, not the text of the select list.
            cursor.execute(
                f"{sql} ORDER BY {table}.occurred_at, {table}.id LIMIT {PAGE}", base + after
            )
            page = [
                (pk, moment(at), int(lead), kind, facts, values, before, wid)
                for pk, at, lead, kind, facts, values, before, wid in cursor.fetchall()
            ]
        if not page:
            return
        yield page
        last = page[-1]
        after = [adapt(last[1]), adapt(last[1]), last[0]]


def moment(text):
    """A stored time as text (PostgreSQL: with its offset; SQLite: UTC, naive)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def kinds_of(rule):
    """The occurrence kinds that can carry every condition of the rule (EventSpec.carried_by):
    a row of another kind is not looked at, not even decoded."""
    kinds = set(OccurrenceKind.values) | {"enroll", "other"}
    for condition in rule.conditions:
        kinds &= set(EVENTS[condition.type].carried_by(condition.config))
    return frozenset(kinds)


def replay(index, rule, since, until, progress=None, keep_triggers=False, saved=True):
    """Replay the journal of [since, until) through `rule` (compiled in `index`): a Result.

    `saved`: the rule is a saved workflow's, whose log before `since` the simulation
    starts from (Simulation.seed). `progress(fraction)` is called after every page;
    it returns True to cancel.
    """
    result = Result(zone=timezone.get_default_timezone())
    if keep_triggers:
        result.triggers = []
    sim = Simulation(rule)
    if saved:
        sim.seed(since)
    stops = bool(index.stoppers)
    kinds = kinds_of(rule)
    span = (until - since).total_seconds() or 1.0
    for page in pages(since, until, rule.id):
        for _, at, lead_id, kind, facts, values, before, _ in page:
            result.occurrences += 1
            result.leads.add(lead_id)
            if sim.disabled:
                continue
            sim.now = at
            # A save of a lead with pending entries may cancel them (Stop Workflow If).
            may_stop = stops and kind in CHANGES and sim.has_pending(lead_id)
            if kind not in kinds and not may_stop and kind != "enroll":
                continue
            occ = journal.occurrence(at, lead_id, json.loads(facts))
            if rule.fact not in occ.facts() and not may_stop and not occ.enrollment_id:
                continue  # the engine's index would not look at it (RuleIndex.candidates)
            lead = journal.lead_of(lead_id, json.loads(values))
            loaded = journal.loaded_of(json.loads(before) if before else None)
            step(index, sim, result, occ, lead, loaded)
        if progress is not None:
            done = (page[-1][1] - since).total_seconds() / span
            if progress(min(done, 1.0)):
                raise Cancelled
    return result


def nothing_before(attname):
    return None


def step(index, sim, result, occ, lead, loaded):
    """One occurrence through the engine's code: handler.handle (or, for a bulk
    enrollment's, handler.enroll_many) without its writes."""
    loaded = loaded or nothing_before

    def previous(lead, occ):
        return handler.previous_state(lead, occ, loaded)

    if occ.enrollment_id:
        if not handler.enrolls(index, sim.rule, occ, lead):
            return
        matched, before = [sim.rule], lead
    else:
        before = None
        if occ.lead_action in ("create", "save") and index.stoppers and sim.has_pending(lead.pk):
            before = previous(lead, occ)  # (nothing pending: nothing to cancel)
            if handler.stopping(index, occ, lead, before):
                sim.stop(lead.pk)
        matched, before = handler.match(index, occ, lead, before, previous)
        if not matched:
            return
        before = before or previous(lead, occ)
    reads = sim.reads(lead.pk, occ.occurred_at)
    for rule, verdict in handler.verdicts(
        index, matched, occ, lead, before, reads, sim.loop_window_count
    ):
        sets = []
        if verdict.outcome == TriggerOutcome.FIRED:
            sets = handler.plan(rule, occ, lead, occ.occurred_at, index, {})
            sim.fire(lead.pk, occ, sets)
        elif verdict.outcome == TriggerOutcome.LOOP_DISABLED:
            sim.disabled = True
        result.add(occ, lead, verdict, sets)


def compiled(workflow=None, doc=None):
    """(index, rule) of a saved workflow, or of a draft document: saved in a transaction
    that is rolled back (so it is compiled by the same code), under a name of its own.
    The rule is None for a workflow without an active condition (it never fires)."""
    from automation.document import document

    if workflow is not None:
        index = rules.compile_rules(None, [workflow])
        return index, index.rules.get(workflow.pk)
    with transaction.atomic():
        workflow = document.save(draft(doc))
        index = rules.compile_rules(None, [workflow])
        transaction.set_rollback(True)
    rules.invalidate()  # the save marked this process's index stale: compile it afresh
    return index, index.rules.get(workflow.pk)


def draft(doc):
    """A draft document under a name no workflow has (a draft's name changes nothing)."""
    return {**doc, "name": f"backtest draft {uuid.uuid4().hex[:12]}"}


def run(backtest_id):
    """The task: replay, store the result (or why it failed). Only a running backtest runs."""
    from automation.models import Backtest, BacktestStatus

    bt = Backtest.objects.filter(pk=backtest_id, status=BacktestStatus.RUNNING).first()
    if bt is None:
        return

    def progress(fraction):
        Backtest.objects.filter(pk=bt.pk).update(progress=round(fraction, 4))
        return Backtest.objects.filter(pk=bt.pk, cancel_requested=True).exists()

    fields = {"finished_at": timezone.now()}
    try:
        index, rule = compiled(bt.workflow, bt.document)
        if rule is None:
            result = Result(zone=timezone.get_default_timezone())
        else:
            result = replay(
                index, rule, bt.since, bt.until, progress, saved=bt.workflow_id is not None
            )
    except Cancelled:
        fields.update(status=BacktestStatus.FAILED, error="cancelled")
    except Exception as exc:  # the task records why; it never raises into django-q2
        log.exception("backtest %s failed", bt.pk)
        fields.update(status=BacktestStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    else:
        fields.update(
            status=BacktestStatus.DONE, progress=1.0, result=result.as_dict(bt.since, bt.until)
        )
    fields["finished_at"] = timezone.now()
    Backtest.objects.filter(pk=bt.pk).update(**fields)


def start(since, until, workflow=None, doc=None, user=None):
    """A new running backtest, handed to a django-q2 worker when the transaction commits."""
    from django_q.tasks import async_task

    from automation.models import Backtest

    bt = Backtest.objects.create(
        workflow=workflow, document=doc, since=since, until=until, created_by=user
    )
    transaction.on_commit(lambda: async_task("automation.execution.tasks.run_backtest", bt.pk))
    return bt


def cancel(backtest):
    """Ask a running backtest to stop (it does after its current page)."""
    from automation.models import Backtest, BacktestStatus

    return Backtest.objects.filter(pk=backtest.pk, status=BacktestStatus.RUNNING).update(
        cancel_requested=True
    )


def represent(bt):
    """A backtest as the API shows it (SPEC C.6)."""
    empty = Result(zone=timezone.get_default_timezone()).as_dict(bt.since, bt.since)
    body = {"id": bt.pk, "status": bt.status, "progress": bt.progress, **empty, **bt.result}
    body.update(
        workflow=bt.workflow_id,
        since=bt.since.isoformat(),
        until=bt.until.isoformat(),
        error=bt.error,
        time_zone=settings.TIME_ZONE,
    )
    return body
