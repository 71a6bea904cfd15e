"""Executors that only change our own database (exactly once, in the runner's transaction)."""

import re

from automation.actions.base import Executor, Result, Run
from automation.constants import ActionType
from automation.schema import Any, Choice, ConfigError, Dec, Int, Ref, Schema, Str, join
from leads.models import Lead

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
    if value in Lead.WRITABLE_FIELDS or CUSTOM.match(value):
        return
    raise ValueError(
        f"{value!r} cannot be set: use one of {', '.join(Lead.WRITABLE_FIELDS)} or custom.<name>"
    )


def check_source_field(value):
    if value in Lead.CONDITION_FIELDS or CUSTOM.match(value) or value.startswith("call."):
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


class Move(Executor):
    type = ActionType.MOVE
    schema = Schema({"list": Ref("leads.List")})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


class StatusChange(Executor):
    type = ActionType.STATUS
    schema = Schema({"status": Ref("leads.Status", key="code")})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


class Field(Executor):
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

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


class CallbackAction(Executor):
    type = ActionType.CALLBACK
    schema = Schema(
        {
            "seconds": Int(min=0, max=366 * 86400, help_text="After the trigger."),
            "note": Str(max_length=500, required=False, blank=True, default=""),
        }
    )

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


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
        raise NotImplementedError


class Hopper(Executor):
    type = ActionType.HOPPER
    schema = Schema({"priority": Int(min=0, max=99, required=False, default=50)})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError


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
        raise NotImplementedError


class Revenue(Executor):
    type = ActionType.REVENUE
    schema = Schema({"amount": Dec()})

    def execute(self, run: Run) -> Result:
        raise NotImplementedError
