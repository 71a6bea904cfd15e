"""The circuit breaker of INTEGRATION endpoints (SPEC C.5).

State (automation.models.EndpointBreaker, one row per endpoint, shared by
every worker; no row = closed):

1. closed: requests go out. Each attempt is appended to EndpointAttempt
   (`record`). After `breaker_failures` consecutive failed attempts — no
   answer, a timeout, a 5xx or a 429, what the one retry policy calls
   transient (automation.execution.retry.transient); other 4xx are answers
   and never count — it opens with a conditional UPDATE (closed → open):
   however many workers fail at once, one wins, and only the winner stores
   the notification and mails ADMIN_EMAILS.
2. open: nothing is sent. An entry coming due is deferred like the send-time
   guard defers (still pending, attempts unchanged, `due_at` moved, the
   reason naming the endpoint) to `next_probe_at` (`admit`). The first
   entry due at or after it takes the probe with a conditional UPDATE
   (→ half_open, `next_probe_at` one probe interval on) and is sent: one
   probe per `breaker_probe_seconds`, whatever the number of workers.
3. half_open: the probe is out. Its failure makes it open again; any
   answer that is not a breaker failure closes it (`record`), and the
   entries deferred on it are made due at once (`release`). A probe whose
   worker died leaves it half_open: the next due entry takes the next probe.
4. paused: an operator's `pause`; nothing is sent, no probes, until `resume`.

The due-work index stays efficient: a deferred entry leaves the pending
index's due range until the next probe (or, paused, for PAUSE_PARK); a task
holding several entries of a blocked endpoint defers them in one UPDATE
(`defer_blocked`) instead of a task each.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from automation.constants import ActionType, BreakerState, EntryState
from automation.document.schema import is_id
from automation.execution import retry
from automation.models import (
    EndpointAttempt,
    EndpointBreaker,
    LogEntry,
    Notification,
)
from automation.models.health import ATTEMPTS_KEPT

log = logging.getLogger(__name__)

# A paused endpoint's entries look again this often (resume makes them due at once).
PAUSE_PARK = timedelta(minutes=15)
HEALTH_WINDOW = timedelta(minutes=5)
HEALTH_ROWS = 10_000  # the newest attempts the health figures read at most
BLOCKED = (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.PAUSED)


def endpoint_id(entry):
    """The id of the endpoint an INTEGRATION entry sends to, or None."""
    if entry.action_type != ActionType.INTEGRATION or entry.action is None:
        return None
    pk = (entry.action.config or {}).get("endpoint")
    return pk if is_id(pk) else None


def reason_prefix(name):
    return f'deferred: endpoint "{name}" is '


def blocked_reason(name, state, until):
    if state == BreakerState.PAUSED:
        return f"{reason_prefix(name)}paused by an operator"
    return (
        f"{reason_prefix(name)}open (circuit breaker after repeated failures); "
        f"next probe at {until:%Y-%m-%d %H:%M:%S} UTC"
    )


def admit(entry, now):
    """Before an INTEGRATION entry is claimed: None if it may be sent (the breaker
    is closed, or this entry has just taken the probe), else the deferral as
    (reason, until): the next probe. Runs in the claim transaction."""
    pk = endpoint_id(entry)
    if pk is None:
        return None
    row = (
        EndpointBreaker.objects.filter(endpoint_id=pk)
        .values("pk", "state", "next_probe_at", "endpoint__breaker_probe_seconds", "endpoint__name")
        .first()
    )
    if row is None or row["state"] == BreakerState.CLOSED:
        return None
    name = row["endpoint__name"]
    if row["state"] == BreakerState.PAUSED:
        return blocked_reason(name, row["state"], now), now + PAUSE_PARK
    probe_at = row["next_probe_at"] or now
    if probe_at <= now:
        following = now + timedelta(seconds=row["endpoint__breaker_probe_seconds"])
        took = EndpointBreaker.objects.filter(
            pk=row["pk"],
            state__in=(BreakerState.OPEN, BreakerState.HALF_OPEN),
            next_probe_at=row["next_probe_at"],
        ).update(state=BreakerState.HALF_OPEN, next_probe_at=following, changed_at=now)
        if took:
            log.info("endpoint %r: entry %s is the probe", name, entry.pk)
            return None
        fresh = (
            EndpointBreaker.objects.filter(pk=row["pk"]).values("state", "next_probe_at").first()
        )
        if fresh is None or fresh["state"] == BreakerState.CLOSED:
            return None
        probe_at = fresh["next_probe_at"] or following
    return blocked_reason(name, row["state"], probe_at), probe_at


def defer_blocked(entry_ids, now):
    """Defer, in one UPDATE per endpoint, the pending INTEGRATION entries among
    `entry_ids` whose endpoint is paused, or open with its next probe still
    ahead. Returns the ids deferred (the caller runs the others)."""
    rows = list(
        LogEntry.objects.filter(
            pk__in=entry_ids, action_type=ActionType.INTEGRATION, state=EntryState.PENDING
        ).values_list("pk", "action__config")
    )
    by_endpoint = {}
    for pk, config in rows:
        endpoint = (config or {}).get("endpoint") if isinstance(config, dict) else None
        if is_id(endpoint):
            by_endpoint.setdefault(endpoint, []).append(pk)
    if not by_endpoint:
        return []
    breakers = EndpointBreaker.objects.filter(
        endpoint_id__in=list(by_endpoint), state__in=BLOCKED
    ).values_list("endpoint_id", "endpoint__name", "state", "next_probe_at")
    deferred = []
    for endpoint, name, state, probe_at in breakers:
        if state == BreakerState.PAUSED:
            until = now + PAUSE_PARK
        elif probe_at is not None and probe_at > now:
            until = probe_at
        else:
            continue  # a probe is due: the entries go through `admit`, one takes it
        ids = by_endpoint[endpoint]
        LogEntry.objects.filter(pk__in=ids, state=EntryState.PENDING).update(
            due_at=until, reason=blocked_reason(name, state, until), lease_until=None
        )
        deferred.extend(ids)
    return deferred


def record(endpoint, outcome, now, error=""):
    """After one attempt: append it, then open or close the breaker as it says.

    `error`: the attempt's failure, masked, as the log shows it ('' when ok).
    Nothing is written to the breaker row unless its state changes.
    """
    if not outcome.attempts:
        return  # nothing was sent (an invalid or refused URL)
    failure = retry.transient(outcome)
    EndpointAttempt.objects.create(
        endpoint=endpoint,
        at=now,
        ok=outcome.ok,
        breaker_failure=failure,
        elapsed_ms=max(0, int(outcome.elapsed_ms or 0)),
        status_code=outcome.status_code,
        error="" if outcome.ok else error[:300],
    )
    if failure:
        failed(endpoint, now)
    else:
        close(endpoint, now, because="an answer from the endpoint")


def consecutive_failures(endpoint_id, limit=HEALTH_ROWS):
    """The endpoint's failed attempts since its last answer, newest first, counted up
    to `limit` (and within ATTEMPTS_KEPT): one range read of attempt_endpoint_time_idx."""
    newest = (
        EndpointAttempt.objects.filter(endpoint_id=endpoint_id)
        .order_by("-at", "-pk")
        .values_list("breaker_failure", flat=True)[:limit]
    )
    run = 0
    for failure in newest:
        if not failure:
            break
        run += 1
    return run


def failed(endpoint, now):
    """A breaker failure: a failed probe reopens; the Nth in a row opens (once)."""
    EndpointBreaker.objects.filter(endpoint=endpoint, state=BreakerState.HALF_OPEN).update(
        state=BreakerState.OPEN, changed_at=now
    )
    limit = endpoint.breaker_failures
    if consecutive_failures(endpoint.pk, limit) < limit:
        return False
    EndpointBreaker.objects.get_or_create(endpoint=endpoint)
    with transaction.atomic():
        won = EndpointBreaker.objects.filter(endpoint=endpoint, state=BreakerState.CLOSED).update(
            state=BreakerState.OPEN,
            opened_at=now,
            next_probe_at=now + timedelta(seconds=endpoint.breaker_probe_seconds),
            changed_at=now,
            changed_by="",
        )
        if not won:
            return False  # already open (another worker won), half-open or paused
        last = last_error(endpoint.pk)
        message = (
            f'Endpoint "{endpoint.name}" is open: {limit} consecutive failed attempts'
            f"{f' (last: {last})' if last else ''}. Nothing is sent to it but one probe every "
            f"{endpoint.breaker_probe_seconds} s; the first probe that gets an answer closes it "
            "and its waiting entries go out."
        )
        Notification.notify(
            message, f"Endpoint open: {endpoint.name}", endpoint_id=endpoint.pk, now=now
        )
    log.warning("endpoint %r opened after %d consecutive failures", endpoint.name, limit)
    return True


def close(endpoint, now, because, states=(BreakerState.OPEN, BreakerState.HALF_OPEN), by=""):
    """Open / half-open (or `states`) → closed; the deferred entries become due now."""
    closed = EndpointBreaker.objects.filter(endpoint=endpoint, state__in=states).update(
        state=BreakerState.CLOSED, next_probe_at=None, changed_at=now, changed_by=by
    )
    if closed:
        released = release(endpoint, now)
        log.warning(
            "endpoint %r closed after %s; %d waiting entries due now",
            endpoint.name,
            because,
            released,
        )
    return bool(closed)


def release(endpoint, now):
    """The entries deferred on this endpoint's breaker become due now (one UPDATE over
    the pending index's due range they were deferred into)."""
    horizon = (
        now
        + max(PAUSE_PARK, timedelta(seconds=endpoint.breaker_probe_seconds))
        + timedelta(seconds=1)
    )
    return LogEntry.objects.filter(
        state=EntryState.PENDING,
        due_at__gt=now,
        due_at__lte=horizon,
        action_type=ActionType.INTEGRATION,
        reason__startswith=reason_prefix(endpoint.name),
    ).update(due_at=now, reason="", lease_until=None)


