"""Run log entries: claim them, re-check them, execute them, record the results.

Internal actions (INTERNAL_ACTIONS) run in ONE transaction per task: the
entry rows are locked with `SELECT … FOR UPDATE SKIP LOCKED` while still
pending, their leads are locked, and the effects and the entries' final
states commit together. A worker killed mid-action rolls everything back; the
entries are still pending and their dispatch lease runs out, so they run
again — exactly once in effect.

External actions (INTEGRATION, EMAIL, SMS, VB) cannot be rolled back: the
entry and its lead are locked, the send-time guard checks it, and it is
claimed (pending → running, with a lease) in one short transaction; the
request is made outside any transaction, and the result is recorded with
another conditional UPDATE.

Every entry, first attempt and retry, goes through the send-time guard
(automation.engine.guard, on what automation.execution.sendtime reads with the lead's row
locked): skipped, cancelled, or deferred — still pending, attempts unchanged,
due at the next opening — instead of running when it would not be allowed now. A worker killed mid-request leaves the entry
running; when its lease runs out the dispatcher makes it pending again and it
is sent again with the same idempotency key: at least once.

An INTEGRATION entry also asks its endpoint's circuit breaker
(automation.execution.breaker) after the guard: while the endpoint is open or
paused it is deferred the same way (reason naming the endpoint) to the next
probe. A workflow whose entries keep failing raises a notification
(automation.execution.alerts).
"""

import json
import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from automation.constants import ActionType, EntryState
from automation.document.schema import ConfigError, is_id
from automation.engine import gates, handoff
from automation.engine.occurrences import caused_by
from automation.execution import alerts, breaker, sendtime
from automation.execution.actions import EXECUTORS
from automation.execution.actions.base import Result, Run
from automation.models import Endpoint, LogEntry
from crm.masking import NOTHING
from leads.models import Call, Lead

log = logging.getLogger(__name__)

# How long an external action may run before its entry counts as abandoned (its
# worker died): its time bound plus a margin, so that what a dead worker was
# sending is sent again (same key) about a minute and a half later, not ten.
# Gateways time out after 10 s; an endpoint after its own timeout (up to 120 s).
EXECUTION_LEASE = timedelta(seconds=60)
LEASE_MARGIN = timedelta(seconds=30)


def run_entry(entry_id, now=None):
    """Run one entry if it is still pending. Returns its final state, or None if not ours."""
    return run_entries([entry_id], now).get(entry_id)


def run_entries(entry_ids, now=None):
    """Run the entries of one django-q2 task. Returns {id: final state} of those run here.

    1. The internal ones together: one transaction, entries and leads locked in
       two queries, results written in one bulk update (`run_internal_batch`).
       If anything in the batch raises, it all rolls back and each entry is run
       again on its own, where a raising action is recorded as failed.
    2. The first external one, with no transaction open; any others go back
       to django-q2 as a task each: a request may take its endpoint's whole
       timeout, and several in one task could outlast the task timeout.
    An entry whose run still raises is recorded failed, never left stuck.
    """
    rows = LogEntry.objects.filter(pk__in=entry_ids).values_list("pk", "action_type", "workflow_id")
    kinds = {pk: kind for pk, kind, _ in rows}
    workflows = {pk: workflow_id for pk, _, workflow_id in rows}
    ids = [i for i in dict.fromkeys(entry_ids) if i in kinds]
    internal = [i for i in ids if getattr(EXECUTORS.get(kinds[i]), "internal", False)]
    states = {}
    if internal:
        try:
            states.update(run_internal_batch(internal, now, strict=len(internal) > 1))
        except Exception:
            log.warning("a batch of %d entries raised: running them one by one", len(internal))
            for entry_id in internal:
                states.update(guarded(run_internal_batch, entry_id, [entry_id], now))
    external = [i for i in ids if i not in internal]
    if len(external) > 1:
        # Entries of an open or paused endpoint: deferred together, not a task each.
        held_back = set(breaker.defer_blocked(external, now or timezone.now()))
        external = [i for i in external if i not in held_back]
    if len(external) > 1:
        for entry_id in external[1:]:
            handoff.enqueue([entry_id])
    for entry_id in external[:1]:
        states.update(
            guarded(run_external, entry_id, entry_id, EXECUTORS.get(kinds[entry_id]), now)
        )
    failing = {workflows[pk] for pk, state in states.items() if state == EntryState.FAILED}
    if failing:
        alerts.failures(failing, now)
    return states


def guarded(fn, entry_id, *args):
    try:
        result = fn(*args)
    except Exception as exc:
        log.exception("entry %s raised outside its action", entry_id)
        record_crash(entry_id, exc)
        return {entry_id: EntryState.FAILED}
    if isinstance(result, dict):
        return result
    return {} if result is None else {entry_id: result}


RESULT_FIELDS = [
    "state", "reason", "result", "due_at", "started_at", "finished_at", "attempts", "lease_until",
]  # fmt: skip


