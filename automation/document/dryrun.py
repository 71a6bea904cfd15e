"""What would this workflow do to this lead now? Nothing is stored or sent.

The occurrence is simulated from the lead as it is: a lead save carrying its
latest call (and that call's disposition), unless `facts` says otherwise
(any Occurrence field: lead_action, disposition, status_from, redisposition,
callback_id, hopper_entry_id, call …). `facts.previous` ({field: value}, as
conditions name fields) says what the lead was before the occurrence, for
"becomes" conditions; without it the simulated save changed nothing, so a
"becomes" condition does not match (unless `lead_action` is `create`).
"""

import copy
import zoneinfo

from django.conf import settings
from django.utils import timezone

from automation.constants import EntryState, Reenrollment
from automation.document.schema import ConfigError
from automation.engine import gates, guard, records, rules, timing
from automation.engine import handler as engine
from automation.engine.events import EVENTS, became
from automation.engine.occurrences import Occurrence, call_data, field_value, lead_attnames
from automation.execution import sendtime


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
    cleaned = clean_facts(facts)
    cleaned.pop("previous", None)
    base.update(cleaned)
    return Occurrence(**base)


def lead_before(lead, facts, occ):
    """The lead as `facts.previous` says it was before the occurrence (else unchanged)."""
    previous = (facts or {}).get("previous") or {}
    if not previous or occ.lead_action != "save":
        return lead
    before = copy.copy(lead)
    before.custom_fields = dict(lead.custom_fields or {})
    for name, value in previous.items():
        attname = lead_attnames().get(name)
        if attname == "zone_name":
            attname = "timezone"
        if attname is not None:
            setattr(before, attname, value)
        else:
            before.custom_fields[name.removeprefix("custom.")] = value
    return before


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
    "previous": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
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


def why_condition(condition, occ, lead, matched, before=None):
    why = why_is(condition, occ, lead, condition.test(occ, lead))
    if not condition.becomes:
        return why
    if not condition.test(occ, lead):
        return f"becomes: {why}"
    if occ.lead_action == "create":
        return f"becomes: {why}; the lead is being created, which counts as a change"
    if occ.lead_action != "save" or before is None or before is lead:
        return f"becomes: {why}, but this occurrence changed nothing it reads (it was so already)"
    then = why_is(condition, occ, before, condition.test(occ, before), "was")
    if became(condition.test, occ, lead, before):
        return f"becomes: {why}; before this occurrence {then}: it became true"
    return f"becomes: {why}, but before this occurrence {then}: it did not become true"


def why_is(condition, occ, lead, matched, verb_is="is"):
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
        verb = (
            ("matches" if matched else "does not match")
            if verb_is == "is"
            else ("matched" if matched else "did not match")
        )
        if op:
            return f"{subject} {verb_is} {actual!r}: {verb} {op.replace('_', ' ')} {target!r}"
        return f"{subject} {verb_is} {actual!r}: {verb} {config.get('values')!r}"
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
        "lead": {"id": lead.pk, "timezone": lead.zone_name},
        "occurrence": occ.describe(),
        "conditions": [],
        "gates": [],
        "outcome": "no_match",
        "actions": [],
    }
    gates_active = {
        "gate": "active",
        "passed": workflow.active,
        "why": "active" if workflow.active else f"inactive {workflow.disabled_reason}".strip(),
    }
    if rule is None:
        report["gates"] = [
            gates_active,
            {"gate": "conditions", "passed": False, "why": "no active event condition"},
        ]
        return report
    in_scope = rule.in_scope(compiled.scope_of(occ, lead))
    if in_scope is None:
        in_scope = engine.email_scope(rule, lead)
    before = lead_before(lead, facts, occ)
    for condition in rule.conditions:
        matched = condition.matches(occ, lead, before)
        report["conditions"].append(
            {
                "type": condition.type,
                "config": condition.config,
                "matched": matched,
                "why": why_condition(condition, occ, lead, matched, before),
            }
        )
    pending = LogEntry.objects.filter(
        lead_id=lead.pk, workflow_id=workflow.pk, state__in=(EntryState.PENDING, EntryState.RUNNING)
    ).exists()
    verdict = gates.evaluate(
        gates.Snapshot(
            rule=rule,
            occ=occ,
            lead=lead,
            before=before,
            status_flags=compiled.status_flags,
            active=workflow.active,
            in_scope=in_scope,
            pending=pending,
            fired_recently=records.fired_recently(lead.pk, [workflow.pk], now).get(workflow.pk, 0),
            enrolled_at=records.enrolled(lead.pk, [workflow.pk]).get(workflow.pk)
            if rule.reenrollment != Reenrollment.ALWAYS
            else None,
            window_iterations=records.loop_window_count(workflow.pk, now)
            if gates.needs_loop_count(rule, occ)
            else None,
        )
    )
    report["gates"] = [
        {"gate": c.gate, "passed": c.passed, "why": c.why}
        for c in verdict.checks
        if c.gate != "active"
    ]
    report["gates"].insert(0, gates_active)
    report["outcome"] = str(verdict.outcome)
    report["actions"] = planned_actions(rule, workflow, lead, occ, now)
    return report


