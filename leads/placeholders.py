"""The safe placeholder syntax of message texts (SPEC §4.3, Appendix A).

`{first_name}` is a lead field or a custom field, `{call.length}` a field of
the triggering call, `{workflow.name}` the workflow's name; `{{` and `}}` are
literal braces. No code runs and no attributes are walked: a placeholder is a
key into a flat dict of values the caller builds.
"""

import re

from django.core.exceptions import ValidationError

from leads.fields import CALL_FIELDS, CONDITION_FIELDS  # noqa: F401 (CALL_FIELDS: read here)

TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
NAME = re.compile(r"^(?:call\.|workflow\.)?[A-Za-z_][A-Za-z0-9_]*$")

WORKFLOW_FIELDS = ("id", "name")


def names(text):
    """The placeholder names in `text`; raises ValidationError on bad syntax."""
    found = []
    for match in TOKEN.finditer(text or ""):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValidationError(
                f"Unmatched {token!r} at position {match.start()}: write {token * 2} for a literal brace."
            )
        name = match.group(1).strip()
        if not NAME.match(name):
            raise ValidationError(f"{{{name}}} is not a placeholder name.")
        found.append(name)
    return found


def known(name, custom_field_names=()):
    if name.startswith("call."):
        return name[5:] in CALL_FIELDS
    if name.startswith("workflow."):
        return name[9:] in WORKFLOW_FIELDS
    return (
        name in CONDITION_FIELDS
        or name in ("status_name", "list_name", "campaign")
        or (name in custom_field_names)
    )


def validate(text, custom_field_names=None):
    """Raise ValidationError for bad syntax or an unknown placeholder: one that is no
    lead field, call or workflow value, nor a declared custom field (SPEC C.2).
    `custom_field_names`: the declared names (leads.models.custom.check_placeholders
    reads them)."""
    for name in names(text):
        if not known(name, custom_field_names or ()):
            raise ValidationError(
                f"Unknown placeholder {{{name}}}: unknown field (not a lead field, a call "
                "or workflow value, or a declared custom field)."
            )


def render(text, values):
    """Fill `text` from the flat dict `values`; a missing value renders empty."""

    def replace(match):
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = values.get((match.group(1) or "").strip())
        return "" if value is None else str(value)

    return TOKEN.sub(replace, text or "")


def lead_values(lead, call=None, workflow=None):
    """The flat dict of values placeholders may name, for one lead."""
    values = dict(lead.custom_fields or {}) if isinstance(lead.custom_fields, dict) else {}
    for field in lead._meta.concrete_fields:
        values[field.name] = getattr(lead, field.attname)
    values["status"] = lead.status_id or ""
    values["status_name"] = lead.status.name if lead.status_id else ""
    values["list_name"] = lead.list.name if lead.list_id else ""
    values["campaign"] = lead.list.campaign.name if lead.list_id else ""
    if call is not None:
        for name in CALL_FIELDS:
            if name == "disposition_name":
                values["call.disposition_name"] = (
                    call.disposition.name if call.disposition_id else ""
                )
            elif name in ("disposition", "agent", "campaign", "list", "queue", "inbound_number"):
                related = getattr(call, name)
                values[f"call.{name}"] = (
                    ""
                    if related is None
                    else str(getattr(related, "pk", related) if name == "disposition" else related)
                )
            else:
                values[f"call.{name}"] = getattr(call, name)
    if workflow is not None:
        values["workflow.id"] = workflow.pk
        values["workflow.name"] = workflow.name
    return values
