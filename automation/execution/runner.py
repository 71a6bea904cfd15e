"""Run log entries: claim them, re-check them, execute them, record the results.

Internal actions (INTERNAL_ACTIONS) run in ONE transaction per task: the
entry rows are locked with `SELECT … FOR UPDATE SKIP LOCKED` while still
pending, their leads are locked, and the effects and the entries' final
states commit together. A worker killed mid-action rolls everything back; the
entries are still pending and their dispatch lease runs out, so they run
again — exactly once in effect.

External actions (INTEGRATION, EMAIL, SMS, VB) cannot be rolled back: the
entry is claimed with a conditional UPDATE (pending → running, with a lease),
the request is made outside any transaction, and the result is recorded with
another conditional UPDATE. A worker killed mid-request leaves the entry
running; when its lease runs out the dispatcher makes it pending again and it
is sent again with the same idempotency key: at least once.
"""

import json
import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from automation.engine import gates, rules
from automation.execution.actions import EXECUTORS
from automation.execution.actions.base import Result, Run
from automation.constants import EntryState
from automation.models import LogEntry, Trigger, Workflow
from automation.engine.occurrences import caused_by
from automation.document.schema import ConfigError
from leads.models import Call, Lead

log = logging.getLogger(__name__)

# How long an external action may run before its entry counts as abandoned.
EXECUTION_LEASE = timedelta(minutes=10)


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
    drop_orphans({pk: workflow_id for pk, _, workflow_id in rows}, kinds)
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
        from automation.execution import tasks

        for entry_id in external[1:]:
            tasks.enqueue([entry_id])
    for entry_id in external[:1]:
        states.update(
            guarded(run_external, entry_id, entry_id, EXECUTORS.get(kinds[entry_id]), now)
        )
    return states


def drop_orphans(workflows, kinds):
    """Entries of workflows deleted since (`workflows`: entry id → workflow id) are
    purged, not run: a save wrote them from a stale rule index just as their
    workflow went (the log's references carry no database constraint)."""
    live = set(Workflow.objects.filter(pk__in=set(workflows.values())).values_list("pk", flat=True))
    gone = set(workflows.values()) - live
    for workflow_id in gone:
        purge_deleted_workflow(workflow_id)
    for pk, workflow_id in workflows.items():
        if workflow_id in gone:
            kinds.pop(pk)


def purge_deleted_workflow(workflow_id):
    """Delete the triggers and entries of a workflow that no longer exists: what
    Django's cascade deleted with it, had a save not written them just after."""
    if Workflow.objects.filter(pk=workflow_id).exists():
        return
    deleted, _ = LogEntry.objects.filter(workflow_id=workflow_id).delete()
    Trigger.objects.filter(workflow_id=workflow_id).delete()
    if deleted:
        log.warning("deleted %d entries of deleted workflow %s", deleted, workflow_id)


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
            LogEntry.objects.select_related("workflow", "action", "trigger")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=entry_ids, state=EntryState.PENDING)
            .order_by("pk")
        )
        if not entries:
            return {}  # done, flushed, or being run by another worker
        now = now or timezone.now()
        # Leads locked in id order (one statement): concurrent batches cannot deadlock.
        leads = {
            lead.pk: lead
            for lead in Lead.objects.select_for_update()
            .filter(pk__in={e.lead_id for e in entries})
            .order_by("pk")
        }
        call_ids = {e.context.get("call_id") for e in entries} - {None}
        calls = Call.objects.in_bulk(call_ids) if call_ids else {}
        asking = {e.lead_id for e in entries if e.action and e.action.skip_if_live_call}
        live = set(
            Call.objects.filter(lead_id__in=asking, ended_at__isnull=True).values_list(
                "lead_id", flat=True
            )
            if asking
            else ()
        )
        configs = {}
        for entry in entries:
            executor = EXECUTORS[entry.action_type]
            entry.attempts += 1
            entry.started_at = now
            lead = leads.get(entry.lead_id)
            result = precheck(entry, lead, executor, live) or execute(
                entry, lead, executor, now, strict=strict, configs=configs, calls=calls
            )
            apply_result(entry, result, now)
        write_results(entries)
        return {entry.pk: entry.state for entry in entries}


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
    now = now or timezone.now()
    claimed = LogEntry.objects.filter(pk=entry_id, state=EntryState.PENDING).update(
        state=EntryState.RUNNING,
        started_at=now,
        attempts=F("attempts") + 1,
        lease_until=now + EXECUTION_LEASE,
    )
    if not claimed:
        return None
    entry = LogEntry.objects.select_related("workflow", "action", "trigger").get(pk=entry_id)
    lead = Lead.objects.filter(pk=entry.lead_id).first()
    result = precheck(entry, lead, executor) or execute(entry, lead, executor, now)
    finished_at = timezone.now()
    with transaction.atomic():
        current = LogEntry.objects.select_for_update().filter(pk=entry_id).first()
        if current is None or current.state != EntryState.RUNNING:
            return None  # flushed or re-claimed meanwhile: leave it as it is
        finish(current, result, finished_at)
        return current.state


