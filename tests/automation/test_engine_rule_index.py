"""The compiled rule index: lead saves do not load workflows; edits apply at once (SPEC §4.2)."""

from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.engine import rules
from automation.constants import TriggerOutcome
from automation.models import ActionSet, EventCondition, RulesVersion, Workflow
from leads.models import Call, Status
from tests.automation.engine_helpers import (  # noqa: F401
    entries,
    fresh_rules,
    make_workflow,
    outcomes,
)

pytestmark = pytest.mark.django_db

ON_SAVE = [("LEAD_ACTION", {"values": ["save"]})]
CONFIG_TABLES = (
    "automation_workflow",
    "automation_eventcondition",
    "automation_actionset",
    "automation_action",
    "automation_workflow_campaigns",
    "leads_status",
)


def config_queries(captured):
    return [q["sql"] for q in captured if any(f'"{t}"' in q["sql"] for t in CONFIG_TABLES)]


def test_it_does_not_load_workflows_on_a_warm_lead_save(make_lead, statuses):
    wf = make_workflow(ON_SAVE, stop_if="final_status")
    make_workflow([("DISPOSITION", {"values": ["SALE"]})])
    lead = make_lead()
    lead.save()  # warms the index
    with CaptureQueriesContext(connection) as captured:
        lead.first_name = "Grace"
        lead.save()
        Call.record(lead=lead, disposition=statuses["SALE"], ended_at=timezone.now())
    # (Call.record itself reads the list's campaign; the engine reads no configuration.)
    assert config_queries(captured) == []
    assert outcomes(wf) == [TriggerOutcome.FIRED] * 3


def test_it_keeps_a_lead_save_cheap(make_lead, django_assert_max_num_queries):
    make_workflow(ON_SAVE, skip_if_pending=True, stop_if="reached_status")
    lead = make_lead()
    lead.save()
    # The update, the stop-if and skip-if-pending look-ups, the rate count, two inserts.
    with django_assert_max_num_queries(8):
        lead.first_name = "Grace"
        lead.save()


def test_it_compiles_the_index_once_per_process(make_lead):
    make_workflow(ON_SAVE)
    first = rules.current()
    assert rules.current() is first
    lead = make_lead()
    lead.save()
    assert rules.current() is first


def test_it_applies_a_deactivated_workflow_to_the_next_save(make_lead):
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    assert len(outcomes(wf)) == 1
    wf.active = False
    wf.save()
    lead.save()
    assert len(outcomes(wf)) == 1
    wf.active = True
    wf.save()
    lead.save()
    assert len(outcomes(wf)) == 2


def test_it_applies_an_edited_condition_to_the_next_save(make_lead):
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    condition = EventCondition.objects.get(workflow=wf)
    condition.config = {"values": ["delete"]}
    condition.save()
    lead.save()
    assert len(outcomes(wf)) == 1
    EventCondition.objects.create(workflow=wf, type="LEAD_ACTION", config={"values": ["save"]})
    condition.delete()
    lead.save()
    assert len(outcomes(wf)) == 2


def test_it_applies_a_new_workflow_and_a_deleted_one_to_the_next_save(make_lead):
    lead = make_lead()
    lead.save()  # warm, no workflows
    wf = make_workflow(ON_SAVE)
    lead.save()
    assert len(outcomes(wf)) == 1
    wf_id = wf.pk
    wf.delete()
    lead.save()
    assert not Workflow.objects.filter(pk=wf_id).exists()


def test_it_applies_an_edited_timing_to_the_next_save(make_lead):
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    aset = ActionSet.objects.get(workflow=wf)
    aset.delay_mode = "fixed"
    aset.delay_days = 2
    aset.save()
    lead.save()
    first, second = entries(wf)
    assert (second.due_at - second.created_at).days == 2
    assert first.due_at == first.created_at


def test_it_applies_a_changed_status_flag_to_the_next_save(make_lead):
    wf = make_workflow(ON_SAVE, stop_if="final_status")
    lead = make_lead(status_id="FOLLOW")
    lead.save()
    follow = Status.objects.get(code="FOLLOW")
    follow.final = True
    follow.save()
    lead.save()
    assert outcomes(wf) == [TriggerOutcome.FIRED, TriggerOutcome.STOPPED]


def test_it_sees_another_processs_change_within_a_second(make_lead, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(rules, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    # Another process turns the workflow off: the row and the shared version
    # change, but nothing drops this process's index.
    Workflow.objects.filter(pk=wf.pk).update(active=False)
    RulesVersion.objects.filter(pk=1).update(number=F("number") + 1)
    clock[0] += rules.CHECK_SECONDS / 2
    lead.save()
    assert len(outcomes(wf)) == 2  # the cached index, not re-checked yet
    clock[0] += rules.CHECK_SECONDS
    lead.save()
    assert len(outcomes(wf)) == 2  # re-checked: reloaded without it
