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
4. Every few seconds, expire hopper slots past their time (Hopper Expired)
   and prune endpoint attempts older than an hour (the breaker's figures);
   resume bulk enrollments whose worker died (their lease ran out).
5. Back-pressure: while the broker already holds a backlog, claim nothing
   new, so leases do not expire in the queue.
6. Heartbeat and watchdog (`Watchdog`): every few seconds the dispatcher
   writes its Heartbeat row (what `/healthz` reads), and checks whether the
   tasks it handed to django-q2 are being started: tasks untouched for
   WEDGE_SECONDS while nothing it handed out started meanwhile mean a
   wedged or absent cluster. It names that in its heartbeat (`/healthz`
   answers 503, `/metrics` counts it); the cluster's own main process
   (`manage.py workers`, automation.execution.cluster) restarts a wedged cluster.
"""

import logging
import os
import signal
import socket
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from automation.constants import EntryState, HeartbeatRole
from automation.engine import handoff
from automation.execution import breaker, enrollment
from automation.models import Heartbeat, LogEntry

log = logging.getLogger(__name__)

DISPATCH_LEASE = timedelta(seconds=60)
CLAIM_LIMIT = 1000
MAX_BACKLOG = 400  # django-q2 tasks (each holds up to handoff.BATCH entries)
HOPPER_SWEEP_SECONDS = 5
HEARTBEAT_SECONDS = 2
WEDGE_SECONDS = 45  # handed-out work nobody starts for this long: a wedge
WATCH_SECONDS = 5  # how often the watchdog looks
WATCHED_TASKS = 2000  # the most recent tasks watched (one entry each)


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
            handoff.at_commit(ids)
    return ids


def backlog():
    from django_q.brokers import get_broker

    try:
        return get_broker().queue_size() or 0
    except Exception:  # a broker that cannot count: no back-pressure
        return 0


def dispatch_once(now=None, watchdog=None):
    now = now or timezone.now()
    recover(now)
    room = MAX_BACKLOG - backlog()
    if room <= 0:
        return []
    ids = claim(now, limit=min(CLAIM_LIMIT, room * handoff.BATCH))
    if watchdog is not None:
        watchdog.handed_out(ids, now + DISPATCH_LEASE)
    return ids


class Watchdog:
    """Is the work this dispatcher hands to django-q2 being started? Plus its heartbeat.

    It watches the first entry of each task it enqueued (a task runs its
    entries together): an entry still pending under the lease it was handed
    out with has not been started. Work handed out WEDGE_SECONDS ago and not
    started, while none of the watched work started for WEDGE_SECONDS, is a
    wedge: no cluster takes the broker's tasks (all dead, or wedged). A busy
    cluster is not a wedge: it keeps starting something.
    """

    def __init__(self, name=None):
        self.name = name or f"dispatcher {socket.gethostname()}:{os.getpid()}"
        self.watched = {}  # entry id -> (monotonic time handed out, lease it was given)
        self.progress_at = time.monotonic()
        self.checked_at = self.beat_at = 0
        self.wedged = ""

    def handed_out(self, ids, lease):
        now = time.monotonic()
        if not self.watched:
            self.progress_at = now
        for start in range(0, len(ids), handoff.BATCH):
            self.watched[ids[start]] = (now, lease)
        while len(self.watched) > WATCHED_TASKS:
            self.watched.pop(next(iter(self.watched)))

    def check(self):
        """Look at the watched entries: drop the started ones; return the wedge, if any."""
        now = time.monotonic()
        if not self.watched:
            self.progress_at = now
            return ""
        rows = LogEntry.objects.filter(pk__in=list(self.watched)).values_list(
            "pk", "state", "lease_until"
        )
        waiting = {
            pk
            for pk, state, lease in rows
            if state == EntryState.PENDING and lease == self.watched[pk][1]
        }
        for pk in set(self.watched) - waiting:
            del self.watched[pk]
            self.progress_at = now
        if not waiting:
            return ""
        oldest = now - min(handed for handed, _ in self.watched.values())
        if oldest > WEDGE_SECONDS and now - self.progress_at > WEDGE_SECONDS:
            return (
                f"cluster: {len(waiting)} tasks handed to django-q2 up to {oldest:.0f} s ago "
                f"and none started for {now - self.progress_at:.0f} s"
            )
        return ""

    def tick(self):
        """Called once per dispatcher loop: check and beat when their time has come."""
        now = time.monotonic()
        new_wedge = False
        if now - self.checked_at >= WATCH_SECONDS:
            self.checked_at = now
            wedged = self.check()
            if wedged and not self.wedged:
                log.critical("wedge: %s", wedged)
                new_wedge = True
            elif self.wedged and not wedged:
                log.warning("the wedge is over: handed-out work is being started again")
            self.wedged = wedged
        if new_wedge or now - self.beat_at >= HEARTBEAT_SECONDS:
            self.beat_at = now
            info = {"host": socket.gethostname(), "pid": os.getpid(), "watched": len(self.watched)}
            Heartbeat.beat(
                self.name, HeartbeatRole.DISPATCHER, self.wedged, new_wedge=new_wedge, info=info
            )


def sweep_hopper():
    """Expire hopper slots past their time (each fires Hopper Expired); forget the
    heartbeats of processes long gone."""
    from leads.models import HopperEntry

    try:
        Heartbeat.forget_gone()
        breaker.prune()  # endpoint attempts older than an hour
        enrollment.resume_stalled()  # bulk enrollments whose worker died
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
    watchdog = Watchdog()
    log.info("dispatcher started")
    while not stopping:
        if time.monotonic() - last_sweep >= HOPPER_SWEEP_SECONDS:
            last_sweep = time.monotonic()
            sweep_hopper()
        if stop_after is not None and time.monotonic() - started > stop_after:
            break
        try:
            claimed = dispatch_once(watchdog=watchdog)
            watchdog.tick()  # after a successful claim only: the heartbeat means "claiming"
        except Exception:
            log.exception("dispatch failed; retrying")
            from django.db import connection

            connection.close()
            claimed = []
        if len(claimed) < CLAIM_LIMIT:
            time.sleep(interval)
    log.info("dispatcher stopped")
