"""The fuzz suite's world, clients, database snapshot and tally.

world: statuses, campaign, lists, queue, inbound number, email template,
three leads with a call, an endpoint and an adaptor, a workflow with log
entries and triggers, a loop notification; `api` (token auth, as an
integration would come) and `admin` (session) clients of a superuser.

`tally` counts requests per target and status and is printed at the end of
the run ("fuzz: …" lines in the terminal summary); every test asserts no 5xx
itself, and that crm.errors' unhandled-exception counter did not move.
"""

import copy
from collections import Counter, defaultdict

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from automation.constants import EntryState, TriggerOutcome
from automation.document import document
from automation.engine import rules
from automation.models import (
    Action,
    ActionSet,
    Adaptor,
    Endpoint,
    EventCondition,
    LogEntry,
    Notification,
    Trigger,
    Workflow,
    WorkflowVersion,
)
from crm import errors
from leads.models import (
    Call,
    Callback,
    Campaign,
    DncEntry,
    EmailTemplate,
    HopperEntry,
    InboundNumber,
    Lead,
    List,
    Queue,
    Status,
)

# Every event type and every action type, valid, so mutations reach every schema.
BASE_DOCUMENT = {
    "name": "Fuzz base",
    "description": "Every event type",
    "active": True,
    "relation": "campaign",
    "relation_mode": "within",
    "relation_objects": ["Solar Q4"],
    "all_campaigns": False,
    "stop_if": "lead_filter",
    "stop_filter": [{"field": "state", "operator": "equals", "value": "NV"}],
    "skip_if_pending": False,
    "schedule": {"enabled": True, "window": "9-9", "days": [0, 1, 2, 3, 4]},
    "perform_action_on": 100,
    "events": [
        {"type": "DISPOSITION", "values": ["SALE"]},
        {"type": "CALL_COUNT", "operator": "less_than_or_equal", "value": 3},
        {"type": "CALL_TYPE", "values": ["OUTBOUND"]},
        # Inactive: no occurrence carries a callback or an expired slot together
        # with a call, so active they would make the workflow impossible (a 400).
        {"type": "CALLBACK", "active": False},
        {"type": "HOPPER_EXPIRED", "active": False},
        {"type": "LEAD_ACTION", "values": ["create", "save"]},
        {"type": "LEAD_FIELDS", "field": "state", "operator": "between", "value": "A", "value2": "D"},
        {"type": "LEAD_STATUS", "to": ["SALE"], "from": ["NEW"]},
        {"type": "REDISPOSITION", "values": ["NI"]},
        {"type": "SUBMITTED_BY", "values": ["api"]},
        {"type": "TERM_REASON", "values": ["CALLER"]},
    ],
    "action_sets": [
        {
            "delay": {"mode": "fixed", "days": 0, "hours": 1, "minutes": 30},
            "window": "8-9",
            "actions": [
                {"type": "INTEGRATION", "config": {"endpoint": "Partner CRM", "adaptor": "Sale payload"}},
                {"type": "EMAIL", "config": {"template": "Welcome"}},
                {"type": "MOVE", "config": {"list": "Solar CA"}},
                {"type": "STATUS", "active": True, "skip_if_live_call": False, "config": {"status": "FOLLOW"}},
                {"type": "SMS", "config": {"message": "Hi {first_name}"}},
                {"type": "VB", "config": {"message": "Hello {first_name}"}},
            ],
        },
        {
            "delay": {"mode": "lead_field", "field": "created_at", "direction": "after", "days": 1},
            "actions": [
                {"type": "FIELD", "config": {"field": "state", "op": "set", "value": "CA"}},
                {"type": "CALLBACK", "config": {"seconds": 3600, "note": "call back"}},
                {"type": "CALLBACK_UPDATE", "config": {"op": "move", "seconds": 60}},
                {"type": "HOPPER", "config": {"priority": 5}},
                {"type": "DNC", "config": {"scope": "global", "phones": "primary"}},
                {"type": "REVENUE", "config": {"amount": "10.50"}},
            ],
        },
    ],
}  # fmt: skip

STATUSES = ["NEW", "NA", "SALE", "NI", "FOLLOW", "DNC"]


@pytest.fixture(autouse=True)
def fresh_rules(db):
    rules.invalidate()
    yield
    rules.invalidate()


class World(dict):
    __getattr__ = dict.__getitem__


