"""Flood hold (SPEC C.5): past its `flood_limit` fired triggers within WINDOW, a
workflow's further entries are stored `held`, for an operator to Release or Flush.

`hold(triggers, sets, now)` is the decision automation.engine.records applies
to the rows of one occurrence before writing them. It must not slow the lead
save nor add a row every save updates, so:

- The count is of the workflow's fired triggers in the WINDOW before `now`,
  read through trigger_workflow_time_idx and stopped at `flood_limit` rows
  (`fired_in_window`): no counter row.
- A process reads it at most once per RECHECK per workflow while what it
  knows (the last count plus the fires it wrote since) is below half the
  limit, and at most once per RECHECK_NEAR from half the limit on (and while
  flooded): a workflow that fires hundreds of times a minute, flooded or not,
  costs a bounded range scan ten times a second per process, not one on
  every fire (that was ~1 ms per busy workflow on every save). The hold can
  start late by at most what other processes fire within RECHECK below half
  the limit, RECHECK_NEAR above it — never while one process (an import, a
  bulk update) does the flooding: its own fires are counted exactly, and
  reaching the limit reads the count again.
- A flooded workflow is not counted again until it can have stopped being
  one: the read also returns when the oldest of the `flood_limit` most recent
  fires happened, and all of those stay in the window until 60 s after it.
  The hold is exact, and a flood costs one range scan per workflow per
  process until then, not ten a second.
- The limit is the compiled rule's (automation.engine.compiled.Rule.flood_limit):
  no query; a change of it reaches the index like any other setting.

A held set has no lease (it is not handed to a worker) and the reason
names the flood. The first hold of a flood stores a notification (one per
flood: dedup key `flood:<id>`, freed by Release and Flush) and mails
ADMIN_EMAILS, after the save commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from automation.constants import EntryState, TriggerOutcome
from automation.engine import rules

WINDOW = timedelta(seconds=60)
RECHECK = timedelta(seconds=1)
RECHECK_NEAR = timedelta(milliseconds=100)
DEFAULT_LIMIT = 1000


@dataclass
class Seen:
    checked_at: datetime
    count: int  # fired triggers in the window when checked
    since: int  # fires this process wrote since
    limit: int  # the limit then
    flooded_until: datetime | None = None  # past the limit at least until then


_seen = {}  # workflow id -> Seen
_notified = {}  # workflow id -> when this process last stored its flood notification


def key_of(workflow_id):
    return f"flood:{workflow_id}"


def reason_of(limit):
    return (
        f"held: flood hold (more than {limit} triggers within {int(WINDOW.total_seconds())} s); "
        "release or flush it"
    )


def hold(triggers, sets, now):
    """`sets` with the pending sets of flooded workflows turned `held` (a new list
    when any is; else `sets` itself)."""
    fired = {row[0] for row in triggers if row[1] == TriggerOutcome.FIRED}
    candidates = {s["workflow_id"] for s in sets if s["state"] == EntryState.PENDING} & fired
    if not candidates:
        return sets
    flooded = {w: limit for w in candidates if (limit := over_limit(w, now)) is not None}
    if not flooded:
        return sets
    for workflow_id, limit in flooded.items():
        notify_once(workflow_id, limit, now)
    return [
        {**s, "state": EntryState.HELD, "reason": reason_of(flooded[s["workflow_id"]]),
         "lease_until": None}
        if s["workflow_id"] in flooded and s["state"] == EntryState.PENDING
        else s
        for s in sets
    ]  # fmt: skip


def over_limit(workflow_id, now):
    """The workflow's limit when this fire is beyond it, else None."""
    limit = limit_of(workflow_id)
    seen = _seen.get(workflow_id)
    if seen is not None and seen.checked_at <= now and seen.limit == limit:
        if seen.flooded_until is not None and now < seen.flooded_until:
            seen.since += 1
            return limit
        known, age = seen.count + seen.since, now - seen.checked_at
        if age < RECHECK and known < limit // 2 or age < RECHECK_NEAR and known < limit:
            seen.since += 1
            return None
    count, oldest = fired_in_window(workflow_id, now, limit)
    flooded = count >= limit
    _seen[workflow_id] = Seen(now, count, 1, limit, oldest + WINDOW if flooded else None)
    return limit if flooded else None


def fired_in_window(workflow_id, now, limit):
    """(n, oldest): the workflow's fired triggers in the WINDOW before `now`, at
    most the `limit` most recent, and when the oldest of those happened."""
    from django.db.models import Count, Min

    from automation.models import Trigger

    found = (
        Trigger.objects.filter(
            workflow_id=workflow_id,
            outcome=TriggerOutcome.FIRED,
            occurred_at__gt=now - WINDOW,
            occurred_at__lte=now,
        )
        .order_by("-occurred_at")
        .values("occurred_at")[:limit]
        .aggregate(n=Count("occurred_at"), oldest=Min("occurred_at"))
    )
    return found["n"], found["oldest"]


def limit_of(workflow_id):
    """The workflow's flood_limit, as the rule index compiled it (no query)."""
    rule = rules.current().rules.get(workflow_id)
    return rule.flood_limit if rule is not None else DEFAULT_LIMIT


def notify_once(workflow_id, limit, now):
    """After the save commits: the flood's notification, unless this process stored it
    within the WINDOW (the dedup key stops the others)."""
    last = _notified.get(workflow_id)
    if last is not None and now - WINDOW < last <= now:
        return
    _notified[workflow_id] = now
    transaction.on_commit(lambda: notify(workflow_id, limit, now))


def notify(workflow_id, limit, now=None):
    from automation.models import Notification, Workflow

    name = Workflow.objects.filter(pk=workflow_id).values_list("name", flat=True).first()
    if name is None:
        return None
    message = (
        f'Workflow "{name}" fired more than {limit} triggers within '
        f"{int(WINDOW.total_seconds())} s: its further entries are held. Release them "
        "(they run as scheduled) or Flush them (they never run)."
    )
    return Notification.notify(
        message,
        f"Flood hold: {name}",
        workflow_id=workflow_id,
        dedup_key=key_of(workflow_id),
        now=now,
    )


def forget():
    """Drop this process's memory (tests)."""
    _seen.clear()
    _notified.clear()


def release(workflow_id, user=None, now=None):
    """Release: the workflow's held entries become pending (due as scheduled; late ones
    run at once). Frees the flood's notification. Returns how many."""
    return settle(workflow_id, user, now, flush=False)


def flush(workflow_id, user=None, now=None):
    """Flush: the workflow's held entries become flushed (never run). Returns how many."""
    return settle(workflow_id, user, now, flush=True)


def settle(workflow_id, user, now, flush):
    from django.utils import timezone

    from automation.models import LogEntry, Notification

    now = now or timezone.now()
    who = getattr(user, "username", "") or "an operator"
    with transaction.atomic():
        entries = LogEntry.objects.filter(workflow_id=workflow_id)
        if flush:
            count = entries.flush_held(reason=f"flushed by {who} (flood hold)", now=now)
        else:
            count = entries.release(reason=f"released by {who} (flood hold)")
        Notification.objects.filter(dedup_key=key_of(workflow_id)).update(
            dedup_key=None,
            acknowledged_at=now,
            acknowledged_by=user if getattr(user, "pk", None) else None,
        )
    _notified.pop(workflow_id, None)
    return count
