"""Writing what one occurrence produced: its trigger records and their pending entries.

A save that fires ten workflows writes ten triggers and their entries inside
the transaction of the save, so this is the engine's hottest write. On
PostgreSQL it is one prepared statement, and one round trip:

1. The rows travel as two JSON documents (one `json.dumps` each) that the
   server unpacks with `jsonb_to_recordset`; values shared by every row
   (lead, list, time, the occurrence) travel once, and what the entries of
   one action set share (due time, state, context) once per set.
2. Each action set joins the trigger of its workflow (a data-modifying CTE)
   and its entries, one per action, are written only if that trigger fired;
   entries get their ids in the order given, so the actions of a set run in
   their order.

The outcomes arrive decided (automation.engine.gates); `fired_recently` is the
count the rate-limit gate reads, one range scan of the lead's recent
triggers (trigger_lead_time_idx) for every matched workflow at once.

Django's `bulk_create` of the same rows costs about twice the database's own time in Python (bench/trigger.py measures
the save). Other databases (the SQLite demo) take the ORM path; both write
the same rows (tests/automation/test_records.py).

Rows in: `triggers`, (workflow id, outcome, reason, loop iteration) with each
workflow at most once (the iteration may be left out: 0); `sets`, dicts of the workflow id, state, reason, due_at,
lease_until, finished_at and context shared by the entries of one action
set, and its `actions`, (action id, action type) pairs in order.
Out: (entry id, handed off now?) pairs, the latter for entries with a lease.
"""

import json
from datetime import datetime, timedelta

import psycopg
from django.db import connection
from django.db.models import Max

from automation.constants import (
    LOOP_LIMIT,
    LOOP_WINDOW_SECONDS,
    RATE_LIMIT_SECONDS,
    TriggerOutcome,
)
from automation.engine import flood
from automation.models import LogEntry, Trigger

SQL = f"""
WITH x AS (
    SELECT x.workflow_id, x.outcome, x.reason, x.iteration, x.position
    FROM ROWS FROM (jsonb_to_recordset(%(triggers)s::jsonb)
        AS (workflow_id bigint, outcome varchar, reason varchar, iteration integer)
    ) WITH ORDINALITY AS x(workflow_id, outcome, reason, iteration, position)
), t AS (
    INSERT INTO {Trigger._meta.db_table}
        (workflow_id, lead_id, occurred_at, occurrence, outcome, reason, chain, loop_iteration)
    SELECT workflow_id, %(lead)s::bigint, %(now)s::timestamptz, %(occurrence)s::jsonb,
        outcome, reason, %(chain)s::jsonb, iteration
    FROM x
    ORDER BY x.position
    RETURNING id, workflow_id, outcome
)
INSERT INTO {LogEntry._meta.db_table}
    (workflow_id, action_id, trigger_id, lead_id, list_id, action_type, state, reason, due_at,
     lease_until, finished_at, attempts, result, context, idempotency_key, created_at)
SELECT s.workflow_id, (a.action->>0)::bigint, t.id, %(lead)s::bigint, %(list)s::bigint,
    a.action->>1, s.state, s.reason, s.due_at, s.lease_until, s.finished_at, 0, '{{}}'::jsonb,
    s.context, gen_random_uuid(), %(now)s::timestamptz
FROM ROWS FROM (jsonb_to_recordset(%(sets)s::jsonb) AS (
    workflow_id bigint, state varchar, reason varchar, due_at timestamptz,
    lease_until timestamptz, finished_at timestamptz, context jsonb, actions jsonb)
) WITH ORDINALITY AS s(
    workflow_id, state, reason, due_at, lease_until, finished_at, context, actions, position)
CROSS JOIN LATERAL jsonb_array_elements(s.actions) WITH ORDINALITY AS a(action, position)
JOIN t ON t.workflow_id = s.workflow_id AND t.outcome = '{TriggerOutcome.FIRED}'
ORDER BY s.position, a.position
RETURNING id, lease_until IS NOT NULL
"""


def write(lead, occ, triggers, sets):
    """Store the triggers and entries of one occurrence; (entry id, handed off?) pairs."""
    sets = flood.hold(triggers, sets, occ.occurred_at)  # past its flood_limit: held
    if connection.vendor == "postgresql":
        return write_sql(lead, occ, triggers, sets)
    return write_orm(lead, occ, triggers, sets)


# The lead's fired triggers in the rate-limit window, per workflow: one range
# scan of trigger_lead_time_idx. Prepared once per connection on PostgreSQL:
# planning it on every save cost more than running it (0.33 ms against 0.08 ms).
RECENT_SQL = f"""
SELECT workflow_id, count(*) FROM {Trigger._meta.db_table}
WHERE lead_id = %s AND outcome = '{TriggerOutcome.FIRED}' AND occurred_at > %s
GROUP BY workflow_id
"""


