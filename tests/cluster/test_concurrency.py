"""Two clusters and two dispatchers on the same due entries: each runs exactly once."""

import time
from collections import Counter

import pytest

from automation.constants import EntryState
from automation.models import LogEntry

pytestmark = pytest.mark.cluster

ENTRIES = 1000


@pytest.mark.parametrize("broker", ["orm", "redis"], indirect=True)
def test_it_runs_each_entry_once_with_two_clusters_and_two_dispatchers(
    broker, make_leads, field_action, make_entries, cluster, dispatcher, wait_until, log, hits
):
    leads = make_leads(ENTRIES)
    action = field_action()
    started = time.monotonic()
    processes = [cluster(), cluster()]
    dispatchers = [dispatcher(), dispatcher()]
    wait_until(
        lambda: all(p.ready() for p in processes + dispatchers), 120, "every process to start"
    )
    # Due one after the other over 1 s, so that both dispatchers, polling every
    # 0.2 s, claim some (SKIP LOCKED) instead of the first one claiming them all.
    make_entries(action, leads, spread=1)

    wait_until(log.drained, 300, f"{ENTRIES} entries to finish ({broker.kind} broker)")
    log.report(f"two clusters + two dispatchers, {broker.kind} broker", time.monotonic() - started)
    print(f"[drain] tasks enqueued per dispatcher: {[d.count('Enqueued') for d in dispatchers]}")

    # The effects: every lead's counter went up exactly once.
    assert Counter(hits().values()) == {1: ENTRIES}
    # The log agrees: one attempt each, all succeeded.
    assert log.states() == {EntryState.SUCCEEDED: ENTRIES}, log.failures()
    assert set(LogEntry.objects.values_list("attempts", flat=True)) == {1}
