"""The dispatcher's watchdog: work handed to django-q2 that nobody starts is a wedge.

No cluster runs here: what the dispatcher hands out (on commit) is never
started, exactly as with a wedged or absent cluster. Time is a fake clock.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from automation.constants import EntryState, HeartbeatRole
from automation.execution import dispatcher
from automation.models import Heartbeat, LogEntry


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(dispatcher.time, "monotonic", lambda: now[0])

    def advance(seconds):
        now[0] += seconds

    return advance


@pytest.fixture
def handed_out(make_lead, make_entry, monkeypatch):
    """Two due entries, claimed and 'enqueued' to nowhere."""
    monkeypatch.setattr(dispatcher.handoff, "enqueue", lambda ids: None)
    lead = make_lead()
    due = timezone.now() - timedelta(seconds=1)
    for _ in range(2):
        make_entry(lead, action_type="FIELD", due_at=due)

    def hand_out(watchdog):
        with transaction.atomic():
            return dispatcher.dispatch_once(watchdog=watchdog)

    return hand_out


def row():
    return Heartbeat.objects.get(name="dispatcher test:1")


def test_it_beats_while_all_is_well(db, clock):
    watchdog = dispatcher.Watchdog("dispatcher test:1")
    watchdog.tick()
    assert row().role == HeartbeatRole.DISPATCHER
    assert row().wedged == ""
    assert row().info["watched"] == 0


def test_it_names_work_nobody_started_for_45_seconds(db, clock, handed_out):
    watchdog = dispatcher.Watchdog("dispatcher test:1")
    assert len(handed_out(watchdog)) == 2
    watchdog.tick()
    clock(dispatcher.WEDGE_SECONDS - 1)
    watchdog.tick()
    assert row().wedged == ""

    clock(dispatcher.WATCH_SECONDS)
    watchdog.tick()
    assert row().wedged == (
        "cluster: 1 tasks handed to django-q2 up to 49 s ago and none started for 49 s"
    )
    assert row().wedges == 1
    clock(dispatcher.WATCH_SECONDS)
    watchdog.tick()
    assert row().wedges == 1, "one wedge, counted once"


def test_it_ends_the_wedge_once_the_work_starts(db, clock, handed_out):
    watchdog = dispatcher.Watchdog("dispatcher test:1")
    handed_out(watchdog)
    clock(dispatcher.WEDGE_SECONDS + 1)
    watchdog.tick()
    assert row().wedged

    LogEntry.objects.update(state=EntryState.SUCCEEDED, lease_until=None)
    clock(dispatcher.WATCH_SECONDS)
    watchdog.tick()
    assert row().wedged == ""
    assert row().wedges == 1


def test_a_busy_cluster_is_not_wedged(db, clock, handed_out, make_lead, make_entry):
    watchdog = dispatcher.Watchdog("dispatcher test:1")
    handed_out(watchdog)  # waits behind other work...
    clock(dispatcher.WEDGE_SECONDS - 5)
    watchdog.handed_out([make_entry(make_lead(), action_type="FIELD").pk], timezone.now())
    watchdog.tick()  # ...while that other work starts
    clock(10)
    watchdog.tick()
    assert row().wedged == ""


def test_it_forgets_processes_gone_for_a_week_unless_they_found_wedges(db):
    now = timezone.now()
    for name, days, wedges in [("old", 8, 0), ("old wedged", 8, 1), ("recent", 6, 0)]:
        Heartbeat.objects.create(
            name=name, role=HeartbeatRole.CLUSTER, seen_at=now - timedelta(days=days), wedges=wedges
        )
    assert Heartbeat.forget_gone(now) == 1
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"old wedged", "recent"}
