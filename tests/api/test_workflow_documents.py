"""The workflow document of SPEC Appendix A through /api/v1/workflows/."""

import pytest
from rest_framework.test import APIClient

from automation.models import Action, LogEntry, Trigger, Workflow
from leads.models import Call

DOC = {
    "name": "Sale follow-up",
    "description": "Push sales to the CRM, then set a follow-up status",
    "active": True,
    "relation": "campaign",
    "relation_mode": "within",
    "relation_objects": ["Solar Q4"],
    "all_campaigns": False,
    "stop_if": "final_status",
    "stop_filter": [],
    "skip_if_pending": False,
    "schedule": {"enabled": True, "window": "9-5", "days": [0, 1, 2, 3, 4]},
    "perform_action_on": 100,
    "events": [
        {"type": "DISPOSITION", "values": ["SALE"]},
        {"type": "CALL_COUNT", "operator": "less_than_or_equal", "value": 3},
        {"type": "LEAD_FIELDS", "field": "state", "operator": "equals", "value": "CA"},
    ],
    "action_sets": [
        {
            "delay": {"mode": "fixed", "days": 0, "hours": 1, "minutes": 30},
            "window": "8-9",
            "actions": [
                {
                    "type": "STATUS",
                    "active": True,
                    "skip_if_live_call": False,
                    "config": {"status": "FOLLOW"},
                },
                {"type": "MOVE", "config": {"list": "Solar CA"}},
            ],
        }
    ],
}


def test_it_creates_a_workflow_from_the_document(api, doc):
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 201, response.json()
    workflow = Workflow.objects.get(name="Sale follow-up")
    assert list(workflow.campaigns.values_list("name", flat=True)) == ["Solar Q4"]
    assert workflow.events.count() == 3
    assert workflow.schedule_enabled and workflow.schedule_window == "9-5"
    assert [a.type for a in Action.objects.filter(action_set__workflow=workflow)] == [
        "STATUS",
        "MOVE",
    ]
    assert response.json()["id"] == workflow.pk


def test_it_reads_back_the_same_document(api, doc):
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    got = api.get(f"/api/v1/workflows/{created['id']}/").json()
    for key in ("name", "relation_objects", "stop_if", "schedule", "perform_action_on"):
        assert got[key] == doc[key]
    workflow = Workflow.objects.get()
    event = workflow.events.first()
    assert got["events"][0] == {"id": event.pk, "type": "DISPOSITION", "values": ["SALE"]}
    action_set = workflow.action_sets.get()
    assert got["action_sets"][0]["id"] == action_set.pk
    move = action_set.actions.get(type="MOVE")
    assert got["action_sets"][0]["actions"][1] == {
        "id": move.pk,
        "type": "MOVE",
        "active": True,
        "skip_if_live_call": False,
        "config": {"list": "Solar CA"},
    }


def test_the_appendix_a_document_round_trips_unchanged(api, doc):
    doc["stop_filter"] = [{"field": "state", "operator": "equals", "value": "NV"}]
    doc["stop_if"] = "lead_filter"
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    got = api.get(f"/api/v1/workflows/{created['id']}/").json()
    modified_at = Workflow.objects.get().modified_at
    response = api.put(f"/api/v1/workflows/{created['id']}/", got, format="json")
    assert response.status_code == 200, response.json()
    assert Workflow.objects.get().modified_at == modified_at
    assert api.get(f"/api/v1/workflows/{created['id']}/").json() == got


def test_it_exports_and_imports_by_natural_keys(api, doc):
    api.post("/api/v1/workflows/", doc, format="json")
    exported = api.get("/api/v1/workflows/export/").json()
    Workflow.objects.all().delete()
    response = api.post("/api/v1/workflows/import/", exported, format="json")
    assert response.status_code == 200, response.json()
    assert Workflow.objects.get().name == "Sale follow-up"
    # Importing again updates by name instead of duplicating.
    api.post("/api/v1/workflows/import/", exported, format="json")
    assert Workflow.objects.count() == 1


