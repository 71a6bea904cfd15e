"""Executors that only change our own database (exactly once, in the runner's transaction).

The runner locks the lead row and opens a savepoint around `execute`, so an
executor may simply read, change and `lead.save_changes()`: the save fires the
lead's own signals (Lead Status, Lead Fields …) carrying the causal chain,
and a failure undoes everything but the log entry. Saves that would change
nothing are not made, so an action cannot re-trigger workflows for nothing.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from automation.constants import ActionType, OccurrenceKind
from automation.document.schema import (
    Any,
    Choice,
    ConfigError,
    Dec,
    Int,
    Ref,
    Schema,
    Str,
    is_id,
    join,
)
from automation.engine.occurrences import UNKNOWN, Effect, call_data, field_value, jsonable
from automation.execution.actions.base import Executor, Result, Run, referred
from leads.models import (
    Call,
    Callback,
    CallbackRecipient,
    CallbackState,
    DncEntry,
    HopperEntry,
    HopperState,
    Lead,
    List,
    Status,
    unknown_field,
)

FIELD_OPS = [
    ("set", "Set a value"),
    ("copy", "Copy another field"),
    ("add", "Add (+)"),
    ("subtract", "Subtract (−)"),
    ("multiply", "Multiply (×)"),
    ("divide", "Divide (÷)"),
    ("timestamp", "Stamp the current time"),
]
MATH_OPS = ("add", "subtract", "multiply", "divide")
CUSTOM = re.compile(r"^custom\.[A-Za-z_][A-Za-z0-9_]*$")


def check_target_field(value):
    if value in Lead.WRITABLE_FIELDS:
        return
    if not CUSTOM.match(value):
        raise ValueError(
            f"{value!r} cannot be set: use one of {', '.join(Lead.WRITABLE_FIELDS)} "
            "or custom.<name>"
        )
    if problem := unknown_field(value):
        raise ValueError(problem)


def check_source_field(value):
    if value in Lead.CONDITION_FIELDS or CUSTOM.match(value) or value.startswith("call."):
        if problem := unknown_field(value):
            raise ValueError(problem)
        return
    raise ValueError(f"{value!r} is not a lead field, custom.<name> or call.<field>")


def check_field_config(cleaned, path):
    op = cleaned["op"]
    if op == "set" and "value" not in cleaned:
        raise ConfigError.at(join(path, "value"), "is required to set a value")
    if op == "copy" and not cleaned.get("source_field"):
        raise ConfigError.at(join(path, "source_field"), "is required to copy a field")
    if op in MATH_OPS:
        number = Dec().clean(cleaned.get("value"), join(path, "value"))
        if op == "divide" and float(number) == 0:
            raise ConfigError.at(join(path, "value"), "cannot divide by zero")


class FieldError(Exception):
    """A FIELD action that cannot be applied to this lead; the message is the reason."""


def as_number(name, value):
    """The current value of a field as a Decimal; missing or blank counts as 0."""
    if value is None or value == "":
        return Decimal(0)
    if not isinstance(value, bool) and isinstance(value, int | float | Decimal | str):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return number
    raise FieldError(f"field {name} is not numeric ({value!r})")


def plain_number(number, like):
    """A math result stored the way the old value was: text stays text, else int or float."""
    number = number.normalize() if number else Decimal(0)
    text = format(number, "f")
    if isinstance(like, str):
        return text
    return int(number) if number == number.to_integral_value() else float(text)


def model_value(lead, name, value):
    """`value` converted to lead field `name`'s type and validated; FieldError if impossible."""
    field = Lead._meta.get_field(name)
    if isinstance(value, bool) and not isinstance(field, models.BooleanField):
        raise FieldError(f"cannot set {name} to {value!r}")
    if isinstance(field, models.DateTimeField):
        return datetime_value(lead, name, value)
    if isinstance(field, models.IntegerField):
        value = whole_number(name, value)
    elif isinstance(field, models.CharField):
        value = "" if value is None else jsonable(value)
        value = value if isinstance(value, str) else str(value)
    try:
        return field.clean(value, lead)
    except ValidationError as exc:
        raise FieldError(f"cannot set {name} to {value!r}: {' '.join(exc.messages)}") from None


