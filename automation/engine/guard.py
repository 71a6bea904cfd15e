"""The send-time guard (SPEC C.3): may this entry run *now*? A plain snapshot in,
a decision and why out.

Pure: no ORM, no clock (`now` is in the snapshot), no side effects. The runner
calls it for the first attempt and every retry, with what it read at the edge
(automation.execution.sendtime), under the lock of the lead's row; the dry run calls it
with the same reads and reports every check. One implementation.

Checks, in SPEC order; the first that fails decides:

1. workflow       the action type is known (else failed); the workflow is active,
                  the action present and active, the lead present (or the
                  action can use its snapshot)                        → skipped
   stop_if        the lead met the stop condition since the trigger   → cancelled
2. window         the action set's window and the workflow's schedule, in the
                  lead's zone as it is now                            → deferred
3. Outreach only (SMS, VB, HOPPER, CALLBACK, EMAIL: constants.OUTREACH_CHANNELS):
   dnc            the lead's number (the address for EMAIL) on the global DNC
                  list or its campaign's                              → skipped "DNC…"
   calling_rules  every active rule for the lead's state or zone: weekday
                  hours, blocked dates                                → deferred
   contact_budget the policy of the lead's campaign (else the default) for
                  the channel: succeeded entries of every workflow in rolling
                  24 h / 7 days                              → deferred or skipped
4. live_call      Skip If Live Call; a call without an end that started more
                  than LIVE_CALL_MAX_AGE ago is not live              → skipped

Deferred = the entry stays pending, its attempts unchanged, its `due_at` moved
to the first instant at which the window, the schedule, every calling rule and
the budget all allow it (a fixed point, as in timing.due_time), its reason the
first check that failed now (`deferred: outside 9-5 in America/Chicago`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from automation.constants import EntryState
from automation.engine import timing

DAY = timedelta(hours=24)
WEEK = timedelta(days=7)
# A budget held up only by entries being sent right now (another worker's): look
# again this much later, when they have succeeded (and count from then) or failed.
IN_FLIGHT_RECHECK = timedelta(minutes=1)
# How far ahead a calling rule's blocked dates may push an entry before it is
# skipped as never allowed.
RULE_HORIZON_DAYS = 400
_MAX_ROUNDS = 64
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


# --- Configuration values ------------------------------------------------------


def parse_hours(value):
    """`hours` of a calling rule → {weekday: (first minute, end minute) | None}.

    ValueError saying what is wrong (the model's clean() and the API show it).
    """
    if not isinstance(value, Mapping):
        raise ValueError('an object of weekday "0" (Monday) … "6" → ["HH:MM", "HH:MM"] or null')
    table = {}
    for key, span in value.items():
        if key not in {str(d) for d in range(7)}:
            raise ValueError(f'{key!r} is not a weekday: use "0" (Monday) … "6" (Sunday)')
        if span is None:
            table[int(key)] = None
            continue
        if not (isinstance(span, list | tuple) and len(span) == 2):
            raise ValueError(f'weekday "{key}": give ["HH:MM", "HH:MM"] or null')
        minutes = []
        for t in span:
            match = isinstance(t, str) and _HHMM.match(t)
            if not match:
                raise ValueError(f'weekday "{key}": {t!r} is not a time HH:MM (00:00–24:00)')
            minutes.append(1440 if t == "24:00" else int(t[:2]) * 60 + int(t[3:]))
        if minutes[0] >= minutes[1]:
            raise ValueError(f'weekday "{key}": the start {span[0]} must come before the end')
        table[int(key)] = (minutes[0], minutes[1])
    return table


def parse_dates(value):
    """`blocked_dates` → a frozenset of dates (ValueError naming the bad one)."""
    if not isinstance(value, list | tuple):
        raise ValueError('a list of ISO dates, e.g. ["2026-12-25"]')
    dates = set()
    for item in value:
        try:
            dates.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise ValueError(f"{item!r} is not an ISO date (YYYY-MM-DD)") from None
    return frozenset(dates)


US_STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR", "GUAM": "GU", "VIRGIN ISLANDS": "VI",
}  # fmt: skip


def state_code(value):
    """A lead's state as a two-letter code: "tx", " TX ", "Texas" → "TX"."""
    text = " ".join((value or "").split()).upper()
    return US_STATES.get(text, text)


def _hhmm(minutes):
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class CallingRule:
    """An active calling rule as plain data (automation.models.CallingRule.as_rule)."""

    name: str
    state: str = ""
    timezone: str = ""
    hours: Mapping = field(default_factory=dict)  # weekday -> (start, end) minutes | None
    blocked_dates: frozenset = frozenset()

    def applies(self, lead_state, zone_name):
        if self.state:
            return self.state == state_code(lead_state)
        return self.timezone == zone_name

    @property
    def label(self):
        scope = f"state {self.state}" if self.state else f"time zone {self.timezone}"
        return f'calling rule "{self.name}" ({scope})' if self.name else f"calling rule ({scope})"

    def span(self, day):
        """The day's open span in minutes, or None when closed."""
        if day in self.blocked_dates:
            return None
        return self.hours.get(day.weekday(), (0, 1440))

    def next_open(self, at, zone):
        return timing.next_in_spans(at, zone, self.span, RULE_HORIZON_DAYS)

    def is_open(self, at, zone):
        try:
            return self.next_open(at, zone) == at
        except timing.TimingError:
            return False

    def why_closed(self, local):
        day = local.date()
        if day in self.blocked_dates:
            return f"{day.isoformat()} is blocked by {self.label}"
        span = self.hours.get(day.weekday(), (0, 1440))
        if span is None:
            return f"{self.label} allows no contact on {WEEKDAYS[day.weekday()]}"
        return f"{self.label} allows {WEEKDAYS[day.weekday()]} {_hhmm(span[0])}–{_hhmm(span[1])}"


@dataclass(frozen=True)
class Policy:
    """A contact policy as plain data (automation.models.ContactPolicy.as_policy)."""

    channel: str
    scope: str  # "default" or 'campaign "Solar Q4"', for reasons
    max_per_24h: int | None = None
    max_per_7d: int | None = None
    over_budget: str = "defer"


@dataclass(frozen=True)
class Budget:
    """A policy and what it counts for one lead: the finish times of its succeeded
    entries of the channel in the last 7 days (every workflow), and how many of
    them are being sent right now (running)."""

    policy: Policy
    sent: tuple = ()
    in_flight: int = 0

    def limits(self):
        return [
            (limit, span, label)
            for limit, span, label in (
                (self.policy.max_per_24h, DAY, "24 h"),
                (self.policy.max_per_7d, WEEK, "7 days"),
            )
            if limit is not None
        ]

    def used(self, at, span):
        """Contacts counted at `at`: sent in (at - span, at], plus those in flight."""
        return sum(1 for s in self.sent if at - span < s <= at) + self.in_flight

    def over(self, at):
        """(limit, used, label) of the first limit reached at `at`, or None."""
        for limit, span, label in self.limits():
            used = self.used(at, span)
            if used >= limit:
                return limit, used, label
        return None

    def frees_at(self, at):
        """The earliest instant >= `at` at which every limit has room (in-flight
        contacts count as sent at `at`)."""
        for _ in range(_MAX_ROUNDS):
            moved = at
            for limit, span, _label in self.limits():
                recent = sorted(s for s in self.sent if at - span < s <= at)
                excess = len(recent) + self.in_flight - limit + 1
                if excess <= 0:
                    continue
                if excess > len(recent) or limit == 0:
                    return None  # never frees up (in flight alone fill it, or a limit of 0)
                moved = max(moved, recent[excess - 1] + span)
            if moved == at:
                return at
            at = moved
        return None


# --- The snapshot ---------------------------------------------------------------


@dataclass(frozen=True)
class EntrySnapshot:
    """What the guard reads about one entry about to run, as it is now."""

    action_type: str
    known_type: bool
    workflow_active: bool
    action_present: bool
    action_active: bool
    lead_present: bool
    runs_without_lead: bool  # the action can use the snapshot of a deleted lead
    stopped_now: bool  # the lead meets the workflow's stop condition now
    stopped_at_trigger: bool  # …and already did when the trigger fired
    stop_reason: str  # the workflow's stop condition, as an operator reads it
    skip_if_live_call: bool
    live_calls: tuple = ()  # start times of the lead's calls without an end
    now: datetime | None = None  # None: the time checks are not made (a bare gate check)
    live_call_max_age: timedelta = timedelta(hours=4)
    zone_name: str = "UTC"  # the lead's zone now
    window: str = "24hr"  # the action set's window
    schedule: timing.Schedule | None = None  # the workflow's, when enabled
    channel: str | None = None  # the outreach channel, None for other actions
    lead_state: str = ""
    dnc: str | None = None  # why the lead's number/address is on a DNC list, or None
    calling_rules: tuple = ()  # active CallingRule values (the guard picks those that apply)
    budget: Budget | None = None  # the policy that applies and its counts, or None

    @property
    def zone(self):
        return ZoneInfo(self.zone_name)


class Decision(NamedTuple):
    """What to record instead of running: a state (PENDING = deferred), why, and
    for a deferral the new due time."""

    state: str
    reason: str
    due_at: datetime | None = None


@dataclass(frozen=True)
class Check:
    check: str
    passed: bool | None  # None: does not apply to this entry
    why: str
    decision: Decision | None = None  # what a failure records


# --- The checks -------------------------------------------------------------------


def _workflow(e):
    if not e.known_type:
        why = f"unknown action type {e.action_type!r}"
        return Check("workflow", False, why, Decision(EntryState.FAILED, why))
    for ok, why in (
        (e.workflow_active, "the workflow is no longer active"),
        (e.action_present, "the action was deleted"),
        (e.action_active, "the action is no longer active"),
        (e.lead_present or e.runs_without_lead, "the lead no longer exists"),
    ):
        if not ok:
            return Check("workflow", False, why, Decision(EntryState.SKIPPED, why))
    return Check("workflow", True, "workflow active, action present and active")


def _stop_if(e):
    if not e.lead_present:
        return Check("stop_if", None, "the lead no longer exists")
    if e.stopped_now and not e.stopped_at_trigger:
        return Check("stop_if", False, e.stop_reason, Decision(EntryState.CANCELLED, e.stop_reason))
    why = "not met" if not e.stopped_now else "met already when it fired (only a later stop counts)"
    return Check("stop_if", True, why)


def _window(e):
    if e.now is None:
        return Check("window", None, "not checked")
    where = f"in {e.zone_name}"
    if timing.next_opening(e.now, e.zone, e.window) != e.now:
        return _defer(e, "window", f"outside {e.window} {where}")
    if e.schedule is not None:
        s = e.schedule
        if timing.next_opening(e.now, e.zone, s.window, s.days) != e.now:
            days = ",".join(WEEKDAYS[d] for d in sorted(s.days)) if s.days else "every day"
            return _defer(
                e, "window", f"outside the workflow's schedule ({s.window}, {days}) {where}"
            )
    schedule = f" and the schedule {e.schedule.window}" if e.schedule else ""
    return Check("window", True, f"{e.window}{schedule} open now {where}")


def _outreach(e):
    return e.channel is not None and e.lead_present and e.now is not None


def _dnc(e):
    if not _outreach(e):
        return Check("dnc", None, "not an outreach action")
    if e.dnc:
        reason = f"DNC: {e.dnc}"
        return Check("dnc", False, reason, Decision(EntryState.SKIPPED, reason))
    return Check("dnc", True, "not on the global or the campaign's DNC list")


def applicable_rules(e):
    return [r for r in e.calling_rules if r.applies(e.lead_state, e.zone_name)]


def _calling_rules(e):
    if not _outreach(e):
        return Check("calling_rules", None, "not an outreach action")
    rules = applicable_rules(e)
    if not rules:
        return Check(
            "calling_rules", True, f"no calling rule for this lead's state or {e.zone_name}"
        )
    local = e.now.astimezone(e.zone)
    for rule in rules:
        if not rule.is_open(e.now, e.zone):
            return _defer(e, "calling_rules", f"{rule.why_closed(local)} in {e.zone_name}")
    labels = ", ".join(r.label for r in rules)
    return Check("calling_rules", True, f"allowed now by {labels}")


def _contact_budget(e):
    if not _outreach(e):
        return Check("contact_budget", None, "not an outreach action")
    b = e.budget
    if b is None or not b.limits():
        return Check("contact_budget", True, f"no contact policy limits {e.channel}")
    over = b.over(e.now)
    counts = "; ".join(
        f"{b.used(e.now, span)} of {limit} in {label}" for limit, span, label in b.limits()
    )
    if over is None:
        return Check("contact_budget", True, f"{e.channel}: {counts} ({b.policy.scope} policy)")
    limit, used, label = over
    what = f"contact budget: {e.channel} {used} of {limit} in {label} ({b.policy.scope} policy)"
    if b.policy.over_budget == "skip":
        return Check("contact_budget", False, what, Decision(EntryState.SKIPPED, what))
    return _defer(e, "contact_budget", what)


def stale_before(e):
    return e.now - e.live_call_max_age if e.now is not None else None


def _live_call(e):
    if not e.skip_if_live_call:
        return Check("live_call", None, "Skip If Live Call is off")
    cutoff = stale_before(e)
    live = [s for s in e.live_calls if cutoff is None or s > cutoff]
    if live:
        reason = "Skip If Live Call: the lead is on a live call"
        return Check("live_call", False, reason, Decision(EntryState.SKIPPED, reason))
    stale = len(e.live_calls) - len(live)
    why = "no live call" + (
        f" ({stale} without an end, older than the live-call age: ignored)" if stale else ""
    )
    return Check("live_call", True, why)


CHECKS = (_workflow, _stop_if, _window, _dnc, _calling_rules, _contact_budget, _live_call)


# --- Deferral ------------------------------------------------------------------------


def next_allowed(e, at):
    """The earliest instant >= `at` at which the window, the schedule, every calling
    rule that applies and the contact budget all allow the entry (a fixed point:
    each step moves to the earliest instant meeting one of them, so it never
    passes the earliest meeting all). None when that never happens."""
    zone = e.zone
    rules = applicable_rules(e) if _outreach(e) else []
    budget = (
        e.budget if _outreach(e) and e.budget and e.budget.policy.over_budget != "skip" else None
    )
    try:
        for _ in range(_MAX_ROUNDS):
            moved = timing.next_opening(at, zone, e.window)
            if e.schedule is not None:
                moved = timing.next_opening(moved, zone, e.schedule.window, e.schedule.days)
            for rule in rules:
                moved = rule.next_open(moved, zone)
            if budget is not None:
                moved = budget.frees_at(moved)
                if moved is None:
                    return None
            if moved == at:
                return at
            at = moved
    except (timing.TimingError, OverflowError):
        return None
    return None


def _defer(e, check, why):
    due = next_allowed(e, e.now)
    budget = e.budget
    if (
        check == "contact_budget"
        and budget is not None
        and budget.in_flight
        and (due is None or due > e.now + IN_FLIGHT_RECHECK)
    ):
        # Held up by contacts being sent right now: look again once they are done.
        without = replace(e, budget=None)
        due = next_allowed(without, e.now + IN_FLIGHT_RECHECK)
    if due is None or due == e.now:
        reason = f"{why}: never allowed (no time within a year meets the window, the schedule and the calling rules)"
        return Check(check, False, reason, Decision(EntryState.SKIPPED, reason))
    reason = f"deferred: {why}"
    return Check(check, False, reason, Decision(EntryState.PENDING, reason, due))


# --- Entry points --------------------------------------------------------------------


def decide(e):
    """None if the entry may run now; else the Decision to record instead."""
    for check in CHECKS:
        result = check(e)
        if result.passed is False:
            return result.decision
    return None


def explain(e):
    """Every check, in order, as it stands (the dry run): (checks, decision)."""
    checks = [check(e) for check in CHECKS]
    decision = next((c.decision for c in checks if c.passed is False), None)
    return checks, decision
