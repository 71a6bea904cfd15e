"""Run one log entry: claim it, re-check it, execute it, record the result.

Internal actions (INTERNAL_ACTIONS) run in ONE transaction: the entry row is
locked with `SELECT … FOR UPDATE SKIP LOCKED` while still pending, the lead
row is locked, the effect and the entry's final state commit together. A
worker killed mid-action rolls everything back; the entry is still pending
and its dispatch lease runs out, so it runs again — exactly once in effect.

External actions (INTEGRATION, EMAIL, SMS, VB) cannot be rolled back: the
entry is claimed with a conditional UPDATE (pending → running, with a lease),
the request is made outside any transaction, and the result is recorded with
another conditional UPDATE. A worker killed mid-request leaves the entry
running; when its lease runs out the dispatcher makes it pending again and it
is sent again with the same idempotency key: at least once.
"""

import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from automation import rules
from automation.actions import EXECUTORS
from automation.actions.base import Result, Run
from automation.constants import EntryState
from automation.models import LogEntry
from automation.occurrences import caused_by
from automation.schema import ConfigError
from leads.models import Call, Lead

log = logging.getLogger(__name__)

# How long an external action may run before its entry counts as abandoned.
EXECUTION_LEASE = timedelta(minutes=10)


def run_entry(entry_id, now=None):
    """Run one entry if it is still pending. Returns its final state, or None if not ours."""
    entry = LogEntry.objects.filter(pk=entry_id).only("action_type").first()
    if entry is None:
        return None
    executor = EXECUTORS.get(entry.action_type)
    if executor is not None and executor.internal:
        return run_internal(entry_id, executor, now)
    return run_external(entry_id, executor, now)


def locked_pending(entry_id):
    return (
        LogEntry.objects.select_related("workflow", "action")
        .select_for_update(skip_locked=True, of=("self",))
        .filter(pk=entry_id, state=EntryState.PENDING)
        .first()
    )


def run_internal(entry_id, executor, now=None):
    with transaction.atomic():
        entry = locked_pending(entry_id)
        if entry is None:
            return None  # done, flushed, or being run by another worker
        now = now or timezone.now()
        entry.attempts += 1
        entry.started_at = now
        lead = Lead.objects.select_for_update().filter(pk=entry.lead_id).first()
        result = precheck(entry, lead, executor) or execute(entry, lead, executor, now)
        finish(entry, result, now)
        return entry.state


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
    entry = LogEntry.objects.select_related("workflow", "action").get(pk=entry_id)
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


def precheck(entry, lead, executor):
    """Just before running: is this action still wanted? A Result if not."""
    workflow = entry.workflow
    if executor is None:
        return Result.failed(f"unknown action type {entry.action_type!r}")
    if not workflow.active:
        return Result.skipped("the workflow is no longer active")
    if entry.action is None:
        return Result.skipped("the action was deleted")
    if not entry.action.active:
        return Result.skipped("the action is no longer active")
    if lead is None:
        if executor.needs_lead or not entry.context.get("snapshot"):
            return Result.skipped("the lead no longer exists")
        return None
    index = rules.current()
    stopped = rules.stop_condition_met(
        workflow.stop_if, workflow.stop_filter, lead, index.status_flags
    )
    if stopped and not entry.context.get("stopped_at_trigger"):
        return Result(
            EntryState.CANCELLED, f"Stop Workflow If: {workflow.stop_if.replace('_', ' ')}"
        )
    if entry.action.skip_if_live_call and lead.live_call_exists():
        return Result.skipped("Skip If Live Call: the lead is on a live call")
    return None


def execute(entry, lead, executor, now):
    """Validate the config again and run the executor; never raises."""
    try:
        config = executor.validate(entry.action.config)
    except ConfigError as exc:
        return Result.failed(f"invalid config: {exc}")
    call_id = entry.context.get("call_id")
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
    # Internal effects get a savepoint, so a failure undoes them but still records
    # the entry; external ones run with no transaction open (no locks held over HTTP).
    block = transaction.atomic() if executor.internal else nullcontext()
    try:
        with caused_by(entry.context.get("chain", ())), block:
            return executor.execute(run)
    except Exception as exc:  # a bug or an unforeseen failure: record it, never lose the entry
        log.exception("entry %s (%s) raised", entry.pk, entry.action_type)
        return Result.failed(f"error: {type(exc).__name__}: {exc}")


def finish(entry, result, now):
    """Record the outcome; a failure with `retry_at` goes back to pending for then."""
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
    entry.save(
        update_fields=[
            "state", "reason", "result", "due_at", "started_at", "finished_at", "attempts",
            "lease_until",
        ]
    )  # fmt: skip
