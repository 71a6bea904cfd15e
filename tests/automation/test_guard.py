"""The send-time guard (automation.engine.guard) as pure functions: each check alone, in
combination, in SPEC C.3 order, with the clock passed in."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from automation.constants import EntryState
from automation.engine import guard, timing

CHICAGO = ZoneInfo("America/Chicago")


def local(zone, *args):
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def snap(**fields):
    base = {
        "action_type": "SMS",
        "known_type": True,
        "workflow_active": True,
        "action_present": True,
        "action_active": True,
        "lead_present": True,
        "runs_without_lead": False,
        "stopped_now": False,
        "stopped_at_trigger": False,
        "stop_reason": "Stop Workflow If: final status",
        "skip_if_live_call": False,
        "now": local(CHICAGO, 2026, 6, 3, 12, 0),  # a Wednesday, noon
        "zone_name": "America/Chicago",
        "window": "24hr",
        "channel": "sms",
        "lead_state": "TX",
    }
    return guard.EntrySnapshot(**{**base, **fields})


def rule(**fields):
    hours = guard.parse_hours(fields.pop("hours", {}))
    dates = guard.parse_dates(fields.pop("blocked_dates", []))
    return guard.CallingRule(
        **{"name": "TX", "state": "TX", **fields}, hours=hours, blocked_dates=dates
    )


def budget(sent=(), in_flight=0, **policy):
    p = {"channel": "sms", "scope": "default", "max_per_24h": 1, **policy}
    return guard.Budget(guard.Policy(**p), tuple(sent), in_flight)


def test_it_lets_an_entry_run_when_every_check_passes():
    assert guard.decide(snap()) is None


# --- 1. workflow and stop-if --------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "state", "reason"),
    [
        ({"known_type": False}, EntryState.FAILED, "unknown action type 'SMS'"),
        ({"workflow_active": False}, EntryState.SKIPPED, "the workflow is no longer active"),
        ({"action_present": False}, EntryState.SKIPPED, "the action was deleted"),
        ({"action_active": False}, EntryState.SKIPPED, "the action is no longer active"),
        ({"lead_present": False}, EntryState.SKIPPED, "the lead no longer exists"),
        ({"stopped_now": True}, EntryState.CANCELLED, "Stop Workflow If: final status"),
    ],
)
def test_it_skips_or_cancels_what_is_no_longer_wanted(fields, state, reason):
    assert guard.decide(snap(**fields)) == (state, reason, None)


def test_a_stop_met_already_at_the_trigger_does_not_cancel():
    assert guard.decide(snap(stopped_now=True, stopped_at_trigger=True)) is None


# --- 2. window and schedule -----------------------------------------------------------


def test_it_defers_an_entry_outside_its_window_to_the_next_opening_in_the_leads_zone():
    now = local(CHICAGO, 2026, 6, 3, 18, 30)
    decision = guard.decide(snap(now=now, window="9-5"))
    assert decision == (
        EntryState.PENDING,
        "deferred: outside 9-5 in America/Chicago",
        local(CHICAGO, 2026, 6, 4, 9, 0),
    )


def test_it_reads_the_window_in_the_leads_current_zone():
    now = datetime(2026, 6, 3, 22, 0, tzinfo=UTC)  # 18:00 in New York, 15:00 in Los Angeles
    assert guard.decide(snap(now=now, window="9-5", zone_name="America/Los_Angeles")) is None
    decision = guard.decide(snap(now=now, window="9-5", zone_name="America/New_York"))
    assert decision.reason == "deferred: outside 9-5 in America/New_York"


def test_a_retry_landing_after_hours_before_the_fall_back_waits_for_the_morning():
    # Saturday 31 Oct 2026, 21:00:30 CDT (-5); DST ends that night; 08:00 CST is -6.
    now = local(CHICAGO, 2026, 10, 31, 21, 0, 30)
    decision = guard.decide(snap(now=now, window="8-9"))
    assert decision.state == EntryState.PENDING
    assert decision.due_at == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert decision.due_at.astimezone(CHICAGO).hour == 8


def test_it_defers_to_the_schedules_days_and_window():
    now = local(CHICAGO, 2026, 6, 6, 10, 0)  # a Saturday
    schedule = timing.Schedule("9-5", (0, 1, 2, 3, 4))
    decision = guard.decide(snap(now=now, schedule=schedule))
    assert decision.reason == (
        "deferred: outside the workflow's schedule (9-5, Mon,Tue,Wed,Thu,Fri) in America/Chicago"
    )
    assert decision.due_at == local(CHICAGO, 2026, 6, 8, 9, 0)


def test_windows_that_never_meet_skip_the_entry_with_a_reason():
    now = local(CHICAGO, 2026, 6, 3, 8, 0)
    decision = guard.decide(snap(now=now, window="9-5", schedule=timing.Schedule("5-9")))
    assert decision.state == EntryState.SKIPPED
    assert "never allowed" in decision.reason


# --- 3. outreach: DNC, calling rules, budget -------------------------------------------------


def test_it_skips_an_outreach_entry_whose_number_is_on_a_dnc_list():
    decision = guard.decide(snap(dnc="+13105550100 is on the global DNC list"))
    assert decision == (EntryState.SKIPPED, "DNC: +13105550100 is on the global DNC list", None)


def test_dnc_rules_and_budgets_do_not_apply_to_other_actions():
    busy = budget(sent=[snap().now - timedelta(hours=1)])
    closed = rule(hours={"2": None})
    s = snap(action_type="STATUS", channel=None, dnc="x", calling_rules=(closed,), budget=busy)
    assert guard.decide(s) is None


def test_it_defers_to_a_calling_rules_hours():
    now = local(CHICAGO, 2026, 6, 7, 10, 0)  # a Sunday
    tx = rule(name="Texas", hours={"6": ["12:00", "21:00"]})
    decision = guard.decide(snap(now=now, calling_rules=(tx,)))
    assert decision.reason == (
        'deferred: calling rule "Texas" (state TX) allows Sun 12:00–21:00 in America/Chicago'
    )
    assert decision.due_at == local(CHICAGO, 2026, 6, 7, 12, 0)


def test_a_calling_rule_applies_by_state_or_by_zone_only():
    closed = {str(d): None for d in range(7)}
    other_state = rule(state="FL", hours=closed)
    other_zone = rule(state="", timezone="America/Denver", hours=closed)
    assert guard.decide(snap(calling_rules=(other_state, other_zone))) is None
    by_zone = rule(state="", timezone="America/Chicago", name="", hours={"2": None})
    decision = guard.decide(snap(calling_rules=(by_zone,)))
    assert decision.reason == (
        "deferred: calling rule (time zone America/Chicago) allows no contact on Wed "
        "in America/Chicago"
    )
    assert decision.due_at == local(CHICAGO, 2026, 6, 4, 0, 0)


def test_a_rule_for_a_state_matches_the_leads_state_however_it_is_written():
    closed = rule(hours={"2": None})
    for written in ("TX", " tx", "Texas", "TEXAS"):
        assert guard.decide(snap(lead_state=written, calling_rules=(closed,))) is not None
    assert guard.decide(snap(lead_state="Texarkana", calling_rules=(closed,))) is None


def test_a_blocked_date_defers_to_the_next_allowed_day():
    now = local(CHICAGO, 2026, 12, 25, 10, 0)
    tx = rule(hours={"5": ["09:00", "21:00"]}, blocked_dates=["2026-12-25"])
    decision = guard.decide(snap(now=now, calling_rules=(tx,)))
    assert decision.reason == (
        'deferred: 2026-12-25 is blocked by calling rule "TX" (state TX) in America/Chicago'
    )
    assert decision.due_at == local(CHICAGO, 2026, 12, 26, 9, 0)  # Saturday's opening


def test_a_rule_that_never_opens_skips():
    never = rule(hours={str(d): None for d in range(7)})
    decision = guard.decide(snap(calling_rules=(never,)))
    assert decision.state == EntryState.SKIPPED and "never allowed" in decision.reason


def test_it_defers_an_entry_over_budget_until_the_budget_frees_up():
    now = snap().now
    sent = now - timedelta(hours=3)
    decision = guard.decide(snap(budget=budget(sent=[sent])))
    assert decision == (
        EntryState.PENDING,
        "deferred: contact budget: sms 1 of 1 in 24 h (default policy)",
        sent + timedelta(hours=24),
    )


def test_the_7_day_limit_counts_a_rolling_week():
    now = snap().now
    sent = [now - timedelta(days=d) for d in (1, 3, 6, 8)]
    b = budget(sent=sent, max_per_24h=None, max_per_7d=3)
    decision = guard.decide(snap(budget=b))
    assert decision.reason == "deferred: contact budget: sms 3 of 3 in 7 days (default policy)"
    assert decision.due_at == now - timedelta(days=6) + timedelta(days=7)
    assert guard.decide(snap(budget=budget(sent=sent[1:], max_per_24h=None, max_per_7d=3))) is None


def test_over_budget_skip_skips():
    b = budget(sent=[snap().now - timedelta(minutes=5)], over_budget="skip", scope='campaign "X"')
    decision = guard.decide(snap(budget=b))
    assert decision == (
        EntryState.SKIPPED,
        'contact budget: sms 1 of 1 in 24 h (campaign "X" policy)',
        None,
    )


def test_a_budget_held_by_an_entry_in_flight_is_looked_at_again_soon():
    now = snap().now
    decision = guard.decide(snap(budget=budget(in_flight=1)))
    assert decision.state == EntryState.PENDING
    assert decision.due_at == now + guard.IN_FLIGHT_RECHECK


def test_a_budget_deferral_lands_inside_the_window_and_the_calling_rules():
    # Sent at 18:00 Wednesday; the budget frees up Thursday 18:00, after the 9-5 window:
    # the entry goes to Friday 09:00, when window, rule and budget all allow it.
    now = local(CHICAGO, 2026, 6, 3, 19, 0)
    sent = local(CHICAGO, 2026, 6, 3, 16, 0)
    s = snap(now=now, window="9-5", budget=budget(sent=[sent]))
    decision = guard.decide(s)
    assert decision.reason == "deferred: outside 9-5 in America/Chicago"
    assert decision.due_at == local(CHICAGO, 2026, 6, 4, 16, 0)
    tx = rule(hours={"3": ["09:00", "12:00"]})  # Thursdays only until noon
    decision = guard.decide(
        snap(now=now, window="9-5", budget=budget(sent=[sent]), calling_rules=(tx,))
    )
    assert decision.due_at == local(CHICAGO, 2026, 6, 5, 9, 0)


# --- 4. live calls, and the order --------------------------------------------------------------


def test_a_live_call_skips_but_a_stale_one_does_not():
    now = snap().now
    fresh = snap(skip_if_live_call=True, live_calls=(now - timedelta(minutes=10),))
    assert guard.decide(fresh).reason == "Skip If Live Call: the lead is on a live call"
    stale = snap(skip_if_live_call=True, live_calls=(now - timedelta(hours=5),))
    assert guard.decide(stale) is None
    shorter = snap(
        skip_if_live_call=True,
        live_calls=(now - timedelta(minutes=10),),
        live_call_max_age=timedelta(minutes=5),
    )
    assert guard.decide(shorter) is None


def test_checks_run_in_spec_order_and_the_dry_run_sees_them_all():
    now = local(CHICAGO, 2026, 6, 3, 22, 0)
    s = snap(
        now=now,
        window="9-5",
        dnc="+13105550100 is on the global DNC list",
        calling_rules=(rule(hours={"2": None}),),
        budget=budget(sent=[now - timedelta(hours=1)]),
        skip_if_live_call=True,
        live_calls=(now,),
    )
    checks, decision = guard.explain(s)
    assert [c.check for c in checks] == [
        "workflow", "stop_if", "window", "dnc", "calling_rules", "contact_budget", "live_call",
    ]  # fmt: skip
    assert [c.passed for c in checks] == [True, True, False, False, False, False, False]
    assert decision.reason == "deferred: outside 9-5 in America/Chicago"
    assert guard.decide(s) == decision
    # Inside the window, DNC comes first; without DNC, the calling rule; then the budget.
    noon = local(CHICAGO, 2026, 6, 4, 12, 0)
    assert guard.decide(snap(**{**s.__dict__, "now": noon})).reason.startswith("DNC")


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([], "an object"),
        ({"7": None}, "'7' is not a weekday"),
        ({"1": ["9:00", "17:00"]}, "'9:00' is not a time HH:MM"),
        ({"1": ["17:00", "09:00"]}, "must come before the end"),
        ({"1": ["09:00"]}, 'give ["HH:MM", "HH:MM"] or null'),
    ],
)
def test_it_refuses_malformed_hours_saying_why(hours, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        guard.parse_hours(hours)


def test_it_reads_hours_and_dates():
    assert guard.parse_hours({"0": ["08:00", "24:00"], "6": None}) == {0: (480, 1440), 6: None}
    assert guard.parse_dates(["2026-12-25"]) == frozenset({date(2026, 12, 25)})
    with pytest.raises(ValueError, match="'12/25' is not an ISO date"):
        guard.parse_dates(["12/25"])
