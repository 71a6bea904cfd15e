"""SPEC C.2, archive not delete, and clone: DELETE archives (stops firing, cancels
pending entries, keeps triggers and the log), unarchive brings it back inactive,
clone makes an inactive "Copy of …"."""

import copy

from automation.models import Action, ActionSet, EventCondition, LogEntry, Trigger, Workflow
from tests.api.test_workflow_updates import DOC, fire, workflow_url  # noqa: F401


def ids(doc):
    return [
        *(("event", e["id"]) for e in doc["events"]),
        *(("set", s["id"]) for s in doc["action_sets"]),
        *(("action", a["id"]) for s in doc["action_sets"] for a in s["actions"]),
    ]


def without_ids(doc):
    doc = copy.deepcopy(doc)
    for item in [*doc["events"], *doc["action_sets"]]:
        item.pop("id")
    for s in doc["action_sets"]:
        for a in s["actions"]:
            a.pop("id")
    return {
        k: v for k, v in doc.items() if k not in ("id", "name", "active", "version", "warnings")
    }


def test_delete_archives_cancels_pending_entries_and_keeps_the_log(api, workflow_url, fire):  # noqa: F811
    fire()
    assert api.delete(workflow_url).status_code == 204
    workflow = Workflow.objects.get()
    assert workflow.archived and not workflow.active
    assert {(e.state, e.reason) for e in LogEntry.objects.all()} == {
        ("cancelled", "workflow archived")
    }
    assert Trigger.objects.filter(workflow=workflow).count() == 1  # the log stays
    assert api.get(f"/api/v1/workflow-logs/?workflow={workflow.pk}").json()["results"]
    shown = api.get(workflow_url).json()
    assert (shown["archived"], shown["active"], shown["version"]) == (True, False, 2)
    latest = api.get(f"{workflow_url}versions/").json()[0]
    assert latest["summary"] == "archived: changed active"

    fire()  # it no longer fires
    assert Trigger.objects.count() == 1 and LogEntry.objects.count() == 2


def test_the_default_list_leaves_archived_workflows_out(api, workflow_url):  # noqa: F811
    other = api.post("/api/v1/workflows/", {**copy.deepcopy(DOC), "name": "Other"}, format="json")
    api.delete(workflow_url)
    listed = api.get("/api/v1/workflows/").json()
    assert [w["name"] for w in listed["results"]] == ["Other"] and listed["count"] == 1
    archived = api.get("/api/v1/workflows/?archived=true").json()["results"]
    assert [w["name"] for w in archived] == ["Tag sales"]
    assert api.get("/api/v1/workflows/?archived=false").json()["count"] == 1
    response = api.get("/api/v1/workflows/?archived=maybe")
    assert response.status_code == 400 and response.json() == {
        "archived": ["must be true or false"]
    }
    exported = api.get("/api/v1/workflows/export/").json()["workflows"]
    assert [w["name"] for w in exported] == [other.json()["name"]]


def test_an_archived_workflow_is_read_only_until_unarchived(api, workflow_url):  # noqa: F811
    api.delete(workflow_url)
    response = api.patch(workflow_url, {"description": "edited"}, format="json")
    assert response.status_code == 400
    assert "unarchive it first" in response.json()["archived"][0]
    assert api.post(f"{workflow_url}versions/1/restore/").status_code == 400
    assert api.delete(workflow_url).status_code == 204  # archiving again changes nothing
    assert Workflow.objects.get().version == 2

    response = api.post(f"{workflow_url}unarchive/")
    assert response.status_code == 200
    assert (response.json()["archived"], response.json()["active"]) == (False, False)
    assert api.get("/api/v1/workflows/").json()["count"] == 1
    assert api.patch(workflow_url, {"active": True}, format="json").json()["active"] is True


def test_an_inactive_workflow_archived_stores_no_version(api, workflow_url):  # noqa: F811
    api.patch(workflow_url, {"active": False}, format="json")
    api.delete(workflow_url)
    assert Workflow.objects.get().version == 2  # the PATCH's; the document did not change


def test_clone_makes_an_inactive_copy_with_new_ids(api, workflow_url):  # noqa: F811
    original = api.get(workflow_url).json()
    response = api.post(f"{workflow_url}clone/")
    assert response.status_code == 201, response.json()
    copy_ = response.json()
    assert (copy_["name"], copy_["active"], copy_["version"]) == ("Copy of Tag sales", False, 1)
    assert not set(ids(copy_)) & set(ids(original))
    assert without_ids(copy_) == without_ids(original)
    (version,) = api.get(f"/api/v1/workflows/{copy_['id']}/versions/").json()
    assert (version["source"], version["user"]) == ("api", "boss")
    assert version["summary"] == "copied from “Tag sales” (version 1)"
    assert (Workflow.objects.count(), EventCondition.objects.count()) == (2, 2)
    assert (ActionSet.objects.count(), Action.objects.count()) == (2, 4)

    names = [api.post(f"{workflow_url}clone/").json()["name"] for _ in range(2)]
    assert names == ["Copy of Tag sales (2)", "Copy of Tag sales (3)"]


def test_clone_of_a_long_name_stays_within_the_limit(api, workflow_url):  # noqa: F811
    api.patch(workflow_url, {"name": "x" * 200}, format="json")
    first = api.post(f"{workflow_url}clone/").json()["name"]
    second = api.post(f"{workflow_url}clone/").json()["name"]
    assert len(first) == len(second) == 200
    assert first.startswith("Copy of xxx") and second.endswith("x (2)")


def test_clone_and_unarchive_of_no_workflow_are_404(api, db):
    assert api.post("/api/v1/workflows/424242/clone/").status_code == 404
    assert api.post("/api/v1/workflows/424242/unarchive/").status_code == 404
