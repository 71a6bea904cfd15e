"""SPEC C.2, ids and updates: PUT and PATCH update a workflow's rows in place, by id.

A workflow fires on a SALE disposition and schedules two FIELD actions an hour
later; the tests edit it through the API while those entries are pending,
then run them (tests/automation/conftest.py's way: the real runner, later).
"""

import copy
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation.execution import runner
from automation.models import Action, ActionSet, EventCondition, LogEntry, Workflow
from leads.models import Call

DOC = {
    "name": "Tag sales",
    "description": "Tag the lead an hour after a sale",
    "relation": "campaign",
    "relation_objects": ["Solar Q4"],
    "events": [{"type": "DISPOSITION", "values": ["SALE"]}],
    "action_sets": [
        {
            "delay": {"mode": "fixed", "hours": 1},
            "actions": [
                {"type": "FIELD", "config": {"field": "custom.tag", "op": "set", "value": "v1"}},
                {"type": "FIELD", "config": {"field": "custom.note", "op": "set", "value": "n1"}},
            ],
        }
    ],
}


@pytest.fixture
def workflow_url(api, campaign, lead_list, statuses, declare):
    declare("tag", "note", "new")
    response = api.post("/api/v1/workflows/", copy.deepcopy(DOC), format="json")
    assert response.status_code == 201, response.json()
    return f"/api/v1/workflows/{response.json()['id']}/"


@pytest.fixture
def fire(make_lead, statuses):
    """A lead that fires the workflow: its two entries, pending, due in an hour."""

    def fire_it():
        lead = make_lead()
        Call.record(lead=lead, disposition=statuses["SALE"])
        return lead

    return fire_it


def run_pending():
    """Run every pending entry as if two hours had passed; {id: entry} re-read."""
    later = timezone.now() + timedelta(hours=2)
    ids = list(LogEntry.objects.filter(state="pending").values_list("pk", flat=True))
    for pk in ids:
        runner.run_entry(pk, now=later)
    return LogEntry.objects.in_bulk(ids)


def writes(queries):
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def test_a_get_shows_the_id_of_every_event_action_set_and_action(api, workflow_url):
    doc = api.get(workflow_url).json()
    workflow = Workflow.objects.get()
    assert doc["id"] == workflow.pk
    assert [e["id"] for e in doc["events"]] == list(workflow.events.values_list("pk", flat=True))
    assert [s["id"] for s in doc["action_sets"]] == list(
        workflow.action_sets.values_list("pk", flat=True)
    )
    assert [a["id"] for a in doc["action_sets"][0]["actions"]] == list(
        Action.objects.filter(action_set__workflow=workflow).values_list("pk", flat=True)
    )


def test_it_round_trips_an_unchanged_document_writing_nothing(api, workflow_url, fire):
    lead = fire()
    doc = api.get(workflow_url).json()
    assert "disabled_reason" in doc
    workflow = Workflow.objects.get()
    entries = list(LogEntry.objects.order_by("pk").values())
    with CaptureQueriesContext(connection) as queries:
        response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 200, response.json()
    assert writes(queries.captured_queries) == []
    assert Workflow.objects.get().modified_at == workflow.modified_at
    assert Workflow.objects.get().rules_token == workflow.rules_token
    assert list(LogEntry.objects.order_by("pk").values()) == entries
    assert {k: v for k, v in response.json().items() if k != "warnings"} == doc
    assert len(run_pending()) == 2
    lead.refresh_from_db()
    assert lead.custom_fields == {"tag": "v1", "note": "n1"}


def test_a_description_only_patch_leaves_the_rows_and_entries_alone(api, workflow_url, fire):
    fire()
    ids = {
        model: list(model.objects.order_by("pk").values())
        for model in (EventCondition, ActionSet, Action, LogEntry)
    }
    with CaptureQueriesContext(connection) as queries:
        response = api.patch(workflow_url, {"description": "Now with a note"}, format="json")
    assert response.status_code == 200, response.json()
    assert Workflow.objects.get().description == "Now with a note"
    for model, rows in ids.items():
        assert list(model.objects.order_by("pk").values()) == rows, model
    tables = {Workflow._meta.db_table, "automation_rulesversion"}
    assert all(any(t in sql for t in tables) for sql in writes(queries.captured_queries))
    assert {e.state for e in run_pending().values()} == {"succeeded"}


