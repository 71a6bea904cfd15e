"""SPEC C.2 in the admin: every save stores a version; the History page lists them
with a diff and a Restore button; Delete archives; Duplicate; Unarchive; Purge.

The workflow is tests/api/test_workflow_updates.py's, made through the document
store (version 1), fired on a SALE disposition: its two FIELD actions wait an
hour, pending.
"""

import copy

import pytest
from django.urls import reverse

from automation.constants import EntryState
from automation.document import document
from automation.models import Action, LogEntry, Trigger, Workflow, WorkflowVersion
from leads.models import Call
from tests.admin.forms import action_set_data, workflow_data
from tests.admin.test_workflow_editor import ADD, errors_of
from tests.api.test_workflow_updates import DOC


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """The custom fields the workflow's FIELD actions write (SPEC C.2: declared)."""
    declare("tag", "note", "new")


@pytest.fixture
def workflow(statuses, campaign, lead_list):
    return document.save(copy.deepcopy(DOC))


@pytest.fixture
def fired(workflow, make_lead, statuses):
    """Its two entries, pending, created under version 1."""
    Call.record(lead=make_lead(), disposition=statuses["SALE"])
    assert LogEntry.objects.filter(state=EntryState.PENDING, version=1).count() == 2
    return workflow


def url(name, *args):
    return reverse(f"admin:automation_workflow_{name}", args=args)


def action_set_change(client, workflow, remove_last=False, value="v1"):
    """Post the workflow's action set page with its actions (the last one deleted)."""
    action_set = workflow.action_sets.get()
    actions = list(action_set.actions.order_by("position"))
    data = action_set_data(
        workflow,
        actions=[("FIELD", {**a.config, "value": value if i == 0 else a.config["value"]})
                 for i, a in enumerate(actions)],
        delay_mode="fixed",
        delay_hours="1",
    )  # fmt: skip
    data["actions-INITIAL_FORMS"] = str(len(actions))
    for i, action in enumerate(actions):
        data[f"actions-{i}-id"] = str(action.pk)
        data[f"actions-{i}-action_set"] = str(action_set.pk)
    if remove_last:
        data[f"actions-{len(actions) - 1}-DELETE"] = "on"
    response = client.post(reverse("admin:automation_actionset_change", args=[action_set.pk]), data)
    assert response.status_code == 302, errors_of(response)


def test_an_admin_add_stores_version_1_from_the_admin(admin_client_, superuser, statuses):
    data = workflow_data(events=[("DISPOSITION", {"values": ["SALE"]})], all_campaigns="on")
    assert admin_client_.post(ADD, data).status_code == 302
    (version,) = WorkflowVersion.objects.all()
    assert (version.number, version.source, version.user) == (1, "admin", superuser)
    assert version.document["events"][0]["values"] == ["SALE"]
    assert Workflow.objects.get().version == 1


def test_an_admin_edit_stores_a_version_and_an_unchanged_save_none(
    admin_client_, operator, login, workflow
):
    client = login(operator)
    action_set_change(client, workflow, value="v2")
    version = WorkflowVersion.objects.get(number=2)
    assert (version.source, version.user, version.summary) == (
        "admin",
        operator,
        "changed 1 action",
    )
    action_set_change(client, workflow, value="v2")  # saved again as it is
    assert WorkflowVersion.objects.count() == 2


def test_removing_an_action_in_the_admin_cancels_its_entries_naming_the_version(
    admin_client_, fired
):
    note = Action.objects.get(config__field="custom.note")
    action_set_change(admin_client_, fired, remove_last=True)
    assert Workflow.objects.get().version == 2
    states = {e.action_id: (e.state, e.reason) for e in LogEntry.objects.all()}
    assert states[note.pk] == ("cancelled", "removed from the workflow in version 2")
    assert {s for s, _ in states.values()} == {"cancelled", "pending"}


