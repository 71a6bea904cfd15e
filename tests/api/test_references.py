"""References survive renames (SPEC C.2): workflows store ids, documents show current names.

Each kind a workflow can name: rename it through the API, then the document
shows the new name and the condition or action still works on the renamed
object. Deleting something a workflow uses is refused, naming the workflow.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from automation.execution import runner
from automation.models import Action, Adaptor, Endpoint, LogEntry, Trigger, Workflow
from leads.models import Call, EmailTemplate, InboundNumber, Lead, List, Queue
from tests import httpserver

pytestmark = pytest.mark.django_db

http_server = httpserver.http_server  # the fixture


def workflow_doc(name, events, actions, **settings):
    return {
        "name": name,
        "all_campaigns": True,
        "events": events,
        "action_sets": [{"delay": {"mode": "immediate"}, "actions": actions}],
        **settings,
    }


def create(api, doc):
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def rename(api, path, **fields):
    response = api.patch(path, fields, format="json")
    assert response.status_code == 200, response.json()


def document(api, pk):
    return api.get(f"/api/v1/workflows/{pk}/").json()


def first_action(doc):
    return doc["action_sets"][0]["actions"][0]["config"]


def run_pending():
    later = timezone.now() + timedelta(minutes=1)
    ids = list(LogEntry.objects.filter(state="pending").values_list("pk", flat=True))
    for pk in ids:
        runner.run_entry(pk, now=later)
    return list(LogEntry.objects.filter(pk__in=ids))


ON_CREATE = [{"type": "LEAD_ACTION", "values": ["create"]}]
ON_SALE = [{"type": "DISPOSITION", "values": ["SALE"]}]


def test_a_renamed_list_stays_the_move_target(api, make_lead, other_list):
    pk = create(
        api, workflow_doc("Move", ON_CREATE, [{"type": "MOVE", "config": {"list": "Insurance TX"}}])
    )
    stored = Action.objects.get(action_set__workflow_id=pk).config
    assert stored == {"list": other_list.pk}  # the id, not the name
    rename(api, f"/api/v1/lists/{other_list.pk}/", name="Insurance Texas")
    assert first_action(document(api, pk)) == {"list": "Insurance Texas"}
    lead = make_lead()
    (entry,) = run_pending()
    assert entry.state == "succeeded", entry.reason
    assert entry.result == {"from": "Solar CA", "to": "Insurance Texas"}
    assert Lead.objects.get(pk=lead.pk).list_id == other_list.pk


def test_a_renamed_email_template_is_still_the_one_sent(api, make_lead):
    template = EmailTemplate.objects.create(name="Welcome", subject="Hi {first_name}", body="B")
    pk = create(
        api, workflow_doc("Mail", ON_CREATE, [{"type": "EMAIL", "config": {"template": "Welcome"}}])
    )
    rename(
        api,
        f"/api/v1/email-templates/{template.pk}/",
        name="Welcome v2",
        subject="Hey {first_name}",
    )
    assert first_action(document(api, pk)) == {"template": "Welcome v2"}
    make_lead(email="ada@example.com")
    (entry,) = run_pending()
    assert entry.state == "succeeded", entry.reason
    assert entry.result["template"] == "Welcome v2"
    assert [m.subject for m in mail.outbox] == ["Hey Ada"]


def test_a_renamed_endpoint_and_adaptor_still_send(api, make_lead, http_server):
    endpoint = Endpoint.objects.create(name="Partner CRM", url=http_server.url("/hook"))
    adaptor = Adaptor.objects.create(
        name="Sale payload", fields=[{"source": "first_name", "to": "fname"}]
    )
    config = {"endpoint": "Partner CRM", "adaptor": "Sale payload"}
    pk = create(api, workflow_doc("Push", ON_CREATE, [{"type": "INTEGRATION", "config": config}]))
    rename(api, f"/api/v1/endpoints/{endpoint.pk}/", name="Partner CRM v2")
    rename(api, f"/api/v1/adaptors/{adaptor.pk}/", name="Sale payload v2")
    assert first_action(document(api, pk)) == {
        "endpoint": "Partner CRM v2",
        "adaptor": "Sale payload v2",
    }
    make_lead()
    (entry,) = run_pending()
    assert entry.state == "succeeded", entry.reason
    assert entry.result["endpoint"] == "Partner CRM v2"
    assert entry.result["adaptor"] == "Sale payload v2"
    assert len(http_server.requests) == 1 and b"fname" in http_server.requests[0].body


def test_a_renamed_status_keeps_its_code_in_conditions_and_actions(api, make_lead, statuses):
    # A status's id is its code (the primary key, read-only once created): its name
    # can change freely, and the document names it by the code it always had.
    doc = workflow_doc(
        "Status",
        [{"type": "DISPOSITION", "values": ["SALE"]}],
        [{"type": "STATUS", "config": {"status": "FOLLOW"}}],
    )
    pk = create(api, doc)
    rename(api, "/api/v1/statuses/FOLLOW/", name="Follow up later")
    rename(api, "/api/v1/statuses/SALE/", name="Closed sale")
    shown = document(api, pk)
    assert shown["events"][0]["values"] == ["SALE"]
    assert first_action(shown) == {"status": "FOLLOW"}
    lead = make_lead()
    Call.record(lead=lead, disposition=statuses["SALE"])
    (entry,) = run_pending()
    assert entry.state == "succeeded", entry.reason
    assert Lead.objects.get(pk=lead.pk).status_id == "FOLLOW"


@pytest.mark.parametrize(
    "relation, path, new_name",
    [("campaign", "campaigns", "Solar Q4 (renamed)"), ("list", "lists", "Solar CA (renamed)")],
)
def test_a_renamed_scope_object_still_scopes_the_workflow(
    api, make_lead, campaign, lead_list, relation, path, new_name
):
    target = {"campaign": campaign, "list": lead_list}[relation]
    doc = workflow_doc(
        "Scoped",
        ON_CREATE,
        [{"type": "HOPPER", "config": {}}],
        all_campaigns=False,
        relation=relation,
        relation_objects=[target.name],
    )
    pk = create(api, doc)
    rename(api, f"/api/v1/{path}/{target.pk}/", name=new_name)
    assert document(api, pk)["relation_objects"] == [new_name]
    lead = make_lead()
    assert Trigger.objects.get(workflow_id=pk, lead_id=lead.pk).outcome == "fired"


def test_a_renamed_queue_and_a_changed_inbound_number_show_in_the_document(api, campaign, statuses):
    queue = Queue.objects.create(name="Support", campaign=campaign)
    number = InboundNumber.objects.create(number="+13105550100", queue=queue)
    by_queue = create(
        api,
        workflow_doc("By queue", ON_SALE, [{"type": "HOPPER", "config": {}}],
                     all_campaigns=False, relation="queue", relation_objects=["Support"]),
    )  # fmt: skip
    by_number = create(
        api,
        workflow_doc("By number", ON_SALE, [{"type": "HOPPER", "config": {}}],
                     all_campaigns=False, relation="inbound_number",
                     relation_objects=["+13105550100"]),
    )  # fmt: skip
    rename(api, f"/api/v1/queues/{queue.pk}/", name="Support (renamed)")
    rename(api, f"/api/v1/inbound-numbers/{number.pk}/", number="+13105550199")
    assert document(api, by_queue)["relation_objects"] == ["Support (renamed)"]
    assert document(api, by_number)["relation_objects"] == ["+13105550199"]


def test_a_get_put_round_trip_after_a_rename_changes_nothing(api, other_list):
    pk = create(
        api, workflow_doc("Move", ON_CREATE, [{"type": "MOVE", "config": {"list": "Insurance TX"}}])
    )
    rename(api, f"/api/v1/lists/{other_list.pk}/", name="Insurance Texas")
    shown = document(api, pk)
    modified = Workflow.objects.get(pk=pk).modified_at
    response = api.put(f"/api/v1/workflows/{pk}/", shown, format="json")
    assert response.status_code == 200, response.json()
    assert Workflow.objects.get(pk=pk).modified_at == modified
    assert Action.objects.get(action_set__workflow_id=pk).config == {"list": other_list.pk}


def test_a_name_that_no_longer_exists_is_still_a_400_at_its_path(api, other_list):
    doc = workflow_doc("Move", ON_CREATE, [{"type": "MOVE", "config": {"list": "Insurance TX"}}])
    create(api, doc)
    rename(api, f"/api/v1/lists/{other_list.pk}/", name="Insurance Texas")
    doc["name"] = "Move 2"
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 400
    assert response.json()["action_sets[0].actions[0].config.list"] == [
        "no list with name 'Insurance TX'"
    ]


@pytest.mark.parametrize(
    "action, path",
    [
        ({"type": "MOVE", "config": {"list": "Insurance TX"}}, "lists"),
        ({"type": "EMAIL", "config": {"template": "Welcome"}}, "email-templates"),
        ({"type": "STATUS", "config": {"status": "FOLLOW"}}, "statuses"),
        ({"type": "INTEGRATION", "config": {"endpoint": "Partner CRM"}}, "endpoints"),
    ],
)
def test_deleting_what_a_workflow_uses_is_refused_naming_it(
    api, statuses, other_list, action, path
):
    EmailTemplate.objects.create(name="Welcome", subject="Hi", body="B")
    Endpoint.objects.create(name="Partner CRM", url="https://crm.example/hook")
    create(api, workflow_doc("Uses it", ON_CREATE, [action]))
    key = {
        "lists": other_list.pk,
        "email-templates": EmailTemplate.objects.get().pk,
        "statuses": "FOLLOW",
        "endpoints": Endpoint.objects.get().pk,
    }[path]
    response = api.delete(f"/api/v1/{path}/{key}/")
    assert response.status_code == 409, response.content
    assert response.json()["detail"] in (
        "Cannot delete: still used by workflows (1).",
        "Cannot delete: used by the workflows Uses it.",  # endpoints and adaptors name it
    )
    assert api.get(f"/api/v1/{path}/{key}/").status_code == 200


def test_deleting_a_scope_campaign_is_refused_and_freed_when_the_workflow_stops_using_it(
    api, other_campaign
):
    doc = workflow_doc(
        "Scoped", ON_CREATE, [{"type": "HOPPER", "config": {}}],
        all_campaigns=False, relation="campaign", relation_objects=["Insurance"],
    )  # fmt: skip
    pk = create(api, doc)
    assert api.delete(f"/api/v1/campaigns/{other_campaign.pk}/").status_code == 409
    doc["relation_objects"] = []
    doc["all_campaigns"] = True
    assert api.put(f"/api/v1/workflows/{pk}/", doc, format="json").status_code == 200
    assert api.delete(f"/api/v1/campaigns/{other_campaign.pk}/").status_code == 204


def test_a_list_freed_by_its_workflow_can_be_deleted(api, other_list):
    doc = workflow_doc("Move", ON_CREATE, [{"type": "MOVE", "config": {"list": "Insurance TX"}}])
    pk = create(api, doc)
    doc["action_sets"][0]["actions"] = [{"type": "HOPPER", "config": {}}]
    assert api.put(f"/api/v1/workflows/{pk}/", doc, format="json").status_code == 200
    assert api.delete(f"/api/v1/lists/{other_list.pk}/").status_code == 204
    assert not List.objects.filter(pk=other_list.pk).exists()
