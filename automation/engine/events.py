"""The 11 event types: each declares its config schema and how it matches.

`fact` names the occurrence fact the type needs (see Occurrence.facts); a
type without one is a *state* condition, matched on the lead as it is now.
The rule index files each workflow under one fact its conditions need, so a
lead save only looks at workflows that could possibly match.

Each type also declares, for what is checked when a workflow is saved:
- `carried_by(config)`: the occurrence kinds (OccurrenceKind) that can carry
  its fact. Conditions whose kinds do not meet can never match together
  (automation.document.analysis.impossible_pairs).
- `reads(config)`: the lead fields it reads, and `could_follow(config,
  effect)`: could the occurrence an action causes (automation.execution.actions:
  `effect`) satisfy it? The cycle analysis (automation.document.analysis) is built on
  these two.

State conditions take `"when"` (SPEC C.4): `"is"` (the default) matches
whenever the lead is so; `"becomes"` only when this occurrence changed the
lead from not matching to matching (`became`; a creation counts as a change).
"""

import re

from automation.constants import EventType, OccurrenceKind, Operator, When
from automation.document.schema import (
    Any,
    Choice,
    ConfigError,
    MultiChoice,
    RefList,
    Schema,
    Str,
    StrList,
    join,
    shown,
)
from automation.engine import conditions
from automation.engine.occurrences import UNKNOWN, field_value
from leads.models import CallType, TermReason, unknown_field
from leads.placeholders import CALL_FIELDS

FIELD_NAME = re.compile(r"^(call\.|custom\.)?[A-Za-z_][A-Za-z0-9_]*$")


def check_field_name(value):
    if not FIELD_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a field name (a lead field, custom.<name> or call.<field>)"
        )
    if value.startswith("call.") and value[5:] not in CALL_FIELDS:
        raise ValueError(f"{value!r}: calls have no field {value[5:]!r} ({', '.join(CALL_FIELDS)})")
    if problem := unknown_field(value):
        raise ValueError(problem)


def check_operator_values(cleaned, path):
    try:
        conditions.validate_condition_value(
            cleaned["operator"], cleaned.get("value"), cleaned.get("value2"), cleaned.get("values")
        )
    except ValueError as exc:
        raise ConfigError.at(join(path, bad_value_key(cleaned, str(exc))), str(exc)) from None


def bad_value_key(cleaned, message):
    """The key an operator-value error is about (the message alone does not say)."""
    if "value2" in message:
        return "value2"
    if cleaned["operator"] == Operator.WITHIN:
        # `within` reads `values`; a list or "CA, NV" in `value` only when `values` is absent.
        given_as_value = cleaned.get("values") is None and cleaned.get("value") is not None
        return "value" if given_as_value else "values"
    return "value"


class WhenChoice(Choice):
    """`when` of a state condition: optional in documents ("is" when absent), and in
    the admin a plain two-way choice next to the operator."""

    def __init__(self):
        super().__init__(When, required=False, label="When")

    def form_kwargs(self):
        from django import forms

        return {"choices": self.choices, "initial": When.IS, "widget": forms.RadioSelect}


def check_when(cleaned, path):
    field = cleaned.get("field") or ""
    if cleaned.get("when") == When.BECOMES and field.startswith("call."):
        raise ConfigError.at(
            join(path, "when"),
            "call data belongs to the occurrence, not to the lead's state: it cannot "
            "'become'; use 'is'",
        )


def became(test, occ, lead, before):
    """ "becomes": `test` holds now (the caller checked) and did not before the occurrence.

    A creation counts as a change; an occurrence that changed nothing of the
    lead (`before` None or the lead itself: a callback, a hopper expiry, a
    save with no changed field, a deletion) never makes a condition become true.
    """
    if occ.lead_action == "create":
        return True
    if occ.lead_action != "save" or before is None or before is lead:
        return False
    return not test(occ, before)


def statuses(required=True, label=""):
    return RefList("leads.Status", key="code", required=required, label=label)


class EventSpec:
    code = ""
    fact = None  # None: a state condition
    schema = Schema()
    # The occurrence kinds that can carry this type's fact (state conditions: see StateEvent).
    kinds = OccurrenceKind.ALL

    def matches(self, config, occ, lead):
        raise NotImplementedError

    def prepare(self, config, kinds=None):
        """`matches` for this config: (occ, lead) -> bool, made once per compiled rule.
        `kinds`: the declared custom fields' types ({name: type}), read at compile time."""
        return lambda occ, lead: self.matches(config, occ, lead)

    def becomes(self, config):
        return isinstance(config, dict) and config.get("when") == When.BECOMES

    def carried_by(self, config):
        """The occurrence kinds that can satisfy this condition."""
        return self.kinds

    def reads(self, config):
        """The lead fields this condition reads (as conditions name them)."""
        return frozenset()

    def could_follow(self, config, effect):
        """Could the occurrence that `effect` (an action's) causes satisfy this condition?"""
        return effect.kind in self.carried_by(config)


