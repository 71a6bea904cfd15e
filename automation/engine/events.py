"""The 11 event types: each declares its config schema and how it matches.

`fact` names the occurrence fact the type needs (see Occurrence.facts); a
type without one is a *state* condition, matched on the lead as it is now.
The rule index files each workflow under one fact its conditions need, so a
lead save only looks at workflows that could possibly match.
"""

import re

from automation.engine import conditions
from automation.constants import EventType, Operator
from automation.engine.occurrences import field_value
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
)
from leads.models import CallType, TermReason
from leads.placeholders import CALL_FIELDS

FIELD_NAME = re.compile(r"^(call\.|custom\.)?[A-Za-z_][A-Za-z0-9_]*$")


def check_field_name(value):
    if not FIELD_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a field name (a lead field, custom.<name> or call.<field>)"
        )
    if value.startswith("call.") and value[5:] not in CALL_FIELDS:
        raise ValueError(f"{value!r}: calls have no field {value[5:]!r} ({', '.join(CALL_FIELDS)})")


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


def statuses(required=True, label=""):
    return RefList("leads.Status", key="code", required=required, label=label)


class EventSpec:
    code = ""
    fact = None  # None: a state condition
    schema = Schema()

    def matches(self, config, occ, lead):
        raise NotImplementedError

    def prepare(self, config):
        """`matches` for this config: (occ, lead) -> bool, made once per compiled rule."""
        return lambda occ, lead: self.matches(config, occ, lead)


class Disposition(EventSpec):
    code = EventType.DISPOSITION
    fact = "disposition"
    schema = Schema({"values": statuses()})

    def matches(self, config, occ, lead):
        return occ.disposition in config["values"]


def operator_schema(field=None):
    fields = {
        "operator": Choice(Operator),
        "value": Any(required=False),
        "value2": Any(required=False),
        "values": StrList(required=False),
    }
    if field:
        fields = {"field": field, **fields}
    return Schema(fields, check=check_operator_values)


def prepared(config, read):
    """(occ, lead) -> bool for an operator condition: its value read once, then
    `read(occ, lead)` tested in the lead's zone. A config validation would have
    refused never matches (rather than failing the whole index's compilation)."""
    try:
        test = conditions.prepare(
            config["operator"], config.get("value"), config.get("value2"), config.get("values")
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        return lambda occ, lead: False
    return lambda occ, lead: test(read(occ, lead), lead.zone)


class OperatorEvent(EventSpec):
    """A state condition that compares one value of the lead with an operator."""

    def read(self, config):
        """(occ, lead) -> the value this condition compares."""
        raise NotImplementedError

    def prepare(self, config):
        read = self.read(config)
        if read is None:
            return lambda occ, lead: False
        return prepared(config, read)

    def matches(self, config, occ, lead):
        return self.prepare(config)(occ, lead)


class CallCount(OperatorEvent):
    code = EventType.CALL_COUNT
    schema = operator_schema()

    def read(self, config):
        return lambda occ, lead: lead.called_count


class CallTypeEvent(EventSpec):
    code = EventType.CALL_TYPE
    fact = "call"
    schema = Schema({"values": MultiChoice(CallType)})

    def matches(self, config, occ, lead):
        return occ.call is not None and occ.call.get("call_type") in config["values"]


class CallbackEvent(EventSpec):
    code = EventType.CALLBACK
    fact = "callback"

    def matches(self, config, occ, lead):
        return occ.callback_id is not None


class HopperExpired(EventSpec):
    code = EventType.HOPPER_EXPIRED
    fact = "hopper_expired"

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


class LeadFields(OperatorEvent):
    code = EventType.LEAD_FIELDS
    schema = operator_schema(field=Str(max_length=100, check=check_field_name))

    def read(self, config):
        name = config.get("field") if isinstance(config, dict) else None
        if not isinstance(name, str):
            return None
        return lambda occ, lead: field_value(lead, name, occ.call)


def check_status_change(cleaned, path):
    if not cleaned.get("to") and not cleaned.get("from"):
        raise ConfigError.at(join(path, "to"), "give `to` and/or `from` status codes")


class LeadStatus(EventSpec):
    code = EventType.LEAD_STATUS
    fact = "status_change"
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
    schema = Schema({"values": statuses(required=False, label="New disposition (any if empty)")})

    def matches(self, config, occ, lead):
        return occ.redisposition and (
            not config.get("values") or occ.disposition in config["values"]
        )


class SubmittedBy(EventSpec):
    code = EventType.SUBMITTED_BY
    schema = Schema(
        {
            "values": StrList(
                help_text="Usernames or sources (api, import, agent, web_form), comma-separated."
            )
        }
    )

    def matches(self, config, occ, lead):
        submitted = (lead.submitted_by or "").strip().lower()
        return submitted in {v.strip().lower() for v in config["values"]}


class TermReasonEvent(EventSpec):
    code = EventType.TERM_REASON
    fact = "call"
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


def validate(event_type, config, path="config"):
    """Clean one event condition's config, or raise ConfigError naming the path."""
    spec = EVENTS.get(event_type)
    if spec is None:
        raise ConfigError.at(path.rsplit(".", 1)[0] + ".type", f"unknown event type {event_type!r}")
    return spec.schema.validate(config, path)


def validate_filter(conditions_list, path="stop_filter"):
    """A stop filter: a list of Lead-Fields conditions (field, operator, value…)."""
    if not isinstance(conditions_list, list):
        raise ConfigError.at(path, "must be a list of conditions")
    cleaned, errors = [], {}
    for i, item in enumerate(conditions_list):
        try:
            cleaned.append(LeadFields.schema.validate(item, join(path, i)))
        except ConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ConfigError(errors)
    return cleaned
