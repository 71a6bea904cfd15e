"""A simulated week of random triggers across the US time zones, through the real
runner with the clock injected: no outreach goes out outside its window, schedule
or calling rules, over budget, or to a DNC number or address; every deferral and
skip says why.

The invariants are checked here from first principles (local hours, weekdays,
dates, counts), not by asking automation.engine.guard: the test must not share its
mistakes.
"""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from automation.constants import OUTREACH_CHANNELS, WINDOW_HOURS, EntryState, TriggerOutcome
from automation.engine import timing
from automation.execution import providers, runner
from automation.models import (
    Action,
    ActionSet,
    CallingRule,
    ContactPolicy,
    LogEntry,
    Trigger,
    Workflow,
)
from leads.models import DncEntry, EmailTemplate

US_ZONES = [
    "America/New_York", "America/Detroit", "America/Indiana/Indianapolis", "America/Chicago",
    "America/Denver", "America/Boise", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "America/Adak", "Pacific/Honolulu", "America/Puerto_Rico",
]  # fmt: skip
STATES = ["TX", "FL", "CA", "NY", "IL", "WA", "AZ"]
START = datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # a Monday; the US falls back on 1 November
STEP = timedelta(minutes=20)
STEPS = 7 * 24 * 3  # a week
RULES = [
    {"name": "TX", "state": "TX", "hours": {**{str(d): ["09:00", "21:00"] for d in range(6)},
                                            "6": ["12:00", "21:00"]}},
    {"name": "FL", "state": "FL", "hours": {str(d): ["08:00", "20:00"] for d in range(7)},
     "blocked_dates": ["2026-10-28"]},
    {"name": "Denver quiet Sunday", "timezone": "America/Denver", "hours": {"6": None}},
    {"name": "Pacific Friday off", "timezone": "America/Los_Angeles", "hours": {"4": None},
     "blocked_dates": ["2026-10-27"]},
]  # fmt: skip
POLICIES = [
    {"channel": "sms", "max_per_24h": 2, "max_per_7d": 5},
    {"channel": "vb", "max_per_24h": 1},
    {"channel": "call", "max_per_24h": 3, "max_per_7d": 8},
    {"channel": "email", "max_per_24h": 1, "over_budget": "skip"},
]
ACTIONS = [
    ("SMS", {"message": "Hi {first_name}"}),
    ("VB", {"message": "Hello"}),
    ("HOPPER", {"priority": 50}),
    ("CALLBACK", {"seconds": 3600}),
    ("EMAIL", {"template": "Welcome"}),
    ("STATUS", {"status": "FOLLOW"}),
]


class Gateway:
    """An SMS/VB provider that accepts everything (the boundary of this simulation)."""

    name = "fake"

    def __init__(self):
        self.sent = []

    def send(self, to, text, *, lead_id, idempotency_key):
        self.sent.append((to, lead_id))
        return providers.Delivery(True, self.name)


@pytest.fixture
def gateway(monkeypatch):
    fake = Gateway()
    monkeypatch.setattr(providers, "get_provider", lambda kind: fake)
    return fake


def make_world(rng, make_lead):
    EmailTemplate.objects.create(name="Welcome", subject="Hi", body="Hello {first_name}")
    for rule in RULES:
        CallingRule.objects.create(**rule)
    for policy in POLICIES:
        ContactPolicy.objects.create(**policy)
    leads = [
        make_lead(
            timezone=rng.choice(US_ZONES),
            state=rng.choice(STATES),
            email=f"lead{n}@example.com",
        )
        for n in range(24)
    ]
    workflows = []
    for n in range(8):
        scheduled = n % 3 == 0
        workflow = Workflow.objects.create(
            name=f"Sim {n}",
            all_campaigns=True,
            schedule_enabled=scheduled,
            schedule_window="9-5" if scheduled else "24hr",
            schedule_days=[0, 1, 2, 3, 4] if scheduled else [],
        )
        window = rng.choice(["24hr", "9-9", "8-9", "9-5", "12-9"])
        action_set = ActionSet.objects.create(workflow=workflow, window=window)
        action_type, config = ACTIONS[n % len(ACTIONS)]
        action = Action.objects.create(action_set=action_set, type=action_type, config=config)
        workflows.append((workflow, action))
    return leads, workflows


def trigger(lead, workflow, action, now, rng):
    """An entry as the engine writes it; a third are due 'now' whatever the window
    (a late run, a retry), the rest at their computed due time."""
    due = now
    if rng.random() > 0.33:
        schedule = (
            timing.Schedule(workflow.schedule_window, tuple(workflow.schedule_days))
            if workflow.schedule_enabled
            else None
        )
        due = timing.due_time(now, lead.zone, timing.Delay(), action.action_set.window, schedule)
    fired = Trigger.objects.create(
        workflow=workflow, lead_id=lead.pk, occurred_at=now, outcome=TriggerOutcome.FIRED
    )
    return LogEntry.objects.create(
        workflow=workflow,
        action=action,
        trigger=fired,
        lead_id=lead.pk,
        list_id=lead.list_id,
        action_type=action.type,
        due_at=due,
        created_at=now,
        context={"chain": [workflow.pk]},
    )