def test_the_history_page_lists_the_versions_with_a_diff(admin_client_, workflow):
    action_set_change(admin_client_, workflow, value="v2")
    response = admin_client_.get(url("history", workflow.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert [v.number for v in response.context["versions"]] == [2, 1]
    assert "changed 1 action" in html and "created" in html
    assert 'class="diff"' in html  # difflib's table: version 1 → version 2
    assert (response.context["a"], response.context["b"]) == (1, 2)
    assert '<span class="diff_chg">1</span>' in html and '<span class="diff_chg">2</span>' in html
    # Any two: version 2 against itself shows no difference; a bad number the default.
    same = admin_client_.get(url("history", workflow.pk) + "?a=2&b=2").content.decode()
    assert "nothing to show" in same
    bad = admin_client_.get(url("history", workflow.pk) + "?a=x&b=99")
    assert (bad.context["a"], bad.context["b"]) == (1, 2)


def test_the_workflow_pages_history_link_is_its_versions(admin_client_, workflow):
    html = admin_client_.get(url("change", workflow.pk)).content.decode()
    assert f'href="{url("history", workflow.pk)}"' in html


def test_an_operator_restores_a_version_a_viewer_may_not(login, operator, viewer, fired):
    action_set_change(login(operator), fired, remove_last=True, value="v2")  # version 2
    viewer_client = login(viewer)
    page = viewer_client.get(url("history", fired.pk))
    assert page.status_code == 200 and "restore-version" not in page.content.decode()
    assert viewer_client.post(url("restore", fired.pk, 1)).status_code == 403

    client = login(operator)
    assert "restore-version" in client.get(url("history", fired.pk)).content.decode()
    response = client.post(url("restore", fired.pk, 1))
    assert response.status_code == 302 and response["Location"] == url("history", fired.pk)
    version = WorkflowVersion.objects.get(number=3)
    assert (version.source, version.user) == ("restore", operator)
    assert version.summary.startswith("restored version 1: ")
    configs = [a.config["value"] for a in Action.objects.order_by("position")]
    assert configs == ["v1", "n1"]
    assert client.get(url("restore", fired.pk, 1)).status_code == 405  # POST only


def test_the_delete_button_archives_and_unarchive_brings_it_back(login, operator, fired):
    client = login(operator)
    page = client.get(url("delete", fired.pk)).content.decode()
    assert "Archive the workflow" in page and "2 pending entries to cancel" in page
    response = client.post(url("delete", fired.pk), {"post": "yes"})
    assert response.status_code == 302
    fired.refresh_from_db()
    assert fired.archived and not fired.active
    assert {(e.state, e.reason) for e in LogEntry.objects.all()} == {
        ("cancelled", "workflow archived")
    }
    assert Trigger.objects.filter(workflow=fired).exists()
    listed = client.get(url("changelist"))
    assert fired not in listed.context["cl"].result_list
    archived = client.get(url("changelist") + "?archived=yes")
    assert list(archived.context["cl"].result_list) == [fired]

    change = client.get(url("change", fired.pk))
    html = change.content.decode()
    assert "This workflow is archived" in html and 'form="unarchive-form"' in html
    assert not change.context["has_change_permission"]  # read-only until unarchived
    assert client.post(url("unarchive", fired.pk)).status_code == 302
    fired.refresh_from_db()
    assert not fired.archived and not fired.active


def test_the_list_archives_selected_workflows_after_a_confirmation(login, operator, fired):
    client = login(operator)
    body = {"action": "archive_selected", "_selected_action": [str(fired.pk)], "index": "0"}
    page = client.post(url("changelist"), body)
    assert page.status_code == 200 and "Yes, archive them" in page.content.decode()
    assert not Workflow.objects.get().archived
    assert client.post(url("changelist"), {**body, "post": "yes"}).status_code == 302
    assert Workflow.objects.get().archived


def test_duplicate_makes_an_inactive_copy_and_opens_it(login, operator, viewer, workflow):
    client = login(operator)
    assert "duplicate-workflow" in client.get(url("change", workflow.pk)).content.decode()
    response = client.post(url("duplicate", workflow.pk))
    copy_ = Workflow.objects.get(name="Copy of Tag sales")
    assert response.status_code == 302 and response["Location"] == url("change", copy_.pk)
    assert not copy_.active and copy_.version == 1
    assert copy_.versions.get().source == "admin"
    assert Action.objects.filter(action_set__workflow=copy_).count() == 2

    viewer_client = login(viewer)
    assert (
        "duplicate-workflow" not in viewer_client.get(url("change", workflow.pk)).content.decode()
    )
    assert viewer_client.post(url("duplicate", workflow.pk)).status_code == 403


def test_only_a_user_with_the_purge_permission_erases(login, operator, superuser, fired):
    body = {"action": "purge_selected", "_selected_action": [str(fired.pk)], "index": "0"}
    operator_client = login(operator)
    actions = operator_client.get(url("changelist")).context["action_form"].fields["action"]
    assert "purge_selected" not in dict(actions.choices)
    operator_client.post(url("changelist"), {**body, "post": "yes"})
    assert Workflow.objects.exists()  # not an action of theirs: nothing happened

    client = login(superuser)
    page = client.post(url("changelist"), body).content.decode()
    assert "2 log entries, 1 versions" in page
    assert client.post(url("changelist"), {**body, "post": "yes"}).status_code == 302
    assert not Workflow.objects.exists()
    assert not LogEntry.objects.exists() and not Trigger.objects.exists()
    assert not WorkflowVersion.objects.exists()


def test_a_workflow_older_than_its_versions_cancels_the_entries_of_an_action_removed(
    admin_client_, make_workflow, make_entry, make_lead
):
    """Made before versions were kept (no version 0 to compare with): the entries of
    the actions it no longer has are cancelled by its first version."""
    workflow = make_workflow(
        actions=[("FIELD", {"field": "custom.tag", "op": "set", "value": "v1"}),
                 ("FIELD", {"field": "custom.note", "op": "set", "value": "n1"})]
    )  # fmt: skip
    entry = make_entry(make_lead(), workflow)  # of the first action
    Action.objects.filter(pk=entry.action_id).update(position=1)  # the last one on the page
    Action.objects.exclude(pk=entry.action_id).update(position=0)
    assert workflow.version == 0
    action_set_change(admin_client_, workflow, remove_last=True)
    entry.refresh_from_db()
    assert (entry.state, entry.reason) == ("cancelled", "removed from the workflow in version 1")
    assert Workflow.objects.get().version == 1
