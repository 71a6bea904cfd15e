"""Relation scope: campaigns, lists, queues, inbound numbers, within / not within (SPEC §4.1)."""

import pytest
from django.utils import timezone

from automation.constants import EntryState, TriggerOutcome
from automation.models import Action, LogEntry, Trigger
from leads.models import Call, EmailTemplate, InboundNumber, Queue
from tests.automation.engine_helpers import fresh_rules, make_workflow, outcomes  # noqa: F401

pytestmark = pytest.mark.django_db

ON_CREATE = [("LEAD_ACTION", {"values": ["create"]})]
ON_CALL = [("CALL_TYPE", {"values": ["INBOUND"]})]


@pytest.fixture
def queue(campaign):
    return Queue.objects.create(name="Inbound sales", campaign=campaign)


@pytest.fixture
def other_queue(campaign):
    return Queue.objects.create(name="Inbound support", campaign=campaign)


@pytest.fixture
def inbound_number(queue):
    return InboundNumber.objects.create(number="+12125550100", queue=queue)


@pytest.fixture
def other_inbound_number(other_queue):
    return InboundNumber.objects.create(number="+12125550101", queue=other_queue)


def fired_leads(workflow):
    return set(
        Trigger.objects.filter(workflow=workflow, outcome=TriggerOutcome.FIRED).values_list(
            "lead_id", flat=True
        )
    )


def inbound_call(lead, **fields):
    Call.record(lead=lead, call_type="INBOUND", ended_at=timezone.now(), **fields)


def test_it_fires_within_its_campaigns_only(make_lead, campaign, other_list):
    wf = make_workflow(ON_CREATE, relation="campaign", objects=[campaign])
    inside = make_lead()
    outside = make_lead(list=other_list)
    assert fired_leads(wf) == {inside.pk}
    assert outcomes(wf, outside) == []


def test_it_does_not_fire_a_workflow_scoped_to_another_campaign(make_lead, other_campaign):
    wf = make_workflow(ON_CREATE, relation="campaign", objects=[other_campaign])
    make_lead()
    assert outcomes(wf) == []


def test_it_fires_outside_its_campaigns_when_not_within(make_lead, campaign, other_list):
    wf = make_workflow(
        ON_CREATE, relation="campaign", relation_mode="not_within", objects=[campaign]
    )
    make_lead()
    outside = make_lead(list=other_list)
    assert fired_leads(wf) == {outside.pk}


def test_it_fires_everywhere_with_all_campaigns(make_lead, other_campaign, other_list):
    wf = make_workflow(ON_CREATE, relation="campaign", objects=[other_campaign], all_campaigns=True)
    not_within = make_workflow(
        ON_CREATE,
        relation="campaign",
        relation_mode="not_within",
        objects=[other_campaign],
        all_campaigns=True,
    )
    a = make_lead()
    b = make_lead(list=other_list)
    assert fired_leads(wf) == {a.pk, b.pk}
    assert fired_leads(not_within) == {a.pk, b.pk}


def test_it_fires_within_its_lists_only(make_lead, lead_list, other_list):
    within = make_workflow(ON_CREATE, relation="list", objects=[other_list])
    not_within = make_workflow(
        ON_CREATE, relation="list", relation_mode="not_within", objects=[other_list]
    )
    a = make_lead(list=lead_list)
    b = make_lead(list=other_list)
    assert fired_leads(within) == {b.pk}
    assert fired_leads(not_within) == {a.pk}


def test_it_follows_a_lead_moved_to_another_list(make_lead, lead_list, other_list):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["save"]})], relation="list", objects=[other_list]
    )
    lead = make_lead(list=lead_list)
    lead.save()
    assert fired_leads(wf) == set()
    lead.list = other_list
    lead.save()
    assert fired_leads(wf) == {lead.pk}