def local_minutes(moment, zone):
    t = moment.astimezone(ZoneInfo(zone))
    return t, t.hour * 60 + t.minute


@pytest.mark.parametrize("seed", [7, 2026])
def test_a_simulated_week_sends_nothing_that_is_not_allowed(seed, make_lead, gateway, settings):
    rng = random.Random(seed)
    leads, workflows = make_world(rng, make_lead)
    zones = {lead.pk: [(START, lead.zone_name)] for lead in leads}  # zone history
    dnc = {}  # number or address -> when it was put on the list
    runs = 0
    for step in range(STEPS):
        now = START + step * STEP
        # The world changes: a lead moves zone, a number or an address goes on the DNC list.
        if rng.random() < 0.02:
            lead = rng.choice(leads)
            lead.timezone = rng.choice(US_ZONES)
            lead.save()
            zones[lead.pk].append((now, lead.timezone))
        if rng.random() < 0.02:
            lead = rng.choice(leads)
            value = rng.choice([lead.phone_number, lead.email])
            if value not in dnc:
                DncEntry.add(**({"email": value} if "@" in value else {"phone_number": value}))
                dnc[value] = now
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            workflow, action = rng.choice(workflows)
            trigger(rng.choice(leads), workflow, action, now, rng)
        due = LogEntry.objects.filter(state=EntryState.PENDING, due_at__lte=now).order_by("due_at")
        for entry_id in list(due.values_list("pk", flat=True)):
            runner.run_entry(entry_id, now=now)
            runs += 1
            entry = LogEntry.objects.get(pk=entry_id)
            if entry.state == EntryState.PENDING:
                assert entry.due_at > now, entry.reason
                assert entry.reason.startswith("deferred: "), entry.reason
            elif entry.state != EntryState.SUCCEEDED:
                assert entry.reason, entry
    assert runs > 300

    entries = list(LogEntry.objects.select_related("action__action_set", "workflow"))
    by_lead = {lead.pk: lead for lead in leads}
    rules = list(CallingRule.objects.all())
    sent = {}
    outcomes = {}
    for entry in entries:
        outcomes[entry.state] = outcomes.get(entry.state, 0) + 1
        if entry.state in (EntryState.SKIPPED, EntryState.CANCELLED, EntryState.FAILED):
            assert entry.reason, entry
        if entry.state != EntryState.SUCCEEDED:
            continue
        started, lead = entry.started_at, by_lead[entry.lead_id]
        zone = [z for since, z in zones[lead.pk] if since <= started][-1]
        local, minutes = local_minutes(started, zone)
        start, end = WINDOW_HOURS[entry.action.action_set.window]
        assert start <= local.hour < end, (entry, local)
        workflow = entry.workflow
        if workflow.schedule_enabled:
            start, end = WINDOW_HOURS[workflow.schedule_window]
            assert local.weekday() in workflow.schedule_days and start <= local.hour < end
        channel = OUTREACH_CHANNELS.get(entry.action_type)
        if channel is None:
            continue
        for rule in rules:
            if rule.state == lead.state or rule.timezone == zone:
                assert local.date().isoformat() not in rule.blocked_dates, (entry, rule, local)
                day = str(local.weekday())
                if day in rule.hours:
                    span = rule.hours[day]
                    assert span is not None, (entry, rule, local)
                    first, last = (int(t[:2]) * 60 + int(t[3:]) for t in span)
                    assert first <= minutes < last, (entry, rule, local)
        contact = lead.email if channel == "email" else lead.phone_number
        assert not (contact in dnc and dnc[contact] <= started), (entry, contact)
        sent.setdefault((lead.pk, channel), []).append(entry.finished_at)
    policies = {p["channel"]: p for p in POLICIES}
    for (_lead, channel), times in sent.items():
        policy = policies[channel]
        for t in times:
            for limit, span in ((policy.get("max_per_24h"), timedelta(hours=24)),
                                (policy.get("max_per_7d"), timedelta(days=7))):  # fmt: skip
                if limit is not None:
                    assert sum(t - span < u <= t for u in times) <= limit, (channel, t, times)
    # The simulation exercised what it claims to: things went out, were deferred, skipped.
    assert outcomes.get(EntryState.SUCCEEDED, 0) > 50
    assert LogEntry.objects.filter(reason__startswith="deferred: outside").exists()
    assert LogEntry.objects.filter(reason__startswith="deferred: contact budget").exists()
    assert LogEntry.objects.filter(reason__contains="calling rule").exists()
    assert gateway.sent
