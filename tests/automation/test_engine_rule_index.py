"""The compiled rule index: lead saves do not load workflows; edits apply at once (SPEC §4.2)."""

import time
import uuid
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.constants import TriggerOutcome
from automation.engine import rules
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
    """Queries reading configuration; not the write's liveness lock on the matched
    workflows' rows (records.present), which reads their ids only."""
    return [
        q["sql"]
        for q in captured
        if any(f'"{t}"' in q["sql"] for t in CONFIG_TABLES)
        and not q["sql"].startswith('SELECT id FROM "automation_workflow" WHERE id IN')
    ]


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
    # The update, the stop-if and skip-if-pending look-ups, the rate count, the
    # matched workflows' liveness lock, two inserts.
    with django_assert_max_num_queries(9):
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
    RulesVersion.objects.filter(pk=1).update(token=uuid.uuid4())
    clock[0] += rules.CHECK_SECONDS / 2
    lead.save()
    assert len(outcomes(wf)) == 2  # the cached index, not re-checked yet
    clock[0] += rules.CHECK_SECONDS
    lead.save()
    assert len(outcomes(wf)) == 2  # re-checked: reloaded without it


@pytest.mark.django_db(transaction=True)
def test_it_never_keeps_an_index_compiled_from_a_rolled_back_change(make_lead, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(rules, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    rules.bump()  # the version row exists, committed
    # This process turns the workflow off and saves the lead inside a
    # transaction that rolls back: its index is compiled from rolled-back data.
    with pytest.raises(RuntimeError), transaction.atomic():
        Workflow.objects.filter(pk=wf.pk).update(active=False)
        rules.bump()
        lead.save()
        raise RuntimeError("roll back")
    assert outcomes(wf) == []
    # Another process makes an unrelated change and commits it: the version
    # moves on once, as the rolled-back change had moved it.
    RulesVersion.objects.filter(pk=1).update(token=uuid.uuid4())
    clock[0] += rules.CHECK_SECONDS
    lead.save()
    # The workflow is active: reloaded (its action then re-triggers it once).
    assert outcomes(wf)[:1] == [TriggerOutcome.FIRED]


def shape(index):
    """An index as plain comparable data: its rules, and which rules each bucket files."""
    buckets = {
        (fact, key): sorted(r.id for r in bucket.members)
        for fact, found in index.by_fact.items()
        for key, bucket in found.items()
    }
    return index.rules, buckets, [r.id for r in index.stoppers], index.tokens


def test_an_edit_compiles_only_the_workflow_it_changed(make_lead, monkeypatch):
    workflows = [make_workflow(ON_SAVE) for _ in range(5)]
    make_lead().save()  # warms the index
    compiled = []
    load = rules.load_rules
    monkeypatch.setattr(
        rules,
        "load_rules",
        lambda workflows=None, kinds=None: (
            compiled.append(workflows and sorted(w.pk for w in workflows)) or load(workflows, kinds)
        ),
    )
    condition = EventCondition.objects.get(workflow=workflows[2])
    condition.config = {"values": ["create", "save"]}
    condition.save()
    index = rules.current()
    assert compiled[:1] == [[workflows[2].pk]]
    assert index.rules[workflows[2].pk].conditions[0].config == {"values": ["create", "save"]}
    assert shape(index) == shape(rules.compile_rules(index.version))


def test_a_status_change_compiles_every_workflow(make_lead, statuses, monkeypatch):
    make_workflow(ON_SAVE, stop_if="final_status")
    make_lead().save()
    statuses["FOLLOW"].final = True
    statuses["FOLLOW"].save()
    assert rules.current().status_flags["FOLLOW"] == (True, True)


def test_an_update_reads_the_changed_group_of_workflows_not_all_of_them(make_lead):
    """After another process edits one workflow of many, bringing the index up to
    date reads the per-group sums and that workflow's group: a few rows, not one
    per workflow (at 10,000 workflows that read took the GIL for 50 ms)."""
    many = rules.GROUPS * 4
    Workflow.objects.bulk_create(Workflow(name=f"Idle {i}", active=True) for i in range(many))
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    assert wf.pk in rules.current().rules
    EventCondition.objects.filter(workflow=wf).update(config={"values": ["create"]})
    rules.renew([wf.pk])  # what another process's edit writes
    with CaptureQueriesContext(connection) as captured:
        index = rules.update()
    assert index.rules[wf.pk].conditions[0].config == {"values": ["create"]}
    read = 0
    with connection.cursor() as cursor:
        for query in captured:
            if query["sql"].startswith("SELECT"):
                cursor.execute(query["sql"])
                read += len(cursor.fetchall())
    assert 0 < read <= rules.GROUPS + 4 * (many // rules.GROUPS + 1) + 10
    assert shape(index) == shape(rules.compile_rules(index.version))


@pytest.mark.parametrize("seed", range(6))
def test_an_index_brought_up_to_date_equals_one_compiled_whole(seed, make_lead, campaign):
    """Random edits of every kind; after each, the refreshed index is the one a
    fresh process would compile."""
    import random

    from leads.models import Campaign

    rng = random.Random(seed)
    other = Campaign.objects.create(name=f"Other {seed}")
    pool = [make_workflow(ON_SAVE, objects=[campaign]) for _ in range(3)]
    pool += [make_workflow([("DISPOSITION", {"values": ["SALE"]})], stop_if="final_status")]
    make_lead().save()
    for _ in range(12):
        wf = rng.choice(pool)
        edit = rng.randrange(8)
        if edit == 0:
            wf.active = not wf.active
            wf.save()
        elif edit == 1:
            wf.campaigns.add(other)
        elif edit == 2:
            wf.campaigns.remove(campaign)
        elif edit == 3:
            EventCondition.objects.create(
                workflow=wf,
                type="LEAD_FIELDS",
                config={"field": "state", "operator": "equals", "value": rng.choice("AB")},
            )
        elif edit == 4:
            last = EventCondition.objects.filter(workflow=wf).order_by("-id").first()
            if last is not None:
                last.delete()
        elif edit == 5:
            ActionSet.objects.filter(workflow=wf).update(window="9-5")  # no signal…
            rules.bump(workflow_ids=[wf.pk])  # …so say it, as bulk writers do
        elif edit == 6:
            pool.remove(wf)
            wf.delete()
            pool.append(make_workflow(ON_SAVE, all_campaigns=False, relation_mode="not_within"))
        else:
            wf.campaigns.clear()
        index = rules.current()
        assert shape(index) == shape(rules.compile_rules(index.version)), edit


@pytest.mark.django_db(transaction=True)
def test_a_thread_brings_the_index_up_to_date_off_the_saves_path(make_lead, monkeypatch, request):
    monkeypatch.setattr(rules, "BACKGROUND", True)
    monkeypatch.setattr(rules, "CHECK_SECONDS", 0.02)
    wf = make_workflow(ON_SAVE)
    lead = make_lead()
    lead.save()
    assert wf.pk in rules.current().rules
    request.addfinalizer(rules.stop_refresher)
    fired = outcomes(wf)
    assert fired
    # Another process turns the workflow off: its token and the version move on.
    Workflow.objects.filter(pk=wf.pk).update(active=False)
    rules.renew([wf.pk])
    deadline = time.monotonic() + 10
    while wf.pk in rules._state["index"].rules and time.monotonic() < deadline:
        time.sleep(0.02)  # the refresher thread runs on its own clock
    with CaptureQueriesContext(connection) as captured:
        lead.save()
    assert wf.pk not in rules._state["index"].rules
    assert config_queries(captured) == []  # the save itself compiled nothing
    assert outcomes(wf) == fired  # nothing more


def test_the_sums_an_index_keeps_are_those_of_its_tokens(make_lead):
    """Incrementally kept per-group sums (rules.rebuilt) equal those computed afresh,
    after workflows are added, edited, emptied from a group and deleted."""
    pool = [make_workflow(ON_SAVE) for _ in range(3)]
    make_lead().save()
    pool[0].delete()
    pool[1].active = False
    pool[1].save()
    make_workflow(ON_SAVE)
    EventCondition.objects.filter(workflow=pool[2]).update(config={"values": ["create"]})
    rules.bump(workflow_ids=[pool[2].pk])
    index = rules.current()
    assert index.digest == rules.sums_of(index.tokens)
    assert index.tokens == dict(
        Workflow.objects.filter(active=True).values_list("pk", "rules_token")
    )
