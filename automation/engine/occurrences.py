"""What happened to a lead, as a plain value the engine evaluates.

Signals (leads.signals) build one `Occurrence` per change: a lead created,
saved or deleted (with the changed fields and status before → after), a call
recorded or dispositioned (its data, the disposition set, whether it was a
redisposition), a callback scheduled, a hopper slot expired; and one the
operator makes: a lead enrolled in bulk (`enrollment_id`, SPEC C.6), which
changes nothing of the lead and carries no call. Occurrence
conditions read only these facts; state conditions read the lead.

`causing_chain` is the causal chain of the action being executed right now
(workflow ids): executors set it, so lead saves they make carry it and loop
protection can see a workflow re-triggering itself.
"""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

causing_chain = contextvars.ContextVar("causing_chain", default=())


@contextmanager
def caused_by(chain):
    """Lead changes inside this block were made by the actions of `chain`."""
    token = causing_chain.set(tuple(chain))
    try:
        yield
    finally:
        causing_chain.reset(token)


CALL_DATA = (
    "id", "call_type", "term_reason", "disposition", "length", "agent", "queue",
    "inbound_number", "campaign", "list", "revenue", "started_at", "ended_at", "external_id",
)  # fmt: skip


def jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def call_data(call):
    """A call as a flat dict of plain values (ids for relations), plus `disposition_name`.

    It holds every `call.<field>` a condition, a FIELD copy or a placeholder may
    name (leads.placeholders.CALL_FIELDS).
    """
    data = {}
    for name in CALL_DATA:
        f = call._meta.get_field(name)
        data[name] = jsonable(getattr(call, f.attname))
    # The status is usually loaded with the call already (record, set_disposition).
    data["disposition_name"] = call.disposition.name if call.disposition_id else None
    return data


@dataclass(frozen=True)
class Occurrence:
    lead_id: int
    occurred_at: datetime
    lead_action: str | None = None  # create / save / delete
    status_from: str | None = None
    status_to: str | None = None
    changed_fields: frozenset = field(default_factory=frozenset)
    call: dict | None = None
    disposition: str | None = None  # set on a call in this occurrence
    previous_disposition: str | None = None
    redisposition: bool = False
    callback_id: int | None = None
    hopper_entry_id: int | None = None
    chain: tuple = ()
    enrollment_id: int | None = None  # bulk enrollment (SPEC C.6): kind "enroll"

    @property
    def status_changed(self):
        return self.lead_action in ("create", "save") and self.status_from != self.status_to

    def facts(self):
        """The keys rules are indexed by: which kinds of condition this can satisfy."""
        found = set()
        if self.lead_action:
            found.add("lead_action")
        if self.lead_action in ("create", "save"):
            found.add("lead_saved")
        if self.status_changed:
            found.add("status_change")
        if self.call is not None:
            found.add("call")
        if self.disposition:
            found.add("disposition")
        if self.redisposition:
            found.add("redisposition")
        if self.callback_id:
            found.add("callback")
        if self.hopper_entry_id:
            found.add("hopper_expired")
        if self.enrollment_id:
            found.add("enroll")  # no event type needs it: only state conditions match
        return found

    def describe(self):
        """JSON for the trigger record: what happened."""
        data = {"facts": sorted(self.facts())}
        for name in (
            "lead_action", "status_from", "status_to", "disposition",
            "previous_disposition", "callback_id", "hopper_entry_id", "enrollment_id",
        ):  # fmt: skip
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.changed_fields:
            data["changed_fields"] = sorted(self.changed_fields)
        if self.call is not None:
            data["call"] = {k: self.call.get(k) for k in ("id", "call_type", "term_reason")}
        return data


# A value an action writes that is not known until it runs (a copy, a sum, a timestamp).
UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "<unknown>"})()


@dataclass(frozen=True)
class Effect:
    """What running an action can make happen that workflows react to (each action
    type declares it: `Executor.effect`; the cycle analysis reads it).

    `kind`: the occurrence it causes (OccurrenceKind: a lead save, a callback);
    `writes`: lead field (as conditions name it) -> the value written, or UNKNOWN;
    `idempotent`: running it again right after changes nothing more (a set, a
    move), so a workflow re-triggered by its own action settles.
    """

    kind: str
    writes: dict = field(default_factory=dict)
    idempotent: bool = True
    summary: str = ""


def field_value(lead, name, call=None):
    """The value a condition's `field` names: a lead field, `custom.x` or `call.x`.

    A bare name that is not a lead field is a custom field. Relations give
    their key: `list` the list id, `status` the status code, `owner` the user id.
    `timezone` is the zone the lead is in: the account default when it has none.
    """
    attname = lead_attnames().get(name)
    if attname is not None:
        return getattr(lead, attname)
    if name.startswith("call."):
        return (call or {}).get(name[5:])
    if name.startswith("custom."):
        name = name[7:]
    custom = lead.custom_fields if isinstance(lead.custom_fields, dict) else {}
    return custom.get(name)


_attnames = {}


def lead_attnames():
    """Condition field name → Lead attribute (`list` → `list_id`), built once (hot path)."""
    if not _attnames:
        from leads.models import Lead

        _attnames.update({n: Lead._meta.get_field(n).attname for n in Lead.CONDITION_FIELDS})
        _attnames["timezone"] = "zone_name"
    return _attnames
