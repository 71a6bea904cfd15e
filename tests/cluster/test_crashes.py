"""A cluster killed with SIGKILL mid-action: nothing is lost, internal effects are not doubled.

Waiting out the real leases (DISPATCH_LEASE and EXECUTION_LEASE, 60 s each)
would make these tests slow; instead each test moves the leases of the
entries in question into the past, which is exactly what the passing of
time does to them, and lets the dispatcher's normal recovery take over.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from automation.constants import EntryState
from automation.models import Endpoint, LogEntry
from tests import httpserver

pytestmark = pytest.mark.cluster

http_server = httpserver.http_server  # the fixture

ENTRIES = 1000


def expire_leases(state):
    """Stand-in for waiting out the leases of `state` entries: move them into the past."""
    return LogEntry.objects.filter(state=state, lease_until__isnull=False).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )


def settled(broker, quiet_seconds=3):
    """A predicate: the broker's queue is empty and no entry finished for `quiet_seconds`."""
    last = {}

    def check():
        progress = (broker.queued(), LogEntry.objects.exclude(state=EntryState.PENDING).count())
        now = time.monotonic()
        if progress[0] or last.get("progress") != progress:
            last.update(progress=progress, since=now)
            return False
        return now - last["since"] >= quiet_seconds

    return check


@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)
def test_it_neither_loses_nor_doubles_internal_actions_of_a_killed_cluster(
    broker, make_leads, field_action, make_entries, cluster, dispatcher, wait_until, log, hits
):
    make_entries(field_action(), make_leads(ENTRIES))
    started = time.monotonic()
    first = cluster()
    dispatcher()

    def some_succeeded():
        done = LogEntry.objects.filter(state=EntryState.SUCCEEDED).count()
        return done if done >= ENTRIES // 10 else 0

    done = wait_until(some_succeeded, 180, "10 % of the entries to succeed", interval=0.05)
    first.kill()  # SIGKILL to the main process, sentinel, pusher, workers and monitor at once
    killed_after = LogEntry.objects.filter(state=EntryState.SUCCEEDED).count()
    print(f"\n[crash] {broker.kind}: killed the cluster at {done}-{killed_after} of {ENTRIES}")
    assert killed_after < ENTRIES, "the cluster finished before it was killed: nothing was tested"

    # A new cluster runs what is left in the broker. The tasks the dead one had
    # taken (Redis: popped, lost; ORM: locked for `retry`, 300 s) are not run:
    # their entries wait, pending, for their dispatch lease to run out.
    cluster()
    wait_until(settled(broker), 180, "the new cluster to run what was queued")
    stranded = LogEntry.objects.filter(state=EntryState.PENDING).count()
    print(f"[crash] {broker.kind}: {stranded} entries were stranded with the killed cluster")

    # The dispatcher leased the entries when it handed them to the dead cluster
    # (DISPATCH_LEASE): let those leases run out, as the dispatcher would see
    # 60 s later, so that it hands them out again.
    expire_leases(EntryState.PENDING)
    wait_until(log.drained, 300, f"the {ENTRIES} entries to finish after the crash")
    log.report(f"killed and restarted cluster, {broker.kind} broker", time.monotonic() - started)

    assert Counter(hits().values()) == {1: ENTRIES}
    assert log.states() == {EntryState.SUCCEEDED: ENTRIES}, log.failures()


def test_it_sends_an_external_action_of_a_killed_cluster_again_with_the_same_key(
    http_server,
    make_lead,
    statuses,
    make_action,
    make_entries,
    cluster,
    dispatcher,
    wait_until,
    log,
):
    http_server.reply(json={"ok": True}, delay=10)  # still answering when the cluster dies
    http_server.reply(json={"ok": True})
    hook = Endpoint.objects.create(
        name="CRM hook", url=http_server.url("/hook"), timeout_seconds=30
    )
    lead = make_lead(status=statuses["NEW"])
    (entry,) = make_entries(make_action("INTEGRATION", {"endpoint": hook.pk}), [lead])
    first = cluster()
    dispatcher()

    wait_until(lambda: http_server.requests, 120, "the endpoint to receive the request")
    entry.refresh_from_db()
    assert entry.state == EntryState.RUNNING
    first.kill()

    # The entry stays running, leased to the dead worker for EXECUTION_LEASE
    # (60 s): let the lease run out; the dispatcher then makes it pending again.
    assert expire_leases(EntryState.RUNNING) == 1
    cluster()
    entry = wait_until(lambda: log.finished(entry), 120, "the entry to be sent again")
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert entry.attempts == 2
    first_request, second_request = http_server.requests
    key = str(entry.idempotency_key)
    assert first_request.headers.get("Idempotency-Key") == key
    assert second_request.headers.get("Idempotency-Key") == key
