"""A real qcluster and dispatcher run workflow actions, immediate and delayed."""

import pytest
from django.db import transaction

from automation.constants import EntryState, EventType
from automation.engine.handler import HANDOFF_LEASE
from automation.models import Action, ActionSet, EventCondition, LogEntry, Workflow
from leads.models import Call, Lead

pytestmark = pytest.mark.cluster


@pytest.fixture
def sale_follow_up(transactional_db, statuses):
    """Disposition SALE → Status FOLLOW, immediately."""
    workflow = Workflow.objects.create(name="Sale follow-up", all_campaigns=True)
    EventCondition.objects.create(
        workflow=workflow, type=EventType.DISPOSITION, config={"values": ["SALE"]}
    )
    action_set = ActionSet.objects.create(workflow=workflow)
    Action.objects.create(action_set=action_set, type="STATUS", config={"status": "FOLLOW"})
    return workflow


def test_it_runs_an_immediate_entry_handed_over_at_commit(
    sale_follow_up, make_lead, statuses, cluster, dispatcher, wait_until, log
):
    lead = make_lead(status=statuses["NEW"])
    cluster()
    dispatcher()

    # on_commit hands the new entry to the real broker (the ORM broker on the
    # test database): this process is not in django-q2's sync mode here.
    with transaction.atomic():
        Call.record(lead=lead, disposition=statuses["SALE"], length=60)

    entry = LogEntry.objects.get(workflow=sale_follow_up, lead_id=lead.pk)
    entry = wait_until(lambda: log.finished(entry), 120, "the STATUS entry to finish")
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert Lead.objects.get(pk=lead.pk).status_id == "FOLLOW"
    assert entry.attempts == 1
    # The dispatcher leaves an entry handed over at commit alone for
    # HANDOFF_LEASE: one started sooner came through the hand-off.
    assert entry.started_at < entry.due_at + HANDOFF_LEASE


def test_it_runs_a_delayed_entry_after_its_due_time_not_before(
    make_lead, statuses, make_action, make_entries, cluster, dispatcher, wait_until, log
):
    lead = make_lead(status=statuses["NEW"])
    (entry,) = make_entries(make_action("STATUS", {"status": "FOLLOW"}), [lead], due_in=3)
    cluster()
    dispatcher()

    entry = wait_until(lambda: log.finished(entry), 120, "the delayed STATUS entry to finish")
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert entry.started_at >= entry.due_at
    assert entry.attempts == 1
    assert Lead.objects.get(pk=lead.pk).status_id == "FOLLOW"
