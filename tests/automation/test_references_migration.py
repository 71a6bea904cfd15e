"""The data migration to references by id (SPEC C.2), run with Django's MigrationExecutor:
stored names become ids, a name nothing has is kept as a marker that saving and running
report, and what each workflow uses is recorded (so deleting it is refused)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from automation.document import document
from automation.execution import runner

pytestmark = pytest.mark.django_db(transaction=True)


def migration_and_parent():
    """(this migration, the one before it), found by name (others may be numbered around it)."""
    graph = MigrationExecutor(connection).loader.graph
    (node,) = [n for n in graph.nodes if n[0] == "automation" and n[1].endswith("references_by_id")]
    (parent,) = [p.key for p in graph.node_map[node].parents if p.key[0] == "automation"]
    return node, parent


@pytest.fixture
def before():
    """The database as it was before the migration; migrated to the latest after the test."""
    node, parent = migration_and_parent()
    executor = MigrationExecutor(connection)
    executor.migrate([parent])
    yield MigrationExecutor(connection).loader.project_state([parent]).apps, node
    call_command("migrate", verbosity=0)


def migrate_to(node):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([node])
    return executor.loader.project_state([node]).apps


def test_it_turns_stored_names_into_ids_and_marks_the_unknown(before):
    apps, node = before
    Campaign = apps.get_model("leads", "Campaign")
    List = apps.get_model("leads", "List")
    Status = apps.get_model("leads", "Status")
    Endpoint = apps.get_model("automation", "Endpoint")
    Workflow = apps.get_model("automation", "Workflow")
    EventCondition = apps.get_model("automation", "EventCondition")
    ActionSet = apps.get_model("automation", "ActionSet")
    Action = apps.get_model("automation", "Action")
    campaign = Campaign.objects.create(name="Solar Q4")
    target = List.objects.create(name="Insurance TX", campaign=campaign)
    Status.objects.create(code="SALE", name="Sale")
    endpoint = Endpoint.objects.create(name="Partner CRM", url="https://crm.example/hook")
    workflow = Workflow.objects.create(name="Old one", relation="campaign")
    workflow.campaigns.add(campaign)
    EventCondition.objects.create(
        workflow=workflow, type="DISPOSITION", config={"values": ["SALE"]}
    )
    action_set = ActionSet.objects.create(workflow=workflow)
    move = Action.objects.create(
        action_set=action_set, type="MOVE", config={"list": "Insurance TX"}
    )
    push = Action.objects.create(
        action_set=action_set, type="INTEGRATION", position=1,
        config={"endpoint": "Partner CRM", "adaptor": "Gone payload"},
    )  # fmt: skip
    gone = Action.objects.create(
        action_set=action_set, type="EMAIL", position=2, config={"template": "Gone"}
    )

    apps = migrate_to(node)
    Action = apps.get_model("automation", "Action")
    Reference = apps.get_model("automation", "WorkflowReference")
    assert Action.objects.get(pk=move.pk).config == {"list": target.pk}
    assert Action.objects.get(pk=push.pk).config == {
        "endpoint": endpoint.pk,
        "adaptor": {"unresolved": "Gone payload"},
    }
    assert Action.objects.get(pk=gone.pk).config == {"template": {"unresolved": "Gone"}}
    uses = Reference.objects.filter(workflow_id=workflow.pk)
    assert sorted((r.path, r.list_id, r.endpoint_id, r.status_id, r.campaign_id) for r in uses) == [
        ("action_sets[0].actions[0] (MOVE)", target.pk, None, None, None),
        ("action_sets[0].actions[1] (INTEGRATION)", None, endpoint.pk, None, None),
        ("events[0]", None, None, "SALE", None),
        ("relation_objects", None, None, None, campaign.pk),
    ]


def test_the_workflow_kept_reports_the_unknown_name_where_it_is_used(before, make_lead):
    apps, node = before
    Workflow = apps.get_model("automation", "Workflow")
    ActionSet = apps.get_model("automation", "ActionSet")
    Action = apps.get_model("automation", "Action")
    workflow = Workflow.objects.create(name="Old one", all_campaigns=True)
    action_set = ActionSet.objects.create(workflow=workflow)
    Action.objects.create(action_set=action_set, type="EMAIL", config={"template": "Gone"})
    migrate_to(node)
    call_command("migrate", verbosity=0)

    from automation.models import Action as CurrentAction
    from automation.models import LogEntry
    from automation.models import Workflow as CurrentWorkflow

    kept = CurrentWorkflow.objects.get(pk=workflow.pk)
    doc = document.export(kept)
    assert doc["action_sets"][0]["actions"][0]["config"] == {"template": "Gone"}
    with pytest.raises(document.ConfigError) as refused:
        document.save(doc, kept)
    assert refused.value.errors == {
        "action_sets[0].actions[0].config.template": "no email template with name 'Gone'"
    }
    lead = make_lead(email="ada@example.com")
    action = CurrentAction.objects.get(action_set__workflow=kept)
    entry = LogEntry.objects.create(
        workflow=kept, action=action, lead_id=lead.pk, list_id=lead.list_id,
        action_type="EMAIL", due_at=lead.created_at,
    )  # fmt: skip
    runner.run_entry(entry.pk)
    entry.refresh_from_db()
    assert entry.state == "failed"
    assert "Gone" in entry.reason and "email template" in entry.reason
