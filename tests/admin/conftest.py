"""The admin's small world: users of each group, a workflow with its parts, log entries.

client = login(operator)           # a test client logged in as that user
workflow = make_workflow()         # Disposition = SALE → set of STATUS → FOLLOW
entry = make_entry(lead, workflow, state="pending")
"""

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from automation.constants import EntryState, TriggerOutcome
from automation.engine import rules
from automation.models import (
    Action,
    ActionSet,
    Endpoint,
    EventCondition,
    LogEntry,
    Trigger,
    Workflow,
)
from crm import groups as crm_groups

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_rules(db):
    rules.invalidate()
    yield
    rules.invalidate()


@pytest.fixture
def groups(db):
    """The viewer and operator groups (synced again: a flushed database loses them)."""
    crm_groups.sync()
    return {g.name: g for g in Group.objects.all()}


def make_user(name, group=None, **fields):
    user = User.objects.create_user(name, password="pw", is_staff=True, **fields)
    if group is not None:
        user.groups.add(group)
    return user


@pytest.fixture
def superuser(db):
    return make_user("boss", is_superuser=True)


@pytest.fixture
def operator(groups):
    return make_user("olga", groups["operator"])


@pytest.fixture
def viewer(groups):
    return make_user("victor", groups["viewer"])


@pytest.fixture
def login():
    def log_in(user):
        client = Client()
        client.force_login(user)
        return client

    return log_in


@pytest.fixture
def admin_client_(superuser, login):
    return login(superuser)


@pytest.fixture
def endpoint(db):
    return Endpoint.objects.create(name="Partner CRM", url="http://127.0.0.1:9/hook")


@pytest.fixture
def make_workflow(statuses):
    def make(
        name=None, *, disposition="SALE", actions=(("STATUS", {"status": "FOLLOW"}),), **fields
    ):
        fields.setdefault("all_campaigns", True)
        workflow = Workflow.objects.create(name=name or f"Workflow {next(_numbers)}", **fields)
        EventCondition.objects.create(
            workflow=workflow, type="DISPOSITION", config={"values": [disposition]}
        )
        action_set = ActionSet.objects.create(workflow=workflow)
        for position, (action_type, config) in enumerate(actions):
            Action.objects.create(
                action_set=action_set, type=action_type, config=config, position=position
            )
        return workflow

    return make


@pytest.fixture
def make_entry():
    """A log entry of `workflow`'s first action for `lead`, hanging off a fired trigger."""

    def make(lead, workflow, *, state=EntryState.PENDING, due_in=timedelta(days=1), **fields):
        action = Action.objects.filter(action_set__workflow=workflow).first()
        now = timezone.now()
        trigger = Trigger.objects.create(
            workflow=workflow, lead_id=lead.pk, outcome=TriggerOutcome.FIRED, occurred_at=now
        )
        return LogEntry.objects.create(
            workflow=workflow,
            action=action,
            trigger=trigger,
            lead_id=lead.pk,
            list_id=lead.list_id,
            action_type=action.type if action else "STATUS",
            state=state,
            due_at=now + due_in,
            finished_at=None if state == EntryState.PENDING else now,
            **fields,
        )

    return make