def record_crash(entry_id, exc, now=None):
    """An entry whose run raised outside its action (a bug): fail it with the error."""
    return LogEntry.objects.filter(
        pk=entry_id, state__in=(EntryState.PENDING, EntryState.RUNNING)
    ).update(
        state=EntryState.FAILED,
        reason=f"error: {type(exc).__name__}: {exc}"[:500],
        finished_at=now or timezone.now(),
        lease_until=None,
    )


def precheck(entry, lead, executor, live=None):
    """Just before running: is this action still wanted? A Result if not.

    `live`: the ids of leads on a live call, when the caller fetched them for
    a whole batch; else one query, only for an action that asks.
    """
    workflow, action = entry.workflow, entry.action
    stopped_now = False
    if lead is not None and action is not None:
        stopped_now = rules.stop_condition_met(
            workflow.stop_if, workflow.stop_filter, lead, rules.current().status_flags
        )
    skip_live = bool(action and action.skip_if_live_call)
    if live is None:
        on_live_call = skip_live and lead is not None and lead.live_call_exists()
    else:
        on_live_call = entry.lead_id in live
    verdict = gates.before_run(
        gates.EntrySnapshot(
            action_type=entry.action_type,
            known_type=executor is not None,
            workflow_active=workflow.active,
            action_present=action is not None,
            action_active=bool(action and action.active),
            lead_present=lead is not None,
            runs_without_lead=bool(
                executor and not executor.needs_lead and entry.context.get("snapshot")
            ),
            stopped_now=stopped_now,
            stopped_at_trigger=bool(entry.context.get("stopped_at_trigger")),
            stop_reason=gates.stop_label(workflow.stop_if),
            skip_if_live_call=skip_live,
            on_live_call=on_live_call,
        )
    )
    return None if verdict is None else Result(*verdict)


def execute(entry, lead, executor, now, strict=False, configs=None, calls=None):
    """Validate the config again and run the executor.

    Never raises unless `strict` (an internal batch that will be re-run entry by
    entry). `configs` caches validated configs per action within a batch.
    """
    configs = {} if configs is None else configs
    if entry.action_id not in configs:
        try:
            configs[entry.action_id] = executor.validate(entry.action.config)
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


def apply_result(entry, result, now):
    """Set the outcome on the entry; a failure with `retry_at` goes back to pending for then."""
    if result.state == EntryState.FAILED and result.retry_at is not None:
        entry.state = EntryState.PENDING
        entry.due_at = result.retry_at
        entry.reason = f"attempt {entry.attempts} failed: {result.reason}"[:480] + "; retrying"
        entry.finished_at = None
    else:
        entry.state = result.state
        entry.reason = result.reason[:500]
        entry.finished_at = now
    entry.result = result.result
    entry.lease_until = None


def finish(entry, result, now):
    apply_result(entry, result, now)
    entry.save(update_fields=RESULT_FIELDS)
