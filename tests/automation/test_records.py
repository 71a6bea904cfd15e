"""Trigger records and their entries: one write, the same two statements on every
database (automation.engine.records.write), through Django's own cursor."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.constants import RATE_LIMIT_TRIGGERS, EntryState, TriggerOutcome
from automation.engine import records
from automation.models import JournalEntry, LogEntry, Trigger, Workflow
from tests.automation.engine_helpers import fresh_rules, handle, make_workflow  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 4, 15, 0, 0, 123456, tzinfo=UTC)
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


def test_it_writes_the_triggers_and_entries_of_an_occurrence(
    make_lead, django_capture_on_commit_callbacks
):
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
    deleted = make_workflow(
        [("LEAD_ACTION", {"values": ["delete"]})],
        delay={"delay_mode": "fixed", "delay_hours": 2},
    )  # deleted lead: its snapshot in the context
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            lead = make_lead(first_name="Ann")
        created = written(lead)
        pk = lead.pk
        lead.delete()
        lead.pk = pk
    assert len(callbacks) == 1  # the immediate set is handed off at commit
    gone = LogEntry.objects.get(workflow=deleted)
    assert gone.context["snapshot"]["first_name"] == "Ann"
    assert gone.due_at == T0 + timedelta(hours=2)

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


def test_it_writes_with_two_plain_statements_and_prepares_none(make_lead):
    """The same statements on every database, through the cursor the ORM uses (logged
    like any query), and nothing prepared: PgBouncer in transaction mode can carry it."""
    for _ in range(3):
        make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    assert JournalEntry.objects.filter(lead_id=lead.pk).count() == 1  # the create's, sent
    with CaptureQueriesContext(connection) as queries:
        lead.save()
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    journal = JournalEntry._meta.db_table
    assert len([q for q in inserts if journal in q]) == 1  # the occurrence journal's row
    inserts = [q for q in inserts if journal not in q]
    assert len(inserts) == 2, inserts
    assert Trigger._meta.db_table in inserts[0] and LogEntry._meta.db_table in inserts[1]
    assert LogEntry.objects.filter(lead_id=lead.pk).count() == 3
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone() == (0,)


def test_it_rate_limits_on_both_paths(make_lead):
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


def test_a_not_selected_trigger_over_the_limit_is_rate_limited(make_lead):
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


def test_a_rate_limited_self_retrigger_is_not_counted_as_a_loop(make_lead):
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
        cursor.execute("EXPLAIN " + records.RECENT_SQL.format(leads="%s"), [7, T0])
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


def stale_index(monkeypatch):
    """This process's rule index as it is now, kept although a workflow goes: what
    another process holds for up to a second after a deletion."""
    from automation.engine import rules

    index = rules.current()
    monkeypatch.setattr(rules, "current", lambda: index)


def test_a_save_from_a_stale_rule_index_leaves_a_deleted_workflow_out(make_lead, monkeypatch):
    """The log's foreign keys would refuse its rows at commit, and the lead's save with
    them: the write leaves the workflow out instead."""
    gone = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    kept = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    stale_index(monkeypatch)
    gone_id = gone.pk
    gone.delete()
    lead.first_name = "Grace"
    lead.save()
    connection.check_constraints()  # what the commit checks
    assert not Trigger.objects.filter(workflow_id=gone_id).exists()
    assert not LogEntry.objects.filter(workflow_id=gone_id).exists()
    assert Trigger.objects.filter(workflow=kept, lead_id=lead.pk).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_waits_for_a_deletion_in_flight_and_then_leaves_it_out(make_lead, monkeypatch):
    """A deletion holds the workflow's row until it commits; a save matching the
    workflow meanwhile waits for it and then writes nothing for it. Neither fails."""
    import threading

    from django.db import transaction

    gone = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    kept = make_workflow(ON_SAVE, delay={"delay_mode": "fixed", "delay_hours": 1})
    lead = make_lead()
    stale_index(monkeypatch)
    deleting, release, order = threading.Event(), threading.Event(), []

    def delete():
        try:
            with transaction.atomic():
                Workflow.objects.get(pk=gone.pk).delete()
                deleting.set()
                release.wait(10)
                order.append("deletion committed")
        finally:
            connection.close()

    thread = threading.Thread(target=delete)
    thread.start()
    assert deleting.wait(10)
    threading.Timer(0.5, release.set).start()
    with transaction.atomic():
        lead.first_name = "Grace"
        lead.save()  # waits on the workflow's row until the deletion commits
        order.append("save written")
    thread.join(10)
    assert order == ["deletion committed", "save written"]
    assert not Workflow.objects.filter(pk=gone.pk).exists()
    assert not Trigger.objects.filter(workflow_id=gone.pk).exists()
    assert Trigger.objects.filter(workflow=kept, lead_id=lead.pk).count() == 1
