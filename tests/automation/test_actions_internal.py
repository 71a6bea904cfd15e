"""The internal executors (SPEC §4.3), run through the real runner (PostgreSQL and SQLite)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from automation.constants import EntryState, EventType, TriggerOutcome
from automation.models import EventCondition, LogEntry, Trigger
from leads.models import (
    Call,
    Callback,
    CallbackRecipient,
    CallbackState,
    DncEntry,
    HopperEntry,
    HopperState,
    Lead,
    List,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """The custom fields these tests' workflows name, declared (SPEC C.2)."""
    declare("last_length", "plan", "score", "stamped", "town", "zip")


def reread(lead):
    return Lead.objects.get(pk=lead.pk)


# --- MOVE -------------------------------------------------------------------------


def test_it_moves_the_lead_to_the_list(make_lead, make_entry, run, other_list):
    lead = make_lead()
    entry = run(make_entry(lead, action_type="MOVE", config={"list": "Insurance TX"}))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result == {"from": "Solar CA", "to": "Insurance TX"}
    assert entry.attempts == 1 and entry.finished_at is not None
    assert reread(lead).list_id == other_list.pk


def test_it_succeeds_without_saving_when_already_in_the_list(make_lead, make_entry, run):
    lead = make_lead()
    modified = lead.modified_at
    entry = run(make_entry(lead, action_type="MOVE", config={"list": "Solar CA"}))
    assert (entry.state, entry.reason) == (EntryState.SUCCEEDED, "already in list")
    assert reread(lead).modified_at == modified


def test_it_fails_to_move_to_a_list_deleted_after_the_action_was_saved(
    make_lead, make_entry, run, campaign
):
    lead = make_lead()
    gone = List.objects.create(name="Solar NV", campaign=campaign)
    entry = make_entry(lead, action_type="MOVE", config={"list": "Solar NV"})
    gone.delete()
    entry = run(entry)
    assert entry.state == EntryState.FAILED
    assert "Solar NV" in entry.reason and "list" in entry.reason
    assert reread(lead).list.name == "Solar CA"


def test_its_saves_carry_the_causal_chain(
    make_lead, make_entry, make_workflow, run, other_list, fresh_rules
):
    lead = make_lead()
    watcher = make_workflow("Watch saves")
    EventCondition.objects.create(
        workflow=watcher, type=EventType.LEAD_ACTION, config={"values": ["save"]}
    )
    entry = make_entry(lead, action_type="MOVE", config={"list": "Insurance TX"})
    run(entry)
    trigger = Trigger.objects.get(workflow=watcher, lead_id=lead.pk)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.chain == [entry.workflow_id]


# --- STATUS -----------------------------------------------------------------------


def test_it_sets_the_status_and_fires_lead_status_workflows(
    make_lead, make_entry, make_workflow, run, fresh_rules
):
    lead = make_lead(status_id="NEW")
    watcher = make_workflow("On follow-up")
    EventCondition.objects.create(
        workflow=watcher, type=EventType.LEAD_STATUS, config={"to": ["FOLLOW"]}
    )
    entry = run(make_entry(lead, action_type="STATUS", config={"status": "FOLLOW"}))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result == {"from": "NEW", "to": "FOLLOW"}
    assert reread(lead).status_id == "FOLLOW"
    trigger = Trigger.objects.get(workflow=watcher, lead_id=lead.pk)
    assert trigger.occurrence["status_from"] == "NEW"
    assert trigger.occurrence["status_to"] == "FOLLOW"


def test_it_does_not_save_a_status_the_lead_already_has(make_lead, make_entry, run):
    lead = make_lead(status_id="FOLLOW")
    entry = run(make_entry(lead, action_type="STATUS", config={"status": "FOLLOW"}))
    assert (entry.state, entry.reason) == (
        EntryState.SUCCEEDED,
        "the lead already has status FOLLOW",
    )


# --- FIELD ------------------------------------------------------------------------


def test_it_sets_a_lead_field(make_lead, make_entry, run):
    lead = make_lead(city="Fresno")
    entry = run(make_entry(lead, action_type="FIELD", config={"field": "city", "value": "Reno"}))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result == {"field": "city", "op": "set", "before": "Fresno", "after": "Reno"}
    assert reread(lead).city == "Reno"


def test_it_sets_a_custom_field_and_keeps_the_others(make_lead, make_entry, run):
    lead = make_lead(custom_fields={"plan": "basic", "score": 3})
    config = {"field": "custom.plan", "value": "gold"}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.SUCCEEDED
    assert reread(lead).custom_fields == {"plan": "gold", "score": 3}


def test_it_coerces_the_value_to_the_fields_type(make_lead, make_entry, run):
    lead = make_lead()
    config = {"field": "called_count", "value": "7"}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.SUCCEEDED
    assert reread(lead).called_count == 7


