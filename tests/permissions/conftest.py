"""The permissions' small world: one object of each kind, a user of each role.

world["workflow"]           # the pk of each kind's object, by the API's basename
users["viewer"]             # staff users: nobody (no permission), viewer, operator, superuser
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from automation.constants import EntryState, TriggerOutcome
from automation.document import lifecycle
from automation.models import (
    Action,
    ActionSet,
    Adaptor,
    Backtest,
    CallingRule,
    ContactPolicy,
    Endpoint,
    Enrollment,
    EventCondition,
    LogEntry,
    Notification,
    Trigger,
    Workflow,
)
from crm import groups
from leads.models import (
    Call,
    Callback,
    CustomField,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    Queue,
)


@pytest.fixture
def world(statuses, make_lead, campaign, lead_list):
    """One object of each kind, for the detail routes: basename → pk."""
    lead = make_lead()
    queue = Queue.objects.create(name="Sales", campaign=campaign)
    endpoint = Endpoint.objects.create(name="Partner CRM", url="http://127.0.0.1:9/hook")
    workflow = Workflow.objects.create(name="Sale follow-up", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow, type="DISPOSITION", config={"values": ["SALE"]}
    )
    action = Action.objects.create(
        action_set=ActionSet.objects.create(workflow=workflow),
        type="STATUS",
        config={"status": "FOLLOW"},
    )
    lifecycle.saved_in_admin(workflow, None)  # its version 1
    now = timezone.now()
    trigger = Trigger.objects.create(
        workflow=workflow, lead_id=lead.pk, outcome=TriggerOutcome.FIRED, occurred_at=now
    )
    entry = LogEntry.objects.create(
        workflow=workflow, action=action, trigger=trigger, lead_id=lead.pk,
        list_id=lead.list_id, action_type="STATUS", state=EntryState.PENDING,
        due_at=now + timedelta(days=1),
    )  # fmt: skip
    objects = {
        "lead": lead,
        "call": Call.objects.create(lead=lead, disposition=statuses["SALE"], ended_at=now),
        "callback": Callback.objects.create(lead=lead, due_at=now + timedelta(days=1)),
        "hopperentry": HopperEntry.objects.create(lead=lead, campaign=campaign),
        "dncentry": DncEntry.objects.create(phone_number="+13105550199"),
        "status": statuses["SALE"],  # the call's disposition
        "list": lead_list,
        "campaign": campaign,
        "queue": queue,
        "inboundnumber": InboundNumber.objects.create(number="+13105550100", queue=queue),
        "emailtemplate": EmailTemplate.objects.create(name="Welcome", subject="Hi", body="Hello"),
        "workflow": workflow,
        "workflow-log": entry,
        "workflow-trigger": trigger,
        "notification": Notification.objects.create(workflow=workflow, message="Loop detected"),
        "enrollment": Enrollment.objects.create(workflow=workflow, rate=10),
        "endpoint": endpoint,
        "adaptor": Adaptor.objects.create(name="Partner fields", fields=[]),
        "calling-rule": CallingRule.objects.create(name="Texas", state="TX"),
        "contact-policy": ContactPolicy.objects.create(channel="SMS", max_per_24h=3),
        "backtest": Backtest.objects.create(
            workflow=workflow, since=now - timedelta(days=1), until=now
        ),
        "customfield": CustomField.objects.create(name="score", label="Score", type="number"),
    }
    return {basename: obj.pk for basename, obj in objects.items()}


@pytest.fixture
def users(db):
    groups.sync()  # a flushed database has lost the groups of the migrations
    made = {
        "nobody": User.objects.create_user("nobody", password="pw", is_staff=True),
        "viewer": User.objects.create_user("victor", password="pw", is_staff=True),
        "operator": User.objects.create_user("olga", password="pw", is_staff=True),
        "superuser": User.objects.create_superuser("boss", password="pw"),
    }
    made["viewer"].groups.add(Group.objects.get(name="viewer"))
    made["operator"].groups.add(Group.objects.get(name="operator"))
    return made
