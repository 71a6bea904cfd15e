"""The 11 event types, through the real signals (SPEC §4.2).

Occurrence conditions (Disposition, Call Type, Callback, Hopper Expired,
Lead Action, Lead Status, Redisposition, Term Reason) match only the facts of
the occurrence at hand; state conditions (Call Count, Lead Fields, Submitted
By) match the lead as it is now.
"""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from automation.constants import EntryState, TriggerOutcome
from automation.models import LogEntry, Trigger
from automation.engine.occurrences import silenced
from leads.models import Call, Callback, HopperEntry, HopperState, Lead
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    make_workflow,
    outcomes,
    save,
)

pytestmark = pytest.mark.django_db


def fired(workflow, lead=None):
    return outcomes(workflow, lead).count(TriggerOutcome.FIRED)


def record(lead, statuses, disposition=None, **fields):
    fields.setdefault("ended_at", timezone.now())
    call, _ = Call.record(
        lead=lead, disposition=statuses[disposition] if disposition else None, **fields
    )
    return call


# --- Disposition ---------------------------------------------------------------


def test_it_fires_on_a_matching_disposition(make_lead, statuses):
    wf = make_workflow([("DISPOSITION", {"values": ["SALE", "FOLLOW"]})])
    lead = make_lead()
    record(lead, statuses, "SALE")
    trigger = Trigger.objects.get(workflow=wf)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.lead_id == lead.pk
    assert trigger.occurrence["disposition"] == "SALE"
    [entry] = entries(wf)
    assert entry.state == EntryState.PENDING
    assert entry.action_type == "STATUS"
    assert entry.trigger_id == trigger.pk
    assert entry.list_id == lead.list_id
    assert entry.context["call_id"] == Call.objects.get(lead=lead).pk


def test_it_does_not_fire_on_another_disposition(make_lead, statuses):
    wf = make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    record(make_lead(), statuses, "NA")
    assert outcomes(wf) == []
    assert entries(wf) == []


def test_it_does_not_fire_on_a_call_without_disposition(make_lead, statuses):
    wf = make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    record(make_lead(), statuses)
    assert outcomes(wf) == []


def test_it_does_not_fire_a_disposition_workflow_on_a_later_plain_save(make_lead, statuses):
    wf = make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    lead = make_lead()
    record(lead, statuses, "SALE")
    assert fired(wf) == 1
    lead = save(Lead.objects.get(pk=lead.pk))
    assert lead.status_id == "SALE"
    lead.first_name = "Grace"
    lead.save()
    assert fired(wf) == 1


# --- Call Count (a state condition) ------------------------------------------


@pytest.mark.parametrize(
    ("config", "count", "fires"),
    [
        ({"operator": "equals", "value": 3}, 3, True),
        ({"operator": "equals", "value": 3}, 2, False),
        ({"operator": "not_equals", "value": 3}, 2, True),
        ({"operator": "greater_than", "value": 3}, 4, True),
        ({"operator": "greater_than", "value": 3}, 3, False),
        ({"operator": "greater_than_or_equal", "value": 3}, 3, True),
        ({"operator": "less_than", "value": 3}, 2, True),
        ({"operator": "less_than", "value": 3}, 3, False),
        ({"operator": "less_than_or_equal", "value": "3"}, 3, True),
        ({"operator": "less_than_or_equal", "value": 3}, 4, False),
        ({"operator": "within", "values": ["1", "5"]}, 5, True),
        ({"operator": "within", "values": ["1", "5"]}, 4, False),
        ({"operator": "between", "value": 2, "value2": 4}, 4, True),
        ({"operator": "between", "value": 2, "value2": 4}, 5, False),
    ],
)
def test_it_matches_the_call_count_with_its_operator(make_lead, config, count, fires):
    wf = make_workflow([("CALL_COUNT", config)])
    lead = make_lead(called_count=count)
    assert fired(wf, lead) == (1 if fires else 0)