def test_it_fails_on_a_value_the_field_cannot_hold(make_lead, make_entry, run):
    lead = make_lead()
    entry = run(
        make_entry(lead, action_type="FIELD", config={"field": "called_count", "value": "many"})
    )
    assert entry.state == EntryState.FAILED
    assert entry.reason == "field called_count needs a whole number, not 'many'"
    entry = run(
        make_entry(lead, action_type="FIELD", config={"field": "email", "value": "not-an-email"})
    )
    assert entry.state == EntryState.FAILED
    assert entry.reason.startswith("cannot set email to 'not-an-email': ")
    assert reread(lead).email == ""


def test_it_copies_a_lead_field_into_a_custom_field(make_lead, make_entry, run):
    lead = make_lead(postal_code="90210")
    config = {"field": "custom.zip", "op": "copy", "source_field": "postal_code"}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.SUCCEEDED
    assert reread(lead).custom_fields == {"zip": "90210"}


def test_it_copies_a_custom_field_into_a_lead_field(make_lead, make_entry, run):
    lead = make_lead(custom_fields={"town": "Sacramento"})
    config = {"field": "city", "op": "copy", "source_field": "custom.town"}
    run(make_entry(lead, action_type="FIELD", config=config))
    assert reread(lead).city == "Sacramento"


def test_it_copies_the_triggering_calls_data(make_lead, make_entry, run):
    lead = make_lead()
    call = Call.objects.create(lead=lead, length=95, term_reason="CALLER")
    config = {"field": "custom.last_length", "op": "copy", "source_field": "call.length"}
    entry = run(make_entry(lead, action_type="FIELD", config=config, call=call))
    assert entry.state == EntryState.SUCCEEDED
    assert reread(lead).custom_fields == {"last_length": 95}


def test_it_fails_to_copy_call_data_without_a_triggering_call(make_lead, make_entry, run):
    lead = make_lead()
    config = {"field": "custom.last_length", "op": "copy", "source_field": "call.length"}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.FAILED
    assert entry.reason == "there is no triggering call to copy call.length from"


@pytest.mark.parametrize(
    "op, start, value, expected",
    [
        ("add", 3, 2, 5),
        ("subtract", 3, 5, -2),
        ("multiply", 4, "2.5", 10),
        ("divide", 10, 4, 2.5),
        ("add", "10.50", "1.25", "11.75"),  # text stays text
        ("add", None, 1, 1),  # a missing custom field counts as 0
    ],
)
def test_it_does_math_on_a_custom_field(make_lead, make_entry, run, op, start, value, expected):
    lead = make_lead(custom_fields={} if start is None else {"score": start})
    config = {"field": "custom.score", "op": op, "value": value}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert reread(lead).custom_fields["score"] == expected


def test_it_adds_to_the_called_count(make_lead, make_entry, run):
    lead = make_lead(called_count=4)
    config = {"field": "called_count", "op": "add", "value": 1}
    run(make_entry(lead, action_type="FIELD", config=config))
    assert reread(lead).called_count == 5


def test_it_refuses_math_on_a_non_numeric_field(make_lead, make_entry, run):
    lead = make_lead(custom_fields={"score": "abc"})
    config = {"field": "custom.score", "op": "add", "value": 1}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.FAILED
    assert entry.reason == "field custom.score is not numeric ('abc')"
    assert reread(lead).custom_fields == {"score": "abc"}


def test_it_refuses_a_result_the_field_cannot_hold(make_lead, make_entry, run):
    lead = make_lead(called_count=5)
    config = {"field": "called_count", "op": "divide", "value": 2}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.FAILED
    assert entry.reason == "field called_count needs a whole number, not 2.5"
    assert reread(lead).called_count == 5


def test_it_refuses_to_divide_by_zero(make_lead, make_action, make_entry, run):
    lead = make_lead(custom_fields={"score": 8})
    action = make_action("FIELD", {"field": "custom.score", "op": "divide", "value": 2})
    # Saved through the ORM, so the config's own validation is bypassed: the runner's catches it.
    action.config["value"] = 0
    action.save()
    entry = run(make_entry(lead, action))
    assert entry.state == EntryState.FAILED
    assert "divide by zero" in entry.reason
    assert reread(lead).custom_fields == {"score": 8}


def test_it_stamps_the_current_time(make_lead, make_entry, run):
    lead = make_lead()
    now = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    stamp_custom = make_entry(
        lead, action_type="FIELD", config={"field": "custom.stamped", "op": "timestamp"}
    )
    stamp_called = make_entry(
        lead, action_type="FIELD", config={"field": "last_called_at", "op": "timestamp"}
    )
    run(stamp_custom, now=now)
    run(stamp_called, now=now)
    lead = reread(lead)
    assert lead.custom_fields == {"stamped": "2025-03-04T15:30:00+00:00"}
    assert lead.last_called_at == now


