"""Trigger records and their entries: the PostgreSQL statement and the ORM path agree.

Production writes with one SQL statement (automation.engine.records.write_sql); the
SQLite demo with bulk_create (write_orm). The ORM path runs on both databases,
the statement (and what compares it with the ORM path) on PostgreSQL only.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from automation.constants import RATE_LIMIT_TRIGGERS, EntryState, TriggerOutcome
from automation.engine import records
from automation.models import LogEntry, Trigger, Workflow
from tests.automation.engine_helpers import fresh_rules, handle, make_workflow  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 4, 15, 0, 0, 123456, tzinfo=UTC)
PATHS = {"sql": records.write_sql, "orm": records.write_orm}
ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]
TRIGGER_FIELDS = ("workflow_id", "occurred_at", "occurrence", "outcome", "reason", "chain")
ENTRY_FIELDS = (
    "workflow_id",
    "action_id",
    "list_id",
    "action_type",
    "state",
    "reason",
    "due_at",
    "lease_until",
    "started_at",
    "finished_at",
    "attempts",
    "result",
    "context",
    "created_at",
)


@pytest.fixture(params=[pytest.param("sql", marks=pytest.mark.postgres), "orm"])
def path(request, monkeypatch):
    monkeypatch.setattr(records, "write", PATHS[request.param])
    return request.param


def written(lead):
    """The rows stored for this lead, without ids; each entry with its trigger's workflow."""
    triggers = list(
        Trigger.objects.filter(lead_id=lead.pk).order_by("workflow_id").values(*TRIGGER_FIELDS)
    )
    entries = list(
        LogEntry.objects.filter(lead_id=lead.pk)
        .order_by("id")
        .values(*ENTRY_FIELDS, "trigger__workflow_id", "trigger__lead_id")
    )
    for entry in entries:
        assert entry.pop("trigger__lead_id") == lead.pk
    return triggers, entries


@pytest.mark.postgres
def test_both_paths_write_the_same_rows(make_lead, monkeypatch, django_capture_on_commit_callbacks):
    make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})],
        action_sets=[
            {"actions": [("STATUS", {"status": "FOLLOW"}), ("HOPPER", {})]},
            {"delay": {"delay_mode": "fixed", "delay_days": 1}, "actions": [("DNC", {})]},
            {  # no date in the field: skipped, with the reason
                "delay": {"delay_mode": "lead_field", "delay_field": "custom.renewal"},
                "actions": [("HOPPER", {})],
            },
        ],
    )
    make_workflow(
        [("LEAD_ACTION", {"values": ["create"]})], perform_action_on=0
    )  # not selected: a trigger, no entries
    make_workflow(
        [("LEAD_ACTION", {"values": ["delete"]})],
        delay={"delay_mode": "fixed", "delay_hours": 2},
    )  # deleted lead: its snapshot in the context
    stored, handed_off = {}, {}
    for name, write in PATHS.items():
        monkeypatch.setattr(records, "write", write)
        with time_machine.travel(T0, tick=False):
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                lead = make_lead(first_name=name)
            handed_off[name] = len(callbacks)
            before_delete = written(lead)
            pk = lead.pk
            lead.delete()
            lead.pk = pk
        stored[name] = (before_delete, written(lead))
    (created, deleted) = stored["sql"]
    assert stored["orm"][0] == created
    # The snapshot differs only by the lead's own values (its id, name and phone).
    for a, b in zip(stored["orm"][1][1], deleted[1], strict=True):
        assert ("snapshot" in a["context"]) == ("snapshot" in b["context"])
        a["context"].pop("snapshot", None), b["context"].pop("snapshot", None)
    assert stored["orm"][1] == deleted
    assert handed_off == {"sql": 1, "orm": 1}  # the immediate set, at commit

    triggers, entries = created
    assert [t["outcome"] for t in triggers] == ["fired", "not_selected"]
    assert [(e["action_type"], e["state"]) for e in entries] == [
        ("STATUS", "pending"),
        ("HOPPER", "pending"),
        ("DNC", "pending"),
        ("HOPPER", "skipped"),
    ]
    assert entries[0]["lease_until"] == T0 + timedelta(seconds=30)
    assert entries[2]["due_at"] == T0 + timedelta(days=1)
    assert entries[3]["reason"].startswith("cannot compute the due time")
    assert all(
        e["created_at"] == T0 and e["trigger__workflow_id"] == e["workflow_id"] for e in entries
    )
    assert LogEntry.objects.values("idempotency_key").distinct().count() == LogEntry.objects.count()
    assert LogEntry.objects.filter(context__has_key="snapshot").count() == 2  # one per path