def test_it_counts_the_call_just_recorded(make_lead, statuses):
    wf = make_workflow(
        [("DISPOSITION", {"values": ["NA"]}), ("CALL_COUNT", {"operator": "equals", "value": 2})]
    )
    lead = make_lead()
    record(lead, statuses, "NA")
    assert fired(wf) == 0
    record(lead, statuses, "NA")
    assert fired(wf) == 1
    record(lead, statuses, "NA")
    assert fired(wf) == 1


# --- Call Type -----------------------------------------------------------------


def test_it_fires_on_a_matching_call_type(make_lead, statuses):
    wf = make_workflow([("CALL_TYPE", {"values": ["INBOUND", "3WAY"]})])
    lead = make_lead()
    record(lead, statuses, "NA", call_type="INBOUND")
    assert fired(wf) == 1
    assert Trigger.objects.get(workflow=wf).occurrence["call"]["call_type"] == "INBOUND"


def test_it_does_not_fire_on_another_call_type(make_lead, statuses):
    wf = make_workflow([("CALL_TYPE", {"values": ["INBOUND"]})])
    lead = make_lead()
    record(lead, statuses, "NA", call_type="OUTBOUND")
    assert fired(wf) == 0
    save(lead)  # no call in this occurrence
    assert fired(wf) == 0


# --- Callback --------------------------------------------------------------------


def test_it_fires_when_a_callback_is_scheduled(make_lead):
    wf = make_workflow([("CALLBACK", {})])
    lead = make_lead()
    assert fired(wf) == 0  # creating the lead is not a callback
    callback = Callback.objects.create(lead=lead, due_at=timezone.now() + timedelta(days=1))
    trigger = Trigger.objects.get(workflow=wf)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.occurrence["callback_id"] == callback.pk


def test_it_does_not_fire_when_a_callback_is_only_updated(make_lead):
    wf = make_workflow([("CALLBACK", {})])
    lead = make_lead()
    callback = Callback.objects.create(lead=lead, due_at=timezone.now() + timedelta(days=1))
    callback.state = "COMPLETED"
    callback.save()
    save(lead)
    assert fired(wf) == 1


# --- Hopper Expired --------------------------------------------------------------


def test_it_fires_when_a_hopper_slot_expires(make_lead, campaign):
    wf = make_workflow([("HOPPER_EXPIRED", {})])
    lead = make_lead()
    now = timezone.now()
    entry = HopperEntry.objects.create(
        lead=lead, campaign=campaign, expires_at=now - timedelta(minutes=1)
    )
    assert fired(wf) == 0  # waiting, not yet expired
    assert HopperEntry.expire_due(now) == 1
    entry.refresh_from_db()
    assert entry.state == HopperState.EXPIRED
    trigger = Trigger.objects.get(workflow=wf)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.occurrence["hopper_entry_id"] == entry.pk
    assert HopperEntry.expire_due(now) == 0  # once only
    assert fired(wf) == 1


def test_it_does_not_fire_for_a_hopper_slot_not_yet_expired(make_lead, campaign):
    wf = make_workflow([("HOPPER_EXPIRED", {})])
    lead = make_lead()
    now = timezone.now()
    HopperEntry.objects.create(lead=lead, campaign=campaign, expires_at=now + timedelta(hours=1))
    assert HopperEntry.expire_due(now) == 0
    entry = HopperEntry.objects.get(lead=lead)
    entry.state = HopperState.DIALED
    entry.save()
    assert fired(wf) == 0


# --- Lead Action -----------------------------------------------------------------


def test_it_fires_on_lead_create_only_for_create(make_lead):
    on_create = make_workflow([("LEAD_ACTION", {"values": ["create"]})])
    on_save = make_workflow([("LEAD_ACTION", {"values": ["save"]})])
    lead = make_lead()
    assert fired(on_create) == 1
    assert fired(on_save) == 0
    save(lead)
    assert fired(on_create) == 1
    assert fired(on_save) == 1


