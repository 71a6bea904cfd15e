"""Due times of pending entries, through the engine (SPEC §4.4).

automation.engine.timing is unit-tested on its own (test_timing.py); these check the
engine feeds it the right things: the lead's zone, last called time and date
fields, the action set's window and the workflow's schedule.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from automation.engine import handler as engine
from automation.constants import EntryState, TriggerOutcome
from automation.models import Trigger
from leads.models import Lead
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    handle,
    make_workflow,
)

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
ON_CREATE = [("LEAD_ACTION", {"values": ["create"]})]
# Wednesday 2026-03-04, 12:00 in Los Angeles (20:00 UTC).
NOON_LA = datetime(2026, 3, 4, 12, 0, tzinfo=LA)


def local(zone, *args):
    return datetime(*args, tzinfo=zone)


@pytest.fixture
def at():
    """Freeze the clock at an instant (the engine reads django.utils.timezone.now())."""
    travellers = []

    def travel(instant):
        traveller = time_machine.travel(instant, tick=False)
        traveller.start()
        travellers.append(traveller)
        return instant

    yield travel
    for traveller in reversed(travellers):
        traveller.stop()


def only_entry(workflow):
    [entry] = entries(workflow)
    return entry


def test_it_makes_an_immediate_entry_due_now_with_a_short_lease(at, make_lead):
    now = at(NOON_LA)
    wf = make_workflow(ON_CREATE)
    make_lead(timezone="America/Los_Angeles")
    entry = only_entry(wf)
    assert entry.state == EntryState.PENDING
    assert entry.due_at == now
    assert entry.created_at == now
    assert entry.lease_until == now + engine.HANDOFF_LEASE
    assert Trigger.objects.get(workflow=wf).occurred_at == now


def test_it_hands_immediate_entries_to_workers_on_commit(
    at, make_lead, monkeypatch, django_capture_on_commit_callbacks
):
    from automation.execution import tasks

    enqueued = []
    monkeypatch.setattr(tasks, "enqueue", lambda ids: enqueued.append(list(ids)))
    at(NOON_LA)
    wf = make_workflow(
        ON_CREATE,
        action_sets=[
            {"actions": [("STATUS", {"status": "FOLLOW"}), ("HOPPER", {})]},
            {"delay": {"delay_mode": "fixed", "delay_minutes": 5}, "actions": [("DNC", {})]},
        ],
    )
    with django_capture_on_commit_callbacks() as callbacks:
        make_lead()
    assert len(callbacks) == 1
    assert enqueued == []  # not before the commit
    callbacks[0]()
    now_ids = [e.pk for e in entries(wf) if e.action_type in ("STATUS", "HOPPER")]
    assert enqueued == [now_ids]
    later = [e for e in entries(wf) if e.action_type == "DNC"]
    assert later[0].lease_until is None


def test_it_enqueues_nothing_for_delayed_entries(at, make_lead, django_capture_on_commit_callbacks):
    at(NOON_LA)
    wf = make_workflow(ON_CREATE, delay={"delay_mode": "fixed", "delay_minutes": 1})
    with django_capture_on_commit_callbacks() as callbacks:
        make_lead()
    assert callbacks == []
    assert only_entry(wf).lease_until is None


def test_it_delays_by_days_hours_and_minutes(at, make_lead):
    at(NOON_LA)
    wf = make_workflow(
        ON_CREATE,
        delay={"delay_mode": "fixed", "delay_days": 1, "delay_hours": 2, "delay_minutes": 30},
    )
    make_lead(timezone="America/Los_Angeles")
    assert only_entry(wf).due_at == local(LA, 2026, 3, 5, 14, 30)


def test_it_counts_days_in_the_leads_zone_across_daylight_saving(at, make_lead):
    # 2026-03-08: clocks go forward in the US. One day later is the same wall time.
    at(local(LA, 2026, 3, 7, 10, 0))
    wf = make_workflow(ON_CREATE, delay={"delay_mode": "fixed", "delay_days": 1})
    make_lead(timezone="America/Los_Angeles")
    due = only_entry(wf).due_at
    assert due.astimezone(LA).replace(tzinfo=None) == datetime(2026, 3, 8, 10, 0)
    assert due - local(LA, 2026, 3, 7, 10, 0) == timedelta(hours=23)


def test_it_delays_from_the_last_called_time(at, make_lead):
    now = at(NOON_LA)
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["save"]})],
        delay={"delay_mode": "after_last_called", "delay_hours": 3},
    )
    called = make_lead(last_called_at=now - timedelta(hours=1))
    never = make_lead()
    long_ago = make_lead(last_called_at=now - timedelta(days=2))
    for lead in (called, never, long_ago):
        lead.save()
    assert entries(wf, called)[0].due_at == now + timedelta(hours=2)
    assert entries(wf, never)[0].due_at == now + timedelta(hours=3)
    [overdue] = entries(wf, long_ago)
    assert overdue.due_at == now  # a due time in the past runs at once
    assert overdue.lease_until is not None


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("after", local(LA, 2026, 3, 12, 0, 0)),
        ("before", local(LA, 2026, 3, 8, 0, 0)),
    ],
)
def test_it_delays_relative_to_a_date_field_of_the_lead(at, make_lead, direction, expected):
    at(local(LA, 2026, 3, 1, 12, 0))
    wf = make_workflow(
        ON_CREATE,
        delay={
            "delay_mode": "lead_field",
            "delay_field": "custom.renewal",
            "delay_direction": direction,
            "delay_days": 2,
        },
    )
    make_lead(timezone="America/Los_Angeles", custom_fields={"renewal": "2026-03-10"})
    assert only_entry(wf).due_at == expected


def test_it_runs_at_once_when_the_date_field_is_past(at, make_lead):
    now = at(NOON_LA)
    wf = make_workflow(
        ON_CREATE,
        delay={"delay_mode": "lead_field", "delay_field": "custom.renewal", "delay_days": 1},
    )
    make_lead(timezone="America/Los_Angeles", custom_fields={"renewal": "2025-01-01"})
    entry = only_entry(wf)
    assert entry.due_at == now
    assert entry.lease_until == now + engine.HANDOFF_LEASE


def test_it_waits_for_the_window_when_the_date_field_is_past(at, make_lead):
    at(local(LA, 2026, 3, 4, 22, 0))
    wf = make_workflow(
        ON_CREATE,
        delay={"delay_mode": "lead_field", "delay_field": "custom.renewal", "delay_days": 1},
        window="8-9",
    )
    make_lead(timezone="America/Los_Angeles", custom_fields={"renewal": "2025-01-01"})
    assert only_entry(wf).due_at == local(LA, 2026, 3, 5, 8, 0)


def test_it_reads_a_datetime_field_with_an_offset_as_given(at, make_lead):
    at(local(LA, 2026, 3, 1, 12, 0))
    wf = make_workflow(
        ON_CREATE,
        delay={"delay_mode": "lead_field", "delay_field": "renewal", "delay_hours": 1},
    )
    make_lead(timezone="America/Los_Angeles", custom_fields={"renewal": "2026-03-10T09:00:00Z"})
    assert only_entry(wf).due_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "   ", "not a date"])
def test_it_skips_an_entry_whose_date_field_is_blank_or_bad(
    at, make_lead, value, django_capture_on_commit_callbacks
):
    now = at(NOON_LA)
    wf = make_workflow(
        ON_CREATE,
        delay={"delay_mode": "lead_field", "delay_field": "custom.renewal", "delay_days": 1},
    )
    custom = {} if value is None else {"renewal": value}
    with django_capture_on_commit_callbacks() as callbacks:
        make_lead(custom_fields=custom)
    entry = only_entry(wf)
    assert entry.state == EntryState.SKIPPED
    assert entry.reason.startswith("cannot compute the due time: lead field 'custom.renewal'")
    assert entry.finished_at == now
    assert entry.lease_until is None
    assert callbacks == []
    assert Trigger.objects.get(workflow=wf).outcome == TriggerOutcome.FIRED


def test_it_waits_for_the_action_window_in_the_leads_zone(at, make_lead):
    at(local(LA, 2026, 3, 4, 6, 0))  # 09:00 in New York, 06:00 in Los Angeles
    wf = make_workflow(ON_CREATE, window="9-5")
    la = make_lead(timezone="America/Los_Angeles")
    ny = make_lead(timezone="America/New_York")
    [la_entry] = entries(wf, la)
    [ny_entry] = entries(wf, ny)
    assert la_entry.due_at == local(LA, 2026, 3, 4, 9, 0)
    assert la_entry.lease_until is None  # not due yet: the dispatcher will hand it over
    assert ny_entry.due_at == local(NY, 2026, 3, 4, 9, 0)
    assert ny_entry.lease_until is not None


def test_it_waits_until_the_next_day_after_the_window_closed(at, make_lead):
    at(local(LA, 2026, 3, 4, 17, 0))  # 5 pm: "9-5" has just closed
    wf = make_workflow(ON_CREATE, window="9-5")
    make_lead(timezone="America/Los_Angeles")
    assert only_entry(wf).due_at == local(LA, 2026, 3, 5, 9, 0)


def test_it_uses_the_account_zone_for_a_lead_without_one(at, lead_list, statuses, settings):
    settings.TIME_ZONE = "America/New_York"
    at(local(NY, 2026, 3, 4, 6, 0))
    wf = make_workflow([("LEAD_ACTION", {"values": ["save"]})], window="9-5")
    # save() derives a zone from the phone; a bulk import may leave it blank.
    [lead] = Lead.objects.bulk_create([Lead(list=lead_list, phone_number="+13105550199")])
    handle(lead, lead_action="save")
    assert only_entry(wf).due_at == local(NY, 2026, 3, 4, 9, 0)


def test_it_queues_actions_until_the_schedule_reopens(at, make_lead):
    at(local(LA, 2026, 3, 7, 10, 0))  # a Saturday
    wf = make_workflow(
        ON_CREATE,
        schedule_enabled=True,
        schedule_window="9-5",
        schedule_days=[0, 1, 2, 3, 4],
    )
    make_lead(timezone="America/Los_Angeles")
    entry = only_entry(wf)
    assert entry.state == EntryState.PENDING
    assert entry.due_at == local(LA, 2026, 3, 9, 9, 0)  # Monday 09:00, after the DST change
    assert Trigger.objects.get(workflow=wf).outcome == TriggerOutcome.FIRED


def test_it_meets_both_the_schedule_and_the_action_window(at, make_lead):
    at(local(LA, 2026, 3, 4, 10, 0))  # Wednesday 10:00
    wf = make_workflow(
        ON_CREATE,
        window="12-9",
        schedule_enabled=True,
        schedule_window="9-5",
        schedule_days=[2],
    )
    make_lead(timezone="America/Los_Angeles")
    assert only_entry(wf).due_at == local(LA, 2026, 3, 4, 12, 0)


def test_it_runs_at_once_inside_the_schedule(at, make_lead):
    now = at(local(LA, 2026, 3, 4, 10, 0))
    wf = make_workflow(ON_CREATE, schedule_enabled=True, schedule_window="9-5", schedule_days=[2])
    make_lead(timezone="America/Los_Angeles")
    assert only_entry(wf).due_at == now


def test_it_ignores_a_disabled_schedule(at, make_lead):
    now = at(local(LA, 2026, 3, 7, 22, 0))
    wf = make_workflow(ON_CREATE, schedule_enabled=False, schedule_window="9-5", schedule_days=[0])
    make_lead(timezone="America/Los_Angeles")
    assert only_entry(wf).due_at == now


def test_it_times_each_action_set_on_its_own(at, make_lead):
    now = at(NOON_LA)
    wf = make_workflow(
        ON_CREATE,
        action_sets=[
            {"actions": [("STATUS", {"status": "FOLLOW"})]},
            {"delay": {"delay_mode": "fixed", "delay_days": 2}, "window": "5-9",
             "actions": [("HOPPER", {})]},
        ],
    )  # fmt: skip
    make_lead(timezone="America/Los_Angeles")
    by_type = {e.action_type: e.due_at for e in entries(wf)}
    assert by_type == {"STATUS": now, "HOPPER": local(LA, 2026, 3, 6, 17, 0)}


def test_workflows_fired_together_each_get_their_own_timing(at, make_lead):
    """One occurrence fires several workflows: equal timings share a due time, others not."""
    at(NOON_LA)
    hour = {"delay_mode": "fixed", "delay_hours": 1}
    plain = make_workflow(ON_CREATE, delay=hour)
    same = make_workflow(ON_CREATE, delay=hour)
    evening = make_workflow(ON_CREATE, delay=hour, window="5-9")
    scheduled = make_workflow(
        ON_CREATE, delay=hour, schedule_enabled=True, schedule_window="9-9", schedule_days=[3, 4]
    )
    two_hours = make_workflow(ON_CREATE, delay={"delay_mode": "fixed", "delay_hours": 2})
    make_lead(timezone="America/Los_Angeles")
    due = {
        wf.name: only_entry(wf).due_at.astimezone(LA)
        for wf in (plain, same, evening, scheduled, two_hours)
    }
    assert due[plain.name] == due[same.name] == local(LA, 2026, 3, 4, 13, 0)
    assert due[evening.name] == local(LA, 2026, 3, 4, 17, 0)
    assert due[scheduled.name] == local(LA, 2026, 3, 5, 9, 0)  # Thursday (days: Thu, Fri)
    assert due[two_hours.name] == local(LA, 2026, 3, 4, 14, 0)
