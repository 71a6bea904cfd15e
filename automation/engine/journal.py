"""The occurrence journal (SPEC C.6): what a backtest replays.

The engine (automation.engine.handler.handle) appends every occurrence it
evaluates, in the transaction of the change, so the journal holds exactly
what the engine saw: one lean row (automation.models.JournalEntry) of

- when, the lead, the kind (Occurrence.kind);
- `facts`: the occurrence's fields that are set (what occurrence conditions,
  scope and loop protection read);
- `values`: the lead's values as the occurrence left them, every concrete
  field that differs from the field's default (what state conditions, stop
  filters, scope and due times read; a left-out one is its default);
- `before`: for a save, the changed fields' values before it (what
  "becomes" conditions and the stop-if entry gate read).

It is written with one plain INSERT (crm.db.send_later: on PostgreSQL it rides
with the transaction's COMMIT, so it costs no round trip of its own), and not at
all when JOURNAL_DAYS is 0. `prune` keeps JOURNAL_DAYS days (a django-q2 schedule, daily).

`replayed(row)` turns a row back into (Occurrence, Lead, before-getter) for
the engine's own matching and gates (automation.insight.backtest).
"""

import json
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import DateField, DateTimeField, JSONField
from django.db.models.base import ModelState
from django.utils import timezone

from automation.engine.occurrences import Occurrence, jsonable
from crm.db import send_later

COLUMNS = ("occurred_at", "lead_id", "kind", "facts", "values", "before", "workflow_id")
FACTS = (
    "lead_action", "status_from", "status_to", "changed_fields", "call", "disposition",
    "previous_disposition", "redisposition", "callback_id", "hopper_entry_id", "chain",
    "enrollment_id",
)  # fmt: skip

_lead = {}  # built once: the Lead's fields as the journal stores them


def lead_fields():
    """{"fields": [(attname, default as JSON)] of the concrete fields but the key, in
    order, "raw": the same with the defaults as they are,
    "defaults": {attname: default}, "attnames": {name: attname}, "dates": {position in
    `fields`: parse}, "parse": {attname: parse}, "model"}."""
    if not _lead:
        from leads.models import Lead

        concrete = [f for f in Lead._meta.concrete_fields if not f.primary_key]
        _lead["fields"] = [(f.attname, jsonable(f.get_default())) for f in concrete]
        _lead["raw"] = [(f.attname, f.get_default()) for f in concrete]
        _lead["attnames"] = {f.name: f.attname for f in concrete}
        _lead["dates"] = {
            i: datetime.fromisoformat if isinstance(f, DateTimeField) else date.fromisoformat
            for i, f in enumerate(concrete)
            if isinstance(f, DateField)
        }
        _lead["model"] = Lead
        _lead["defaults"] = dict(_lead["fields"])
        _lead["parse"] = {_lead["fields"][i][0]: parse for i, parse in _lead["dates"].items()}
    return _lead


def facts_of(occ):
    """The occurrence's fields that are set, as JSON."""
    data = {}
    for name in FACTS:
        value = getattr(occ, name)
        if value:
            if name == "changed_fields":
                value = sorted(value)
            elif name == "chain":
                value = list(value)
            data[name] = value
    return data


def values_of(lead):
    """The lead's values that differ from its fields' defaults, as JSON."""
    data = {}
    for attname, default in lead_fields()["raw"]:
        value = getattr(lead, attname)
        if value != default:
            data[attname] = jsonable(value)
    return data


def before_of(occ, lead):
    """For a save: the changed fields' values as the lead was loaded."""
    if occ.lead_action != "save" or not occ.changed_fields:
        return None
    attnames = lead_fields()["attnames"]
    return {
        attnames[name]: jsonable(lead.loaded_value(attnames[name]))
        for name in occ.changed_fields
        if name in attnames
    }


_sql = {}


