"""Hand due entries to django-q2 workers; recover entries of dead workers.

Why not django-q2's Schedule: it ticks about every 30 s, selects all due
schedules FOR UPDATE without SKIP LOCKED, and serialises clusters (see
shared/DJANGO-Q2.md). Our precision target is seconds, so the pending-entry
table is the timer and this loop polls it (`manage.py dispatcher`; `make run`
starts one). Any number of dispatchers may run on any number of machines:

1. Recover: running entries whose execution lease expired (their worker
   died) go back to pending.
2. Claim: `SELECT id … WHERE state='pending' AND due_at <= now AND (no live
   lease) ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED` on the partial
   index `entry_due_idx`; concurrent dispatchers skip each other's rows.
3. Lease: the claimed rows get `lease_until = now + DISPATCH_LEASE` and are
   enqueued (in batches per django-q2 task) when the transaction commits.
   If the task is lost (Redis has no acks; a worker is killed), the lease
   runs out and step 2 claims the entry again. The runner's own claim makes
   a second delivery a no-op, so nothing runs twice.
4. Every few seconds, expire hopper slots past their time (Hopper Expired).
5. Back-pressure: while the broker already holds a backlog, claim nothing
   new, so leases do not expire in the queue.
"""

import logging
import signal
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from automation.execution import tasks
from automation.constants import EntryState
from automation.models import LogEntry

log = logging.getLogger(__name__)

DISPATCH_LEASE = timedelta(seconds=60)
CLAIM_LIMIT = 1000
MAX_BACKLOG = 400
HOPPER_SWEEP_SECONDS = 5  # django-q2 tasks (each holds up to tasks.BATCH entries)


def recover(now=None):
    """Running entries whose worker is gone (lease expired) become pending again."""
    now = now or timezone.now()
    return LogEntry.objects.filter(state=EntryState.RUNNING, lease_until__lt=now).update(
        state=EntryState.PENDING,
        lease_until=None,
        reason="the worker running it was lost (lease expired): running it again",
    )


def claim(now=None, limit=CLAIM_LIMIT):
    """Claim due entries for this dispatcher; enqueue them when the transaction commits."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            LogEntry.objects.select_for_update(skip_locked=True)
            .filter(state=EntryState.PENDING, due_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            LogEntry.objects.filter(pk__in=ids).update(lease_until=now + DISPATCH_LEASE)
            transaction.on_commit(lambda: tasks.enqueue(ids))
    return ids


def backlog():
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size() or 0
    except Exception:  # a broker that cannot count: no back-pressure
        return 0


def dispatch_once(now=None):
    recover(now)
    room = MAX_BACKLOG - backlog()
    if room <= 0:
        return []
    return claim(now, limit=min(CLAIM_LIMIT, room * tasks.BATCH))


def sweep_hopper():
    """Expire hopper slots past their time (each fires Hopper Expired)."""
    from leads.models import HopperEntry

    try:
        return HopperEntry.expire_due()
    except Exception:
        log.exception("hopper sweep failed")
        return 0


def run_forever(interval=0.5, stop_after=None):
    """The dispatcher loop: claim as long as there is work, else wait `interval`."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    started = last_sweep = time.monotonic()
    log.info("dispatcher started")
    while not stopping:
        if time.monotonic() - last_sweep >= HOPPER_SWEEP_SECONDS:
            last_sweep = time.monotonic()
            sweep_hopper()
        if stop_after is not None and time.monotonic() - started > stop_after:
            break
        try:
            claimed = dispatch_once()
        except Exception:
            log.exception("dispatch failed; retrying")
            from django.db import connection

            connection.close()
            claimed = []
        if len(claimed) < CLAIM_LIMIT:
            time.sleep(interval)
    log.info("dispatcher stopped")
