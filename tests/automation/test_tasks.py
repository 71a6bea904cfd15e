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
