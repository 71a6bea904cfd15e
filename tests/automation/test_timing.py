"""When actions are due: delays, windows, schedules and zones (SPEC §4.4)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from automation.constants import WINDOW_HOURS
from automation.engine.timing import (
    Delay,
    Schedule,
    TimingError,
    due_time,
    in_window,
    next_opening,
    windows_overlap,
)

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
PHOENIX = ZoneInfo("America/Phoenix")
US_DST_ZONES = [NEW_YORK, LOS_ANGELES]

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = (MON, TUE, WED, THU, FRI)


def local(zone, *args, fold=0):
    """An aware instant given as wall-clock time in `zone`."""
    return datetime(*args, tzinfo=zone, fold=fold)


def wall(instant, zone):
    """The naive wall-clock time of `instant` in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


# A Wednesday noon in New York, in the middle of every window but 5-9.
NOW = local(NEW_YORK, 2026, 6, 10, 12, 0)


# --- Delay modes -------------------------------------------------------------


def test_it_is_due_now_when_immediate():
    due = due_time(NOW, NEW_YORK, Delay())
    assert due == NOW
    assert due.tzinfo is UTC


def test_it_adds_a_fixed_delay():
    due = due_time(NOW, NEW_YORK, Delay("fixed", days=1, hours=2, minutes=30))
    assert wall(due, NEW_YORK) == datetime(2026, 6, 11, 14, 30)
    assert due.tzinfo is UTC


def test_it_counts_from_the_last_called_time():
    called = NOW - timedelta(hours=1)
    due = due_time(NOW, NEW_YORK, Delay("after_last_called", hours=3), last_called_at=called)
    assert due == called + timedelta(hours=3)


def test_it_reads_a_naive_last_called_time_in_the_leads_zone():
    due = due_time(
        NOW,
        NEW_YORK,
        Delay("after_last_called", days=1),
        last_called_at=datetime(2026, 6, 10, 11, 0),
    )
    assert wall(due, NEW_YORK) == datetime(2026, 6, 11, 11, 0)


def test_it_counts_from_now_when_the_lead_was_never_called():
    due = due_time(NOW, NEW_YORK, Delay("after_last_called", hours=3), last_called_at=None)
    assert due == NOW + timedelta(hours=3)


def test_it_runs_at_once_when_the_last_call_plus_delay_is_past():
    called = NOW - timedelta(days=10)
    due = due_time(NOW, NEW_YORK, Delay("after_last_called", days=1), last_called_at=called)
    assert due == NOW


@pytest.mark.parametrize(
    "field_value, direction, delay, expected_wall",
    [
        # A date means 00:00 local that day.
        ("2026-06-20", "after", {"days": 1}, datetime(2026, 6, 21, 0, 0)),
        ("2026-06-20", "before", {"days": 2, "hours": 3}, datetime(2026, 6, 17, 21, 0)),
        (date(2026, 6, 20), "before", {"days": 1}, datetime(2026, 6, 19, 0, 0)),
        # A naive datetime is read in the lead's zone.
        ("2026-06-20T15:00:00", "before", {"hours": 1}, datetime(2026, 6, 20, 14, 0)),
        (datetime(2026, 6, 20, 15, 0), "after", {"minutes": 45}, datetime(2026, 6, 20, 15, 45)),
        # An aware one is taken as it is: 15:00Z is 11:00 in New York.
        ("2026-06-20T15:00:00Z", "after", {}, datetime(2026, 6, 20, 11, 0)),
        (local(LOS_ANGELES, 2026, 6, 20, 8, 0), "after", {"days": 1}, datetime(2026, 6, 21, 11, 0)),
    ],
)
def test_it_counts_from_a_lead_field(field_value, direction, delay, expected_wall):
    due = due_time(
        NOW,
        NEW_YORK,
        Delay("lead_field", field="appointment", direction=direction, **delay),
        field_value=field_value,
    )
    assert wall(due, NEW_YORK) == expected_wall


def test_it_runs_at_once_when_the_lead_field_is_past():
    due = due_time(
        NOW, NEW_YORK, Delay("lead_field", field="dob", direction="after"), field_value="1990-01-01"
    )
    assert due == NOW


@pytest.mark.parametrize("field_value", [None, "", "   "])
def test_it_refuses_a_blank_lead_field(field_value):
    with pytest.raises(TimingError, match="lead field 'appointment' is blank"):
        due_time(NOW, NEW_YORK, Delay("lead_field", field="appointment"), field_value=field_value)


