"""SPEC C.2, all errors at once: a rejected document lists every problem, each at its path.

Validation is staged (automation.document.document.validate): settings, then
what depends on them, then the analysis of the conditions. Each later stage
runs on what the earlier ones let through, so one answer names them all.
"""

import copy

from automation.models import Workflow


def rejected(api, doc):
    response = api.post("/api/v1/workflows/", doc, format="json")
    assert response.status_code == 400, response.json()
    assert not Workflow.objects.exists()
    return response.json()


def test_impossible_conditions_are_reported_with_a_bad_event(api, doc):
    doc["events"].append({"type": "CALLBACK"})
    doc["events"].append({"type": "DISPOSITION", "values": ["NOPE"]})
    errors = rejected(api, doc)
    assert "events[4].values[0]" in errors
    assert "cannot match together with events[3]" in errors["events[0]"][0]
    assert "cannot match together with events[0]" in errors["events[3]"][0]


def test_a_bad_schedule_day_does_not_hide_a_window_that_never_opens(api, doc):
    doc["schedule"]["days"] = [9]
    doc["action_sets"][0]["window"] = "5-9"
    errors = rejected(api, doc)
    assert set(errors) == {"schedule.days", "action_sets[0].window"}


def test_a_bad_relation_does_not_hide_bad_relation_objects(api, doc):
    doc.update(relation="planet", relation_objects=["Solar Q4", 3])
    errors = rejected(api, doc)
    assert set(errors) == {"relation", "relation_objects[1]"}


def test_a_bad_delay_unit_does_not_hide_a_missing_delay_field(api, doc):
    doc["action_sets"][0]["delay"] = {"mode": "lead_field", "days": -1}
    errors = rejected(api, doc)
    assert set(errors) == {"action_sets[0].delay.days", "action_sets[0].delay.field"}


def test_it_lists_every_problem_of_every_stage_at_once(api, doc):
    doc.update(colour="blue", perform_action_on=150, stop_if="lead_filter")
    doc["relation_objects"] = ["Nowhere"]
    doc["schedule"]["days"] = [7]
    doc["events"][1]["operator"] = "roughly"
    doc["events"].append({"type": "CALLBACK"})
    doc["action_sets"][0]["actions"][0]["config"]["status"] = "ZZZ"
    doc["action_sets"][0]["actions"][1]["id"] = 12345
    doc["action_sets"][0]["delay"]["minutes"] = "soon"
    doc["action_sets"].append({"window": "never", "actions": [{"type": "TELEPORT"}]})
    errors = rejected(api, doc)
    assert set(errors) == {
        "colour",
        "perform_action_on",
        "stop_filter",
        "relation_objects[0]",
        "schedule.days",
        "events[1].operator",
        "events[0]",
        "events[3]",
        "action_sets[0].actions[0].config.status",
        "action_sets[0].actions[1].id",
        "action_sets[0].delay.minutes",
        "action_sets[1].window",
        "action_sets[1].actions[0].type",
    }


def test_an_update_lists_its_id_and_read_only_problems_with_the_rest(api, doc):
    created = api.post("/api/v1/workflows/", doc, format="json").json()
    url = f"/api/v1/workflows/{created['id']}/"
    got = api.get(url).json()
    got["disabled_reason"] = "mine"
    got["events"][0]["id"] = "first"
    got["events"][1]["operator"] = "roughly"
    got["action_sets"][0]["actions"][0]["type"] = "MOVE"
    response = api.put(url, got, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {
        "disabled_reason",
        "events[0].id",
        "events[1].operator",
        "action_sets[0].actions[0].type",
        "action_sets[0].actions[0].config.status",  # a STATUS config is no MOVE config
        "action_sets[0].actions[0].config.list",
    }


def test_an_import_lists_the_problems_of_every_document(api, doc):
    second = copy.deepcopy(doc)
    second["name"] = "Second"
    doc["events"][0]["values"] = ["NOPE"]
    second["schedule"]["days"] = [8]
    second["action_sets"][0]["window"] = "5-9"
    response = api.post("/api/v1/workflows/import/", {"workflows": [doc, second]}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {
        "workflows[0].events[0].values[0]",
        "workflows[0].events[0].type",
        "workflows[1].schedule.days",
        "workflows[1].action_sets[0].window",
    }