def last_fired(lead_id, workflow_ids):
    """The query behind `enrolled` (read through trigger_enrollment_idx)."""
    return (
        Trigger.objects.filter(
            lead_id=lead_id, workflow_id__in=workflow_ids, outcome=TriggerOutcome.FIRED
        )
        .values_list("workflow_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
    )


def enrolled(lead_id, workflow_ids):
    """{workflow id: when this lead last fired it}, for the given workflows: what the
    re-enrollment gate reads. One probe of trigger_enrollment_idx per workflow."""
    return dict(last_fired(lead_id, workflow_ids))


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
    """(workflow id, outcome, reason, iteration) tuples; the iteration defaults to 0."""
    return [(w, o, r, rest[0] if rest else 0) for w, o, r, *rest in triggers]


def fired_recently(lead_id, workflow_ids, now):
    """{workflow id: fired triggers for this lead in the rate-limit window}: what the
    rate-limit gate reads, for every matched workflow in one range scan (RECENT_SQL)."""
    since = connection.ops.adapt_datetimefield_value(now - timedelta(seconds=RATE_LIMIT_SECONDS))
    wanted = set(workflow_ids)
    cursor = prepared_cursor() if connection.vendor == "postgresql" else connection.cursor()
    with cursor:
        cursor.execute(RECENT_SQL, [lead_id, since])
        return {workflow_id: n for workflow_id, n in cursor.fetchall() if workflow_id in wanted}


def dumps(value):
    """JSON with datetimes to the microsecond (DjangoJSONEncoder keeps milliseconds)."""
    return json.dumps(value, default=isoformat, separators=(",", ":"))


def isoformat(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


TIMES = ("due_at", "lease_until", "finished_at")


def sets_json(sets):
    """The action sets as JSON, their times as ISO text formatted once per distinct time.

    The sets of one occurrence share a few times (automation.engine.handler memoises
    due times); formatting each once here, rather than in a `default` hook per
    value, halves the cost of this document.
    """
    texts, rows = {}, []
    for aset in sets:
        row = dict(aset)
        for name in TIMES:
            value = row[name]
            if value is not None:
                text = texts.get(value)
                if text is None:
                    text = texts[value] = value.isoformat()
                row[name] = text
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def write_sql(lead, occ, triggers, sets):
    params = {
        "lead": lead.pk,
        "list": lead.list_id,
        "now": occ.occurred_at,
        "occurrence": dumps(occ.describe()),
        "chain": dumps(list(occ.chain)),
        "triggers": dumps(
            [
                {"workflow_id": w, "outcome": o, "reason": r, "iteration": i}
                for w, o, r, i in trigger_rows(triggers)
            ]
        ),
        "sets": sets_json(sets),
    }
    with prepared_cursor() as cursor:
        cursor.execute(SQL, params)
        return cursor.fetchall()


class PreparingCursor(psycopg.Cursor):
    """Binds parameters server-side and prepares the statement (once per connection)."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True, **kwargs)


def prepared_cursor():
    """Django's cursor wrapper (error translation) around a PreparingCursor.

    Parsing, analysing and planning this statement cost a third of a plain
    lead save. It is prepared once per connection and its plan is generic,
    made once: the only table it reads, it reads by the lead (one index, the
    best plan whatever the values). The ORM's own cursors bind client-side and
    never prepare; settings give the connection the `prepare_threshold` that
    allows this one, and the generic plan (crm/settings.py). While queries are
    logged (DEBUG, tests capturing queries) it is an ordinary cursor: psycopg
    keeps no SQL text of a prepared execution for the log.
    """
    if connection.queries_logged:
        return connection.cursor()
    connection.ensure_connection()
    return connection.make_cursor(PreparingCursor(connection.connection))


def write_orm(lead, occ, triggers, sets):
    occurrence, records = occ.describe(), {}
    for workflow_id, outcome, reason, iteration in trigger_rows(triggers):
        records[workflow_id] = Trigger(
            loop_iteration=iteration,
            workflow_id=workflow_id,
            lead_id=lead.pk,
            occurred_at=occ.occurred_at,
            occurrence=occurrence,
            outcome=outcome,
            reason=reason,
            chain=list(occ.chain),
        )
    Trigger.objects.bulk_create(records.values())
    rows = [
        LogEntry(
            workflow_id=aset["workflow_id"],
            action_id=action_id,
            action_type=action_type,
            trigger=records[aset["workflow_id"]],
            lead_id=lead.pk,
            list_id=lead.list_id,
            state=aset["state"],
            reason=aset["reason"],
            due_at=aset["due_at"],
            lease_until=aset["lease_until"],
            finished_at=aset["finished_at"],
            context=aset["context"],
            created_at=occ.occurred_at,
        )
        for aset in sets
        if records[aset["workflow_id"]].outcome == TriggerOutcome.FIRED
        for action_id, action_type in aset["actions"]
    ]
    LogEntry.objects.bulk_create(rows)
    return [(row.pk, row.lease_until is not None) for row in rows]