def test_pending_entries_of_an_updated_action_run_with_its_new_config(api, workflow_url, fire):
    lead = fire()
    doc = api.get(workflow_url).json()
    tag = doc["action_sets"][0]["actions"][0]
    tag["config"]["value"] = "v2"
    assert api.put(workflow_url, doc, format="json").status_code == 200
    assert Action.objects.get(pk=tag["id"]).config["value"] == "v2"
    assert {e.state for e in run_pending().values()} == {"succeeded"}
    lead.refresh_from_db()
    assert lead.custom_fields == {"tag": "v2", "note": "n1"}


def test_pending_entries_of_a_removed_action_are_cancelled(api, workflow_url, fire):
    lead = fire()
    doc = api.get(workflow_url).json()
    removed = doc["action_sets"][0]["actions"].pop(1)
    doc["action_sets"][0]["actions"].append(
        {"type": "FIELD", "config": {"field": "custom.new", "op": "set", "value": "x"}}
    )
    response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 200, response.json()
    actions = response.json()["action_sets"][0]["actions"]
    assert actions[0]["id"] == doc["action_sets"][0]["actions"][0]["id"]
    assert actions[1]["id"] not in (removed["id"], actions[0]["id"])
    assert not Action.objects.filter(pk=removed["id"]).exists()
    cancelled = LogEntry.objects.get(action_id=removed["id"])
    # Version 1 created it, this PUT stored version 2 (SPEC C.2: the reason names it).
    assert response.json()["version"] == 2
    assert (cancelled.state, cancelled.reason) == (
        "cancelled",
        "removed from the workflow in version 2",
    )
    assert cancelled.version == 1  # created under version 1
    assert cancelled.finished_at is not None
    states = {e.action_id: e.state for e in run_pending().values()}
    assert states == {actions[0]["id"]: "succeeded"}
    lead.refresh_from_db()
    assert lead.custom_fields == {"tag": "v1"}


def test_removing_an_action_set_cancels_its_entries_and_a_patch_of_the_list_too(
    api, workflow_url, fire
):
    fire()
    response = api.patch(workflow_url, {"action_sets": []}, format="json")
    assert response.status_code == 200, response.json()
    assert not ActionSet.objects.exists() and not Action.objects.exists()
    assert {(e.state, e.reason) for e in LogEntry.objects.all()} == {
        ("cancelled", "removed from the workflow in version 2")
    }
    assert Workflow.objects.get().events.count() == 1


def test_an_entry_held_by_a_flood_hold_is_cancelled_too(api, workflow_url, fire):
    fire()
    LogEntry.objects.update(state="held")
    doc = api.get(workflow_url).json()
    doc["action_sets"][0]["actions"].pop()
    assert api.put(workflow_url, doc, format="json").status_code == 200
    assert sorted(LogEntry.objects.values_list("state", flat=True)) == ["cancelled", "held"]


def test_an_item_without_id_is_created_and_a_listed_one_kept(api, workflow_url):
    doc = api.get(workflow_url).json()
    event_id = doc["events"][0]["id"]
    doc["events"].insert(0, {"type": "CALL_COUNT", "operator": "less_than", "value": 5})
    doc["action_sets"].append({"delay": {"mode": "immediate"}, "actions": []})
    response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 200, response.json()
    got = response.json()
    assert got["events"][1]["id"] == event_id
    assert got["events"][0]["id"] != event_id
    assert EventCondition.objects.get(pk=event_id).position == 1
    assert got["action_sets"][0]["id"] == doc["action_sets"][0]["id"]
    assert ActionSet.objects.count() == 2