@pytest.fixture
def world(db):
    for code in STATUSES:
        Status.objects.create(code=code, name=code.title(), final=code in ("SALE", "NI", "DNC"))
    campaign = Campaign.objects.create(name="Solar Q4")
    lead_list = List.objects.create(name="Solar CA", campaign=campaign)
    queue = Queue.objects.create(name="Inbound", campaign=campaign)
    InboundNumber.objects.create(number="+13105550100", queue=queue)
    EmailTemplate.objects.create(name="Welcome", subject="Hi {first_name}", body="Hello")
    endpoint = Endpoint.objects.create(
        name="Partner CRM", url="http://127.0.0.1:9/hook", auth_query="api_key=QQQQ-1"
    )
    adaptor = Adaptor.objects.create(
        name="Sale payload", fields=[{"source": "first_name", "to": "fname"}]
    )
    leads = [
        Lead.objects.create(
            list=lead_list, phone_number=f"+1310555{n:04d}", first_name="Ada", state="CA"
        )
        for n in range(3)
    ]
    now = timezone.now()
    Call.record(lead_id=leads[0].pk, call_type="OUTBOUND", started_at=now, external_id="c-1")
    Callback.objects.create(lead=leads[0], due_at=now)
    HopperEntry.objects.create(lead=leads[1], campaign=campaign)
    DncEntry.objects.create(phone_number="+13105559999")
    workflow = document.save(copy.deepcopy(BASE_DOCUMENT))
    action = Action.objects.filter(action_set__workflow=workflow).first()
    for lead in leads:
        trigger = Trigger.objects.create(
            workflow=workflow, lead_id=lead.pk, outcome=TriggerOutcome.FIRED, occurred_at=now
        )
        for state in (EntryState.PENDING, EntryState.FAILED):
            LogEntry.objects.create(
                workflow=workflow,
                action=action,
                trigger=trigger,
                lead_id=lead.pk,
                list_id=lead.list_id,
                action_type=action.type,
                state=state,
                due_at=now,
            )
    Notification.objects.create(workflow=workflow, message="loop")
    user = User.objects.create_superuser("fuzzer", "f@example.com", "pw-fuzz-123")
    token = Token.objects.create(user=user)
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")
    admin = Client(raise_request_exception=False)
    admin.force_login(user)
    return World(
        campaign=campaign,
        list=lead_list,
        leads=leads,
        endpoint=endpoint,
        adaptor=adaptor,
        workflow=workflow,
        user=user,
        api=api,
        admin=admin,
    )


SNAPSHOT_MODELS = [
    Workflow, EventCondition, ActionSet, Action, Lead, Call, Callback, HopperEntry, DncEntry,
    Status, List, Campaign, Endpoint, Adaptor, LogEntry, Trigger, Notification, User,
    WorkflowVersion,
]  # fmt: skip


def snapshot():
    """Every row of the tables a request could touch, as plain values."""
    return {
        model.__name__: list(model.objects.order_by("pk").values_list())
        for model in SNAPSHOT_MODELS
    }


def names_a_path(response):
    """A 400's body names what is wrong: {path or parameter: [messages]}, not just a detail."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and bool(body)
        and all(isinstance(key, str) for key in body)
        and set(body) != {"detail"}
    )


class Tally:
    def __init__(self):
        self.requests = Counter()
        self.statuses = defaultdict(Counter)
        self.seconds = Counter()

    def add(self, target, status):
        self.requests[target] += 1
        self.statuses[target][status] += 1

    def server_errors(self, target=None):
        targets = [target] if target else list(self.statuses)
        return sum(n for t in targets for s, n in self.statuses[t].items() if s >= 500)


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally():
    return _TALLY


def pytest_terminal_summary(terminalreporter):
    """The counts of this run, after the tests (`fuzz: <target>: N requests …`)."""
    if not _TALLY.requests:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", "fuzz: requests per target (status: count)")
    for target, count in sorted(_TALLY.requests.items()):
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(_TALLY.statuses[target].items()))
        seconds = f" in {_TALLY.seconds[target]:.1f} s" if _TALLY.seconds[target] else ""
        write(f"fuzz: {target}: {count} requests{seconds} ({statuses})")
    write(f"fuzz: 5xx in all: {_TALLY.server_errors()}")


@pytest.fixture
def no_unhandled_exceptions():
    """The suite's last word: crm_unhandled_exceptions_total did not move."""
    before = errors.unhandled_total()
    yield
    assert errors.unhandled_total() == before
