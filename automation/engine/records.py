"""Writing what one occurrence produced: its trigger records and their pending entries.

A save that fires ten workflows writes ten triggers and their entries inside
the transaction of the save, so this is the engine's hottest write. It is the
same two statements on every database, through Django's own cursor (no
prepared statement, no connection option: safe behind PgBouncer in
transaction mode):

1. One multi-row INSERT of the triggers, RETURNING their ids in the order
   given (as Django's bulk_create relies on, on PostgreSQL and SQLite).
2. One multi-row INSERT of the entries of the fired triggers, one per action
   of each action set, in order, so the actions of a set run in their order.

Each value is adapted by its model field (`get_db_prep_save`), as the ORM
does; what the ORM adds on top (a model instance per row, signals, pre_save)
cost twice the database's own time on this save (bench/trigger.py), and none
of it applies to these rows.

The outcomes arrive decided (automation.engine.gates); `fired_recently` is the
count the rate-limit gate reads, one range scan of the lead's recent
triggers (trigger_lead_time_idx) for every matched workflow at once.

Rows in: `triggers`, (workflow id, outcome, reason, loop iteration, version)
with each workflow at most once (the iteration and the workflow version it
fired under may be left out: 0, None; its entries record the same version); `sets`, dicts of the workflow id, state, reason, due_at,
lease_until, finished_at and context shared by the entries of one action
set, and its `actions`, (action id, action type) pairs in order.
Out: (entry id, handed off now?) pairs, the latter for entries with a lease.
"""

import uuid
from datetime import timedelta

from django.db import connection
from django.db.models import Max

from automation.constants import (
    LOOP_LIMIT,
    LOOP_WINDOW_SECONDS,
    RATE_LIMIT_SECONDS,
    TriggerOutcome,
)
from automation.engine import flood
from automation.models import LogEntry, Trigger, Workflow

TRIGGER_COLUMNS = (
    "workflow_id",
    "lead_id",
    "occurred_at",
    "occurrence",
    "outcome",
    "reason",
    "chain",
    "loop_iteration",
    "version",
)
ENTRY_COLUMNS = (
    "workflow_id",
    "action_id",
    "trigger_id",
    "lead_id",
    "list_id",
    "action_type",
    "state",
    "reason",
    "due_at",
    "lease_until",
    "finished_at",
    "attempts",
    "result",
    "context",
    "idempotency_key",
    "created_at",
    "version",
)


def insert_sql(model, columns, rows):
    """INSERT of `rows` (tuples in `columns` order) RETURNING their ids, and its params."""
    fields = [model._meta.get_field(column) for column in columns]
    quote = connection.ops.quote_name
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([one] * len(rows))} RETURNING {quote(model._meta.pk.column)}"
    )
    params = [
        field.get_db_prep_save(value, connection)
        for row in rows
        for field, value in zip(fields, row, strict=True)
    ]
    return sql, params


def insert(cursor, model, columns, rows):
    """The ids of the inserted rows, in the order of `rows`."""
    if not rows:
        return []
    cursor.execute(*insert_sql(model, columns, rows))
    return [row[0] for row in cursor.fetchall()]


def present(workflow_ids):
    """The ids among `workflow_ids` of workflows that still exist, locked FOR KEY
    SHARE on PostgreSQL until the save commits.

    The rule index may be a second old, so a save can match a workflow deleted
    since; its rows would fail the log's foreign keys at commit and take the
    lead's save with them. Locked here, a workflow cannot go before this save
    commits, and one being deleted (`lock_for_deletion` holds its row) is waited
    for and then reads as gone. The constraints' own checks at commit take the
    same lock, so this adds no contention. On SQLite the save already holds the
    database's write lock.
    """
    ids = sorted(set(workflow_ids))
    if not ids:
        return set()
    table = connection.ops.quote_name(Workflow._meta.db_table)
    lock = " FOR KEY SHARE" if connection.features.has_select_for_update else ""
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id IN ({marks}){lock}", ids)
        return {row[0] for row in cursor.fetchall()}


def lock_for_deletion(sender, instance, **kwargs):
    """pre_delete of a workflow: lock its row, then delete its log.

    Saves that matched it from a stale rule index either committed before the
    lock (their rows are deleted here, although Django's collector gathered the
    triggers earlier) or wait for this deletion and then leave it out
    (`present`), so neither the save nor the deletion fails on the foreign keys.
    """
    Workflow.objects.select_for_update().filter(pk=instance.pk).exists()
    LogEntry.objects.filter(workflow_id=instance.pk)._raw_delete(LogEntry.objects.db)
    Trigger.objects.filter(workflow_id=instance.pk)._raw_delete(Trigger.objects.db)


def write(lead, occ, triggers, sets):
    """Store the triggers and entries of one occurrence; (entry id, handed off?) pairs."""
    return write_many([(lead, occ, triggers, sets)])


