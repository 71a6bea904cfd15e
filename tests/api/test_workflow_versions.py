"""SPEC C.2, versions: every change of a workflow stores its document as a version;
restore makes a new version equal to an old one; each trigger and entry records
the version it was created under.

The workflow is tests/api/test_workflow_updates.py's: a SALE disposition schedules
two FIELD actions an hour later.
"""

import copy

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from automation.models import LogEntry, Trigger, Workflow
from crm import groups
from tests.api.test_workflow_updates import DOC, fire, run_pending, workflow_url  # noqa: F401

# What a GET adds to the document a version holds.
SHOWN_ONLY = ("id", "version", "archived", "disabled_reason", "warnings")


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """What the documents' FIELD actions write (SPEC C.2: declared)."""
    declare("extra")


def stored(doc):
    return {k: v for k, v in doc.items() if k not in SHOWN_ONLY}


def versions(api, url):
    response = api.get(f"{url}versions/")
    assert response.status_code == 200, response.json()
    return response.json()


def test_it_stores_a_version_per_change_and_none_for_an_unchanged_put(api, workflow_url):  # noqa: F811
    doc = api.get(workflow_url).json()
    assert doc["version"] == 1
    assert api.put(workflow_url, doc, format="json").json()["version"] == 1  # round trip
    assert api.patch(workflow_url, {}, format="json").json()["version"] == 1
    (first,) = versions(api, workflow_url)
    assert first["version"] == 1 and first["user"] == "boss"
    assert (first["source"], first["summary"]) == ("api", "created")
    assert set(first) == {"version", "created_at", "user", "source", "summary"}

    changed = api.patch(workflow_url, {"description": "Tag them"}, format="json").json()
    assert changed["version"] == 2
    listed = versions(api, workflow_url)
    assert [v["version"] for v in listed] == [2, 1]  # newest first
    assert listed[0]["summary"] == "changed description"

    detail = api.get(f"{workflow_url}versions/1/").json()
    assert detail["document"] == stored(doc)  # the document as the API showed it then
    assert api.get(f"{workflow_url}versions/2/").json()["document"] == stored(changed)


def test_its_summary_names_what_changed(api, workflow_url):  # noqa: F811
    doc = api.get(workflow_url).json()
    doc["name"] = "Tag every sale"
    actions = doc["action_sets"][0]["actions"]
    actions[0]["config"]["value"] = "v2"
    actions.pop(1)
    doc["action_sets"].append({"delay": {"mode": "immediate"}, "actions": []})
    doc["events"].append({"type": "CALL_COUNT", "operator": "less_than", "value": 3})
    assert api.put(workflow_url, doc, format="json").status_code == 200
    assert versions(api, workflow_url)[0]["summary"] == (
        "changed name; added 1 event; added 1 action set; removed 1 action; changed 1 action"
    )


def test_a_version_of_an_unknown_number_is_a_404(api, workflow_url):  # noqa: F811
    assert api.get(f"{workflow_url}versions/2/").status_code == 404
    assert api.get(f"{workflow_url}versions/0/").status_code == 404
    assert api.get(f"{workflow_url}versions/9999999999/").status_code == 404
    assert api.post(f"{workflow_url}versions/7/restore/").status_code == 404
    assert api.get("/api/v1/workflows/999999/versions/").status_code == 404