def test_it_reads_a_naive_datetime_in_the_leads_zone(make_lead, make_entry, run):
    lead = make_lead(timezone="America/Los_Angeles")
    config = {"field": "last_called_at", "value": "2025-07-01 09:00"}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.SUCCEEDED
    assert reread(lead).last_called_at == datetime(2025, 7, 1, 16, 0, tzinfo=UTC)


# --- CALLBACK ---------------------------------------------------------------------


def test_it_schedules_a_system_callback_after_the_trigger(make_lead, make_entry, run):
    lead = make_lead()
    occurred = datetime(2025, 5, 1, 14, 0, tzinfo=UTC)
    entry = make_entry(
        lead,
        action_type="CALLBACK",
        config={"seconds": 3600, "note": "call back after the demo"},
        occurred_at=occurred,
    )
    entry = run(entry, now=occurred + timedelta(minutes=10))
    assert entry.state == EntryState.SUCCEEDED
    callback = Callback.objects.get(lead=lead)
    assert callback.due_at == occurred + timedelta(hours=1)
    assert callback.recipient == CallbackRecipient.SYSTEM
    assert callback.state == CallbackState.PENDING
    assert callback.note == "call back after the demo"
    assert entry.result["callback_id"] == callback.pk


def test_it_counts_from_the_entry_when_the_trigger_record_is_gone(make_lead, make_entry, run):
    lead = make_lead()
    created = datetime(2025, 5, 1, 14, 0, tzinfo=UTC)
    entry = make_entry(
        lead, action_type="CALLBACK", config={"seconds": 60}, occurred_at=created, trigger=None
    )
    run(entry)
    assert Callback.objects.get(lead=lead).due_at == created + timedelta(seconds=60)


def test_it_counts_from_the_entry_when_it_has_no_trigger(make_lead, make_entry, run):
    lead = make_lead()
    created = datetime(2025, 5, 1, 14, 0, tzinfo=UTC)
    entry = make_entry(lead, action_type="CALLBACK", config={"seconds": 60}, occurred_at=created)
    LogEntry.objects.filter(pk=entry.pk).update(trigger=None)
    assert run(entry).state == EntryState.SUCCEEDED
    assert Callback.objects.get(lead=lead).due_at == created + timedelta(seconds=60)


# --- CALLBACK_UPDATE --------------------------------------------------------------


def make_callbacks(lead, *states):
    due = timezone.now() + timedelta(days=1)
    return [Callback.objects.create(lead=lead, due_at=due, state=state) for state in states]


def test_it_moves_the_pending_callbacks(make_lead, make_entry, run):
    lead = make_lead()
    pending, done = make_callbacks(lead, CallbackState.PENDING, CallbackState.COMPLETED)
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    config = {"op": "move", "seconds": 900}
    entry = run(make_entry(lead, action_type="CALLBACK_UPDATE", config=config), now=now)
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result["count"] == 1
    pending.refresh_from_db()
    old_due = done.due_at
    done.refresh_from_db()
    assert pending.due_at == now + timedelta(seconds=900)
    assert done.due_at == old_due


def test_it_removes_the_pending_callbacks(make_lead, make_entry, run):
    lead = make_lead()
    first, second, missed = make_callbacks(
        lead, CallbackState.PENDING, CallbackState.PENDING, CallbackState.MISSED
    )
    entry = run(make_entry(lead, action_type="CALLBACK_UPDATE", config={"op": "remove"}))
    assert entry.result == {"op": "remove", "count": 2, "callback_ids": [first.pk, second.pk]}
    states = dict(Callback.objects.filter(lead=lead).values_list("pk", "state"))
    assert states == {
        first.pk: CallbackState.DISMISSED,
        second.pk: CallbackState.DISMISSED,
        missed.pk: CallbackState.MISSED,
    }


def test_it_says_when_there_are_no_pending_callbacks(make_lead, make_entry, run):
    lead = make_lead()
    entry = run(make_entry(lead, action_type="CALLBACK_UPDATE", config={"op": "remove"}))
    assert (entry.state, entry.reason) == (EntryState.SUCCEEDED, "no pending callbacks")
    assert entry.result["count"] == 0


# --- HOPPER -----------------------------------------------------------------------


def test_it_places_the_lead_in_its_campaigns_hopper(make_lead, make_entry, run, campaign):
    lead = make_lead()
    entry = run(make_entry(lead, action_type="HOPPER", config={"priority": 80}))
    assert entry.state == EntryState.SUCCEEDED
    hopper = HopperEntry.objects.get(lead=lead)
    assert (hopper.campaign, hopper.priority, hopper.source, hopper.state) == (
        campaign,
        80,
        "WA",
        HopperState.WAITING,
    )


