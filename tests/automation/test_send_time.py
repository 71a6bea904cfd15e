"""The send-time guard in the runner (SPEC C.3): every attempt, first and retry, is
checked against the lead as it is *then*; the clock is injected, nothing sleeps."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from automation.constants import EntryState
from automation.execution import runner
from automation.models import CallingRule, ContactPolicy, LogEntry
from leads.models import Call, DncEntry, EmailTemplate, HopperEntry
from tests import httpserver

http_server = httpserver.http_server  # the fixture

CHICAGO = ZoneInfo("America/Chicago")


def at(*args, zone=CHICAGO):
    return datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.fixture
def sms_gateway(settings, http_server):
    settings.SMS_PROVIDER_URL = http_server.url("/sms")
    return http_server


@pytest.fixture
def chicago_lead(make_lead):
    return make_lead(phone_number="+13125550142", timezone="America/Chicago", state="IL")


def windowed(entry, window):
    action_set = entry.action.action_set
    action_set.window = window
    action_set.save()
    return entry


def test_a_retry_that_would_land_after_hours_is_deferred_to_the_morning_across_dst(
    chicago_lead, make_entry, run, sms_gateway
):
    # Saturday 31 October 2026, 20:59:58 CDT; the clocks fall back that night.
    sms_gateway.reply(status=503, body="busy")
    sms_gateway.reply(json={"id": "m-1"})
    first = at(2026, 10, 31, 20, 59, 58)
    entry = windowed(
        make_entry(chicago_lead, action_type="SMS", config={"message": "Hi"}, due_at=first), "8-9"
    )

    entry = run(entry, now=first)
    assert (entry.state, entry.attempts) == (EntryState.PENDING, 1)
    retry = entry.due_at
    assert retry == first + timedelta(seconds=5)  # 21:00:03: outside 8-9

    entry = run(entry, now=retry)
    morning = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # 08:00 CST (-6)
    assert (entry.state, entry.attempts, entry.due_at) == (EntryState.PENDING, 1, morning)
    assert entry.reason == "deferred: outside 8-9 in America/Chicago"
    assert len(sms_gateway.requests) == 1

    entry = run(entry, now=morning)
    assert (entry.state, entry.attempts) == (EntryState.SUCCEEDED, 2), entry.reason
    assert len(sms_gateway.requests) == 2


def test_the_window_is_read_in_the_leads_zone_as_it_is_now(
    chicago_lead, make_entry, run, sms_gateway
):
    noon_chicago = at(2026, 6, 3, 12, 0)
    entry = windowed(make_entry(chicago_lead, action_type="SMS", config={"message": "Hi"}), "9-5")
    chicago_lead.timezone = "Asia/Tokyo"  # 02:00 there
    chicago_lead.save()

    entry = run(entry, now=noon_chicago)

    assert entry.reason == "deferred: outside 9-5 in Asia/Tokyo"
    assert entry.due_at == at(2026, 6, 4, 9, 0, zone=ZoneInfo("Asia/Tokyo"))
    assert entry.attempts == 0 and not sms_gateway.requests


def test_a_budget_of_one_sms_a_day_across_three_workflows_sends_exactly_one(
    chicago_lead, make_entry, run, sms_gateway
):
    ContactPolicy.objects.create(channel="sms", max_per_24h=1)
    now = at(2026, 6, 3, 12, 0)
    entries = [
        make_entry(chicago_lead, action_type="SMS", config={"message": f"Hi {n}"}) for n in range(3)
    ]
    assert len({e.workflow_id for e in entries}) == 3

    states = [run(e, now=now + timedelta(seconds=n)) for n, e in enumerate(entries)]

    assert [e.state for e in states] == [
        EntryState.SUCCEEDED,
        EntryState.PENDING,
        EntryState.PENDING,
    ]
    assert len(sms_gateway.requests) == 1
    for deferred in states[1:]:
        assert deferred.reason == "deferred: contact budget: sms 1 of 1 in 24 h (default policy)"
        assert deferred.due_at == now + timedelta(hours=24)
        assert deferred.attempts == 0
    # A day later the next one goes, and the third waits for the day after.
    second = run(states[1], now=now + timedelta(hours=24))
    third = run(states[2], now=now + timedelta(hours=24, seconds=1))
    assert (second.state, third.state) == (EntryState.SUCCEEDED, EntryState.PENDING)
    assert len(sms_gateway.requests) == 2


def test_a_campaign_policy_overrides_the_default_and_may_skip(
    chicago_lead, campaign, make_entry, run
):
    ContactPolicy.objects.create(channel="call", max_per_24h=5)
    ContactPolicy.objects.create(
        campaign=campaign, channel="call", max_per_24h=1, over_budget="skip"
    )
    first, second = (make_entry(chicago_lead, action_type="HOPPER", config={}) for _ in range(2))

    runner.run_entries([first.pk, second.pk])  # one batch, one transaction

    states = {e.pk: e for e in LogEntry.objects.filter(pk__in=[first.pk, second.pk])}
    assert states[first.pk].state == EntryState.SUCCEEDED
    assert states[second.pk].state == EntryState.SKIPPED
    assert states[second.pk].reason == (
        'contact budget: call 1 of 1 in 24 h (campaign "Solar Q4" policy)'
    )
    assert HopperEntry.objects.filter(lead=chicago_lead).count() == 1


def test_a_number_put_on_the_dnc_list_after_scheduling_is_not_contacted(
    chicago_lead, make_entry, run, sms_gateway
):
    entry = make_entry(chicago_lead, action_type="SMS", config={"message": "Hi"})
    DncEntry.add(chicago_lead.phone_number, reason="asked")

    entry = run(entry)

    assert entry.state == EntryState.SKIPPED
    assert entry.reason == "DNC: +13125550142 is on the global DNC list"
    assert not sms_gateway.requests


def test_the_campaigns_dnc_list_counts_and_another_campaigns_does_not(
    chicago_lead, campaign, other_campaign, make_entry, run
):
    DncEntry.add(chicago_lead.phone_number, campaign=other_campaign)
    assert run(make_entry(chicago_lead, action_type="HOPPER")).state == EntryState.SUCCEEDED
    DncEntry.add(chicago_lead.phone_number, campaign=campaign)
    entry = run(make_entry(chicago_lead, action_type="CALLBACK", config={"seconds": 60}))
    assert entry.reason == 'DNC: +13125550142 is on the DNC list of campaign "Solar Q4"'


def test_an_email_address_on_the_dnc_list_is_not_emailed(chicago_lead, make_entry, run):
    EmailTemplate.objects.create(name="Welcome", subject="Hi", body="Hello")
    chicago_lead.email = "Ada@Example.com"
    chicago_lead.save()
    DncEntry.add(email="ada@example.com")
    # Its number is not on the list: SMS would go; the address is.
    entry = run(make_entry(chicago_lead, action_type="EMAIL", config={"template": "Welcome"}))
    assert entry.state == EntryState.SKIPPED
    assert entry.reason == "DNC: ada@example.com is on the global DNC list"
    assert not mail.outbox


def test_a_calling_rules_blocked_date_defers_to_the_next_allowed_day(make_lead, make_entry, run):
    lead = make_lead(phone_number="+12145550100", state="TX", timezone="America/Chicago")
    CallingRule.objects.create(
        name="Texas", state="TX", hours={"5": ["09:00", "21:00"]}, blocked_dates=["2026-12-25"]
    )
    christmas = at(2026, 12, 25, 10, 0)

    entry = run(make_entry(lead, action_type="HOPPER"), now=christmas)

    assert entry.state == EntryState.PENDING
    assert entry.reason == (
        'deferred: 2026-12-25 is blocked by calling rule "Texas" (state TX) in America/Chicago'
    )
    assert entry.due_at == at(2026, 12, 26, 9, 0)
    assert entry.attempts == 0
    assert not HopperEntry.objects.filter(lead=lead).exists()
    assert run(entry, now=entry.due_at).state == EntryState.SUCCEEDED


def test_an_inactive_calling_rule_does_not_apply(make_lead, make_entry, run):
    lead = make_lead(state="TX", timezone="America/Chicago")
    CallingRule.objects.create(state="TX", hours={str(d): None for d in range(7)}, active=False)
    assert run(make_entry(lead, action_type="HOPPER")).state == EntryState.SUCCEEDED


def test_a_stale_live_call_does_not_hold_back_skip_if_live_call(
    chicago_lead, make_action, make_entry, run, settings
):
    now = at(2026, 6, 3, 12, 0)
    action = make_action("HOPPER", {}, skip_if_live_call=True)
    Call.objects.create(lead=chicago_lead, started_at=now - timedelta(hours=5))  # never ended

    assert run(make_entry(chicago_lead, action), now=now).state == EntryState.SUCCEEDED

    settings.LIVE_CALL_MAX_AGE = 6 * 3600
    entry = run(make_entry(chicago_lead, action), now=now)
    assert (entry.state, entry.reason) == (
        EntryState.SKIPPED,
        "Skip If Live Call: the lead is on a live call",
    )


def test_no_provider_means_skipped_with_the_message_never_succeeded(
    chicago_lead, make_entry, run, settings
):
    settings.VB_PROVIDER_URL = ""
    entry = run(make_entry(chicago_lead, action_type="VB", config={"message": "Hi {first_name}"}))
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "no VB provider configured")
    assert entry.result == {"to": "+13125550142", "script": "Hi Ada"}


def test_a_skipped_send_does_not_count_against_the_budget(chicago_lead, make_entry, run, settings):
    settings.SMS_PROVIDER_URL = ""
    ContactPolicy.objects.create(channel="sms", max_per_24h=1)
    first = run(make_entry(chicago_lead, action_type="SMS", config={"message": "a"}))
    second = run(make_entry(chicago_lead, action_type="SMS", config={"message": "b"}))
    assert (first.state, second.state) == (EntryState.SKIPPED, EntryState.SKIPPED)
    assert second.reason == "no SMS provider configured"
