"""What would this workflow do to this lead now? Nothing is stored or sent.

The occurrence is simulated from the lead as it is: a lead save carrying its
latest call (and that call's disposition), unless `facts` says otherwise
(any Occurrence field: lead_action, disposition, status_from, redisposition,
callback_id, hopper_entry_id, call …).
"""

import zoneinfo

from django.conf import settings
from django.utils import timezone

from automation.engine import handler as engine, records, rules, timing
from automation.constants import (
    RATE_LIMIT_SECONDS,
    RATE_LIMIT_TRIGGERS,
    EntryState,
    TriggerOutcome,
)
from automation.engine.events import EVENTS
from automation.engine.occurrences import Occurrence, call_data, field_value
from automation.document.schema import ConfigError


def simulated_occurrence(lead, facts, now):
    facts = dict(facts or {})
    call = lead.calls.order_by("-started_at", "-pk").first()
    base = {
        "lead_id": lead.pk,
        "occurred_at": now,
        "lead_action": "save",
        "status_from": None,
        "status_to": lead.status_id,
        "call": call_data(call) if call else None,
        "disposition": call.disposition_id if call else None,
    }
    base.update(clean_facts(facts))
    return Occurrence(**base)


def _text_or_none(v):
    return v is None or isinstance(v, str)


def _id_or_none(v):
    return v is None or (isinstance(v, int) and not isinstance(v, bool))


def _list_of(kind):
    return lambda v: (
        isinstance(v, list) and all(isinstance(x, kind) and not isinstance(x, bool) for x in v)
    )


# Occurrence fields a dry run may set, and what each must be.
FACTS = {
    "lead_action": lambda v: v in (None, "create", "save", "delete"),
    "status_from": _text_or_none,
    "status_to": _text_or_none,
    "disposition": _text_or_none,
    "previous_disposition": _text_or_none,
    "redisposition": lambda v: isinstance(v, bool),
    "callback_id": _id_or_none,
    "hopper_entry_id": _id_or_none,
    "call": lambda v: v is None or isinstance(v, dict),
    "changed_fields": _list_of(str),
    "chain": _list_of(int),
}


def clean_facts(facts):
    """The dry run's facts as Occurrence fields, or ConfigError naming the bad one."""
    errors = {}
    for key, value in facts.items():
        check = FACTS.get(key)
        if check is None:
            errors[f"facts.{key}"] = f"unknown fact (one of {', '.join(FACTS)})"
        elif not check(value):
            errors[f"facts.{key}"] = f"{value!r} is not a valid value"
    if errors:
        raise ConfigError(errors)
    cleaned = dict(facts)
    if "changed_fields" in cleaned:
        cleaned["changed_fields"] = frozenset(cleaned["changed_fields"])
    if "chain" in cleaned:
        cleaned["chain"] = tuple(cleaned["chain"])
    return cleaned


def why_condition(condition, occ, lead, matched):
    spec = EVENTS[condition.type]
    config = condition.config
    if spec.fact is None:
        if condition.type == "CALL_COUNT":
            actual = lead.called_count
            subject = "called count"
        elif condition.type == "SUBMITTED_BY":
            actual, subject = lead.submitted_by, "submitted by"
        else:
            actual = field_value(lead, config["field"], occ.call)
            subject = config["field"]
        op = config.get("operator")
        target = config.get("values") or config.get("value")
        if op == "between":
            target = f"{config.get('value')} and {config.get('value2')}"
        verb = "matches" if matched else "does not match"
        if op:
            return f"{subject} is {actual!r}: {verb} {op.replace('_', ' ')} {target!r}"
        return f"{subject} is {actual!r}: {verb} {config.get('values')!r}"
    if spec.fact not in occ.facts():
        return f"this occurrence has no {spec.fact.replace('_', ' ')}"
    return "matches this occurrence" if matched else f"this occurrence does not match {config!r}"