def insert_sql():
    """The INSERT of one journal row, and per column what makes its parameter
    (built once per database vendor): the JSON columns' text is dumped here, which
    both backends store as it is and costs less than the field's own adapter."""
    vendor = connection.vendor
    if vendor not in _sql:
        from automation.models import JournalEntry

        fields = [JournalEntry._meta.get_field(c) for c in COLUMNS]
        quote = connection.ops.quote_name
        _sql[vendor] = (
            f"INSERT INTO {quote(JournalEntry._meta.db_table)} "
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            [prep(f) for f in fields],
        )
    return _sql[vendor]


def prep(field):
    """What makes a column's parameter from the row's value."""
    if isinstance(field, JSONField):
        return dump
    if isinstance(field, DateTimeField):
        return connection.ops.adapt_datetimefield_value
    return same  # ids and text go as they are


def dump(value):
    return None if value is None else json.dumps(value)


def same(value):
    return value


def row_of(occ, lead, workflow_id=None):
    return (
        occ.occurred_at,
        lead.pk,
        occ.kind,
        facts_of(occ),
        values_of(lead),
        before_of(occ, lead),
        workflow_id,
    )


def append(occ, lead, workflow_id=None):
    """Journal one occurrence (nothing when JOURNAL_DAYS is 0). `workflow_id`: the one
    workflow it is meant for (a bulk enrollment's), None for every workflow."""
    append_many([(occ, lead)], workflow_id)


def append_many(pairs, workflow_id=None):
    """Journal (occurrence, lead) pairs in one statement (a bulk enrollment's batch)."""
    if not settings.JOURNAL_DAYS or not pairs:
        return
    sql, preps = insert_sql()
    one = sql[sql.index(" VALUES ") + len(" VALUES ") :]
    params = [
        prep(v)
        for occ, lead in pairs
        for prep, v in zip(preps, row_of(occ, lead, workflow_id), strict=True)
    ]
    if len(pairs) > 1:
        sql = sql + ", " + ", ".join([one] * (len(pairs) - 1))
    send_later(sql, params)


def lead_of(lead_id, values):
    """The lead a journal row saw: an unsaved Lead with the row's values (dates parsed,
    left-out fields at their defaults). Made as unpickling makes one (its __dict__
    set whole): a replay makes hundreds of thousands, and Model.__init__ costs ~50 µs."""
    lead = lead_fields()
    state = dict(lead["defaults"])
    state.update(values)
    for attname, parse in lead["parse"].items():
        if isinstance(state[attname], str):
            state[attname] = parse(state[attname])
    state["id"] = lead_id
    state["_state"] = ModelState()
    instance = lead["model"].__new__(lead["model"])
    instance.__dict__.update(state)
    return instance


def loaded_of(before):
    """attname -> the value before the occurrence, for handler.previous_state (None:
    the occurrence changed nothing)."""
    if not before:
        return None
    lead = lead_fields()
    values = dict(before)
    for i, parse in lead["dates"].items():
        attname = lead["fields"][i][0]
        if isinstance(values.get(attname), str):
            values[attname] = parse(values[attname])
    return values.get


def replayed(occurred_at, lead_id, facts, values, before):
    """(Occurrence, Lead, loaded) of a journal row (see lead_of, loaded_of)."""
    occ = occurrence(occurred_at, lead_id, facts)
    return occ, lead_of(lead_id, values), loaded_of(before)


def occurrence(occurred_at, lead_id, facts):
    data = dict(facts)
    if "changed_fields" in data:
        data["changed_fields"] = frozenset(data["changed_fields"])
    if "chain" in data:
        data["chain"] = tuple(data["chain"])
    return Occurrence(lead_id=lead_id, occurred_at=occurred_at, **data)


def prune(now=None, days=None, batch=10_000):
    """Delete the journal older than `days` (JOURNAL_DAYS; 0: all of it), in batches
    of `batch` rows so no statement holds many locks for long. Returns how many."""
    from automation.models import JournalEntry

    days = settings.JOURNAL_DAYS if days is None else days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = JournalEntry.objects.filter(occurred_at__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.order_by("occurred_at", "id").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += JournalEntry.objects.filter(pk__in=ids).delete()[0]