def test_it_fires_within_its_queues_only(make_lead, queue, other_queue):
    within = make_workflow(ON_CALL, relation="queue", objects=[queue])
    not_within = make_workflow(
        ON_CALL, relation="queue", relation_mode="not_within", objects=[queue]
    )
    a, b, c = make_lead(), make_lead(), make_lead()
    inbound_call(a, queue=queue)
    inbound_call(b, queue=other_queue)
    inbound_call(c)  # no queue
    assert fired_leads(within) == {a.pk}
    # SPEC C.4: a call without a queue is in no queue, within or not within.
    assert fired_leads(not_within) == {b.pk}


@pytest.mark.parametrize("relation", ["queue", "inbound_number"])
@pytest.mark.parametrize("mode", ["within", "not_within"])
def test_it_never_fires_a_call_scoped_workflow_on_an_occurrence_without_that_field(
    make_lead, queue, inbound_number, relation, mode
):
    target = queue if relation == "queue" else inbound_number
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create", "save"]})],
        relation=relation,
        relation_mode=mode,
        objects=[target],
    )
    lead = make_lead()  # a plain create: no call
    lead.first_name = "Changed"
    lead.save()  # a plain save: no call
    inbound_call(lead)  # a call with neither a queue nor an inbound number
    assert outcomes(wf) == []


def test_it_does_not_fire_a_queue_workflow_without_a_call(make_lead, queue):
    wf = make_workflow([("LEAD_ACTION", {"values": ["create"]})], relation="queue", objects=[queue])
    make_lead()
    assert outcomes(wf) == []


def test_it_fires_within_its_inbound_numbers_only(
    make_lead, queue, inbound_number, other_inbound_number
):
    within = make_workflow(ON_CALL, relation="inbound_number", objects=[inbound_number])
    not_within = make_workflow(
        ON_CALL, relation="inbound_number", relation_mode="not_within", objects=[inbound_number]
    )
    a, b = make_lead(), make_lead()
    inbound_call(a, queue=queue, inbound_number=inbound_number)
    inbound_call(b, queue=queue, inbound_number=other_inbound_number)
    assert fired_leads(within) == {a.pk}
    assert fired_leads(not_within) == {b.pk}


def test_it_applies_a_scope_change_to_the_next_save(make_lead, campaign, other_campaign):
    wf = make_workflow(
        [("LEAD_ACTION", {"values": ["create", "save"]})], relation="campaign", objects=[campaign]
    )
    lead = make_lead()
    assert len(outcomes(wf)) == 1
    wf.campaigns.set([other_campaign])
    lead.save()
    assert len(outcomes(wf)) == 1
    wf.campaigns.add(campaign)
    lead.save()
    assert len(outcomes(wf)) == 2


def test_it_scopes_by_email_templates_the_lead_was_sent(make_lead):
    welcome = EmailTemplate.objects.create(name="Welcome", subject="Hi", body="Hello")
    other = EmailTemplate.objects.create(name="Reminder", subject="Hi", body="Hello")
    mailer = make_workflow(
        [("LEAD_ACTION", {"values": ["delete"]})], actions=[("EMAIL", {"template": welcome.pk})]
    )
    email = Action.objects.get(action_set__workflow=mailer)
    on_save = [("LEAD_ACTION", {"values": ["save"]})]
    within = make_workflow(on_save, relation="email_template", objects=[welcome])
    not_within = make_workflow(
        on_save, relation="email_template", relation_mode="not_within", objects=[welcome]
    )
    other_only = make_workflow(on_save, relation="email_template", objects=[other])
    sent, pending, never = make_lead(), make_lead(), make_lead()
    for lead, state in ((sent, EntryState.SUCCEEDED), (pending, EntryState.PENDING)):
        LogEntry.objects.create(
            workflow=mailer,
            action=email,
            lead_id=lead.pk,
            action_type="EMAIL",
            state=state,
            due_at=timezone.now(),
        )
    for lead in (sent, pending, never):
        lead.save()
    assert fired_leads(within) == {sent.pk}
    assert fired_leads(not_within) == {pending.pk, never.pk}
    assert fired_leads(other_only) == set()