@pytest.mark.parametrize(
    "mutate, path",
    [
        (
            lambda d: d["action_sets"][0]["actions"][1]["config"].update(list="Nope"),
            "action_sets[0].actions[1].config.list",
        ),
        (
            lambda d: d["action_sets"][0]["actions"][0]["config"].update(status="ZZZ"),
            "action_sets[0].actions[0].config.status",
        ),
        (lambda d: d["events"][0].update(values=["NOPE"]), "events[0].values[0]"),
        (lambda d: d["events"][1].update(operator="roughly"), "events[1].operator"),
        (lambda d: d["events"].append({"type": "WHATEVER"}), "events[3].type"),
        (lambda d: d.update(colour="blue"), "colour"),
        (
            lambda d: d["action_sets"][0]["actions"][0].update(speed=3),
            "action_sets[0].actions[0].speed",
        ),
        (lambda d: d.update(relation_objects=["Nowhere"]), "relation_objects[0]"),
        (lambda d: d.update(perform_action_on=150), "perform_action_on"),
        (lambda d: d["schedule"].update(days=[7]), "schedule.days"),
        (lambda d: d["action_sets"][0].update(window="5-9"), "action_sets[0].window"),
        (
            lambda d: d["action_sets"][0]["delay"].update(mode="lead_field"),
            "action_sets[0].delay.field",
        ),
        (lambda d: d["events"][1].update(value="lots", operator="greater_than"), "events[1].value"),
        (lambda d: d.update(active="yes"), "active"),
        (lambda d: d.update(stop_if="lead_filter"), "stop_filter"),
    ],
)
def test_it_rejects_bad_documents_naming_the_path(api, doc, mutate, path):
    mutate(doc)
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 400
    assert path in response.json(), response.json()
    assert not Workflow.objects.exists()


def test_it_rejects_a_duplicate_name(api, doc):
    api.post("/api/v1/workflows/", doc, format="json")
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 400
    assert "name" in response.json()


def test_a_failed_update_keeps_the_stored_workflow(api, doc):
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    doc["events"][0]["values"] = ["NOPE"]
    assert api.put(f"/api/v1/workflows/{created['id']}/", doc, format="json").status_code == 400
    assert Workflow.objects.get().events.first().config == {"values": ["SALE"]}


def test_it_patches_top_level_settings(api, doc):
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    response = api.patch(
        f"/api/v1/workflows/{created['id']}/", {"perform_action_on": 30}, format="json"
    )
    assert response.status_code == 200
    assert Workflow.objects.get().perform_action_on == 30
    assert Workflow.objects.get().events.count() == 3


def test_a_workflow_created_through_the_api_fires(api, doc, make_lead, statuses):
    doc["schedule"] = {"enabled": False, "window": "24hr", "days": []}
    doc["events"] = [{"type": "DISPOSITION", "values": ["SALE"]}]
    api.post("/api/v1/workflows/", doc, format="json")
    lead = make_lead()
    Call.record(lead=lead, disposition=statuses["SALE"])
    assert Trigger.objects.get().outcome == "fired"
    assert LogEntry.objects.count() == 2


def test_its_delete_archives_the_workflow(api, doc):
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    assert api.delete(f"/api/v1/workflows/{created['id']}/").status_code == 204
    workflow = Workflow.objects.get()  # archived, not deleted (tests/api/test_workflow_archive.py)
    assert workflow.archived and not workflow.active


def test_it_requires_authentication(db):
    assert APIClient().get("/api/v1/workflows/").status_code in (401, 403)
    assert APIClient().get("/api/v1/workflow-logs/").status_code in (401, 403)
    assert APIClient().get("/api/v1/constants/").status_code in (401, 403)


def test_it_serves_the_constants(api):
    data = api.get("/api/v1/constants/").json()
    assert data["events"]["DISPOSITION"] == "Agent sets a specific call disposition"
    assert len(data["events"]) == 11
    assert len(data["action_types"]) == 12
    assert len(data["operators"]) == 13
    assert set(data["windows"]) == {"24hr", "9-9", "9-5", "12-5", "12-9", "5-9", "8-9"}


def test_the_constants_are_importable():
    from automation.constants import CONNECT_WORKFLOW_EVENTS

    assert CONNECT_WORKFLOW_EVENTS["DISPOSITION"] == "Agent sets a specific call disposition"
