"""Declared custom fields (SPEC C.2): a lead's `custom_fields` hold only these, each
of its declared type, and workflows may name only these (besides lead and call fields)."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.dateparse import parse_datetime

from leads import placeholders
from leads.fields import CALL_FIELDS, CONDITION_FIELDS

# Names a custom field may not take: the lead's own fields, the names placeholders
# give lead values (leads.placeholders), and the prefixes of call and workflow fields.
RESERVED = frozenset(
    (*CONDITION_FIELDS, "status_name", "list_name", "campaign", "call", "custom", "workflow")
)


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"


def validate_not_reserved(value):
    if value in RESERVED or value in CALL_FIELDS:
        raise ValidationError(f"{value!r} is the name of a lead or call field: pick another.")


class CustomField(models.Model):
    """A custom field leads may carry, with its type (and its choices, for a choice)."""

    name = models.CharField(
        max_length=100,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z_][A-Za-z0-9_]*$",
                "Letters, digits and underscores, starting with a letter or underscore.",
            ),
            validate_not_reserved,
        ],
        help_text="As conditions, FIELD actions, adaptors and {placeholders} name it.",
    )
    label = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=CustomFieldType, default=CustomFieldType.TEXT)
    choices = models.JSONField(
        default=list, blank=True, help_text="The values a choice field may take (choice only)."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.label} ({self.name})"

    def clean(self):
        if self.type == CustomFieldType.CHOICE:
            if (
                not isinstance(self.choices, list)
                or not self.choices
                or not all(isinstance(c, str) and c.strip() for c in self.choices)
            ):
                raise ValidationError({"choices": "A choice field needs a list of values."})
            self.choices = list(dict.fromkeys(c.strip() for c in self.choices))
        elif self.choices:
            raise ValidationError({"choices": "Only a choice field has choices."})

    def check_value(self, value):
        """`value` if a lead may hold it in this field, else ValueError saying why.
        None (no value) fits every type."""
        if value is None:
            return value
        fits = CHECKS[self.type](self, value)
        if not fits:
            raise ValueError(f"must be {EXPECTED[self.type](self)}, not {value!r}")
        return value


def is_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, str):
        try:
            return Decimal(value.strip()).is_finite()
        except InvalidOperation:
            return False
    return False


def is_date(value):
    try:
        return isinstance(value, str) and bool(date.fromisoformat(value.strip()))
    except ValueError:
        return False


def is_datetime(value):
    try:
        return isinstance(value, str) and isinstance(parse_datetime(value.strip()), datetime)
    except ValueError:
        return False


CHECKS = {
    CustomFieldType.TEXT: lambda field, v: isinstance(v, str),
    CustomFieldType.NUMBER: lambda field, v: is_number(v),
    CustomFieldType.DATE: lambda field, v: is_date(v),
    CustomFieldType.DATETIME: lambda field, v: is_datetime(v),
    CustomFieldType.BOOLEAN: lambda field, v: isinstance(v, bool),
    CustomFieldType.CHOICE: lambda field, v: isinstance(v, str) and v in field.choices,
}
EXPECTED = {
    CustomFieldType.TEXT: lambda field: "text",
    CustomFieldType.NUMBER: lambda field: "a number",
    CustomFieldType.DATE: lambda field: "a date (YYYY-MM-DD)",
    CustomFieldType.DATETIME: lambda field: "a date and time (ISO 8601)",
    CustomFieldType.BOOLEAN: lambda field: "true or false",
    CustomFieldType.CHOICE: lambda field: f"one of {', '.join(field.choices)}",
}


def custom_field_errors(values, declared=None):
    """{name: message} of what is wrong with a lead's `custom_fields` (empty: all good).
    `declared`: {name: CustomField}, read from the database when not given."""
    if not isinstance(values, dict):
        return {"": "must be an object of custom fields"}
    if declared is None:
        declared = CustomField.objects.in_bulk(list(values), field_name="name") if values else {}
    errors = {}
    for name, value in values.items():
        field = declared.get(name)
        if field is None:
            errors[name] = "unknown custom field: declare it under Custom fields first"
            continue
        try:
            field.check_value(value)
        except ValueError as exc:
            errors[name] = str(exc)
    return errors


def declared_types():
    """{name: type} of every declared custom field."""
    return dict(CustomField.objects.values_list("name", "type"))


def unknown_field(name, declared=None):
    """None when `name` is a lead field, `call.<a call field>`, or a declared custom
    field (by its name or as `custom.<name>`); else the message "unknown field …".
    `declared`: the declared names, read from the database when not given."""
    if name.startswith("call."):
        return (
            None if name[5:] in CALL_FIELDS else f"unknown field {name!r}: calls have no such field"
        )
    if name in CONDITION_FIELDS and not name.startswith("custom."):
        return None
    bare = name[7:] if name.startswith("custom.") else name
    if declared is None:
        declared = set(CustomField.objects.filter(name=bare).values_list("name", flat=True))
    if bare in declared:
        return None
    return f"unknown field {name!r}: not a lead field, a call field or a declared custom field"


def check_placeholders(text):
    """leads.placeholders.validate against the declared custom fields (ValidationError)."""
    found = placeholders.names(text)
    declared = set(CustomField.objects.filter(name__in=found).values_list("name", flat=True))
    placeholders.validate(text, declared)
