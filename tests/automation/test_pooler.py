"""Behind PgBouncer in transaction mode (`pytest --pgbouncer`, run by `make test`):
the engine's save path needs no session state, so any server connection will do."""

import subprocess

import pytest
from django.db import connection

from automation.models import LogEntry, Trigger
from tests.automation.engine_helpers import fresh_rules, make_workflow  # noqa: F401

pytestmark = [pytest.mark.pgbouncer, pytest.mark.postgres, pytest.mark.django_db]

ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]


def pools():
    """PgBouncer's SHOW POOLS as dicts (its console speaks only the simple protocol: psql)."""
    s = connection.settings_dict
    out = subprocess.run(
        ["psql", "-h", s["HOST"], "-p", str(s["PORT"]), "-U", "postgres", "-d", "pgbouncer"]
        + ["-A", "-F", "\t", "-c", "SHOW POOLS"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    header = out[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in out[1:-1]]


def test_it_runs_the_engine_through_pgbouncer_in_transaction_mode(make_lead):
    for _ in range(3):
        make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    for _ in range(3):
        lead.save()
    assert Trigger.objects.filter(lead_id=lead.pk, outcome="fired").count() == 9
    assert LogEntry.objects.filter(lead_id=lead.pk, state="pending").count() == 9
    ours = [p for p in pools() if p["database"] == connection.settings_dict["NAME"]]
    assert [p["pool_mode"] for p in ours] == ["transaction"]
    assert int(ours[0]["cl_active"]) >= 1  # this very connection


def test_the_pooler_keeps_serving_after_many_logins():
    """PgBouncer logs every login; its output must never fill a pipe nobody reads
    (it then blocked, and every connection of the run with it, after ~400 logins)."""
    import psycopg

    s = connection.settings_dict
    for _ in range(1000):
        with psycopg.connect(
            host=s["HOST"], port=s["PORT"], user="postgres", dbname=s["NAME"], connect_timeout=10
        ) as conn:
            pass
    with psycopg.connect(
        host=s["HOST"], port=s["PORT"], user="postgres", dbname=s["NAME"], connect_timeout=10
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
