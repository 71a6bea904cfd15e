"""What an INTEGRATION sends: the lead, its triggering call and the workflow as
plain values (`Subject`), mapped by the endpoint's Adaptor, or the documented
default payload (see automation.execution.actions.integration).
"""

import contextlib
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

# --- The request -------------------------------------------------------------------------
from automation.execution.actions.settings_check import clean_adaptor_fields, destination_keys
from leads.models import Lead, List, Status
from leads.placeholders import CALL_FIELDS

# --- What the request is about -------------------------------------------------------


@dataclass
class Subject:
    """The lead (live or from its snapshot), the triggering call and the workflow, as values."""

    lead: dict
    zone: object
    call: dict | None = None
    workflow: dict | None = None

    @classmethod
    def of(cls, lead=None, call=None, workflow=None, snapshot=None):
        values = lead_values(lead) if lead is not None else snapshot_values(snapshot or {})
        zone = lead.zone if lead is not None else zone_of(values.get("timezone"))
        return cls(
            lead=values,
            zone=zone,
            call=call_values(call) if call is not None else None,
            workflow={"id": workflow.pk, "name": workflow.name} if workflow is not None else None,
        )

    def value(self, source):
        """The value an adaptor `source` names (None when there is none)."""
        call = self.call or {}
        if source in ("workflow", "workflow.name"):
            return (self.workflow or {}).get("name")
        if source == "workflow.id":
            return (self.workflow or {}).get("id")
        if source == "agent":
            return call.get("agent")
        if source.startswith("call."):
            return call.get(source[5:])
        if source.startswith("custom."):
            return self.custom().get(source[7:])
        if source in self.lead and source != "custom_fields":
            return self.lead[source]
        return self.custom().get(source)

    def custom(self):
        custom = self.lead.get("custom_fields")
        return custom if isinstance(custom, dict) else {}


def zone_of(name):
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def lead_values(lead):
    values = {f.name: getattr(lead, f.attname) for f in lead._meta.concrete_fields}
    values["status_name"] = lead.status.name if lead.status_id else ""
    values["list_name"] = lead.list.name if lead.list_id else ""
    values["campaign"] = lead.list.campaign.name if lead.list_id else ""
    return values


def snapshot_values(snapshot):
    """A deleted lead's values from the snapshot on its log entry (attnames, ISO dates)."""
    values = {}
    for f in Lead._meta.concrete_fields:
        value = snapshot.get(f.attname)
        if isinstance(value, str) and isinstance(f, models.DateTimeField | models.DateField):
            # A value the field cannot read is sent as it was kept.
            with contextlib.suppress(Exception):
                value = f.to_python(value)
        values[f.name] = value
    status = Status.objects.filter(pk=values.get("status")).first()
    lead_list = List.objects.select_related("campaign").filter(pk=values.get("list")).first()
    values["status_name"] = status.name if status else ""
    values["list_name"] = lead_list.name if lead_list else ""
    values["campaign"] = lead_list.campaign.name if lead_list else ""
    return values


def call_values(call):
    """The triggering call: relations by their readable keys (agent username, names)."""
    related = {
        "disposition": lambda: call.disposition_id,
        "disposition_name": lambda: call.disposition.name if call.disposition_id else "",
        "agent": lambda: call.agent.get_username() if call.agent_id else "",
        "campaign": lambda: call.campaign.name if call.campaign_id else "",
        "list": lambda: call.list.name if call.list_id else "",
        "queue": lambda: call.queue.name if call.queue_id else "",
        "inbound_number": lambda: call.inbound_number.number if call.inbound_number_id else "",
    }
    return {
        name: related[name]() if name in related else getattr(call, name) for name in CALL_FIELDS
    }


# --- The payload -----------------------------------------------------------------------


def is_empty(value):
    return value is None or value == "" or value == [] or value == {}


def formatted(value, date_format, zone):
    """Dates and datetimes with `date_format` (datetimes in `zone`), else ISO 8601."""
    if isinstance(value, str) and date_format:
        try:
            parsed = parse_datetime(value.strip()) or parse_date(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            value = parsed
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=zone)
        return value.astimezone(zone).strftime(date_format) if date_format else value.isoformat()
    if isinstance(value, date):
        return value.strftime(date_format) if date_format else value.isoformat()
    return plain(value)


def plain(value):
    """A JSON-ready value: Decimals as text, dates ISO, ids of keys as they are."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def mapped_payload(fields, subject):
    payload = {}
    for spec in fields:
        value = subject.value(spec["source"])
        if is_empty(value):
            value = spec.get("default", "")
        else:
            value = formatted(value, spec.get("date_format") or "", subject.zone)
        for key in destination_keys(spec["to"]):
            payload[key] = value
    return payload


def default_payload(subject, entry_id, key):
    lead = {
        name: formatted(value, "", subject.zone)
        for name, value in subject.lead.items()
        if name != "custom_fields"
    }
    lead["custom_fields"] = plain(subject.custom())
    call = None
    if subject.call is not None:
        call = {name: formatted(value, "", subject.zone) for name, value in subject.call.items()}
    return {
        "lead": lead,
        "call": call,
        "workflow": subject.workflow,
        "entry_id": entry_id,
        "idempotency_key": key,
    }


def build_payload(adaptor, subject, entry_id, key):
    """The adaptor's mapping, or the default payload; ConfigError for a malformed adaptor."""
    if adaptor is None:
        return default_payload(subject, entry_id, key)
    return mapped_payload(clean_adaptor_fields(adaptor.fields, "adaptor.fields"), subject)


def form_pairs(payload, prefix=""):
    """A (nested) payload as form pairs: `lead[first_name]=Ada`, lists as `key[]`."""
    pairs = []
    items = payload.items() if isinstance(payload, dict) else ((None, v) for v in payload)
    for name, value in items:
        key = str(name) if not prefix else f"{prefix}[{'' if name is None else name}]"
        if isinstance(value, dict | list | tuple):
            pairs.extend(form_pairs(value, key))
        elif value is None:
            pairs.append((key, ""))
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs
