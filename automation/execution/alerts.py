"""Failure alerts (SPEC C.5): a workflow with FAILURES or more failed entries within
WINDOW raises a notification, mailed to ADMIN_EMAILS, at most one per workflow per
rolling hour.

The runner calls `failures` for the workflows whose entries it has just
failed. The count reads the partial index `entry_failed_idx` (failed entries
only, a small part of the log) and stops at FAILURES rows. Once per hour is
race-free through the notification's unique `dedup_key` ("failures:<id>"):
the current alert holds the key; an alert more than an hour old gives it up
with a conditional UPDATE that only one worker can win, and the winner
inserts the new one (two first alerts at once: the unique constraint lets
one in). A process that has alerted for a workflow does not even count again
for the rest of the hour.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from automation.constants import EntryState
from automation.models import LogEntry, Notification, Workflow

log = logging.getLogger(__name__)

FAILURES = 20
WINDOW = timedelta(minutes=10)
QUIET = timedelta(hours=1)

_alerted = {}  # workflow id -> when this process last saw an alert for it


def key_of(workflow_id):
    return f"failures:{workflow_id}"


def failures(workflow_ids, now=None):
    """Alert for each of these workflows that has failed FAILURES entries within WINDOW.
    Returns the ids of the workflows alerted now."""
    now = now or timezone.now()
    alerted = []
    for workflow_id in workflow_ids:
        seen = _alerted.get(workflow_id)
        if seen is not None and now - QUIET < seen <= now:
            continue
        try:
            if alert(workflow_id, now):
                alerted.append(workflow_id)
        except Exception:  # an alert must never fail the entries it is about
            log.exception("failure alert for workflow %s failed", workflow_id)
    return alerted


def failed_recently(workflow_id, now):
    return (
        LogEntry.objects.filter(
            workflow_id=workflow_id,
            state=EntryState.FAILED,
            finished_at__gt=now - WINDOW,
            finished_at__lte=now,
        )
        .values("pk")[:FAILURES]
        .count()
    )


def alert(workflow_id, now):
    """One workflow: count, and notify unless it was notified within QUIET."""
    if failed_recently(workflow_id, now) < FAILURES:
        return False
    key = key_of(workflow_id)
    with transaction.atomic():
        current = Notification.objects.filter(dedup_key=key).values("pk", "created_at").first()
        if current is not None:
            if current["created_at"] > now - QUIET:
                _alerted[workflow_id] = current["created_at"]
                return False
            gave_up = Notification.objects.filter(pk=current["pk"], dedup_key=key).update(
                dedup_key=None
            )
            if not gave_up:
                return False  # another worker is raising it right now
        name = Workflow.objects.filter(pk=workflow_id).values_list("name", flat=True).first()
        if name is None:
            return False
        reasons = top_reasons(workflow_id, now)
        message = (
            f'Workflow "{name}": {FAILURES} or more entries failed within the last '
            f"{int(WINDOW.total_seconds() // 60)} minutes."
            + (f" Most common: {reasons}." if reasons else "")
            + " See its log filtered by state failed."
        )
        made = Notification.notify(
            message, f"Workflow failing: {name}", workflow_id=workflow_id, dedup_key=key, now=now
        )
    _alerted[workflow_id] = now
    return made is not None


def top_reasons(workflow_id, now, limit=3):
    rows = (
        LogEntry.objects.filter(
            workflow_id=workflow_id, state=EntryState.FAILED, finished_at__gt=now - WINDOW
        )
        .order_by("-finished_at")
        .values_list("reason", flat=True)[:200]
    )
    counts = {}
    for reason in rows:
        short = (reason or "")[:80]
        counts[short] = counts.get(short, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    return "; ".join(f"{reason!r} ×{count}" for reason, count in ranked)


def forget():
    """Drop this process's memory of alerts (tests)."""
    _alerted.clear()