def run_internal_batch(entry_ids, now=None, strict=False):
    """Run internal entries in one transaction: exactly once, all or nothing.

    `strict`: an action that raises aborts the batch (the caller re-runs the
    entries one by one); otherwise it is recorded failed and its effects are
    undone by a savepoint.
    """
    with transaction.atomic():
        entries = list(
            LogEntry.objects.select_related("workflow", "action__action_set", "trigger")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=entry_ids, state=EntryState.PENDING)
            .order_by("pk")
        )
        if not entries:
            return {}  # done, flushed, or being run by another worker
        now = now or timezone.now()
        # Leads locked in id order (one statement): concurrent batches cannot deadlock.
        # The send-time guard's budget counts under these locks (automation.execution.sendtime).
        leads = {
            lead.pk: lead
            for lead in Lead.objects.select_for_update(of=("self",))
            .select_related("list")
            .filter(pk__in={e.lead_id for e in entries})
            .order_by("pk")
        }
        call_ids = {e.context.get("call_id") for e in entries} - {None}
        calls = Call.objects.in_bulk(call_ids) if call_ids else {}
        facts = guard_facts(entries, leads, now)
        configs = {}
        for entry in entries:
            executor = EXECUTORS[entry.action_type]
            lead = leads.get(entry.lead_id)
            result = precheck(entry, lead, executor, now, facts)
            if not deferred(result):
                entry.attempts += 1
                entry.started_at = now
            result = result or execute(
                entry, lead, executor, now, strict=strict, configs=configs, calls=calls
            )
            apply_result(entry, result, now)
            if entry.state == EntryState.SUCCEEDED:
                facts.record_sent(entry.lead_id, entry.action_type, now)
        write_results(entries)
        return {entry.pk: entry.state for entry in entries}


def guard_facts(entries, leads, now):
    """What the send-time guard reads for these entries (automation.execution.sendtime.Facts)."""
    outreach, asking = {}, set()
    for entry in entries:
        channel = sendtime.channel_of(entry.action_type)
        if channel is not None:
            outreach.setdefault(entry.lead_id, set()).add(channel)
        if entry.action and entry.action.skip_if_live_call:
            asking.add(entry.lead_id)
    return sendtime.Facts(leads, now, outreach, asking)


def deferred(result):
    return result is not None and result.state == EntryState.PENDING


def write_results(entries):
    """One UPDATE per distinct outcome — nearly always one for a whole batch.

    (Django's bulk_update writes a CASE per field per row: ~10× slower here.)
    """
    groups = {}
    for entry in entries:
        values = {name: getattr(entry, name) for name in RESULT_FIELDS}
        key = json.dumps(values, sort_keys=True, default=str)
        groups.setdefault(key, (values, []))[1].append(entry.pk)
    for values, ids in groups.values():
        LogEntry.objects.filter(pk__in=ids).update(**values)


def run_external(entry_id, executor, now=None):
    """Claim an external entry, check it, send it with no transaction open, record it.

    1. In one transaction: lock the entry (still pending, else not ours) and
       its lead, run the send-time guard on what it reads under that lock, and
       either record the guard's decision (skipped, cancelled, deferred) or
       claim the entry (running, with an execution lease).
    2. Execute with no transaction open (no locks held over HTTP).
    3. Record the result, unless the entry was flushed or re-claimed meanwhile.
    """
    clock = now
    with transaction.atomic():
        entry = (
            LogEntry.objects.select_related("workflow", "action__action_set", "trigger")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk=entry_id, state=EntryState.PENDING)
            .first()
        )
        if entry is None:
            return None  # done, flushed, or being run by another worker
        now = now or timezone.now()
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("list")
            .filter(pk=entry.lead_id)
            .first()
        )
        leads = {lead.pk: lead} if lead is not None else {}
        verdict = precheck(entry, lead, executor, now, guard_facts([entry], leads, now))
        if verdict is None:
            blocked = breaker.admit(entry, now)
            if blocked is not None:
                verdict = Result(EntryState.PENDING, blocked[0], retry_at=blocked[1])
        if verdict is not None:
            if not deferred(verdict):
                entry.attempts += 1
                entry.started_at = now
            finish(entry, verdict, now)
            return entry.state
        entry.state = EntryState.RUNNING
        entry.started_at = now
        entry.attempts += 1
        entry.lease_until = now + (longer_lease(entry) or EXECUTION_LEASE)
        entry.save(update_fields=["state", "started_at", "attempts", "lease_until"])
    result = execute(entry, lead, executor, now)
    # With an injected clock (tests, simulations) the send finishes "now" too.
    finished_at = timezone.now() if clock is None else now
    with transaction.atomic():
        current = LogEntry.objects.select_for_update().filter(pk=entry_id).first()
        if current is None or current.state != EntryState.RUNNING:
            return None  # flushed or re-claimed meanwhile: leave it as it is
        finish(current, result, finished_at)
        return current.state