def test_it_does_not_add_a_second_waiting_hopper_entry(make_lead, make_entry, run, campaign):
    lead = make_lead()
    HopperEntry.objects.create(lead=lead, campaign=campaign, state=HopperState.DIALED)
    waiting = HopperEntry.objects.create(lead=lead, campaign=campaign, priority=10)
    entry = run(make_entry(lead, action_type="HOPPER", config={"priority": 90}))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.reason == "already in the hopper: priority updated"
    assert HopperEntry.objects.filter(lead=lead, state=HopperState.WAITING).count() == 1
    waiting.refresh_from_db()
    assert waiting.priority == 90


# --- DNC --------------------------------------------------------------------------


def test_it_adds_the_primary_phone_to_the_global_dnc_list(make_lead, make_action, make_entry, run):
    lead = make_lead(phone_number="+13105550101", alt_phone="+13105550102")
    action = make_action("DNC", {})
    entry = run(make_entry(lead, action))
    assert entry.state == EntryState.SUCCEEDED
    dnc = DncEntry.objects.get()
    assert (dnc.phone_number, dnc.campaign, dnc.source) == ("+13105550101", None, "workflow")
    assert dnc.reason == f"workflow {action.action_set.workflow.name}"


def test_it_adds_all_phones_to_the_campaigns_dnc_list_once(
    make_lead, make_action, make_entry, run, campaign
):
    lead = make_lead(phone_number="+13105550101", alt_phone="+13105550102")
    action = make_action("DNC", {"scope": "campaign", "phones": "all"})
    first = run(make_entry(lead, action))
    again = run(make_entry(lead, action))
    assert first.result == {
        "added": ["+13105550101", "+13105550102"],
        "already": [],
        "scope": "Solar Q4",
    }
    assert (again.state, again.reason) == (EntryState.SUCCEEDED, "already on the DNC list")
    rows = DncEntry.objects.order_by("phone_number").values_list("phone_number", "campaign")
    assert list(rows) == [("+13105550101", campaign.pk), ("+13105550102", campaign.pk)]


def test_it_skips_a_blank_alt_phone(make_lead, make_entry, run):
    lead = make_lead(phone_number="+13105550101")
    run(make_entry(lead, action_type="DNC", config={"phones": "all"}))
    assert list(DncEntry.objects.values_list("phone_number", flat=True)) == ["+13105550101"]


# --- REVENUE ----------------------------------------------------------------------


def test_it_adds_revenue_to_the_triggering_call(make_lead, make_entry, run):
    lead = make_lead()
    now = timezone.now()
    triggering = Call.objects.create(lead=lead, started_at=now - timedelta(hours=1))
    latest = Call.objects.create(lead=lead, started_at=now, revenue=Decimal("5"))
    config = {"amount": "19.99"}
    entry = run(make_entry(lead, action_type="REVENUE", config=config, call=triggering))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result["call_id"] == triggering.pk
    triggering.refresh_from_db()
    latest.refresh_from_db()
    assert (triggering.revenue, latest.revenue) == (Decimal("19.99"), Decimal("5"))


def test_it_adds_revenue_to_the_latest_call_without_a_triggering_one(make_lead, make_entry, run):
    lead = make_lead()
    now = timezone.now()
    older = Call.objects.create(lead=lead, started_at=now - timedelta(days=1))
    latest = Call.objects.create(lead=lead, started_at=now, revenue=Decimal("10.00"))
    entry = run(make_entry(lead, action_type="REVENUE", config={"amount": 2.5}))
    assert entry.state == EntryState.SUCCEEDED
    assert entry.result["revenue"] == "12.50"
    older.refresh_from_db()
    latest.refresh_from_db()
    assert (older.revenue, latest.revenue) == (Decimal("0"), Decimal("12.50"))


def test_it_fails_to_add_revenue_without_any_call(make_lead, make_entry, run):
    lead = make_lead()
    entry = run(make_entry(lead, action_type="REVENUE", config={"amount": "10"}))
    assert entry.state == EntryState.FAILED
    assert entry.reason == "the lead has no call to add revenue to"


# --- Failures leave the lead untouched --------------------------------------------


def test_a_failed_action_changes_nothing(make_lead, make_entry, run):
    lead = make_lead(custom_fields={"score": "abc"})
    config = {"field": "custom.score", "op": "multiply", "value": 2}
    entry = run(make_entry(lead, action_type="FIELD", config=config))
    assert entry.state == EntryState.FAILED
    assert reread(lead).modified_at == lead.modified_at
