import pytest
from django.db import connection, transaction

from automation.engine import handoff
from automation.execution import runner, tasks
from automation.models import Action, LogEntry, Workflow


def test_an_entry_that_raises_outside_its_action_is_failed_not_stuck(
    make_entry, make_lead, monkeypatch
):
    entry = make_entry(make_lead(), action_type="STATUS", config={"status": "FOLLOW"})

    def broken_precheck(*args):
        raise RuntimeError("rules could not load")

    monkeypatch.setattr(runner, "precheck", broken_precheck)
    tasks.run_entries([entry.pk])
    entry = LogEntry.objects.get(pk=entry.pk)
    assert entry.state == "failed"
    assert entry.reason == "error: RuntimeError: rules could not load"


def test_a_batch_runs_two_entries_of_one_lead_in_order(make_entry, make_lead, declare):
    declare("n")
    lead = make_lead(custom_fields={"n": 0})
    first = make_entry(
        lead, action_type="FIELD", config={"field": "custom.n", "op": "add", "value": 1}
    )
    second = make_entry(lead, action=first.action)
    states = runner.run_entries([first.pk, second.pk])
    assert states == {first.pk: "succeeded", second.pk: "succeeded"}
    lead.refresh_from_db()
    assert lead.custom_fields["n"] == 2


def test_an_action_raising_in_a_batch_fails_alone(make_entry, make_lead, monkeypatch):
    from automation.execution.actions import EXECUTORS

    good = make_entry(make_lead(), action_type="STATUS", config={"status": "FOLLOW"})
    bad = make_entry(make_lead(), action_type="MOVE", config={"list": "Solar CA"})
    monkeypatch.setattr(EXECUTORS["MOVE"], "execute", lambda run: 1 / 0)
    tasks.run_entries([good.pk, bad.pk])
    assert LogEntry.objects.get(pk=good.pk).state == "succeeded"
    bad = LogEntry.objects.get(pk=bad.pk)
    assert (bad.state, bad.reason) == ("failed", "error: ZeroDivisionError: division by zero")
    assert bad.attempts == 1


def test_a_batch_with_mixed_outcomes_records_each(make_entry, make_lead):
    good = make_entry(make_lead(), action_type="STATUS", config={"status": "FOLLOW"})
    bad = make_entry(make_lead(), action_type="MOVE", config={"list": "Solar CA"})
    from leads.models import List

    List.objects.filter(name="Solar CA").update(name="Renamed")
    states = runner.run_entries([good.pk, bad.pk])
    assert states == {good.pk: "succeeded", bad.pk: "failed"}
    good, bad = LogEntry.objects.get(pk=good.pk), LogEntry.objects.get(pk=bad.pk)
    assert (good.state, good.reason, good.attempts) == ("succeeded", "", 1)
    assert bad.state == "failed" and "Solar CA" in bad.reason
    assert good.finished_at == bad.finished_at is not None


STATUS = {"action_type": "STATUS", "config": {"status": "FOLLOW"}}


def test_it_skips_an_entry_of_a_workflow_turned_off(make_entry, make_lead, run):
    entry = make_entry(make_lead(), **STATUS)
    Workflow.objects.filter(pk=entry.workflow_id).update(active=False)
    entry = run(entry)
    assert (entry.state, entry.reason) == ("skipped", "the workflow is no longer active")


def test_it_skips_an_entry_of_an_action_turned_off(make_entry, make_lead, run):
    entry = make_entry(make_lead(), **STATUS)
    Action.objects.filter(pk=entry.action_id).update(active=False)
    entry = run(entry)
    assert (entry.state, entry.reason) == ("skipped", "the action is no longer active")


def test_it_skips_an_entry_whose_action_was_deleted(make_entry, make_lead, run):
    lead = make_lead()
    entry = make_entry(lead, **STATUS)
    Action.objects.filter(pk=entry.action_id).delete()  # the log is not updated: no index
    assert LogEntry.objects.get(pk=entry.pk).action_id == entry.action_id
    entry = run(entry)
    assert (entry.state, entry.reason) == ("skipped", "the action was deleted")
    lead.refresh_from_db()
    assert lead.status_id != "FOLLOW"


def test_it_skips_an_entry_whose_action_vanished_under_it(make_entry, make_lead, run):
    """An entry written as its action was deleted keeps the id (no constraint): skipped."""
    entry = make_entry(make_lead(), **STATUS)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Action._meta.db_table} WHERE id = %s", [entry.action_id])
    entry = run(entry)
    assert entry.action_id is not None
    assert (entry.state, entry.reason) == ("skipped", "the action was deleted")


def test_a_task_runs_one_external_entry_and_hands_on_the_others_one_per_task(
    make_entry, make_lead, monkeypatch
):
    """Each request may take its endpoint's whole timeout: never several in one task."""
    lead = make_lead(email="")
    internal = make_entry(lead, **STATUS)
    emails = [
        make_entry(lead, action_type="EMAIL", config={"template": "Welcome"}) for _ in range(3)
    ]
    handed = []
    monkeypatch.setattr(handoff, "enqueue", lambda ids: handed.append(list(ids)))
    states = runner.run_entries([internal.pk, *(e.pk for e in emails)])
    assert set(states) == {internal.pk, emails[0].pk}  # the first email ran here
    assert states[internal.pk] == "succeeded"
    assert handed == [[emails[1].pk], [emails[2].pk]]
    assert LogEntry.objects.get(pk=emails[2].pk).state == "pending"


def test_the_log_refuses_rows_of_a_deleted_workflow(make_entry, make_lead):
    """Triggers and entries are constrained to their workflow: the log cannot hold
    orphans, so nothing needs to find and purge them (a workflow is archived, not
    deleted, while the rule index may still hold it)."""
    from django.db import IntegrityError

    from automation.models import Trigger

    lead = make_lead()
    gone, kept = make_entry(lead, **STATUS), make_entry(lead, **STATUS)
    Workflow.objects.get(pk=gone.workflow_id).delete()  # its trigger and entry with it
    assert not LogEntry.objects.filter(pk=gone.pk).exists()
    assert LogEntry.objects.filter(pk=kept.pk).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Trigger.objects.create(workflow_id=gone.workflow_id, lead_id=lead.pk, outcome="fired")
        connection.check_constraints()
