"""When an action is due: delay + window + the lead's zone → an instant (SPEC §4.4).

Pure functions; `now` is always passed in. Every datetime returned is aware,
in UTC. The rules:

- **Base time** by delay mode: `immediate` → now; `fixed` → now + delay;
  `after_last_called` → the lead's last called time + delay (a lead never
  called counts from now); `lead_field` → the field's value ± delay.
- **Days are calendar days** in the lead's zone: the same wall-clock time on
  the target day, across a DST change too. A wall time that does not exist
  (spring-forward gap) moves forward by the gap; an ambiguous one (fall
  back) is taken at its first occurrence (fold=0). **Hours and minutes are
  elapsed time.** Days are applied first, then hours and minutes.
- A date or a naive datetime (a field value, a last called time) is read in
  the lead's zone; a date means 00:00 local on that day.
- A base in the past means now.
- The due time is the earliest instant at or after the base that lies in the
  action set's window and, when the workflow's schedule is enabled, in the
  schedule's window on one of its days. Windows are `WINDOW_HOURS`, local
  time, start included, end excluded ("9-5" = 09:00 up to 16:59:59…).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from automation.engine.conditions import as_datetime
from automation.constants import WINDOW_HOURS, DelayMode, Direction, Window

ALL_DAYS = tuple(range(7))  # 0 = Monday … 6 = Sunday
# Two daily windows that overlap meet within a few rounds; more means they never do.
_MAX_ROUNDS = 32


class TimingError(ValueError):
    """The due time cannot be computed (blank lead field, windows that never meet…)."""


@dataclass(frozen=True)
class Delay:
    """An action set's delay (Appendix A `delay`)."""

    mode: str = DelayMode.IMMEDIATE
    days: int = 0
    hours: int = 0
    minutes: int = 0
    field: str = ""  # lead_field mode: which lead field holds the date
    direction: str = Direction.AFTER  # lead_field mode: before / after

    def __post_init__(self):
        if self.mode not in DelayMode.values:
            raise ValueError(f"unknown delay mode {self.mode!r}")
        if self.direction not in Direction.values:
            raise ValueError(f"unknown direction {self.direction!r}")
        for unit in ("days", "hours", "minutes"):
            amount = getattr(self, unit)
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise ValueError(f"delay {unit} must be a whole number >= 0, not {amount!r}")


@dataclass(frozen=True)
class Schedule:
    """The workflow's schedule, passed only when it is enabled."""

    window: str = Window.H24
    days: tuple[int, ...] = ()  # 0 = Monday … 6 = Sunday; empty = every day

    def __post_init__(self):
        _hours(self.window)
        object.__setattr__(self, "days", tuple(self.days))
        if any(isinstance(d, bool) or d not in ALL_DAYS for d in self.days):
            raise ValueError(f"schedule days must be 0 (Monday) … 6 (Sunday), not {self.days!r}")


# --- Windows -----------------------------------------------------------------


def _hours(window: str) -> tuple[int, int]:
    try:
        return WINDOW_HOURS[window]
    except (KeyError, TypeError):
        raise ValueError(f"unknown window {window!r}") from None


def in_window(local_dt: datetime, window: str) -> bool:
    """Is this local wall-clock time inside the window (start included, end excluded)?"""
    start, end = _hours(window)
    return start <= local_dt.hour < end


def windows_overlap(window_a: str, window_b: str) -> bool:
    """Do two daily windows share any hour? (Otherwise a due time never exists.)"""
    start_a, end_a = _hours(window_a)
    start_b, end_b = _hours(window_b)
    return max(start_a, start_b) < min(end_a, end_b)


