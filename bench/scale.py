"""5. Scale: the hot queries on 1,000,000 leads and 5,000,000 log entries (1,000,000 pending).

The data lives in its own database (<bench database>_scale; --quick uses a
small <…>_scale_quick) and is generated once: a marker table records the
counts, and a later run with the same counts reuses it. Generation is plain
SQL (`INSERT … SELECT generate_series`) with the secondary indexes dropped
and rebuilt afterwards, foreign-key triggers off, then VACUUM ANALYZE.

The queries are the real ones: each is captured from the code that issues it
(`automation.execution.dispatcher.claim()`, and `GET /api/v1/workflow-logs/?…` through
DRF's APIClient) on the small bench database, then run on the scale database:
once under `EXPLAIN (ANALYZE, BUFFERS)`, then timed, median of repeated runs.
The claim runs in a transaction that is rolled back (it locks what it finds).

Data shape: 100 campaigns, 1,000 lists, 100 workflows (one FIELD action
each); leads spread over the lists; entries spread over workflows and
(pseudo-randomly) leads, created over the last 30 days; the pending ones due
over the next 30 days, 1 % of them already due.
"""

import copy
import re
import time
from datetime import timedelta

from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from bench import world
from bench.stats import median, ms

ALIAS = "scale"
GENERATION = 1  # bump when the generated data's shape changes
WORKFLOWS = 100
LISTS = 1_000
DAY = 86_400


def add_alias(name):
    """A second connection alias for the scale database (same server and user)."""
    config = copy.deepcopy(connections.settings["default"])
    config["NAME"] = name
    config["CONN_MAX_AGE"] = 0
    connections.settings[ALIAS] = config
    return connections[ALIAS]


def marker(cursor):
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_scale (key text PRIMARY KEY, value text)")
    cursor.execute("SELECT key, value FROM bench_scale")
    return dict(cursor.fetchall())


def wanted(opts):
    return {
        "generation": str(GENERATION),
        "leads": str(opts.scale_leads),
        "entries": str(opts.scale_entries),
        "pending": str(opts.scale_pending),
    }


def counts(cursor):
    cursor.execute("SELECT count(*) FROM leads_lead")
    leads = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*), count(*) FILTER (WHERE state = 'pending') FROM automation_logentry"
    )
    entries, pending = cursor.fetchone()
    return {"leads": str(leads), "entries": str(entries), "pending": str(pending)}