@pytest.mark.parametrize("field_value", ["next week", "2026-02-30", 20260620, True, ["2026-06-20"]])
def test_it_refuses_an_unparsable_lead_field(field_value):
    with pytest.raises(TimingError, match="is not a date or datetime"):
        due_time(NOW, NEW_YORK, Delay("lead_field", field="appointment"), field_value=field_value)


def test_it_refuses_a_naive_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        due_time(datetime(2026, 6, 10, 12), NEW_YORK, Delay())


@pytest.mark.parametrize(
    "fields",
    [{"mode": "later"}, {"direction": "sideways"}, {"days": -1}, {"hours": 1.5}, {"minutes": True}],
)
def test_it_refuses_a_malformed_delay(fields):
    with pytest.raises(ValueError):
        Delay(**fields)


def test_it_refuses_malformed_schedules():
    with pytest.raises(ValueError, match="unknown window"):
        Schedule(window="7-11")
    with pytest.raises(ValueError, match="schedule days"):
        Schedule(days=(7,))


# --- Windows -----------------------------------------------------------------


@pytest.mark.parametrize(
    "window, hour, inside",
    [
        ("24hr", 0, True),
        ("24hr", 23, True),
        ("9-5", 8, False),
        ("9-5", 9, True),
        ("9-5", 16, True),
        ("9-5", 17, False),  # end excluded
        ("9-9", 20, True),
        ("9-9", 21, False),
        ("12-5", 11, False),
        ("12-5", 12, True),
        ("12-9", 20, True),
        ("5-9", 16, False),
        ("5-9", 17, True),
        ("8-9", 8, True),
        ("8-9", 7, False),
    ],
)
def test_it_knows_what_is_inside_a_window(window, hour, inside):
    assert in_window(datetime(2026, 6, 10, hour, 59), window) is inside


@pytest.mark.parametrize("window", list(WINDOW_HOURS))
def test_it_keeps_a_time_inside_each_window(window):
    start, _end = WINDOW_HOURS[window]
    at = local(NEW_YORK, 2026, 6, 10, start, 30)
    assert due_time(at, NEW_YORK, Delay(), window) == at


@pytest.mark.parametrize("window", [w for w in WINDOW_HOURS if w != "24hr"])
def test_it_waits_for_the_opening_of_each_window(window):
    start, end = WINDOW_HOURS[window]
    before = local(NEW_YORK, 2026, 6, 10, start - 1, 30)
    assert wall(due_time(before, NEW_YORK, Delay(), window), NEW_YORK) == datetime(
        2026, 6, 10, start
    )
    at_end = local(NEW_YORK, 2026, 6, 10, end, 0)
    assert wall(due_time(at_end, NEW_YORK, Delay(), window), NEW_YORK) == datetime(
        2026, 6, 11, start
    )


def test_it_keeps_the_last_minute_of_a_window():
    at = local(NEW_YORK, 2026, 6, 10, 16, 59, 59)
    assert due_time(at, NEW_YORK, Delay(), "9-5") == at


def test_it_moves_a_delayed_action_to_the_next_opening():
    due = due_time(NOW, NEW_YORK, Delay("fixed", hours=6), "9-5")  # 18:00 → 09:00
    assert wall(due, NEW_YORK) == datetime(2026, 6, 11, 9, 0)


def test_it_uses_the_leads_local_time_for_the_window():
    # 12:00 in New York is 09:00 in Los Angeles, still before 12-5 there.
    due = due_time(NOW, LOS_ANGELES, Delay(), "12-5")
    assert wall(due, LOS_ANGELES) == datetime(2026, 6, 10, 12, 0)


def test_it_finds_the_next_opening_in_utc():
    opening = next_opening(local(NEW_YORK, 2026, 6, 10, 22, 0), NEW_YORK, "8-9")
    assert opening == datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    assert opening.tzinfo is UTC


@pytest.mark.parametrize(
    "a, b, overlap",
    [("9-5", "5-9", False), ("12-5", "5-9", False), ("9-5", "12-9", True), ("24hr", "5-9", True)],
)
def test_it_knows_which_windows_overlap(a, b, overlap):
    assert windows_overlap(a, b) is overlap
    assert windows_overlap(b, a) is overlap


# --- Schedule ----------------------------------------------------------------


def test_it_waits_for_a_scheduled_day():
    friday_evening = local(NEW_YORK, 2026, 6, 12, 18, 0)
    due = due_time(friday_evening, NEW_YORK, Delay(), schedule=Schedule("9-5", WEEKDAYS))
    assert wall(due, NEW_YORK) == datetime(2026, 6, 15, 9, 0)  # Monday