def _localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone` → the aware UTC instant.

    fold=0 gives exactly the rules above: an ambiguous time is its first
    occurrence, and a time in a gap is read with the offset before the gap,
    which lands it later by the gap's length (02:30 → 03:30 on spring forward).
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_opening(at: datetime, zone: ZoneInfo, window: str, days=()) -> datetime:
    """The earliest instant >= `at` inside `window` on an allowed weekday, in UTC.

    `days` are weekdays in the lead's zone (0 = Monday); empty means every day.

    1. Look at the local dates from `at`'s own date to a week later.
    2. Skip dates whose weekday is not allowed.
    3. The window on that date is [start, end) local, as absolute instants;
       the first one that has not closed by `at` gives max(at, its opening).
    """
    _require_aware(at, "at")
    at = at.astimezone(UTC)  # compare instants, never wall times in one zone
    start, end = _hours(window)
    allowed = set(days) or set(ALL_DAYS)
    if (start, end) == (0, 24) and allowed >= set(ALL_DAYS):
        return at  # open around the clock, every day (the common case: no zone arithmetic)
    first_day = at.astimezone(zone).date()
    for offset in range(8):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in allowed:
            continue
        opens = _localize(datetime.combine(day, time(start)), zone)
        if end == 24:
            closes = _localize(datetime.combine(day + timedelta(days=1), time(0)), zone)
        else:
            closes = _localize(datetime.combine(day, time(end)), zone)
        if at < closes:
            return max(at, opens)
    raise TimingError(f"no allowed day in {sorted(allowed)!r}")


# --- Due time ----------------------------------------------------------------


def _require_aware(dt: datetime, name: str) -> None:
    if not isinstance(dt, datetime) or dt.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {dt!r}")


def _as_instant(value, zone: ZoneInfo, what: str) -> datetime:
    """A date, datetime or ISO string → an aware UTC instant (naive = lead's zone)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TimingError(f"{what} is blank")
    parsed = as_datetime(value)
    if parsed is None:
        raise TimingError(f"{what} is not a date or datetime: {value!r}")
    if not isinstance(parsed, datetime):
        return _localize(datetime.combine(parsed, time(0)), zone)
    if parsed.utcoffset() is None:
        return _localize(parsed.replace(tzinfo=None), zone)
    return parsed.astimezone(UTC)


def _shift(instant: datetime, zone: ZoneInfo, delay: Delay, sign: int) -> datetime:
    """instant ± delay: calendar days in `zone` first, then elapsed hours and minutes."""
    # Arithmetic on an aware datetime in a zone is wall-clock arithmetic: add in UTC.
    instant = instant.astimezone(UTC)
    if delay.days:
        wall = instant.astimezone(zone).replace(tzinfo=None)
        instant = _localize(wall + sign * timedelta(days=delay.days), zone)
    return instant + sign * timedelta(hours=delay.hours, minutes=delay.minutes)


def _base(now, zone, delay: Delay, last_called_at, field_value) -> datetime:
    """When the delay says the action is due, before windows and the past rule."""
    if delay.mode == DelayMode.IMMEDIATE:
        return now
    if delay.mode == DelayMode.FIXED:
        return _shift(now, zone, delay, +1)
    if delay.mode == DelayMode.AFTER_LAST_CALLED:
        # A lead never called counts from now: "N days after the last call or now".
        if last_called_at is None:
            return _shift(now, zone, delay, +1)
        called = _as_instant(last_called_at, zone, "the lead's last called time")
        return _shift(called, zone, delay, +1)
    # DelayMode.LEAD_FIELD
    what = f"lead field {delay.field!r}" if delay.field else "the lead field"
    anchor = _as_instant(field_value, zone, what)
    return _shift(anchor, zone, delay, -1 if delay.direction == Direction.BEFORE else +1)


def due_time(
    now: datetime,
    zone: ZoneInfo,
    delay: Delay,
    window: str = Window.H24,
    schedule: Schedule | None = None,
    last_called_at: datetime | None = None,
    field_value=None,
) -> datetime:
    """The instant an action set is due, aware UTC.

    1. Compute the base time from the delay (module docstring).
    2. A base in the past is now.
    3. Move to the next opening of the action set's window, then of the
       schedule (window and days); repeat until neither moves it. Each step
       goes to the earliest instant meeting one condition, so it never passes
       the earliest instant meeting all of them: the fixed point is minimal.
    4. Windows that never meet raise TimingError.
    """
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    _hours(window)
    if schedule is not None and not windows_overlap(window, schedule.window):
        raise TimingError(
            f"the action window {window!r} and the schedule window {schedule.window!r} never meet"
        )
    try:
        due = max(_base(now, zone, delay, last_called_at, field_value), now)
        for _ in range(_MAX_ROUNDS):
            moved = next_opening(due, zone, window)
            if schedule is not None:
                moved = next_opening(moved, zone, schedule.window, schedule.days)
            if moved == due:
                return due
            due = moved
    except OverflowError:
        raise TimingError("the due time is out of range") from None
    raise TimingError(f"the action window {window!r} and the schedule never meet")