def secondary_indexes(cursor, table):
    """(drop statements, create statements) for the indexes and unique constraints of `table`
    other than its primary key."""
    cursor.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = %s AND i.indexname NOT IN (
               SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)""",
        [table, table],
    )
    drops, creates = [], []
    for name, definition in cursor.fetchall():
        drops.append(f'DROP INDEX "{name}"')
        creates.append(definition)
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    for name, definition in cursor.fetchall():
        drops.append(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        creates.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    return drops, creates


def generate(opts, conn):
    """Fill the scale database (everything it had is replaced)."""
    from django.apps import apps

    from automation.constants import DelayMode
    from automation.models import Action, ActionSet, LogEntry, Workflow
    from leads.models import Campaign, CustomField, Lead, List, Status

    leads, entries, pending = opts.scale_leads, opts.scale_entries, opts.scale_pending
    due_now = max(1, pending // 100)
    print(f"  generating {leads:,} leads, {entries:,} entries ({pending:,} pending) …", flush=True)
    models = [Lead]
    for label in ("leads", "automation", "django_q"):
        models += apps.get_app_config(label).get_models(include_auto_created=True)
    tables = sorted({m._meta.db_table for m in models if m._meta.managed and not m._meta.proxy})
    with conn.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
        cursor.execute("DELETE FROM bench_scale")
    for code, name, flags in world.STATUSES:
        Status.objects.using(ALIAS).create(code=code, name=name, **flags)
    CustomField.objects.using(ALIAS).create(name="n", label="N", type="number")
    campaigns = Campaign.objects.using(ALIAS).bulk_create(
        [Campaign(name=f"Scale {i:03d}") for i in range(100)]
    )
    List.objects.using(ALIAS).bulk_create(
        [List(name=f"Scale list {i:04d}", campaign=campaigns[i % 100]) for i in range(LISTS)]
    )
    workflows = Workflow.objects.using(ALIAS).bulk_create(
        [Workflow(name=f"Scale {i}", all_campaigns=True) for i in range(WORKFLOWS)]
    )
    sets = ActionSet.objects.using(ALIAS).bulk_create(
        [ActionSet(workflow=w, delay_mode=DelayMode.FIXED, delay_days=1) for w in workflows]
    )
    Action.objects.using(ALIAS).bulk_create(
        [
            Action(
                action_set=s, type="FIELD", config={"field": "custom.n", "op": "add", "value": 1}
            )
            for s in sets
        ]
    )
    # After RESTART IDENTITY: workflow k (1…100) has action k, list k is 1…1000.
    started = time.monotonic()
    with conn.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no FK triggers
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()
        rebuild = []
        for table in ("leads_lead", "automation_logentry"):
            drops, creates = secondary_indexes(cursor, table)
            for statement in drops:
                cursor.execute(statement)
            rebuild += creates
        exprs = world.lead_exprs(f"1 + (g % {LISTS})")
        exprs["created_at"] = f"'{now.isoformat()}'::timestamptz - (g % 30) * interval '1 day'"
        cursor.execute(world.insert_sql(Lead, leads, exprs))
        lead_of = f"(1 + ((g::bigint * 7919) % {leads}))"
        created = f"'{now.isoformat()}'::timestamptz - ((g::bigint * 104729) % {30 * DAY}) * interval '1 second'"
        pending_due = (
            f"CASE WHEN g <= {due_now} THEN '{now.isoformat()}'::timestamptz - (g % 600) * interval '1 second' "
            f"ELSE '{now.isoformat()}'::timestamptz + ((g::bigint * 31) % {30 * DAY}) * interval '1 second' END"
        )
        is_pending = f"g <= {pending}"
        exprs = {
            "workflow_id": f"1 + (g % {WORKFLOWS})",
            "action_id": f"1 + (g % {WORKFLOWS})",
            "lead_id": lead_of,
            "list_id": f"1 + ({lead_of} % {LISTS})",
            "action_type": "'FIELD'",
            "state": f"CASE WHEN {is_pending} THEN 'pending' WHEN g % 20 = 0 THEN 'failed' "
            "WHEN g % 20 = 1 THEN 'skipped' ELSE 'succeeded' END",
            "due_at": f"CASE WHEN {is_pending} THEN {pending_due} ELSE {created} END",
            "started_at": f"CASE WHEN {is_pending} THEN NULL ELSE {created} + interval '1 second' END",
            "finished_at": f"CASE WHEN {is_pending} THEN NULL ELSE {created} + interval '2 seconds' END",
            "attempts": f"CASE WHEN {is_pending} THEN 0 ELSE 1 END",
            "created_at": created,
        }
        cursor.execute(world.insert_sql(LogEntry, entries, exprs))
        inserted = time.monotonic() - started
        for statement in rebuild:
            cursor.execute(statement)
        cursor.execute("SET session_replication_role = DEFAULT")
        for table in ("leads_lead", "automation_logentry"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
    conn.commit()
    indexed = time.monotonic() - started - inserted
    conn.set_autocommit(True)
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("VACUUM ANALYZE automation_logentry")
        cursor.executemany(
            "INSERT INTO bench_scale (key, value) VALUES (%s, %s)",
            list(wanted(opts).items()) + [("generated_at", now.isoformat())],
        )
    total = time.monotonic() - started
    print(
        f"  generated in {total:.0f} s (insert {inserted:.0f} s, indexes {indexed:.0f} s, "
        f"vacuum analyze {total - inserted - indexed:.0f} s)",
        flush=True,
    )
    return total


def capture(func, pattern):
    """The SQL of the query matching `pattern` that `func()` runs on the bench database."""
    with CaptureQueriesContext(connection) as captured:
        func()
    found = [q["sql"] for q in captured.captured_queries if re.search(pattern, q["sql"])]
    assert found, f"no query matching {pattern!r} in {[q['sql'][:80] for q in captured]}"
    return found[0]


def explain_and_time(conn, text, repeats, locks=False):
    """(EXPLAIN (ANALYZE, BUFFERS) text, median seconds of `repeats` runs, rows)."""
    conn.set_autocommit(False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + text)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            conn.rollback()
            times, rows = [], 0
            for _ in range(repeats + 1):
                start = time.perf_counter()
                cursor.execute(text)
                rows = len(cursor.fetchall())
                times.append(time.perf_counter() - start)
                if locks:
                    conn.rollback()
            conn.rollback()
    finally:
        conn.set_autocommit(True)
    return plan, median(times[1:]), rows


def indexes_used(plan):
    names = re.findall(r"(?:Index Scan|Index Only Scan)(?: Backward)? using (\w+)", plan)
    names += re.findall(r"Bitmap Index Scan on (\w+)", plan)
    return sorted(set(names))


def ensure(opts):
    """The scale database, generated unless a matching one exists: (its name, its
    connection (alias `scale`), its marker, seconds generating or None, created?)."""
    name = world.database_name(opts.database_url) + ("_scale_quick" if opts.quick else "_scale")
    url = world.with_database(opts.database_url, name)
    created = world.ensure_database(url)
    world.migrate(url)
    conn = add_alias(name)
    conn.ensure_connection()
    with conn.cursor() as cursor:
        have = marker(cursor)
    generated = None
    reuse = all(have.get(k) == v for k, v in wanted(opts).items())
    if reuse:
        with conn.cursor() as cursor:
            reuse = counts(cursor) == {k: v for k, v in wanted(opts).items() if k != "generation"}
    if not reuse:
        generated = generate(opts, conn)
        with conn.cursor() as cursor:
            have = marker(cursor)
    else:
        print(f"  reusing {name} (generated {have.get('generated_at')})", flush=True)
    return name, conn, have, generated, created


def run(opts):
    from django.utils import timezone
    from rest_framework.test import APIClient

    from automation.execution import dispatcher

    name, conn, have, generated, created = ensure(opts)
    generated_at = timezone.datetime.fromisoformat(have["generated_at"])

    # Capture the real queries on the (empty) bench database.
    world.reset()
    w = world.base_world()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {w.token}")
    workflow_id, lead_id = 7, 4242 % opts.scale_leads + 1
    window_end = generated_at - timedelta(days=10)
    window_start = window_end - timedelta(days=1)

    def get(path, **params):
        response = client.get(path, params)
        assert response.status_code == 200, (response.status_code, response.content[:300])

    queries = [
        (
            "Dispatcher claim: `automation.execution.dispatcher.claim()`",
            capture(lambda: dispatcher.claim(), r"SKIP LOCKED"),
            True,
        ),
        (
            f"Log list: `GET /api/v1/workflow-logs/?workflow={workflow_id}&created_after=…"
            "&created_before=…` (one day, first page)",
            capture(
                lambda: get(
                    "/api/v1/workflow-logs/",
                    workflow=workflow_id,
                    created_after=window_start.isoformat(),
                    created_before=window_end.isoformat(),
                ),
                r'FROM "automation_logentry"',
            ),
            False,
        ),
        (
            f"A lead's log: `GET /api/v1/workflow-logs/?lead={lead_id}` (first page)",
            capture(
                lambda: get("/api/v1/workflow-logs/", lead=lead_id), r'FROM "automation_logentry"'
            ),
            False,
        ),
    ]
    rows, plans, table = [], [], ["| Query | Median | Rows | Indexes used |", "|---|---|---|---|"]
    for title, text, locks in queries:
        plan, seconds, found = explain_and_time(conn, text, opts.scale_repeats, locks=locks)
        used = indexes_used(plan)
        seq = "Seq Scan on automation_logentry" in plan
        print(f"  {title}: {ms(seconds)}, {found} rows, indexes {used}{' SEQ SCAN' if seq else ''}")
        table.append(f"| {title} | {ms(seconds)} | {found} | {', '.join(used) or '**none**'} |")
        plans.append((title, f"{text}\n\n{plan}"))
        rows.append(
            {
                "metric": f"Scale: {title.split(':')[0].lower()}",
                "value": f"{ms(seconds)} ({', '.join(used) or 'no index'})",
                "target": "index scan, no seq scan",
                "met": bool(used) and not seq,
            }
        )
    conn.close()
    with connections[ALIAS].cursor() as cursor:
        have_counts = counts(cursor)
    connections[ALIAS].close()
    notes = [
        f"Database `{name}`: {int(have_counts['leads']):,} leads, "
        f"{int(have_counts['entries']):,} log entries, {int(have_counts['pending']):,} pending "
        + (
            f"(generated in this run in {generated:.0f} s)."
            if generated
            else f"(reused; generated {have['generated_at']})."
        ),
        f"Each query: median of {opts.scale_repeats} runs after one warm-up, on a direct "
        "connection (no ORM or serialisation in the timing); the plan is from the first run.",
    ]
    if created:
        notes.append("The scale database was created in this run.")
    return {"title": "5. Scale", "rows": rows, "table": table, "notes": notes, "plans": plans}