def test_it_fires_on_lead_delete_and_keeps_the_record(make_lead):
    on_delete = make_workflow([("LEAD_ACTION", {"values": ["delete"]})])
    on_save = make_workflow([("LEAD_ACTION", {"values": ["create", "save"]})])
    lead = make_lead(first_name="Grace", custom_fields={"plan": "gold"})
    lead_id, list_id = lead.pk, lead.list_id
    assert fired(on_delete) == 0
    lead.delete()
    assert not Lead.objects.filter(pk=lead_id).exists()
    trigger = Trigger.objects.get(workflow=on_delete)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.lead_id == lead_id
    assert trigger.occurrence["lead_action"] == "delete"
    [entry] = entries(on_delete)
    assert entry.lead_id == lead_id
    assert entry.list_id == list_id
    assert entry.state == EntryState.PENDING
    snapshot = entry.context["snapshot"]
    assert snapshot["id"] == lead_id
    assert snapshot["first_name"] == "Grace"
    assert snapshot["list_id"] == list_id
    assert snapshot["custom_fields"] == {"plan": "gold"}
    assert fired(on_save) == 1  # the create, not the delete


# --- Lead Fields & Call Data (state) ---------------------------------------------


def test_it_matches_a_lead_field(make_lead):
    wf = make_workflow([("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})])
    ca = make_lead(state="ca")
    tx = make_lead(state="TX")
    assert fired(wf, ca) == 1
    assert fired(wf, tx) == 0


def test_it_reads_a_lead_without_a_zone_as_in_the_account_zone(make_lead, settings):
    settings.TIME_ZONE = "America/Chicago"
    wf = make_workflow(
        [("LEAD_FIELDS", {"field": "timezone", "operator": "equals", "value": "America/Denver"})]
    )
    make_lead(phone_number="+18005550123")  # toll-free: no zone of its own
    settings.TIME_ZONE = "America/Denver"
    lead = make_lead(phone_number="+18005550124")
    assert fired(wf) == 1
    assert fired(wf, lead) == 1


def test_it_matches_a_lead_field_on_every_save_while_it_holds(make_lead):
    wf = make_workflow(
        [
            (
                "LEAD_FIELDS",
                {
                    "field": "postal_code",
                    "operator": "between",
                    "value": "90000",
                    "value2": "96199",
                },
            )
        ]
    )
    lead = make_lead(postal_code="80302")
    assert fired(wf) == 0
    lead.postal_code = "94105"
    lead.save()
    assert fired(wf) == 1
    lead.first_name = "Grace"
    lead.save()
    assert fired(wf) == 2


@pytest.mark.parametrize("field", ["custom.plan", "plan"])
def test_it_matches_a_custom_field(make_lead, field):
    wf = make_workflow([("LEAD_FIELDS", {"field": field, "operator": "equals", "value": "gold"})])
    gold = make_lead(custom_fields={"plan": "Gold"})
    silver = make_lead(custom_fields={"plan": "silver"})
    none = make_lead()
    assert fired(wf, gold) == 1
    assert fired(wf, silver) == 0
    assert fired(wf, none) == 0


def test_it_matches_the_triggering_calls_data(make_lead, statuses):
    wf = make_workflow(
        [("LEAD_FIELDS", {"field": "call.length", "operator": "greater_than", "value": 60})]
    )
    lead = make_lead()
    record(lead, statuses, "NA", length=30)
    assert fired(wf) == 0
    record(lead, statuses, "NA", length=90)
    assert fired(wf) == 1
    save(lead)  # a save without a call has no call data
    assert fired(wf) == 1


def test_it_offers_every_call_field_to_conditions(make_lead, statuses, campaign, django_user_model):
    from leads.models import InboundNumber, Queue
    from leads.placeholders import CALL_FIELDS

    workflows = {
        name: make_workflow(
            [("LEAD_FIELDS", {"field": f"call.{name}", "operator": "is_not_blank"})]
        )
        for name in CALL_FIELDS
    }
    queue = Queue.objects.create(name="Inbound sales", campaign=campaign)
    number = InboundNumber.objects.create(number="+12125550100", queue=queue)
    record(
        make_lead(),
        statuses,
        "SALE",
        agent=django_user_model.objects.create_user("jsmith"),
        queue=queue,
        inbound_number=number,
        call_type="INBOUND",
        term_reason="CALLER",
        length=95,
        revenue="12.50",
        external_id="dialer-1",
    )
    never = sorted(name for name, wf in workflows.items() if fired(wf) != 1)
    assert never == []


def test_it_matches_the_calls_disposition_name(make_lead, statuses):
    wf = make_workflow(
        [("LEAD_FIELDS", {"field": "call.disposition_name", "operator": "equals", "value": "sale"})]
    )
    lead = make_lead()
    record(lead, statuses, "NA")
    assert fired(wf) == 0
    Call.record(lead=lead, disposition_id="SALE")  # by code: the status is not loaded
    assert fired(wf) == 1


# --- Lead Status -----------------------------------------------------------------


def test_it_fires_when_the_status_changes_to_a_code(make_lead):
    wf = make_workflow([("LEAD_STATUS", {"to": ["SALE"]})])
    lead = make_lead(status_id="NEW")
    lead.status_id = "SALE"
    lead.save()
    trigger = Trigger.objects.get(workflow=wf)
    assert trigger.occurrence["status_from"] == "NEW"
    assert trigger.occurrence["status_to"] == "SALE"
    lead.first_name = "Grace"
    lead.save()  # still SALE, but it did not change
    assert fired(wf) == 1


def test_it_fires_when_the_status_changes_from_a_code(make_lead):
    wf = make_workflow([("LEAD_STATUS", {"from": ["NEW"]})])
    lead = make_lead(status_id="NEW")
    assert fired(wf) == 0
    lead = Lead.objects.get(pk=lead.pk)
    lead.status_id = "NA"
    lead.save()
    assert fired(wf) == 1
    lead.status_id = "B"
    lead.save()  # from NA now
    assert fired(wf) == 1


def test_it_needs_both_ends_of_a_status_change_when_both_are_given(make_lead, statuses):
    wf = make_workflow([("LEAD_STATUS", {"from": ["NEW"], "to": ["SALE"]})])
    a = make_lead(status_id="NA")
    a.status_id = "SALE"
    a.save()
    b = make_lead(status_id="NEW")
    record(b, statuses, "SALE")
    assert fired(wf, a) == 0
    assert fired(wf, b) == 1


# --- Redisposition ---------------------------------------------------------------


def test_it_fires_when_a_disposition_is_changed(make_lead, statuses):
    wf = make_workflow([("REDISPOSITION", {"values": ["SALE"]})])
    lead = make_lead()
    call = record(lead, statuses, "NA")
    assert fired(wf) == 0
    assert call.set_disposition(statuses["SALE"]) == "NA"
    trigger = Trigger.objects.get(workflow=wf)
    assert trigger.outcome == TriggerOutcome.FIRED
    assert trigger.occurrence["previous_disposition"] == "NA"
    assert trigger.occurrence["disposition"] == "SALE"


def test_it_does_not_count_a_first_disposition_as_a_redisposition(make_lead, statuses):
    redisposition = make_workflow([("REDISPOSITION", {})])
    disposition = make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    lead = make_lead()
    call = record(lead, statuses)  # no disposition yet
    call.set_disposition(statuses["SALE"])
    assert fired(redisposition) == 0
    assert fired(disposition) == 1


def test_it_does_not_fire_a_redisposition_to_another_code(make_lead, statuses):
    wf = make_workflow([("REDISPOSITION", {"values": ["SALE"]})])
    any_code = make_workflow([("REDISPOSITION", {})])
    call = record(make_lead(), statuses, "NA")
    call.set_disposition(statuses["B"])
    assert fired(wf) == 0
    assert fired(any_code) == 1


def test_it_does_not_fire_a_redisposition_to_the_same_code(make_lead, statuses):
    wf = make_workflow([("REDISPOSITION", {})])
    disposition = make_workflow([("DISPOSITION", {"values": ["NA"]})])
    call = record(make_lead(), statuses, "NA")
    call.set_disposition(statuses["NA"])
    assert fired(wf) == 0
    assert fired(disposition) == 1  # the recording, not the no-op change


# --- Submitted By (state) --------------------------------------------------------


def test_it_matches_who_submitted_the_lead(make_lead):
    wf = make_workflow([("SUBMITTED_BY", {"values": ["api", "jsmith"]})])
    api = make_lead(submitted_by="API")
    agent = make_lead(submitted_by="jsmith")
    web = make_lead(submitted_by="web_form")
    assert fired(wf, api) == 1
    assert fired(wf, agent) == 1
    assert fired(wf, web) == 0


# --- Term Reason -----------------------------------------------------------------


def test_it_fires_on_a_matching_term_reason(make_lead, statuses):
    wf = make_workflow([("TERM_REASON", {"values": ["ABANDON", "QUEUETIMEOUT"]})])
    lead = make_lead()
    record(lead, statuses, "NA", term_reason="CALLER")
    assert fired(wf) == 0
    record(lead, statuses, "NA", term_reason="ABANDON")
    assert fired(wf) == 1
    assert Trigger.objects.get(workflow=wf).occurrence["call"]["term_reason"] == "ABANDON"
    save(lead)
    assert fired(wf) == 1


# --- Occurrence facts vs the lead's state ---------------------------------------


def test_it_matches_a_state_condition_on_a_plain_save(make_lead):
    wf = make_workflow([("CALL_COUNT", {"operator": "greater_than_or_equal", "value": 2})])
    lead = make_lead(called_count=1)
    assert fired(wf) == 0
    Lead.objects.filter(pk=lead.pk).update(called_count=2)  # no signal
    assert fired(wf) == 0
    save(lead)
    assert fired(wf) == 1


def test_it_does_not_fire_a_state_only_workflow_on_a_call_free_occurrence(make_lead, campaign):
    wf = make_workflow([("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"})])
    lead = make_lead(state="CA")
    assert fired(wf) == 1
    Callback.objects.create(lead=lead, due_at=timezone.now())
    HopperEntry.objects.create(lead=lead, campaign=campaign, state=HopperState.EXPIRED)
    assert fired(wf) == 1  # callbacks and hopper slots are not lead saves


def test_it_reads_the_lead_as_it_is_after_the_call(make_lead, statuses):
    wf = make_workflow(
        [
            ("DISPOSITION", {"values": ["SALE"]}),
            ("LEAD_FIELDS", {"field": "status", "operator": "equals", "value": "SALE"}),
            ("LEAD_FIELDS", {"field": "last_called_at", "operator": "is_not_blank"}),
        ]
    )
    lead = make_lead(status_id="NEW")
    record(lead, statuses, "SALE")
    assert fired(wf) == 1


# --- AND, OR, inactive conditions and workflows ----------------------------------


def test_it_requires_every_condition(make_lead, statuses):
    wf = make_workflow(
        [
            ("DISPOSITION", {"values": ["SALE"]}),
            ("CALL_TYPE", {"values": ["INBOUND"]}),
            ("LEAD_FIELDS", {"field": "state", "operator": "equals", "value": "CA"}),
        ]
    )
    ca, tx = make_lead(state="CA"), make_lead(state="TX")
    record(ca, statuses, "SALE", call_type="OUTBOUND")
    record(ca, statuses, "NA", call_type="INBOUND")
    record(tx, statuses, "SALE", call_type="INBOUND")
    assert fired(wf) == 0
    record(ca, statuses, "SALE", call_type="INBOUND")
    assert outcomes(wf) == [TriggerOutcome.FIRED]
    assert Trigger.objects.get(workflow=wf).lead_id == ca.pk


def test_it_gives_or_through_two_workflows(make_lead, statuses):
    sale = make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    inbound = make_workflow([("CALL_TYPE", {"values": ["INBOUND"]})])
    a, b, c = make_lead(), make_lead(), make_lead()
    record(a, statuses, "SALE", call_type="OUTBOUND")
    record(b, statuses, "NA", call_type="INBOUND")
    record(c, statuses, "NA", call_type="OUTBOUND")
    fired_for = {
        lead_id
        for lead_id in Trigger.objects.filter(
            workflow__in=[sale, inbound], outcome=TriggerOutcome.FIRED
        ).values_list("lead_id", flat=True)
    }
    assert fired_for == {a.pk, b.pk}


def test_it_ignores_an_inactive_condition(make_lead, statuses):
    wf = make_workflow(
        [
            ("DISPOSITION", {"values": ["SALE"]}),
            ("CALL_TYPE", {"values": ["INBOUND"]}, False),
        ]
    )
    record(make_lead(), statuses, "SALE", call_type="OUTBOUND")
    assert fired(wf) == 1


def test_it_never_fires_a_workflow_without_an_active_condition(make_lead, statuses):
    no_events = make_workflow([])
    all_off = make_workflow([("LEAD_ACTION", {"values": ["create", "save"]}, False)])
    lead = make_lead()
    record(lead, statuses, "SALE")
    save(lead)
    lead.delete()
    assert outcomes(no_events) == []
    assert outcomes(all_off) == []
    assert not LogEntry.objects.exists()


def test_it_never_fires_an_inactive_workflow(make_lead, statuses):
    wf = make_workflow([("LEAD_ACTION", {"values": ["create", "save"]})], active=False)
    lead = make_lead()
    record(lead, statuses, "SALE")
    save(lead)
    assert outcomes(wf) == []
    assert entries(wf) == []


def test_it_skips_an_inactive_action(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})],
        actions=[("STATUS", {"status": "FOLLOW"}), ("STATUS", {"status": "NI"}, False)],
    )
    make_lead()
    [entry] = entries(wf)
    assert entry.action.config == {"status": "FOLLOW"}