def write_many(items):
    """Store the triggers and entries of several occurrences (`items`: (lead, occ,
    triggers, sets) each) in the same two statements: a lead save writes one, a bulk
    enrollment's batch (automation.execution.enrollment) a batch's worth.
    (entry id, handed off?) pairs, in the order of the items."""
    alive = present(t[0] for _, _, triggers, _ in items for t in triggers)
    trigger_values, owners = [], []  # owners: per trigger row, the entries' (item, sets)
    for lead, occ, triggers, sets in items:
        if any(t[0] not in alive for t in triggers):
            triggers = [t for t in triggers if t[0] in alive]
            sets = [aset for aset in sets if aset["workflow_id"] in alive]
        sets = flood.hold(triggers, sets, occ.occurred_at)  # past its flood_limit: held
        occurrence, chain, now = occ.describe(), list(occ.chain), occ.occurred_at
        for w, o, r, i, v in trigger_rows(triggers):
            trigger_values.append((w, lead.pk, now, occurrence, o, r, chain, i, v))
            owners.append((lead, now, sets if o == TriggerOutcome.FIRED else None))
    with connection.cursor() as cursor:
        ids = insert(cursor, Trigger, TRIGGER_COLUMNS, trigger_values)
        entries = [
            (
                aset["workflow_id"],
                action_id,
                trigger_id,
                lead.pk,
                lead.list_id,
                action_type,
                aset["state"],
                aset["reason"],
                aset["due_at"],
                aset["lease_until"],
                aset["finished_at"],
                0,
                {},
                aset["context"],
                uuid.uuid4(),
                now,
                version,  # its trigger's: the workflow version it fired under
            )
            for (w, *_, version), trigger_id, (lead, now, sets) in zip(
                trigger_values, ids, owners, strict=True
            )
            if sets is not None
            for aset in sets
            if aset["workflow_id"] == w
            for action_id, action_type in aset["actions"]
        ]
        ids = insert(cursor, LogEntry, ENTRY_COLUMNS, entries)
    return [(pk, entry[9] is not None) for pk, entry in zip(ids, entries, strict=True)]


# The leads' fired triggers in the rate-limit window, per workflow: a range scan of
# trigger_lead_time_idx per lead (one lead on a save, a batch's in bulk enrollment).
RECENT_SQL = f"""
SELECT lead_id, workflow_id, count(*) FROM {Trigger._meta.db_table}
WHERE lead_id IN ({{leads}}) AND outcome = '{TriggerOutcome.FIRED}' AND occurred_at > %s
GROUP BY lead_id, workflow_id
"""


def last_fired(lead_ids, workflow_ids):
    """The query behind `enrolled` (read through trigger_enrollment_idx)."""
    return (
        Trigger.objects.filter(
            lead_id__in=lead_ids, workflow_id__in=workflow_ids, outcome=TriggerOutcome.FIRED
        )
        .values_list("lead_id", "workflow_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )


def enrolled(lead_id, workflow_ids):
    """{workflow id: when this lead last fired it}, for the given workflows: what the
    re-enrollment gate reads. One probe of trigger_enrollment_idx per workflow."""
    return enrolled_of([lead_id], workflow_ids).get(lead_id, {})


def enrolled_of(lead_ids, workflow_ids):
    """`enrolled` for several leads at once: {lead id: {workflow id: last fired}}."""
    found = {}
    for lead_id, workflow_id, last in last_fired(lead_ids, workflow_ids):
        found.setdefault(lead_id, {})[workflow_id] = last
    return found


def loop_window_count(workflow_id, now):
    """The workflow's fired loop iterations, across leads, in the LOOP_WINDOW_SECONDS
    before `now` (at most LOOP_LIMIT: the gate needs no more). Read through
    trigger_loop_window_idx, which holds iterations only: no hot row is counted up."""
    since = now - timedelta(seconds=LOOP_WINDOW_SECONDS)
    return (
        Trigger.objects.filter(
            workflow_id=workflow_id,
            outcome=TriggerOutcome.FIRED,
            loop_iteration__gt=0,
            occurred_at__gt=since,
            occurred_at__lte=now,
        )
        .values("pk")[:LOOP_LIMIT]
        .count()
    )


def trigger_rows(triggers):
    """(workflow id, outcome, reason, iteration, version) tuples; the iteration defaults
    to 0, the version to None."""
    return [
        (w, o, r, rest[0] if rest else 0, rest[1] if len(rest) > 1 else None)
        for w, o, r, *rest in triggers
    ]


def fired_recently(lead_id, workflow_ids, now):
    """{workflow id: fired triggers for this lead in the rate-limit window}: what the
    rate-limit gate reads, for every matched workflow in one range scan (RECENT_SQL)."""
    return fired_recently_of([lead_id], workflow_ids, now).get(lead_id, {})


def fired_recently_of(lead_ids, workflow_ids, now):
    """`fired_recently` for several leads in one statement: {lead id: {workflow id: n}}."""
    since = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=RATE_LIMIT_SECONDS))
    wanted = set(workflow_ids)
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(
            RECENT_SQL.format(leads=", ".join(["%s"] * len(lead_ids))), [*lead_ids, since]
        )
        for lead_id, workflow_id, n in cursor.fetchall():
            if workflow_id in wanted:
                found.setdefault(lead_id, {})[workflow_id] = n
    return found