def planned_actions(rule, workflow, lead, occ, now):
    """Each action with its due time and the send-time guard's checks as they stand now."""
    from automation.execution.actions import EXECUTORS
    from automation.models import Action

    account = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    actions = Action.objects.filter(action_set__workflow=workflow).select_related("action_set")
    by_id = {a.pk: a for a in actions}
    facts = send_time_facts(lead, by_id.values(), now)
    planned = []
    for position, aset in enumerate(rule.action_sets):
        error, due = "", None
        try:
            due = engine.due_time(rule, aset, lead, occ, now)
        except timing.TimingError as exc:
            error = str(exc)
        for action in aset.actions:
            model = by_id.get(action.id)
            planned.append(
                {
                    "action_set": position,
                    "type": action.type,
                    "config": shown_config(model),
                    "due_at": due.isoformat() if due else None,
                    "due_local": due.astimezone(lead.zone).isoformat() if due else None,
                    "due_account": due.astimezone(account).isoformat() if due else None,
                    "error": error,
                    **send_time(workflow, model, lead, now, facts, EXECUTORS.get(action.type)),
                }
            )
    return planned


def send_time_facts(lead, actions, now):
    outreach = {sendtime.channel_of(a.type) for a in actions} - {None}
    asking = {lead.pk} if any(a.skip_if_live_call for a in actions) else set()
    return sendtime.Facts({lead.pk: lead}, now, {lead.pk: outreach}, asking)


def send_time(workflow, action, lead, now, facts, executor):
    """The send-time guard on this action if it ran now: every check, and its decision."""
    if action is None:
        return {"send_time": {"checks": [], "decision": "unknown", "reason": ""}}
    snapshot = sendtime.snapshot(
        action_type=action.type,
        executor=executor,
        workflow=workflow,
        action=action,
        lead=lead,
        context={},
        now=now,
        facts=facts,
    )
    checks, decision = guard.explain(snapshot)
    if decision is None:
        outcome, reason, deferred_to = "run", "", None
    else:
        outcome = "deferred" if decision.state == EntryState.PENDING else str(decision.state)
        reason, deferred_to = decision.reason, decision.due_at
    return {
        "send_time": {
            "checks": [{"check": c.check, "passed": c.passed, "why": c.why} for c in checks],
            "decision": outcome,
            "reason": reason,
            "deferred_to": deferred_to.isoformat() if deferred_to else None,
            "deferred_to_local": deferred_to.astimezone(lead.zone).isoformat()
            if deferred_to
            else None,
        }
    }


def shown_config(action):
    """An action's config as the document shows it (references by their current key)."""
    from automation.execution.actions import EXECUTORS

    executor = EXECUTORS.get(action.type) if action is not None else None
    if executor is None:
        return action.config if action is not None else {}
    return executor.schema.show(action.config)