class Disposition(EventSpec):
    code = EventType.DISPOSITION
    fact = "disposition"
    kinds = frozenset({OccurrenceKind.CALL})
    schema = Schema({"values": statuses()})

    def matches(self, config, occ, lead):
        return occ.disposition in config["values"]


def operator_schema(field=None, when=True):
    fields = {
        "operator": Choice(Operator),
        **({"when": WhenChoice()} if when else {}),
        "value": Any(required=False),
        "value2": Any(required=False),
        "values": StrList(required=False),
    }
    if field:
        fields = {"field": field, **fields}
    return Schema(fields, check=check_operator_config)


def check_operator_config(cleaned, path):
    check_operator_values(cleaned, path)
    check_when(cleaned, path)


def prepared(config, read, kind=None):
    """(occ, lead) -> bool for an operator condition: its value read once, then
    `read(occ, lead)` tested in the lead's zone, as the declared `kind` of a custom
    field reads (conditions.READINGS). A config validation would have refused never
    matches (rather than failing the whole index's compilation)."""
    try:
        test = conditions.prepare(
            config["operator"],
            config.get("value"),
            config.get("value2"),
            config.get("values"),
            kind,
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        return lambda occ, lead: False
    return lambda occ, lead: test(read(occ, lead), lead.zone)


class StateEvent(EventSpec):
    """A condition on the lead's state: read on every occurrence ("is"), or only on
    those that change the lead ("becomes")."""

    def carried_by(self, config):
        return OccurrenceKind.CHANGES if self.becomes(config) else OccurrenceKind.ALL

    def field_name(self, config):
        """The one lead field this condition reads, as conditions name it."""
        raise NotImplementedError

    def reads(self, config):
        name = self.field_name(config)
        return frozenset() if name is None else frozenset({name})

    def holds_for(self, config, value):
        """Does the condition hold for a lead whose field has `value`?"""
        raise NotImplementedError

    def could_follow(self, config, effect):
        if effect.kind not in self.carried_by(config):
            return False
        name = self.field_name(config)
        if name not in effect.writes:
            return not self.becomes(config)  # "is": it may hold already; "becomes" needs a change
        value = effect.writes[name]
        return value is UNKNOWN or self.holds_for(config, value)


class OperatorEvent(StateEvent):
    """A state condition that compares one value of the lead with an operator."""

    def holds_for(self, config, value):
        try:
            test = conditions.prepare(
                config["operator"], config.get("value"), config.get("value2"), config.get("values")
            )
        except (KeyError, ValueError):
            return True
        return test(value, None)

    def read(self, config):
        """(occ, lead) -> the value this condition compares."""
        raise NotImplementedError

    def kind(self, config, kinds):
        """The declared type of the custom field compared, or None (not a custom field)."""
        return None

    def prepare(self, config, kinds=None):
        read = self.read(config)
        if read is None:
            return lambda occ, lead: False
        return prepared(config, read, self.kind(config, kinds))

    def matches(self, config, occ, lead):
        return self.prepare(config)(occ, lead)


class CallCount(OperatorEvent):
    code = EventType.CALL_COUNT
    schema = operator_schema()

    def field_name(self, config):
        return "called_count"

    def read(self, config):
        return lambda occ, lead: lead.called_count


class CallTypeEvent(EventSpec):
    code = EventType.CALL_TYPE
    fact = "call"
    kinds = frozenset({OccurrenceKind.CALL})
    schema = Schema({"values": MultiChoice(CallType)})

    def matches(self, config, occ, lead):
        return occ.call is not None and occ.call.get("call_type") in config["values"]


class CallbackEvent(EventSpec):
    code = EventType.CALLBACK
    fact = "callback"
    kinds = frozenset({OccurrenceKind.CALLBACK})

    def matches(self, config, occ, lead):
        return occ.callback_id is not None


class HopperExpired(EventSpec):
    code = EventType.HOPPER_EXPIRED
    fact = "hopper_expired"
    kinds = frozenset({OccurrenceKind.HOPPER_EXPIRED})

    def matches(self, config, occ, lead):
        return occ.hopper_entry_id is not None


class LeadAction(EventSpec):
    code = EventType.LEAD_ACTION
    fact = "lead_action"
    schema = Schema(
        {"values": MultiChoice([("create", "Create"), ("save", "Save"), ("delete", "Delete")])}
    )

    def matches(self, config, occ, lead):
        return occ.lead_action in config["values"]

    # A call's lead save is a lead action "save" too.
    KINDS = {
        "create": {OccurrenceKind.CREATE},
        "save": {OccurrenceKind.SAVE, OccurrenceKind.CALL},
        "delete": {OccurrenceKind.DELETE},
    }

    def carried_by(self, config):
        values = config.get("values") if isinstance(config, dict) else None
        return frozenset().union(*(self.KINDS.get(v, ()) for v in values or ()))


LEAD_FIELD = Str(max_length=100, check=check_field_name)


class LeadFields(OperatorEvent):
    code = EventType.LEAD_FIELDS
    schema = operator_schema(field=LEAD_FIELD)
    # The stop filter's conditions: Lead Fields without "when" (a state, checked now).
    filter_schema = operator_schema(field=LEAD_FIELD, when=False)

    def field_name(self, config):
        name = config.get("field") if isinstance(config, dict) else None
        if not isinstance(name, str):
            return None
        if name.startswith(("call.", "custom.")) or name in lead_condition_fields():
            return name
        return f"custom.{name}"  # a bare name that is not a lead field is a custom field

    def read(self, config):
        name = config.get("field") if isinstance(config, dict) else None
        if not isinstance(name, str):
            return None
        return lambda occ, lead: field_value(lead, name, occ.call)

    def kind(self, config, kinds):
        return field_kind(config.get("field") if isinstance(config, dict) else None, kinds)


def field_kind(name, kinds):
    """The declared type of custom field `name` (bare or custom.<name>) in `kinds`
    ({name: type}), or None: a lead field, call data, or not declared."""
    if not kinds or not isinstance(name, str) or name.startswith("call."):
        return None
    if name.startswith("custom."):
        return kinds.get(name[7:])
    return None if name in lead_condition_fields() else kinds.get(name)


def check_status_change(cleaned, path):
    if not cleaned.get("to") and not cleaned.get("from"):
        raise ConfigError.at(join(path, "to"), "give `to` and/or `from` status codes")


class LeadStatus(EventSpec):
    code = EventType.LEAD_STATUS
    fact = "status_change"
    kinds = OccurrenceKind.CHANGES

    def reads(self, config):
        return frozenset({"status"})

    def could_follow(self, config, effect):
        if effect.kind not in self.kinds or "status" not in effect.writes:
            return False
        to, value = config.get("to"), effect.writes["status"]
        return not to or value is UNKNOWN or value in to

    schema = Schema(
        {
            "to": statuses(required=False, label="Changed to"),
            "from": statuses(required=False, label="Changed from"),
        },
        check=check_status_change,
    )

    def matches(self, config, occ, lead):
        return (
            occ.status_changed
            and (not config.get("to") or occ.status_to in config["to"])
            and (not config.get("from") or occ.status_from in config["from"])
        )


class Redisposition(EventSpec):
    code = EventType.REDISPOSITION
    fact = "redisposition"
    kinds = frozenset({OccurrenceKind.CALL})
    schema = Schema({"values": statuses(required=False, label="New disposition (any if empty)")})

    def matches(self, config, occ, lead):
        return occ.redisposition and (
            not config.get("values") or occ.disposition in config["values"]
        )


class SubmittedBy(StateEvent):
    code = EventType.SUBMITTED_BY
    schema = Schema(
        {
            "when": WhenChoice(),
            "values": StrList(
                help_text="Usernames or sources (api, import, agent, web_form), comma-separated."
            ),
        }
    )

    def matches(self, config, occ, lead):
        return self.holds_for(config, lead.submitted_by)

    def field_name(self, config):
        return "submitted_by"

    def holds_for(self, config, value):
        submitted = (value if isinstance(value, str) else "").strip().lower()
        return submitted in {v.strip().lower() for v in config.get("values") or ()}


class TermReasonEvent(EventSpec):
    code = EventType.TERM_REASON
    fact = "call"
    kinds = frozenset({OccurrenceKind.CALL})
    schema = Schema({"values": MultiChoice(TermReason)})

    def matches(self, config, occ, lead):
        return occ.call is not None and occ.call.get("term_reason") in config["values"]


EVENTS = {
    spec.code: spec()
    for spec in (
        Disposition, CallCount, CallTypeEvent, CallbackEvent, HopperExpired, LeadAction,
        LeadFields, LeadStatus, Redisposition, SubmittedBy, TermReasonEvent,
    )
}  # fmt: skip

# Most selective first: the fact a workflow is filed under in the rule index.
FACT_PRIORITY = (
    "hopper_expired", "callback", "redisposition", "disposition", "status_change", "call",
    "lead_action",
)  # fmt: skip


def lead_condition_fields():
    from leads.models import Lead

    return Lead.CONDITION_FIELDS


def validate(event_type, config, path="config", stored=False):
    """Clean one event condition's config, or raise ConfigError naming the path.
    `stored`: the config as stored (references by id), else as documents give it."""
    spec = EVENTS.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        raise ConfigError.at(
            path.rsplit(".", 1)[0] + ".type",
            f"unknown event type {shown(event_type)}",
        )
    return spec.schema.validate(config, path, stored)


def validate_filter(conditions_list, path="stop_filter"):
    """A stop filter: a list of Lead-Fields conditions (field, operator, value…)."""
    if not isinstance(conditions_list, list):
        raise ConfigError.at(path, "must be a list of conditions")
    cleaned, errors = [], {}
    for i, item in enumerate(conditions_list):
        try:
            cleaned.append(LeadFields.filter_schema.validate(item, join(path, i)))
        except ConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    return cleaned