def test_it_needs_both_the_action_window_and_the_schedule():
    friday_evening = local(NEW_YORK, 2026, 6, 12, 18, 0)
    due = due_time(friday_evening, NEW_YORK, Delay(), "12-9", Schedule("9-5", WEEKDAYS))
    assert wall(due, NEW_YORK) == datetime(2026, 6, 15, 12, 0)


def test_it_keeps_a_time_inside_the_schedule():
    due = due_time(NOW, NEW_YORK, Delay(), "8-9", Schedule("9-5", (WED,)))
    assert due == NOW


def test_it_runs_every_day_when_the_schedule_names_none():
    saturday = local(NEW_YORK, 2026, 6, 13, 10, 0)
    assert due_time(saturday, NEW_YORK, Delay(), schedule=Schedule("9-5", ())) == saturday


@pytest.mark.parametrize("window, schedule_window", [("9-5", "5-9"), ("5-9", "12-5")])
def test_it_refuses_windows_that_never_meet(window, schedule_window):
    with pytest.raises(TimingError, match="never meet"):
        due_time(NOW, NEW_YORK, Delay(), window, Schedule(schedule_window, WEEKDAYS))


# --- Daylight saving time (US 2026: Mar 8 and Nov 1, 02:00 local) ------------


@pytest.mark.parametrize("zone", US_DST_ZONES)
@pytest.mark.parametrize("day_before, elapsed_hours", [((2026, 3, 7), 23), ((2026, 10, 31), 25)])
def test_it_keeps_the_wall_clock_time_for_a_day_across_dst(zone, day_before, elapsed_hours):
    now = local(zone, *day_before, 10, 0)
    due = due_time(now, zone, Delay("fixed", days=1))
    assert wall(due, zone) == datetime(*day_before, 10, 0) + timedelta(days=1)
    assert due - now == timedelta(hours=elapsed_hours)


@pytest.mark.parametrize("zone", US_DST_ZONES)
def test_it_counts_hours_as_elapsed_time_across_spring_forward(zone):
    now = local(zone, 2026, 3, 8, 1, 30)
    due = due_time(now, zone, Delay("fixed", hours=2))
    assert due - now == timedelta(hours=2)
    assert wall(due, zone) == datetime(2026, 3, 8, 4, 30)


@pytest.mark.parametrize("zone", US_DST_ZONES)
def test_it_counts_hours_as_elapsed_time_across_fall_back(zone):
    now = local(zone, 2026, 11, 1, 0, 30)
    due = due_time(now, zone, Delay("fixed", hours=2))
    assert due - now == timedelta(hours=2)
    assert wall(due, zone) == datetime(2026, 11, 1, 1, 30)  # the second 01:30
    assert due.astimezone(zone).fold == 1


@pytest.mark.parametrize("zone", US_DST_ZONES)
@pytest.mark.parametrize("day_before", [(2026, 3, 7), (2026, 10, 31)])
def test_it_opens_a_window_at_local_time_on_the_change_day(zone, day_before):
    evening = local(zone, *day_before, 20, 0)
    due = due_time(evening, zone, Delay(), "9-5")
    assert wall(due, zone) == datetime(*day_before, 9, 0) + timedelta(days=1)


def test_it_opens_a_window_at_the_right_utc_instants_on_change_days():
    spring = due_time(local(NEW_YORK, 2026, 3, 7, 20, 0), NEW_YORK, Delay(), "9-5")
    fall = due_time(local(NEW_YORK, 2026, 10, 31, 20, 0), NEW_YORK, Delay(), "9-5")
    assert spring == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert fall == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 09:00 EST


@pytest.mark.parametrize("zone", US_DST_ZONES)
def test_it_moves_a_wall_time_in_the_spring_gap_forward_by_the_gap(zone):
    now = local(zone, 2026, 3, 7, 2, 30)
    due = due_time(now, zone, Delay("fixed", days=1))
    assert wall(due, zone) == datetime(2026, 3, 8, 3, 30)


@pytest.mark.parametrize("zone", US_DST_ZONES)
def test_it_takes_the_first_of_an_ambiguous_wall_time(zone):
    now = local(zone, 2026, 10, 31, 1, 30)
    due = due_time(now, zone, Delay("fixed", days=1))
    assert due.astimezone(zone).fold == 0
    assert due - now == timedelta(hours=24)
    assert wall(due, zone) == datetime(2026, 11, 1, 1, 30)


