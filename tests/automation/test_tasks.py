from automation import runner, tasks
from automation.models import LogEntry


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


def test_a_batch_runs_two_entries_of_one_lead_in_order(make_entry, make_lead):
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
    from automation.actions import EXECUTORS

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
