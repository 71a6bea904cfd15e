"""8. Backtest: replaying the occurrence journal through one workflow (SPEC C.6).

The journal is filled in one INSERT … SELECT over generate_series: ROWS rows
over 30 days, LEADS leads of the bench's campaign 0, 30 % calls (SALE, NA,
NEW dispositions in turn), 60 % saves (a changed first name), 10 % creations,
each row with the lead's values as the engine writes them. The workflow:
SALE disposition and at most 5 calls, skip if pending, stop if final status,
one STATUS action an hour later within 9-5. Timed: `backtest.replay` over the
whole period, progress reported after every page as the task does (what the
API's task runs, minus storing the result).
"""

import time
from datetime import UTC, datetime, timedelta

from bench import world

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
DOC = {
    "name": "Backtest bench",
    "relation": "campaign",
    "relation_objects": ["Bench 000"],
    "all_campaigns": False,
    "skip_if_pending": True,
    "stop_if": "final_status",
    "events": [
        {"type": "DISPOSITION", "values": ["SALE"]},
        {"type": "CALL_COUNT", "operator": "less_than_or_equal", "value": 5},
    ],
    "action_sets": [
        {
            "delay": {"mode": "fixed", "hours": 1},
            "window": "9-5",
            "actions": [{"type": "STATUS", "config": {"status": "FOLLOW"}}],
        }
    ],
}


def fill(rows, leads, list_id):
    """`rows` journal rows in one statement (no signal, no engine)."""
    from django.db import connection

    from automation.models import JournalEntry

    step = DAYS * 86400 / rows
    table = JournalEntry._meta.db_table
    sql = f"""
    INSERT INTO {table} (occurred_at, lead_id, kind, facts, "values", before, workflow_id)
    SELECT '{SINCE.isoformat()}'::timestamptz + g * interval '{step} seconds',
           1 + (g * 7919) % {leads},
           CASE WHEN g % 10 < 3 THEN 'call' WHEN g % 10 = 9 THEN 'create' ELSE 'save' END,
           CASE WHEN g % 10 < 3 THEN jsonb_build_object(
                    'lead_action', 'save', 'status_from', 'NEW', 'status_to', d,
                    'changed_fields', '["called_count", "last_called_at", "status"]'::jsonb,
                    'call', jsonb_build_object('id', g, 'call_type', 'OUTBOUND',
                        'term_reason', 'CALLER', 'disposition', d, 'disposition_name', d,
                        'length', 60, 'campaign', NULL, 'list', {list_id}),
                    'disposition', d)
                WHEN g % 10 = 9 THEN '{{"lead_action": "create"}}'::jsonb
                ELSE '{{"lead_action": "save", "changed_fields": ["first_name"]}}'::jsonb END,
           jsonb_build_object(
                'list_id', {list_id}, 'status_id', CASE WHEN g % 10 < 3 THEN d ELSE 'NEW' END,
                'first_name', 'Name ' || g, 'last_name', 'Bench',
                'phone_number', '+1310' || (2000000 + (g * 7919) % {leads})::text,
                'timezone', 'America/Los_Angeles', 'called_count', (g / 10) % 8,
                'custom_fields', '{{"plan": "gold"}}'::jsonb,
                'created_at', '2025-12-01T00:00:00+00:00',
                'modified_at', '2026-01-01T00:00:00+00:00'),
           CASE WHEN g % 10 BETWEEN 3 AND 8 THEN '{{"first_name": "Old"}}'::jsonb END,
           NULL
    FROM generate_series(0::bigint, {rows - 1}) g,
         LATERAL (SELECT (ARRAY['SALE', 'NA', 'NEW'])[1 + (g / 10) % 3] AS d) x
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.execute(f"ANALYZE {table}")


def run(opts):
    from django.db import transaction

    from automation.document import document
    from automation.insight import backtest

    rows = 100_000 if opts.quick else 1_000_000
    leads = rows // 20
    world.reset()
    w = world.base_world()
    start = time.perf_counter()
    fill(rows, leads, w.lists[0])
    filled = time.perf_counter() - start
    with transaction.atomic():
        workflow = document.save({**DOC, "active": False})
    index, rule = backtest.compiled(workflow=workflow)
    pages = []

    def progress(fraction):
        pages.append(fraction)
        return False

    start = time.perf_counter()
    result = backtest.replay(index, rule, SINCE, SINCE + timedelta(days=DAYS), progress)
    seconds = time.perf_counter() - start
    assert result.occurrences == rows, (result.occurrences, rows)
    rate = rows / seconds
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(result.outcomes.items()))
    print(
        f"  {rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s); {outcomes}; fill {filled:.1f} s",
        flush=True,
    )
    target = 60 * rows / 1_000_000
    return {
        "title": "9. Backtest (history replay)",
        "rows": [
            {
                "metric": f"Backtest over {rows:,} journal rows, 1 workflow",
                "value": f"{seconds:.1f} s ({rate:,.0f} rows/s)",
                "target": f"≤ {target:.0f} s",
                "met": seconds <= target,
            }
        ],
        "notes": [
            f"{leads:,} leads, {DAYS} days; outcomes: {outcomes}; {len(pages)} keyset pages of "
            f"{backtest.PAGE:,} rows, progress reported after each. The journal was filled in "
            f"{filled:.1f} s (INSERT … SELECT, not timed)."
        ],
    }