def pause(endpoint, user="", now=None):
    """An operator stops all sending to the endpoint (no probes) until `resume`."""
    now = now or timezone.now()
    EndpointBreaker.objects.get_or_create(endpoint=endpoint)
    return bool(
        EndpointBreaker.objects.filter(endpoint=endpoint)
        .exclude(state=BreakerState.PAUSED)
        .update(state=BreakerState.PAUSED, changed_at=now, changed_by=user, next_probe_at=None)
    )


def resume(endpoint, user="", now=None):
    """An operator closes the breaker (paused or open): sending starts again at once."""
    now = now or timezone.now()
    return close(
        endpoint, now, because=f"resume by {user or 'an operator'}", states=BLOCKED, by=user
    )


def last_error(endpoint_id):
    return (
        EndpointAttempt.objects.filter(endpoint_id=endpoint_id)
        .exclude(error="")
        .order_by("-at", "-pk")
        .values_list("error", flat=True)
        .first()
    )


def percentile(values, share):
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 100))  # ceil
    return ordered[int(rank) - 1]


def health(endpoint, now=None):
    """The `endpoints/{id}/health/` answer (SPEC C.5)."""
    now = now or timezone.now()
    row = EndpointBreaker.objects.filter(endpoint=endpoint).first()
    recent = list(
        EndpointAttempt.objects.filter(endpoint=endpoint, at__gt=now - HEALTH_WINDOW, at__lte=now)
        .order_by("-at")
        .values_list("ok", "elapsed_ms")[:HEALTH_ROWS]
    )
    succeeded = sum(1 for ok, _ in recent if ok)
    return {
        "state": row.state if row is not None else BreakerState.CLOSED.value,
        "success_rate_5m": round(succeeded / len(recent), 4) if recent else None,
        "p95_ms_5m": percentile([ms for _, ms in recent], 95),
        "consecutive_failures": consecutive_failures(endpoint.pk),
        "last_error": last_error(endpoint.pk),
        "opened_at": row.opened_at
        if row is not None and row.state != BreakerState.CLOSED
        else None,
    }


def prune(now=None):
    """Forget attempts older than ATTEMPTS_KEPT (the dispatcher's sweep calls it)."""
    now = now or timezone.now()
    return EndpointAttempt.objects.filter(at__lt=now - ATTEMPTS_KEPT).delete()[0]