def test_a_restore_makes_a_new_version_equal_to_the_old_one(api, workflow_url, fire):  # noqa: F811
    """Kept items keep their ids and their entries run with the restored config; the
    entries of an action the restore removes are cancelled, naming its version."""
    v1 = api.get(workflow_url).json()
    tag, note = v1["action_sets"][0]["actions"]
    lead = fire()  # entries of tag and note, under version 1
    doc = copy.deepcopy(v1)
    doc["action_sets"][0]["actions"] = [
        {**tag, "config": {**tag["config"], "value": "v2"}},
        {"type": "FIELD", "config": {"field": "custom.extra", "op": "set", "value": "x"}},
    ]
    v2 = api.put(workflow_url, doc, format="json").json()
    assert v2["version"] == 2
    extra = v2["action_sets"][0]["actions"][1]
    fire()  # entries of tag and extra, under version 2

    response = api.post(f"{workflow_url}versions/1/restore/")
    assert response.status_code == 200, response.json()
    v3 = response.json()
    assert v3["version"] == 3
    restored_tag, restored_note = v3["action_sets"][0]["actions"]
    assert restored_tag == tag  # same id, the config of version 1 again
    assert restored_note["id"] != note["id"]  # removed in version 2: created anew
    assert {k: v for k, v in restored_note.items() if k != "id"} == {
        k: v for k, v in note.items() if k != "id"
    }
    latest = versions(api, workflow_url)[0]
    assert (latest["source"], latest["user"]) == ("restore", "boss")
    assert latest["summary"].startswith("restored version 1: ")

    reasons = {
        (e.action_id, e.version): (e.state, e.reason) for e in LogEntry.objects.order_by("pk")
    }
    assert reasons[(note["id"], 1)] == ("cancelled", "removed from the workflow in version 2")
    assert reasons[(extra["id"], 2)] == ("cancelled", "removed from the workflow in version 3")
    ran = run_pending()
    assert {(e.action_id, e.state) for e in ran.values()} == {(tag["id"], "succeeded")}
    lead.refresh_from_db()
    assert lead.custom_fields == {"tag": "v1"}  # the restored config, not version 2's


def test_restoring_the_current_version_stores_nothing(api, workflow_url):  # noqa: F811
    response = api.post(f"{workflow_url}versions/1/restore/")
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert len(versions(api, workflow_url)) == 1


def test_a_restore_that_is_no_longer_valid_is_a_400_naming_the_path(api, workflow_url):  # noqa: F811
    api.patch(workflow_url, {"name": "Renamed"}, format="json")
    other = copy.deepcopy(DOC)
    assert api.post("/api/v1/workflows/", other, format="json").status_code == 201  # takes the name
    response = api.post(f"{workflow_url}versions/1/restore/")
    assert response.status_code == 400
    assert "exists already" in response.json()["name"][0]
    assert Workflow.objects.get(name="Renamed").version == 2


def test_each_trigger_and_entry_records_its_version(api, workflow_url, fire):  # noqa: F811
    fire()
    api.patch(workflow_url, {"description": "second"}, format="json")
    fire()
    assert sorted(Trigger.objects.values_list("version", flat=True)) == [1, 2]
    assert sorted(LogEntry.objects.values_list("version", flat=True)) == [1, 1, 2, 2]
    shown = api.get("/api/v1/workflow-logs/").json()["results"]
    assert sorted(e["version"] for e in shown) == [1, 1, 2, 2]
    triggers = api.get("/api/v1/workflow-triggers/").json()["results"]
    assert sorted(t["version"] for t in triggers) == [1, 2]


def test_an_import_stores_a_version_from_import(api, doc):
    body = {"workflows": [doc]}
    assert api.post("/api/v1/workflows/import/", body, format="json").status_code == 200
    workflow = Workflow.objects.get()
    url = f"/api/v1/workflows/{workflow.pk}/"
    assert [(v["source"], v["version"]) for v in versions(api, url)] == [("import", 1)]
    doc["description"] = "imported again, changed"
    assert api.post("/api/v1/workflows/import/", body, format="json").status_code == 200
    listed = versions(api, url)
    assert [(v["source"], v["version"]) for v in listed] == [("import", 2), ("import", 1)]
    assert listed[0]["summary"].startswith("changed description")


def test_the_version_is_read_only(api, workflow_url):  # noqa: F811
    doc = api.get(workflow_url).json()
    response = api.put(workflow_url, {**doc, "version": 7}, format="json")
    assert response.status_code == 400
    assert "read-only" in response.json()["version"][0]


@pytest.fixture
def viewer(db):
    groups.sync()
    user = User.objects.create_user("victor", password="pw")
    user.groups.add(Group.objects.get(name="viewer"))
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_viewer_reads_the_versions_but_may_not_restore(viewer, workflow_url):  # noqa: F811
    assert viewer.get(f"{workflow_url}versions/").status_code == 200
    assert viewer.get(f"{workflow_url}versions/1/").status_code == 200
    assert viewer.post(f"{workflow_url}versions/1/restore/").status_code == 403
