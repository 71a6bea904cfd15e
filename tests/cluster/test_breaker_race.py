"""The circuit breaker with real workers failing at once: it opens once, with one
notification and one e-mail, and the dead endpoint stops being hammered.

Two clusters of two workers each send 200 INTEGRATION entries to a local
server that answers every request 503 after a short delay, so that several
requests fail at nearly the same moment. From the `breaker_failures`-th
consecutive failure on, every failing worker finds the count reached and
tries to open the breaker; the conditional UPDATE (closed → open) lets one
win. After that nothing is sent (the next probe is an hour away): the server
sees at most `breaker_failures` requests plus one in flight per worker.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from automation.constants import BreakerState, EntryState
from automation.models import Endpoint, EndpointBreaker, LogEntry, Notification
from tests import httpserver
from tests.httpserver import Reply

pytestmark = pytest.mark.cluster
http_server = httpserver.http_server

ENTRIES = 200
FAILURES = 5
WORKERS = 4  # two clusters of Q_WORKERS=2


@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)
def test_two_clusters_failing_at_once_open_the_breaker_once(
    broker, subprocess_env, http_server, make_leads, make_action, cluster, dispatcher,
    wait_until, log,
):  # fmt: skip
    subprocess_env["ADMIN_EMAILS"] = "ops@example.com"
    http_server.handler = lambda received: Reply(status=503, body="down", delay=0.3)
    endpoint = Endpoint.objects.create(
        name="Racing partner",
        url=http_server.url("/hook"),
        max_attempts=1,
        breaker_failures=FAILURES,
        breaker_probe_seconds=3600,
    )
    action = make_action("INTEGRATION", {"endpoint": endpoint.pk})
    leads = make_leads(ENTRIES)
    processes = [cluster(), cluster()]
    dispatchers = [dispatcher()]
    wait_until(
        lambda: all(p.ready() for p in processes + dispatchers), 120, "every process to start"
    )
    LogEntry.objects.bulk_create(
        LogEntry(
            workflow=action.action_set.workflow,
            action=action,
            lead_id=lead.pk,
            list_id=lead.list_id,
            action_type=action.type,
            state=EntryState.PENDING,
            due_at=timezone.now(),
            context={"chain": [action.action_set.workflow_id]},
        )
        for lead in leads
    )

    def settled():
        soon = timezone.now() + timedelta(minutes=5)
        return not LogEntry.objects.filter(
            state__in=(EntryState.PENDING, EntryState.RUNNING), due_at__lte=soon
        ).exists()

    wait_until(settled, 300, f"every entry to fail or wait on the breaker ({broker.kind})")

    assert EndpointBreaker.objects.get(endpoint=endpoint).state == BreakerState.OPEN
    assert Notification.objects.filter(endpoint=endpoint).count() == 1
    sent = sum(p.count("Subject: Endpoint open: Racing partner") for p in processes)
    assert sent == 1
    requests = len(http_server.requests)
    print(f"\n[breaker race] {broker.kind}: {requests} requests reached the dead endpoint")
    assert FAILURES <= requests <= FAILURES + WORKERS
    failed = LogEntry.objects.filter(state=EntryState.FAILED).count()
    assert failed == requests  # one attempt each (max_attempts 1)
    waiting = LogEntry.objects.filter(state=EntryState.PENDING)
    assert waiting.count() == ENTRIES - failed
    assert all(e.attempts == 0 for e in waiting)
    assert all(e.reason.startswith('deferred: endpoint "Racing partner" is open') for e in waiting)