def longer_lease(entry):
    """The lease an INTEGRATION needs when its endpoint may take longer than the
    default lease allows (timeout + margin), else None."""
    if entry.action_type != ActionType.INTEGRATION or entry.action is None:
        return None
    pk = (entry.action.config or {}).get("endpoint")
    timeout = (
        Endpoint.objects.filter(pk=pk if is_id(pk) else None)
        .values_list("timeout_seconds", flat=True)
        .first()
    )
    lease = timedelta(seconds=timeout or 0) + LEASE_MARGIN
    return lease if lease > EXECUTION_LEASE else None


def record_crash(entry_id, exc, now=None):
    """An entry whose run raised outside its action (a bug): fail it with the error."""
    entry = LogEntry.objects.select_related("action").filter(pk=entry_id).first()
    masker = masker_for(entry) if entry is not None else NOTHING
    return LogEntry.objects.filter(
        pk=entry_id, state__in=(EntryState.PENDING, EntryState.RUNNING)
    ).update(
        state=EntryState.FAILED,
        reason=masker.text(f"error: {type(exc).__name__}: {exc}")[:500],
        finished_at=now or timezone.now(),
        lease_until=None,
    )


def precheck(entry, lead, executor, now, facts):
    """Just before running: the send-time guard (automation.engine.guard) on what `facts`
    read. None if the entry may run; else the Result to record (a deferral is a
    Result in state pending, with the new due time as `retry_at`)."""
    decision = gates.before_run(
        sendtime.snapshot(
            action_type=entry.action_type,
            executor=executor,
            workflow=entry.workflow,
            action=entry.action,
            lead=lead,
            context=entry.context,
            now=now,
            facts=facts,
        )
    )
    if decision is None:
        return None
    return Result(decision.state, decision.reason, retry_at=decision.due_at)


def execute(entry, lead, executor, now, strict=False, configs=None, calls=None):
    """Validate the config again and run the executor.

    Never raises unless `strict` (an internal batch that will be re-run entry by
    entry). `configs` caches validated configs per action within a batch.
    """
    configs = {} if configs is None else configs
    if entry.action_id not in configs:
        try:
            configs[entry.action_id] = executor.validate(entry.action.config, stored=True)
        except ConfigError as exc:
            configs[entry.action_id] = exc
    config = configs[entry.action_id]
    if isinstance(config, ConfigError):
        return Result.failed(f"invalid config: {config}")
    call_id = entry.context.get("call_id")
    if calls is not None and call_id in calls:
        call = calls[call_id]
    else:
        call = Call.objects.filter(pk=call_id).first() if call_id else None
    run = Run(
        entry=entry,
        lead=lead,
        config=config,
        workflow=entry.workflow,
        now=now,
        call=call,
        snapshot=entry.context.get("snapshot") or {},
    )
    if strict:
        with caused_by(entry.context.get("chain", ())):
            return executor.execute(run)
    # Internal effects get a savepoint, so a failure undoes them but still records
    # the entry; external ones run with no transaction open (no locks held over HTTP).
    block = transaction.atomic() if executor.internal else nullcontext()
    try:
        with caused_by(entry.context.get("chain", ())), block:
            return executor.execute(run)
    except Exception as exc:  # a bug or an unforeseen failure: record it, never lose the entry
        log.exception("entry %s (%s) raised", entry.pk, entry.action_type)
        return Result.failed(f"error: {type(exc).__name__}: {exc}")


def masker_for(entry):
    """The masker of the secrets an entry's action may quote (crm.masking)."""
    executor = EXECUTORS.get(entry.action_type)
    return executor.masker(entry) if executor is not None else NOTHING


def apply_result(entry, result, now):
    """Set the outcome on the entry.

    A deferral (state pending, from the send-time guard) keeps the entry
    pending for `retry_at`, attempts unchanged; a failure with `retry_at` goes
    back to pending for then (the guard checks it again when it comes due).

    This is where an action's text enters the log: reason and result are
    masked here, once, with the action's masker (an endpoint's secrets).
    """
    masker = masker_for(entry)
    reason = masker.text(result.reason)
    if result.state == EntryState.PENDING:
        # Deferred: what the last attempt (if any) answered stays in `result`.
        entry.state = EntryState.PENDING
        entry.due_at = result.retry_at
        entry.reason = reason[:500]
        entry.finished_at = None
        entry.lease_until = None
        return
    if result.state == EntryState.FAILED and result.retry_at is not None:
        entry.state = EntryState.PENDING
        entry.due_at = result.retry_at
        entry.reason = f"attempt {entry.attempts} failed: {reason}"[:480] + "; retrying"
        entry.finished_at = None
    else:
        entry.state = result.state
        entry.reason = reason[:500]
        entry.finished_at = now
    entry.result = masker.value(result.result)
    entry.lease_until = None


def finish(entry, result, now):
    apply_result(entry, result, now)
    entry.save(update_fields=RESULT_FIELDS)