@pytest.mark.parametrize("day_before", [(2026, 3, 7), (2026, 10, 31)])
def test_it_keeps_phoenix_on_the_same_offset(day_before):
    now = local(PHOENIX, *day_before, 10, 0)
    due = due_time(now, PHOENIX, Delay("fixed", days=1))
    assert due - now == timedelta(hours=24)
    assert due.astimezone(PHOENIX).utcoffset() == now.utcoffset() == timedelta(hours=-7)


def test_it_reads_a_lead_field_date_at_local_midnight_across_dst():
    due = due_time(
        local(NEW_YORK, 2026, 3, 1, 12, 0),
        NEW_YORK,
        Delay("lead_field", field="appointment", direction="before", days=1),
        field_value="2026-03-09",
    )
    assert wall(due, NEW_YORK) == datetime(2026, 3, 8, 0, 0)
    assert due == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # still EST at midnight


# --- Properties --------------------------------------------------------------

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]
zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
windows = st.sampled_from(list(WINDOW_HOURS))
day_sets = st.lists(st.integers(0, 6), unique=True, max_size=7).map(tuple)
schedules = st.none() | st.builds(Schedule, window=windows, days=day_sets)
amounts = {
    "days": st.integers(0, 40),
    "hours": st.integers(0, 72),
    "minutes": st.integers(0, 59),
}
plain_delays = st.builds(
    Delay, mode=st.sampled_from(["immediate", "fixed", "after_last_called"]), **amounts
)
field_delays = st.builds(
    Delay, mode=st.just("lead_field"), direction=st.sampled_from(["before", "after"]), **amounts
)
field_values = st.one_of(
    instants,
    instants.map(lambda i: i.replace(tzinfo=None)),
    instants.map(lambda i: i.date()),
    instants.map(lambda i: i.isoformat()),
    instants.map(lambda i: i.date().isoformat()),
)


def inside(instant, zone, window, schedule):
    here = instant.astimezone(zone)
    if not in_window(here, window):
        return False
    if schedule is None:
        return True
    return in_window(here, schedule.window) and (
        not schedule.days or here.weekday() in schedule.days
    )


@given(
    now=instants,
    zone=zones,
    delay=plain_delays | field_delays,
    window=windows,
    schedule=schedules,
    last_called_at=st.none() | instants,
    field_value=field_values,
    as_local=st.booleans(),
)
def test_the_due_time_is_the_first_instant_in_the_windows_from_the_base(
    now, zone, delay, window, schedule, last_called_at, field_value, as_local
):
    now = now.astimezone(zone) if as_local else now
    assume(schedule is None or windows_overlap(window, schedule.window))
    args = {"last_called_at": last_called_at, "field_value": field_value}
    # With no window to wait for, the due time is the base (or now, when past).
    base = due_time(now, zone, delay, **args)
    assert base >= now

    due = due_time(now, zone, delay, window, schedule, **args)

    assert due.tzinfo is UTC
    assert due >= base
    assert inside(due, zone, window, schedule)
    if due > base:
        assert not inside(due - timedelta(minutes=1), zone, window, schedule)


@given(now=instants, zone=zones, days=st.integers(0, 400), as_local=st.booleans())
def test_days_keep_the_wall_clock_time(now, zone, days, as_local):
    now = now.astimezone(zone) if as_local else now
    due = due_time(now, zone, Delay("fixed", days=days))
    start = wall(now, zone)
    target = start + timedelta(days=days)
    landed = wall(due, zone)
    assert landed.date() == target.date()
    # Equal, except when the time does not exist that day (moved on by the gap).
    assert landed == target or (
        timedelta(0) < landed - target <= timedelta(hours=1)
        and wall(target.replace(tzinfo=zone).astimezone(UTC), zone) != target
    )


@given(
    now=instants,
    zone=zones,
    hours=st.integers(0, 500),
    minutes=st.integers(0, 59),
    as_local=st.booleans(),
)
def test_hours_and_minutes_are_elapsed_time(now, zone, hours, minutes, as_local):
    # `now` in the lead's zone too: aware arithmetic in one zone is wall-clock time.
    now = now.astimezone(zone) if as_local else now
    due = due_time(now, zone, Delay("fixed", hours=hours, minutes=minutes))
    assert due - now == timedelta(hours=hours, minutes=minutes)


@given(at=instants, zone=zones, window=windows, days=day_sets, as_local=st.booleans())
def test_next_opening_is_the_first_instant_inside(at, zone, window, days, as_local):
    at = at.astimezone(zone) if as_local else at
    opening = next_opening(at, zone, window, days)
    schedule = Schedule(window, days)
    assert opening >= at
    assert inside(opening, zone, "24hr", schedule)
    if opening > at:
        assert not inside(opening - timedelta(minutes=1), zone, "24hr", schedule)
