"""Workflows, actions and log entries in one call, for tests of actions and the runner.

    action = make_action("MOVE", {"list": "Solar NV"})
    entry = make_entry(lead, action, call=call)
    entry = run(entry)                 # runner.run_entry + re-read from the database

Workflows made here have no event conditions, so they never fire by themselves;
add EventCondition rows (and call `automation.engine.rules.invalidate()`) when a test
needs them to.
"""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from automation.engine import rules
from automation.execution import runner
from automation.constants import EntryState, TriggerOutcome
from automation.models import Action, ActionSet, LogEntry, Trigger, Workflow

_numbers = itertools.count(1)


@pytest.fixture
def fresh_rules(db):
    """A clean per-process rule index before and after the test."""
    rules.invalidate()
    yield
    rules.invalidate()


@pytest.fixture
def make_workflow(db):
    def make(name=None, **fields):
        fields.setdefault("all_campaigns", True)
        return Workflow.objects.create(name=name or f"Workflow {next(_numbers)}", **fields)

    return make


@pytest.fixture
def make_action(make_workflow):
    """An active action in a new action set (of `workflow`, or of a new workflow)."""

    def make(action_type, config=None, *, workflow=None, **fields):
        workflow = workflow or make_workflow()
        action_set = ActionSet.objects.create(
            workflow=workflow, position=workflow.action_sets.count()
        )
        return Action.objects.create(
            action_set=action_set, type=action_type, config=config or {}, **fields
        )

    return make


@pytest.fixture
def make_entry(make_action):
    """A pending log entry of `action` (or of a new action of `action_type`) for `lead`.

    It hangs off a fired Trigger that occurred at `occurred_at` (default: now),
    is due at `due_at` (default: the trigger time) and carries the triggering
    `call`, like the entries the engine writes.
    """

    def make(
        lead,
        action=None,
        *,
        action_type=None,
        config=None,
        call=None,
        occurred_at=None,
        due_at=None,
        trigger=True,
        context=None,
        **fields,
    ):
        if action is None:
            action = make_action(action_type, config)
        workflow = action.action_set.workflow
        occurred_at = occurred_at or timezone.now()
        if trigger is True:
            trigger = Trigger.objects.create(
                workflow=workflow,
                lead_id=lead.pk,
                occurred_at=occurred_at,
                outcome=TriggerOutcome.FIRED,
                chain=[],
            )
        ctx = {"chain": [workflow.pk]}
        if call is not None:
            ctx["call_id"] = call.pk
        ctx.update(context or {})
        return LogEntry.objects.create(
            workflow=workflow,
            action=action,
            trigger=trigger or None,
            lead_id=lead.pk,
            list_id=lead.list_id,
            action_type=action.type,
            state=EntryState.PENDING,
            due_at=due_at or occurred_at,
            created_at=occurred_at,
            context=ctx,
            **fields,
        )

    return make


@pytest.fixture
def run():
    """Run an entry through the real runner and return it re-read from the database."""

    def run_it(entry, now=None):
        runner.run_entry(entry.pk, now=now)
        return LogEntry.objects.get(pk=entry.pk)

    return run_it


@pytest.fixture
def later():
    """`later(seconds)`: an aware datetime that many seconds from now."""
    return lambda seconds: timezone.now() + timedelta(seconds=seconds)