def test_it_fires_every_action_set_of_a_workflow(make_lead):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})],
        action_sets=[
            {"actions": [("STATUS", {"status": "FOLLOW"}), ("HOPPER", {})]},
            {"delay": {"delay_mode": "fixed", "delay_days": 1}, "actions": [("DNC", {})]},
        ],
    )
    make_lead()
    assert [e.action_type for e in entries(wf)] == ["STATUS", "HOPPER", "DNC"]
    assert len({e.trigger_id for e in entries(wf)}) == 1


def test_it_reads_a_date_custom_field_condition(make_lead):
    wf = make_workflow(
        [
            (
                "LEAD_FIELDS",
                {"field": "custom.renewal", "operator": "less_than", "value": "2030-01-01"},
            )
        ]
    )
    soon = make_lead(custom_fields={"renewal": date(2026, 5, 1).isoformat()})
    late = make_lead(custom_fields={"renewal": "2031-01-01"})
    odd = make_lead(custom_fields={"renewal": ["not", "a", "date"]})
    assert fired(wf, soon) == 1
    assert fired(wf, late) == 0
    assert fired(wf, odd) == 0


def test_it_fires_nothing_for_changes_made_silenced(make_lead, statuses, campaign):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create", "save", "delete"]})],
    )
    with silenced():
        lead = make_lead()
        lead.save()
        record(lead, statuses, "SALE")
        Callback.objects.create(lead=lead, due_at=timezone.now())
        lead.delete()
    assert outcomes(wf) == []
    assert not LogEntry.objects.exists()