def test_an_action_moved_to_another_set_keeps_its_id_and_entries(api, workflow_url, fire):
    fire()
    doc = api.get(workflow_url).json()
    moved = doc["action_sets"][0]["actions"].pop()
    doc["action_sets"].append({"delay": {"mode": "fixed", "hours": 2}, "actions": [moved]})
    response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["action_sets"][1]["actions"][0]["id"] == moved["id"]
    assert LogEntry.objects.filter(action_id=moved["id"], state="pending").exists()


@pytest.mark.parametrize(
    "mutate, path, message",
    [
        (
            lambda d, other: d["events"][0].update(id=other["events"][0]["id"]),
            "events[0].id",
            "no event with id",
        ),
        (
            lambda d, other: d["action_sets"][0].update(id=other["action_sets"][0]["id"]),
            "action_sets[0].id",
            "no action set with id",
        ),
        (
            lambda d, other: d["action_sets"][0]["actions"][1].update(
                id=other["action_sets"][0]["actions"][0]["id"]
            ),
            "action_sets[0].actions[1].id",
            "no action with id",
        ),
        (
            lambda d, other: d["action_sets"][0]["actions"][1].update(id="7"),
            "action_sets[0].actions[1].id",
            "must be the id",
        ),
        (
            lambda d, other: d["action_sets"][0]["actions"][1].update(
                id=d["action_sets"][0]["actions"][0]["id"]
            ),
            "action_sets[0].actions[1].id",
            "listed twice",
        ),
        (
            lambda d, other: d["action_sets"][0]["actions"][0].update(
                type="STATUS", config={"status": "FOLLOW"}
            ),
            "action_sets[0].actions[0].type",
            "type cannot change",
        ),
        (lambda d, other: d.update(id=other["id"]), "id", "is read-only"),
        (lambda d, other: d.update(disabled_reason="mine"), "disabled_reason", "is read-only"),
    ],
)
def test_it_refuses_ids_that_are_not_this_workflows_naming_the_path(
    api, workflow_url, fire, mutate, path, message
):
    other = api.post(
        "/api/v1/workflows/", {**copy.deepcopy(DOC), "name": "Other"}, format="json"
    ).json()
    fire()
    doc = api.get(workflow_url).json()
    before = {
        model: list(model.objects.order_by("pk").values())
        for model in (Workflow, EventCondition, ActionSet, Action, LogEntry)
    }
    mutate(doc, other)
    response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 400
    assert message in response.json()[path][0], response.json()
    for model, rows in before.items():
        assert list(model.objects.order_by("pk").values()) == rows, model


def test_a_patch_with_ids_of_another_workflow_is_refused(api, workflow_url):
    other = api.post(
        "/api/v1/workflows/", {**copy.deepcopy(DOC), "name": "Other"}, format="json"
    ).json()
    response = api.patch(workflow_url, {"events": other["events"]}, format="json")
    assert response.status_code == 400
    assert "events[0].id" in response.json()


def test_a_new_workflow_ignores_read_only_keys_but_not_foreign_ids(api, workflow_url):
    doc = api.get(workflow_url).json()
    copied = {**doc, "name": "Copy", "disabled_reason": "looped"}
    response = api.post("/api/v1/workflows/", copied, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {
        "events[0].id",
        "action_sets[0].id",
        "action_sets[0].actions[0].id",
        "action_sets[0].actions[1].id",
    }
    assert api.get("/api/v1/workflows/export/").json()["workflows"][0]["events"] == [
        {"type": "DISPOSITION", "values": ["SALE"]}
    ]


def test_reactivating_a_loop_disabled_workflow_round_trips_its_reason(api, workflow_url):
    Workflow.objects.update(active=False, disabled_reason="loop detected")
    doc = api.get(workflow_url).json()
    doc["active"] = True
    response = api.put(workflow_url, doc, format="json")
    assert response.status_code == 200, response.json()
    assert Workflow.objects.get().disabled_reason == ""