def whole_number(name, value):
    if value is None or value == "":
        raise FieldError(f"field {name} needs a whole number, not {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise FieldError(f"field {name} needs a whole number, not {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise FieldError(f"field {name} needs a whole number, not {value!r}")
    return int(number)


def datetime_value(lead, name, value):
    """A datetime, a date or an ISO string as an aware datetime (naive: the lead's zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text) or parse_date(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise FieldError(f"cannot set {name} to {value!r}: not a date or datetime")
        value = parsed
    if not isinstance(value, datetime):
        if not hasattr(value, "isoformat"):
            raise FieldError(f"cannot set {name} to {value!r}: not a date or datetime")
        value = datetime(value.year, value.month, value.day)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=lead.zone)
    return value


class Move(Executor):
    type = ActionType.MOVE
    schema = Schema({"list": Ref("leads.List")})

    def effect(self, config):
        target = config["list"]
        return Effect(
            OccurrenceKind.SAVE,
            {"list": target if is_id(target) else UNKNOWN},
            summary="moves the lead to another list",
        )

    def execute(self, run: Run) -> Result:
        lead, target = run.lead, referred(List, run.config["list"], "list")
        if isinstance(target, Result):
            return target
        old = lead.list.name
        if lead.list_id == target.pk:
            return Result.ok("already in list", list=target.name)
        lead.list = target
        lead.save_changes()
        return Result.ok(**{"from": old, "to": target.name})


class StatusChange(Executor):
    type = ActionType.STATUS
    schema = Schema({"status": Ref("leads.Status", key="code")})

    def effect(self, config):
        status = config["status"]
        return Effect(OccurrenceKind.SAVE, {"status": status}, summary=f"sets status {status}")

    def execute(self, run: Run) -> Result:
        lead, code = run.lead, run.config["status"]
        status = Status.objects.filter(code=code).first()
        if status is None:
            return Result.failed(f"the status {code!r} no longer exists")
        if lead.status_id == code:
            return Result.ok(f"the lead already has status {code}", status=code)
        old = lead.status_id
        lead.status = status
        lead.save_changes()  # fires the Lead Status occurrence
        return Result.ok(**{"from": old, "to": code})


class Field(Executor):
    """Set, copy, compute or stamp one lead field or custom field.

    1. Work out the new value: the configured value, another field's value
       (a lead field, `custom.<name>` or the triggering call's `call.<field>`),
       the current value ± × ÷ the configured number (missing counts as 0),
       or the current time.
    2. Convert it to the target's type (a model field's own validation;
       custom fields keep JSON values, timestamps as ISO text in UTC).
    3. Save the lead, unless the value is unchanged.
    """

    type = ActionType.FIELD
    schema = Schema(
        {
            "field": Str(max_length=100, check=check_target_field),
            "op": Choice(FIELD_OPS, default="set"),
            "value": Any(required=False),
            "source_field": Str(max_length=100, required=False, check=check_source_field),
        },
        check=check_field_config,
    )

    def effect(self, config):
        target, op = config["field"], config["op"]
        value = config.get("value") if op == "set" else UNKNOWN
        # A set or a copy writes the same value when run again; math and stamps do not.
        idempotent = op in ("set", "copy")
        summary = f"{op} {target}" + (f" = {value!r}" if op == "set" else "")
        return Effect(OccurrenceKind.SAVE, {target: value}, idempotent, summary)

    def execute(self, run: Run) -> Result:
        lead, config = run.lead, run.config
        target, op = config["field"], config["op"]
        custom = target.startswith("custom.")
        if custom and not isinstance(lead.custom_fields, dict):
            return Result.failed("the lead's custom fields are not an object")
        before = field_value(lead, target)
        try:
            value = self.new_value(run, before)
            if not custom:
                value = model_value(lead, target, value)
        except FieldError as exc:
            return Result.failed(str(exc))
        summary = {"field": target, "op": op, "before": jsonable(before), "after": jsonable(value)}
        if value == before and op != "timestamp":
            return Result.ok(f"field {target} already has this value", **summary)
        if custom:
            # A new dict: the loaded one must stay as it was for changed_fields().
            lead.custom_fields = {**lead.custom_fields, target[7:]: jsonable(value)}
        else:
            setattr(lead, target, value)
        lead.save_changes()
        return Result.ok(**summary)

    def new_value(self, run, before):
        config = run.config
        op, target = config["op"], config["field"]
        if op == "set":
            return config.get("value")
        if op == "copy":
            return self.source_value(run, config["source_field"])
        if op == "timestamp":
            # The datetime field takes the datetime; text and custom fields ISO text in UTC.
            if target == "last_called_at":
                return run.now
            return run.now.astimezone(UTC).isoformat()
        current = as_number(target, before)
        operand = as_number("value", config.get("value"))
        if op == "add":
            result = current + operand
        elif op == "subtract":
            result = current - operand
        elif op == "multiply":
            result = current * operand
        elif operand == 0:
            raise FieldError(f"cannot divide field {target} by zero")
        else:
            result = current / operand
        return plain_number(result, before)

    def source_value(self, run, source):
        if source.startswith("call."):
            if run.call is None:
                raise FieldError(f"there is no triggering call to copy {source} from")
            data = call_data(run.call)
            if source[5:] not in data:
                raise FieldError(f"{source} is not a call field")
            return data[source[5:]]
        return field_value(run.lead, source)


class CallbackAction(Executor):
    type = ActionType.CALLBACK
    schema = Schema(
        {
            "seconds": Int(min=0, max=366 * 86400, help_text="After the trigger."),
            "note": Str(max_length=500, required=False, blank=True, default=""),
        }
    )

    def effect(self, config):
        # Every run schedules one more callback: a Callback occurrence each time.
        return Effect(OccurrenceKind.CALLBACK, idempotent=False, summary="schedules a callback")

    def execute(self, run: Run) -> Result:
        entry = run.entry
        trigger = entry.trigger
        triggered_at = trigger.occurred_at if trigger is not None else entry.created_at
        callback = Callback.objects.create(
            lead=run.lead,
            due_at=triggered_at + timedelta(seconds=run.config["seconds"]),
            recipient=CallbackRecipient.SYSTEM,
            note=run.config.get("note") or "",
        )
        return Result.ok(callback_id=callback.pk, due_at=callback.due_at.isoformat())


def check_callback_update(cleaned, path):
    if cleaned["op"] == "move" and cleaned.get("seconds") is None:
        raise ConfigError.at(join(path, "seconds"), "is required to move callbacks")


class CallbackUpdate(Executor):
    type = ActionType.CALLBACK_UPDATE
    schema = Schema(
        {
            "op": Choice([("move", "Move to N seconds from now"), ("remove", "Remove (dismiss)")]),
            "seconds": Int(min=0, max=366 * 86400, required=False),
        },
        check=check_callback_update,
    )

    def execute(self, run: Run) -> Result:
        pending = Callback.objects.filter(lead=run.lead, state=CallbackState.PENDING)
        ids = sorted(pending.values_list("pk", flat=True))
        op = run.config["op"]
        if not ids:
            return Result.ok("no pending callbacks", op=op, count=0)
        # Changes to existing callbacks are not occurrences: an update() is enough.
        callbacks = Callback.objects.filter(pk__in=ids)
        if op == "move":
            due_at = run.now + timedelta(seconds=run.config["seconds"])
            callbacks.update(due_at=due_at)
            return Result.ok(op=op, count=len(ids), callback_ids=ids, due_at=due_at.isoformat())
        callbacks.update(state=CallbackState.DISMISSED)
        return Result.ok(op=op, count=len(ids), callback_ids=ids)


class Hopper(Executor):
    type = ActionType.HOPPER
    schema = Schema({"priority": Int(min=0, max=99, required=False, default=50)})

    def execute(self, run: Run) -> Result:
        lead, priority = run.lead, run.config["priority"]
        campaign = lead.list.campaign
        # The lead row is locked: no other action can add a second entry meanwhile.
        waiting = HopperEntry.objects.filter(
            lead=lead, campaign=campaign, state=HopperState.WAITING
        ).first()
        if waiting is not None:
            if waiting.priority != priority:
                waiting.priority = priority
                waiting.save(update_fields=["priority"])
            return Result.ok(
                "already in the hopper: priority updated",
                hopper_entry_id=waiting.pk,
                campaign=campaign.name,
                priority=priority,
            )
        entry = HopperEntry.objects.create(
            lead=lead,
            campaign=campaign,
            priority=priority,
            source="WA",
            inserted_at=run.now,
            state=HopperState.WAITING,
        )
        return Result.ok(hopper_entry_id=entry.pk, campaign=campaign.name, priority=priority)


class Dnc(Executor):
    type = ActionType.DNC
    schema = Schema(
        {
            "scope": Choice(
                [("global", "Global"), ("campaign", "This campaign")], default="global"
            ),
            "phones": Choice(
                [("primary", "Primary phone"), ("all", "All phones")], default="primary"
            ),
        }
    )

    def execute(self, run: Run) -> Result:
        lead, config = run.lead, run.config
        campaign = lead.list.campaign if config["scope"] == "campaign" else None
        phones = [lead.phone_number]
        if config["phones"] == "all" and lead.alt_phone and lead.alt_phone != lead.phone_number:
            phones.append(lead.alt_phone)
        added, already = [], []
        for phone in phones:
            _, created = DncEntry.add(
                phone, campaign=campaign, reason=f"workflow {run.workflow.name}", source="workflow"
            )
            (added if created else already).append(phone)
        scope = campaign.name if campaign else "global"
        reason = "" if added else "already on the DNC list"
        return Result.ok(reason, added=added, already=already, scope=scope)


class Revenue(Executor):
    type = ActionType.REVENUE
    schema = Schema({"amount": Dec()})

    def execute(self, run: Run) -> Result:
        amount = Decimal(run.config["amount"])
        call = run.call
        if call is None:
            call = Call.objects.filter(lead=run.lead).order_by("-started_at", "-pk").first()
        if call is None:
            return Result.failed("the lead has no call to add revenue to")
        # An F() update: a concurrent change of the call (an API PATCH) is not overwritten.
        Call.objects.filter(pk=call.pk).update(revenue=F("revenue") + amount)
        total = Call.objects.values_list("revenue", flat=True).get(pk=call.pk)
        return Result.ok(
            call_id=call.pk,
            amount=str(amount),
            revenue=str(total),
            triggering_call=call.pk == getattr(run.call, "pk", None),
        )
