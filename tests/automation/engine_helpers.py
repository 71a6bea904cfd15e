"""A small world for the engine's tests: workflows in one call, occurrences, outcomes.

Each engine test module imports `fresh_rules` (an autouse fixture: the compiled
rule index is cached per process, so every test starts and ends without one)
along with the helpers it uses:

    from tests.automation.engine_helpers import fresh_rules, make_workflow  # noqa: F401
"""

import itertools

import pytest
from django.utils import timezone

from automation.engine import handler as engine, rules
from automation.models import Action, ActionSet, EventCondition, LogEntry, Trigger, Workflow
from automation.engine.occurrences import Occurrence
from leads.models import Lead

# An action that only writes a pending entry unless on_commit callbacks run.
FOLLOW_UP = ("STATUS", {"status": "FOLLOW"})

_names = itertools.count(1)
_phones = itertools.count(0)


@pytest.fixture(autouse=True)
def fresh_rules():
    rules.invalidate()
    yield
    rules.invalidate()


def make_workflow(
    events,
    actions=(FOLLOW_UP,),
    *,
    objects=(),
    delay=None,
    window="24hr",
    action_sets=None,
    **settings,
):
    """A workflow with its conditions and one action set (or `action_sets`).

    events: (type, config) or (type, config, active) tuples.
    actions: (type, config) tuples, or (type, config, active).
    objects: the relation objects (campaigns, lists, …, per `relation`). With
        none and no `all_campaigns` given, the workflow applies to every campaign.
    delay: ActionSet delay fields, e.g. {"delay_mode": "fixed", "delay_hours": 1}.
    action_sets: a list of {"delay": {...}, "window": "9-5", "actions": [...]}
        instead of `delay`, `window` and `actions`.
    settings: any Workflow field (relation, relation_mode, stop_if, schedule_…).
    """
    settings.setdefault("name", f"Workflow {next(_names)}")
    if not objects:
        settings.setdefault("all_campaigns", True)
    wf = Workflow.objects.create(**settings)
    if objects:
        getattr(wf, Workflow.RELATION_FIELDS[wf.relation]).add(*objects)
    for i, (type_, config, *active) in enumerate(events):
        EventCondition.objects.create(
            workflow=wf, type=type_, config=config, position=i, active=active[0] if active else True
        )
    if action_sets is None:
        action_sets = [{"delay": delay or {}, "window": window, "actions": actions}]
    for position, spec in enumerate(action_sets):
        aset = ActionSet.objects.create(
            workflow=wf,
            position=position,
            window=spec.get("window", "24hr"),
            **spec.get("delay", {}),
        )
        for i, (type_, config, *active) in enumerate(spec["actions"]):
            Action.objects.create(
                action_set=aset,
                type=type_,
                config=config,
                position=i,
                active=active[0] if active else True,
            )
    return wf


def outcomes(workflow, lead=None):
    """The outcome codes of a workflow's triggers, oldest first."""
    triggers = Trigger.objects.filter(workflow=workflow).order_by("occurred_at", "id")
    if lead is not None:
        triggers = triggers.filter(lead_id=lead.pk)
    return list(triggers.values_list("outcome", flat=True))


def entries(workflow, lead=None):
    found = LogEntry.objects.filter(workflow=workflow).order_by("id")
    if lead is not None:
        found = found.filter(lead_id=lead.pk)
    return list(found)


def save(lead):
    """A plain save of the lead as it is in the database (a `save` lead action)."""
    fresh = Lead.objects.get(pk=lead.pk)
    fresh.save()
    return fresh


def occurrence(lead, **facts):
    """An occurrence for `engine.handle`, e.g. occurrence(lead, lead_action="save")."""
    facts.setdefault("occurred_at", timezone.now())
    return Occurrence(lead_id=lead.pk, **facts)


def handle(lead, **facts):
    return engine.handle(occurrence(lead, **facts), lead)


def phone(n=None):
    """A valid, distinct US E.164 number (Los Angeles area)."""
    n = next(_phones) if n is None else n
    return f"+1310555{n % 10000:04d}" if n < 10000 else f"+1213555{n % 10000:04d}"
