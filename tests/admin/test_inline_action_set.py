"""An action set added inline on the workflow page at its defaults ("Immediately / 24hr") is saved."""

from django.urls import reverse

from automation.models import ActionSet, Workflow
from tests.admin.forms import workflow_data
from tests.admin.test_workflow_editor import errors_of


def test_it_saves_a_new_action_set_left_at_its_defaults(admin_client_, make_workflow):
    workflow = make_workflow()
    existing = workflow.action_sets.get()
    data = workflow_data(
        name=workflow.name,
        events=[("DISPOSITION", {"values": "SALE"})],
        action_sets=[{}, {}],
        all_campaigns="on",
    )
    data.update(
        {
            "events-TOTAL_FORMS": "1",
            "action_sets-INITIAL_FORMS": "1",
            "action_sets-0-id": str(existing.pk),
            "action_sets-0-workflow": str(workflow.pk),
            "action_sets-1-position": "1",
        }
    )
    response = admin_client_.post(
        reverse("admin:automation_workflow_change", args=[workflow.pk]), data
    )
    assert response.status_code == 302, errors_of(response)
    sets = ActionSet.objects.filter(workflow=workflow).order_by("position")
    assert [(s.position, s.delay_mode, s.window) for s in sets] == [
        (0, "immediate", "24hr"),
        (1, "immediate", "24hr"),
    ]


def test_it_saves_a_new_workflow_with_one_default_action_set(admin_client_, statuses):
    data = workflow_data(events=[("DISPOSITION", {"values": "SALE"})], action_sets=[{}])
    response = admin_client_.post(reverse("admin:automation_workflow_add"), data)
    assert response.status_code == 302, errors_of(response)
    assert Workflow.objects.get().action_sets.count() == 1