def explain(workflow, lead, facts=None, now=None):
    """The dry run as a dict (see the module docstring)."""
    from automation.models import LogEntry

    now = now or timezone.now()
    occ = simulated_occurrence(lead, facts, now)
    index = rules.current()
    compiled = rules.compile_rules(index.version, [workflow])
    rule = compiled.rules.get(workflow.pk)
    report = {
        "workflow": {"id": workflow.pk, "name": workflow.name, "active": workflow.active},
        "lead": {"id": lead.pk, "timezone": lead.timezone},
        "occurrence": occ.describe(),
        "conditions": [],
        "gates": [],
        "outcome": "no_match",
        "actions": [],
    }
    gates = report["gates"]
    gates.append(
        {
            "gate": "active",
            "passed": workflow.active,
            "why": "active" if workflow.active else f"inactive {workflow.disabled_reason}".strip(),
        }
    )
    if rule is None:
        gates.append({"gate": "conditions", "passed": False, "why": "no active event condition"})
        return report
    scope = compiled.scope_of(occ, lead)
    in_scope = rule.in_scope(scope)
    if in_scope is None:
        from automation.engine.handler import email_scope

        in_scope = email_scope(rule, lead)
    gates.append(
        {
            "gate": "scope",
            "passed": in_scope,
            "why": "all campaigns"
            if rule.all_campaigns
            else f"{rule.relation} {rule.relation_mode.replace('_', ' ')} the chosen objects",
        }
    )
    all_matched = True
    for condition in rule.conditions:
        matched = condition.matches(occ, lead)
        all_matched &= matched
        report["conditions"].append(
            {
                "type": condition.type,
                "config": condition.config,
                "matched": matched,
                "why": why_condition(condition, occ, lead, matched),
            }
        )
    gates.append(
        {
            "gate": "conditions",
            "passed": all_matched,
            "why": "all match" if all_matched else "not all match (AND)",
        }
    )
    stopped = rule.stopped(lead, compiled.status_flags, occ.call)
    gates.append({"gate": "stop_if", "passed": not stopped, "why": rule.stop_if})
    pending = LogEntry.objects.filter(
        lead_id=lead.pk, workflow_id=workflow.pk, state__in=(EntryState.PENDING, EntryState.RUNNING)
    ).exists()
    gates.append(
        {
            "gate": "skip_if_pending",
            "passed": not (rule.skip_if_pending and pending),
            "why": f"{'on' if rule.skip_if_pending else 'off'}; pending actions: {'yes' if pending else 'no'}",
        }
    )
    recent = records.fired_recently(lead.pk, [workflow.pk], now).get(workflow.pk, 0)
    gates.append(
        {
            "gate": "rate_limit",
            "passed": recent < RATE_LIMIT_TRIGGERS,
            "why": f"{recent} of {RATE_LIMIT_TRIGGERS} triggers in the last {RATE_LIMIT_SECONDS} s",
        }
    )
    selected = rule.selected(lead.pk)
    gates.append(
        {
            "gate": "perform_action_on",
            "passed": selected,
            "why": f"{rule.perform_action_on}%: lead {'in' if selected else 'outside'} the group",
        }
    )
    order = [
        "active",
        "scope",
        "conditions",
        "stop_if",
        "skip_if_pending",
        "rate_limit",
        "perform_action_on",
    ]
    outcomes = {
        "active": "inactive",
        "scope": "out_of_scope",
        "conditions": "no_match",
        "stop_if": TriggerOutcome.STOPPED,
        "skip_if_pending": TriggerOutcome.SKIPPED_PENDING,
        "rate_limit": TriggerOutcome.RATE_LIMITED,
        "perform_action_on": TriggerOutcome.NOT_SELECTED,
    }
    failed = next((g["gate"] for g in gates if g["gate"] in order and not g["passed"]), None)
    report["outcome"] = str(outcomes[failed]) if failed else str(TriggerOutcome.FIRED)
    report["actions"] = planned_actions(rule, workflow, lead, occ, now)
    return report


def planned_actions(rule, workflow, lead, occ, now):
    from automation.models import Action

    account = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    configs = dict(Action.objects.filter(action_set__workflow=workflow).values_list("pk", "config"))
    planned = []
    for position, aset in enumerate(rule.action_sets):
        error, due = "", None
        try:
            due = engine.due_time(rule, aset, lead, occ, now)
        except timing.TimingError as exc:
            error = str(exc)
        for action in aset.actions:
            planned.append(
                {
                    "action_set": position,
                    "type": action.type,
                    "config": configs.get(action.id, {}),
                    "due_at": due.isoformat() if due else None,
                    "due_local": due.astimezone(lead.zone).isoformat() if due else None,
                    "due_account": due.astimezone(account).isoformat() if due else None,
                    "error": error,
                }
            )
    return planned
