"""References survive renames in the admin (SPEC C.2): actions saved on the action set
page store ids, the page shows the current names, and what a workflow uses cannot be
deleted from the admin."""

import pytest
from django.urls import reverse

from automation.models import ActionSet, WorkflowReference
from leads.models import EmailTemplate, List
from tests.admin.forms import action_set_data

pytestmark = pytest.mark.django_db


def save_actions(client, workflow, actions):
    url = reverse("admin:automation_actionset_add") + f"?workflow={workflow.pk}"
    response = client.post(url, action_set_data(workflow, actions=actions, position="1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    return ActionSet.objects.get(workflow=workflow, position=1)


def test_the_action_set_page_stores_ids_and_shows_the_renamed_objects(
    admin_client_, make_workflow, other_list
):
    workflow = make_workflow()
    template = EmailTemplate.objects.create(name="Welcome", subject="Hi", body="B")
    action_set = save_actions(
        admin_client_,
        workflow,
        [("MOVE", {"list": "Insurance TX"}), ("EMAIL", {"template": "Welcome"})],
    )
    configs = [a.config for a in action_set.actions.order_by("position")]
    assert configs == [{"list": other_list.pk}, {"template": template.pk}]
    other_list.name = "Insurance Texas"
    other_list.save()
    template.name = "Welcome v2"
    template.save()
    page = admin_client_.get(reverse("admin:automation_actionset_change", args=[action_set.pk]))
    text = page.content.decode()
    assert '<option value="Insurance Texas" selected>' in text
    assert '<option value="Welcome v2" selected>' in text
    # Saved again untouched, nothing changes: the same ids.
    data = action_set_data(
        workflow,
        actions=[("MOVE", {"list": "Insurance Texas"}), ("EMAIL", {"template": "Welcome v2"})],
        position="1",
    )
    data["actions-INITIAL_FORMS"] = "2"
    for i, action in enumerate(action_set.actions.order_by("position")):
        data[f"actions-{i}-id"] = str(action.pk)
        data[f"actions-{i}-action_set"] = str(action_set.pk)
    response = admin_client_.post(
        reverse("admin:automation_actionset_change", args=[action_set.pk]), data
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    configs = [a.config for a in action_set.actions.order_by("position")]
    assert configs == [{"list": other_list.pk}, {"template": template.pk}]


def test_the_admin_refuses_to_delete_a_list_a_workflow_moves_leads_to(
    admin_client_, make_workflow, other_list
):
    workflow = make_workflow("Move to Texas")
    save_actions(admin_client_, workflow, [("MOVE", {"list": "Insurance TX"})])
    assert WorkflowReference.objects.filter(workflow=workflow, list=other_list).exists()
    url = reverse("admin:leads_list_delete", args=[other_list.pk])
    page = admin_client_.get(url).content.decode()
    assert "protected" in page and "Move to Texas" in page
    admin_client_.post(url, {"post": "yes"})
    assert List.objects.filter(pk=other_list.pk).exists()


def test_the_admin_refuses_to_delete_a_status_a_condition_uses(admin_client_, make_workflow):
    make_workflow("On sale", disposition="SALE", actions=())
    url = reverse("admin:leads_status_delete", args=["SALE"])
    page = admin_client_.get(url).content.decode()
    assert "protected" in page and "On sale" in page
