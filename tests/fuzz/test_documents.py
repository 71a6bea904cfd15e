"""Hostile workflow documents: never a 5xx, every 400 names a path, nothing stored changes.

1,000+ documents per run, each the base document (every event and action
type) with 1–3 mutations (tests/fuzz/hostile.py), sent as a create, a
replace of the existing workflow, or an import.
"""

import copy
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automation.models import Workflow
from tests.fuzz.conftest import BASE_DOCUMENT, names_a_path, snapshot
from tests.fuzz.hostile import mutated, to_json

DOCUMENTS = 1000

FUZZ = settings(
    max_examples=DOCUMENTS,
    deadline=None,
    derandomize=True,  # the same documents every run: a failure reproduces
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_it_answers_hostile_documents_with_a_400_naming_the_path(
    world, tally, no_unhandled_exceptions
):
    api = world.api
    target = "workflow documents"
    state = {"before": snapshot(), "sent": 0}
    started = time.monotonic()

    @FUZZ
    @given(
        doc=mutated(BASE_DOCUMENT),
        how=st.sampled_from(["create", "create", "create", "replace", "import"]),
    )
    def send(doc, how):
        if how == "create" and isinstance(doc, dict) and doc.get("name") == BASE_DOCUMENT["name"]:
            doc["name"] = "Fuzz copy"  # else every create is "exists already"
        if how == "create":
            response = api.post("/api/v1/workflows/", to_json(doc), "application/json")
        elif how == "replace":
            url = f"/api/v1/workflows/{world.workflow.pk}/"
            response = api.put(url, to_json(doc), "application/json")
        else:
            body = {"workflows": [doc]}
            response = api.post("/api/v1/workflows/import/", to_json(body), "application/json")
        state["sent"] += 1
        tally.add(target, response.status_code)
        assert response.status_code < 500, (how, to_json(doc)[:2000])
        if response.status_code >= 400:
            assert response.status_code in (400, 413), response.content[:500]
            assert names_a_path(response), response.content[:500]
            assert snapshot() == state["before"], "a refused document changed the database"
        else:
            state["before"] = snapshot()
            if how == "create":  # keep the name free for the next one: erase it (a
                # DELETE archives, and an archived workflow keeps its name)
                Workflow.objects.filter(pk=response.json()["id"]).delete()
                state["before"] = snapshot()

    send()
    tally.seconds[target] += time.monotonic() - started
    assert state["sent"] >= DOCUMENTS


def test_it_refuses_the_issues_documents(world, tally, no_unhandled_exceptions):
    """The documents of issue #18, one by one."""
    api = world.api
    cases = []
    for kind in ("events", "action"):
        for bad in ([], {"a": 1}, 7, None, True):
            doc = copy.deepcopy(BASE_DOCUMENT)
            if kind == "events":
                doc["events"][0]["type"] = bad
                cases.append((doc, "events[0].type"))
            else:
                doc["action_sets"][0]["actions"][0]["type"] = bad
                cases.append((doc, "action_sets[0].actions[0].type"))
    for key, bad in (("name", 5), ("name", ["x"]), ("relation_objects", [1]), ("name", "a\x00")):
        doc = copy.deepcopy(BASE_DOCUMENT)
        doc[key] = bad
        cases.append((doc, key if key == "name" else "relation_objects[0]"))
    for key in ("value", "value2"):
        for bad in ({"a": 1}, [1, 2], "\ud800"):
            doc = copy.deepcopy(BASE_DOCUMENT)
            doc["events"][6][key] = bad
            cases.append((doc, f"events[6].{key}"))
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc["events"][0]["values"] = [{"a": 1}]
    cases.append((doc, "events[0].values"))
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc["action_sets"][0]["actions"][2]["config"]["list"] = ["Solar CA"]
    cases.append((doc, "action_sets[0].actions[2].config.list"))
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc["events"] = [{"type": "CALLBACK"}] * 40_000
    cases.append((doc, "events"))
    for doc, path in cases:
        before = snapshot()
        response = api.post("/api/v1/workflows/", to_json(doc), "application/json")
        tally.add("issue #18 documents", response.status_code)
        assert response.status_code == 400, (path, response.content[:300])
        assert any(key.startswith(path) for key in response.json()), (path, response.json())
        assert snapshot() == before

    deep = to_json(BASE_DOCUMENT).replace('"value": 3', '"value": ' + "[" * 5000 + "]" * 5000)
    deep = deep.replace('"value":3', '"value":' + "[" * 5000 + "]" * 5000)
    response = api.post("/api/v1/workflows/", deep, "application/json")
    tally.add("issue #18 documents", response.status_code)
    assert response.status_code == 400
    assert "nests deeper" in response.json()["body"][0]


def test_it_blames_the_type_when_the_values_fit_another_one(world):
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc["events"][2] = {"type": "DISPOSITION", "values": ["OUTBOUND"]}  # call types
    errors = world.api.post("/api/v1/workflows/", to_json(doc), "application/json").json()
    assert "is the type wrong" in errors["events[2].type"][0]
    assert "CALL_TYPE" in errors["events[2].type"][0]
    doc["events"][2] = {"type": "CALL_TYPE", "values": ["SALE", "NI"]}  # status codes
    errors = world.api.post("/api/v1/workflows/", to_json(doc), "application/json").json()
    assert "events[2].values[0]" in errors and "events[2].values[1]" in errors
    assert "DISPOSITION" in errors["events[2].type"][0]


def test_it_reports_every_problem_of_a_document_at_once(world):
    doc = copy.deepcopy(BASE_DOCUMENT)
    doc.update(name=7, relation_mode="sideways", perform_action_on=500)
    doc["events"][0]["values"] = ["NOPE", "SALE", "ALSO_NOPE"]
    doc["action_sets"][0]["delay"]["days"] = -1
    doc["action_sets"][0]["window"] = "never"
    doc["action_sets"][0]["actions"][3]["config"]["status"] = "GONE"
    errors = world.api.post("/api/v1/workflows/", to_json(doc), "application/json").json()
    assert {
        "name",
        "relation_mode",
        "perform_action_on",
        "events[0].values[0]",
        "events[0].values[2]",
        "action_sets[0].delay.days",
        "action_sets[0].window",
        "action_sets[0].actions[3].config.status",
    } <= set(errors)
