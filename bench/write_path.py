"""Where the 10-match save's time goes (#15): side by side in one process, blocks of
25 saves (10 triggers + 20 entries each) alternating with plain saves, 10 rounds:

- as it is;
- with psycopg's client-side statement cache on for long statements (it caches
  only statements of at most 50 parameters; the two INSERTs carry ~400);
- without the log's foreign keys (dropped and re-added NOT VALID around the block).

`python bench/write_path.py` (its own database, crm_bench_write_path).
"""

import os
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/crm_bench_write_path"
    from bench import run

    run.setup_database(types.SimpleNamespace(force=False))
    import psycopg._queries as queries
    from django.db import connection

    from automation.engine import flood, rules
    from bench import trigger, world
    from bench.stats import median
    from leads.models import Lead

    world.reset()
    w = world.base_world()
    ids = world.make_leads(8000, w.lists[0])
    leads = list(Lead.objects.filter(pk__in=ids).order_by("pk"))
    world.make_workflows(trigger.matching(10, w))
    rules.invalidate()
    rules.current()
    flood.forget()
    saver = trigger.Saver(leads)
    saver.block(20, engine=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text "
            "IN ('automation_trigger', 'automation_logentry')"
        )
        fks = cursor.fetchall()

    def foreign_keys(on):
        with connection.cursor() as cursor:
            for table, name, definition in fks:
                if on:
                    cursor.execute(
                        f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID"
                    )
                else:
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")

    length, params = queries.MAX_CACHED_STATEMENT_LENGTH, queries.MAX_CACHED_STATEMENT_PARAMS
    found = {"as it is": [], "psycopg statement cache": [], "no foreign keys": []}
    base = []
    for _ in range(10):
        found["as it is"].extend(saver.block(25, True))
        base.extend(saver.block(25, False))
        queries.MAX_CACHED_STATEMENT_LENGTH = queries.MAX_CACHED_STATEMENT_PARAMS = 10**6
        found["psycopg statement cache"].extend(saver.block(25, True))
        base.extend(saver.block(25, False))
        queries.MAX_CACHED_STATEMENT_LENGTH, queries.MAX_CACHED_STATEMENT_PARAMS = length, params
        foreign_keys(False)
        found["no foreign keys"].extend(saver.block(25, True))
        base.extend(saver.block(25, False))
        foreign_keys(True)
    plain = median(base)
    for name, times in found.items():
        t = median(times)
        print(f"{name:24s} {t * 1000:.2f} ms  {t / plain:.2f}x  (+{(t - plain) * 1000:.2f} ms)")
    print(f"plain save              {plain * 1000:.2f} ms")


if __name__ == "__main__":
    main()