def test_it_rate_limits_on_both_paths(make_lead, path):
    wf = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    with time_machine.travel(T0, tick=False):
        lead = make_lead()
        for _ in range(RATE_LIMIT_TRIGGERS + 3):
            lead.save()
    found = list(
        Trigger.objects.filter(workflow=wf).order_by("id").values_list("outcome", "reason")
    )
    assert found == [("fired", "")] * 9 + [("rate_limited", "9 triggers in the last 180 s")] * 3
    assert LogEntry.objects.filter(workflow=wf).count() == 9


def test_a_not_selected_trigger_over_the_limit_is_rate_limited(make_lead, path):
    """Rate limit comes before perform-action-on: an unselected 10th trigger is rate limited."""
    wf = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    with time_machine.travel(T0, tick=False):
        lead = make_lead()
        for _ in range(RATE_LIMIT_TRIGGERS):
            lead.save()
        wf.perform_action_on = 0
        wf.save()
        lead.save()
    last = Trigger.objects.filter(workflow=wf).latest("id")
    assert last.outcome == TriggerOutcome.RATE_LIMITED


def test_a_rate_limited_self_retrigger_is_not_counted_as_a_loop(make_lead, path):
    wf = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    with time_machine.travel(T0, tick=False):
        lead = make_lead()
        for _ in range(RATE_LIMIT_TRIGGERS + 2):
            handle(lead, lead_action="save", chain=(wf.pk,))
    outcomes = list(
        Trigger.objects.filter(workflow=wf).order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["fired"] * 9 + ["rate_limited"] * 2
    iterations = Trigger.objects.filter(workflow=wf, outcome="fired", loop_iteration__gt=0)
    assert not iterations.exists()  # a chain holding it once: a re-trigger, not an iteration
    assert LogEntry.objects.filter(workflow=wf, state=EntryState.PENDING).count() == 9


@pytest.mark.postgres
def test_it_prepares_the_statement_once_per_connection_with_a_generic_plan(make_lead):
    make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    for _ in range(7):
        lead.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans >= 7, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ["%jsonb_to_recordset%"],
        )
        assert cursor.fetchall() == [(True, 0)]
    assert LogEntry.objects.filter(lead_id=lead.pk).count() == 7


@pytest.mark.postgres
def test_the_rate_limit_count_reads_the_leads_triggers_not_a_busy_workflows():
    """The count the rate-limit gate reads must be a lookup by lead (PostgreSQL's plan).

    Statistics here make a workflow look five times as selective as a lead;
    a plan through the workflow's index would read, for a workflow firing all
    day, thousands of rows on every save.
    """
    workflows = Workflow.objects.bulk_create(Workflow(name=f"W{n}") for n in range(1_000))
    Trigger.objects.bulk_create(
        Trigger(workflow=workflows[n % 1_000], lead_id=n % 200, occurred_at=T0, outcome="fired")
        for n in range(5_000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Trigger._meta.db_table}")
    ids = [w.pk for w in workflows[:10]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + records.RECENT_SQL, [7, T0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # Either index that leads with the lead will do (trigger_enrollment_idx, by lead and
    # workflow among fired triggers, is the tighter one).
    assert "trigger_lead_time_idx" in plan or "trigger_enrollment_idx" in plan, plan
    assert "trigger_workflow_time_idx" not in plan and "Seq Scan" not in plan, plan
    # Lead 7 has triggers n = 7, 1007, … 4007: all of workflow 7, in the window.
    assert records.fired_recently(7, ids, T0 + timedelta(seconds=1)) == {workflows[7].pk: 5}
    assert records.fired_recently(7, ids, T0 + timedelta(seconds=181)) == {}


def test_deleting_a_workflow_deletes_its_triggers_and_entries(make_lead):
    wf = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    other = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    make_lead().save()
    assert LogEntry.objects.filter(workflow=wf).count() == 1
    wf.delete()
    assert not LogEntry.objects.filter(workflow_id=wf.pk).exists()
    assert not Trigger.objects.filter(workflow_id=wf.pk).exists()
    assert LogEntry.objects.filter(workflow=other).count() == 1
