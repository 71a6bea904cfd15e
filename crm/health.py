"""`/healthz` and `/metrics` (SPEC Appendix C.1): is the product doing its work?

`GET /healthz` (no auth) answers 200 when everything is fine, else 503, with
the failing parts named in `failing`:

    {"database": "ok", "broker": "ok",
     "dispatcher": {"ok": true, "last_seen": "2026-…Z"}, "due_lag_seconds": 0.4}

- database / broker: unreachable;
- dispatcher: no dispatcher has claimed work for DISPATCHER_SILENCE;
- due_lag: the oldest due entry is more than MAX_DUE_LAG late;
- wedged: a process found a wedge in the last DISPATCHER_SILENCE (`wedged`
  maps the process to the part: "cluster …: workers: …").

`GET /metrics` is Prometheus text from prometheus_client's default REGISTRY
(other modules register their metrics there too), on which `Collector`
reads the database at each scrape: a few aggregate queries, no per-row work.
Access: `Authorization: Bearer $METRICS_TOKEN` when METRICS_TOKEN is set,
else from loopback only.
"""

import hmac
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Min, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from automation.constants import ActionType, BreakerState, EntryState, HeartbeatRole
from automation.models import Endpoint, EndpointBreaker, Heartbeat, LogEntry, Trigger

DISPATCHER_SILENCE = timedelta(seconds=30)
MAX_DUE_LAG = timedelta(seconds=60)


def due_lag(now):
    """Seconds the oldest due, unexecuted entry is late (0 when none); uses entry_due_idx."""
    oldest = LogEntry.objects.filter(state=EntryState.PENDING, due_at__lte=now).aggregate(
        oldest=Min("due_at")
    )["oldest"]
    return round((now - oldest).total_seconds(), 1) if oldest else 0.0


def dispatcher_seen():
    """When a dispatcher last claimed work (its heartbeat), or None."""
    return Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).aggregate(last=Max("seen_at"))[
        "last"
    ]


def wedges(now):
    """{process: what is wedged} as reported by live processes."""
    return dict(
        Heartbeat.objects.filter(seen_at__gte=now - DISPATCHER_SILENCE)
        .exclude(wedged="")
        .values_list("name", "wedged")
    )


def check_broker():
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
    else:  # the ORM broker: its table in the database
        from django_q.models import OrmQ

        OrmQ.objects.filter(pk=0).exists()


def unreachable(exc):
    return f"unreachable: {type(exc).__name__}: {exc}"[:200]


@never_cache
@require_GET
def healthz(request):
    now = timezone.now()
    failing = []
    body = {"database": "ok", "broker": "ok", "dispatcher": {"ok": False, "last_seen": None}}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        body["database"] = unreachable(exc)
        failing.append("database")
    try:
        check_broker()
    except Exception as exc:
        body["broker"] = unreachable(exc)
        failing.append("broker")
    body["due_lag_seconds"] = None
    if "database" not in failing:
        try:
            seen = dispatcher_seen()
            body["dispatcher"] = {
                "ok": bool(seen and now - seen <= DISPATCHER_SILENCE),
                "last_seen": seen.isoformat() if seen else None,
            }
            body["due_lag_seconds"] = due_lag(now)
            wedged = wedges(now)
        except Exception as exc:  # e.g. the database went away meanwhile
            body["database"] = unreachable(exc)
            failing.append("database")
            wedged = {}
        if not body["dispatcher"]["ok"]:
            failing.append("dispatcher")
        lag = body["due_lag_seconds"]
        if lag is not None and lag > MAX_DUE_LAG.total_seconds():
            failing.append("due_lag")
        if wedged:
            body["wedged"] = wedged
            failing.append("wedged")
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


class Collector:
    """The product's metrics, read from the database at each scrape."""

    def describe(self):
        return []  # nothing to read at registration (no database access at import)

    def collect(self):
        now = timezone.now()
        entries = GaugeMetricFamily(
            "crm_entries", "Log entries by state and action type.", labels=["state", "action_type"]
        )
        for state, action_type, n in (
            LogEntry.objects.order_by().values_list("state", "action_type").annotate(n=Count("id"))
        ):
            entries.add_metric([state, action_type], n)
        yield entries
        yield GaugeMetricFamily(
            "crm_due_lag_seconds", "How late the oldest due entry is.", value=due_lag(now)
        )
        triggers = CounterMetricFamily(
            "crm_triggers", "Triggers recorded, by outcome.", labels=["outcome"]
        )
        for outcome, n in Trigger.objects.order_by().values_list("outcome").annotate(n=Count("id")):
            triggers.add_metric([outcome], n)
        yield triggers
        attempts = CounterMetricFamily(
            "crm_endpoint_attempts",
            "Requests of INTEGRATION entries, by endpoint and the entry's result.",
            labels=["endpoint", "result"],
        )
        counted = list(
            LogEntry.objects.filter(action_type=ActionType.INTEGRATION, attempts__gt=0)
            .order_by()
            .values_list("action__config__endpoint", "state")
            .annotate(n=Sum("attempts"))
        )
        # INTEGRATION actions refer to their endpoint by id: the label is its name now.
        ids = [pk for pk, _, _ in counted if isinstance(pk, int)]
        names = dict(Endpoint.objects.filter(pk__in=ids).values_list("pk", "name"))
        for endpoint, state, n in counted:
            label = names.get(endpoint, endpoint) if isinstance(endpoint, int) else endpoint
            attempts.add_metric([str(label or ""), state], n)
        yield attempts
        breakers = GaugeMetricFamily(
            "crm_endpoint_breaker_open",
            "Endpoints whose circuit breaker is not closed (1), by endpoint and state "
            "(open, half_open, paused).",
            labels=["endpoint", "state"],
        )
        for endpoint, state in EndpointBreaker.objects.exclude(
            state=BreakerState.CLOSED
        ).values_list("endpoint__name", "state"):
            breakers.add_metric([endpoint, state], 1)
        yield breakers
        seen = dispatcher_seen()
        yield GaugeMetricFamily(
            "crm_dispatcher_heartbeat_timestamp_seconds",
            "When a dispatcher last claimed work (Unix time; 0: never).",
            value=seen.timestamp() if seen else 0,
        )
        wedge_counts = CounterMetricFamily(
            "crm_wedges",
            "Wedges found, by the role of the process that found them.",
            labels=["role"],
        )
        for role, n in Heartbeat.objects.order_by().values_list("role").annotate(n=Sum("wedges")):
            wedge_counts.add_metric([role], n or 0)
        yield wedge_counts
        yield GaugeMetricFamily(
            "crm_wedged", "Processes reporting a wedge now.", value=len(wedges(now))
        )


REGISTRY.register(Collector())


def allowed(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_GET
def metrics(request):
    if not allowed(request):
        status = 401 if settings.METRICS_TOKEN else 403
        return HttpResponse(status=status, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
