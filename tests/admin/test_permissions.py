"""Who may do what: anonymous users log in first, viewers read, operators edit and flush."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from automation.constants import EntryState
from automation.models import LogEntry, Notification, Workflow
from tests.admin.forms import workflow_data

LOGS = reverse("admin:automation_logentry_changelist")
FLUSH = reverse("admin:automation_logentry_flush")


@pytest.fixture
def world(make_workflow, make_lead, make_entry):
    workflow = make_workflow(name="Sale follow-up")
    lead = make_lead()
    entry = make_entry(lead, workflow)
    notification = Notification.objects.create(workflow=workflow, message="Loop detected")
    return workflow, lead, entry, notification


def admin_pages(workflow, lead, entry, notification):
    return [
        reverse("admin:index"),
        reverse("admin:automation_workflow_changelist"),
        reverse("admin:automation_workflow_add"),
        reverse("admin:automation_workflow_change", args=[workflow.pk]),
        reverse("admin:automation_workflow_dry_run", args=[workflow.pk]) + f"?lead={lead.pk}",
        reverse("admin:automation_actionset_add") + f"?workflow={workflow.pk}",
        reverse("admin:automation_actionset_change", args=[workflow.action_sets.get().pk]),
        LOGS,
        reverse("admin:automation_logentry_change", args=[entry.pk]),
        FLUSH + f"?workflow={workflow.pk}",
        reverse("admin:automation_trigger_changelist"),
        reverse("admin:automation_trigger_change", args=[entry.trigger_id]),
        reverse("admin:automation_notification_changelist"),
        reverse("admin:automation_endpoint_changelist"),
        reverse("admin:automation_adaptor_changelist"),
        reverse("admin:leads_lead_change", args=[lead.pk]),
    ]


def test_anonymous_users_are_sent_to_the_login_page(client, world):
    workflow, lead, entry, notification = world
    for url in admin_pages(*world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    for url in [
        reverse("admin:automation_workflow_reenable", args=[workflow.pk]),
        reverse("admin:automation_notification_acknowledge", args=[notification.pk]),
        FLUSH,
    ]:
        response = client.post(url, {"workflow": workflow.pk, "post": "yes"})
        assert response["Location"].startswith(reverse("admin:login")), url
    assert LogEntry.objects.get(pk=entry.pk).state == EntryState.PENDING


def test_a_viewer_reads_the_logs_but_cannot_flush(login, viewer, world):
    workflow, lead, entry, notification = world
    client = login(viewer)
    response = client.get(LOGS)
    assert response.status_code == 200
    action_form = response.context["action_form"]  # None: no action is offered at all
    actions = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert "flush_selected" not in actions and "run_now" not in actions
    assert (
        client.get(reverse("admin:automation_logentry_change", args=[entry.pk])).status_code == 200
    )
    assert client.get(reverse("admin:automation_trigger_changelist")).status_code == 200

    assert client.get(FLUSH, {"workflow": workflow.pk}).status_code == 403
    client.post(FLUSH, {"workflow": workflow.pk, "post": "yes"})
    client.post(
        LOGS,
        {"action": "flush_selected", "index": "0", "post": "yes", ACTION_CHECKBOX_NAME: [entry.pk]},
    )
    assert LogEntry.objects.get(pk=entry.pk).state == EntryState.PENDING


def test_a_viewer_sees_workflows_read_only(login, viewer, world):
    workflow, lead, entry, notification = world
    client = login(viewer)
    assert client.get(reverse("admin:automation_workflow_add")).status_code == 403
    page = client.get(reverse("admin:automation_workflow_change", args=[workflow.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "Flush all pending of this workflow" not in html
    assert "&quot;SALE&quot;" in html  # the event's config, read-only
    action_set = client.get(
        reverse("admin:automation_actionset_change", args=[workflow.action_sets.get().pk])
    )
    assert action_set.status_code == 200 and "&quot;FOLLOW&quot;" in action_set.content.decode()
    assert (
        client.post(reverse("admin:automation_workflow_reenable", args=[workflow.pk])).status_code
        == 403
    )
    response = client.post(
        reverse("admin:automation_workflow_change", args=[workflow.pk]),
        workflow_data(name="Renamed"),
    )
    assert response.status_code == 403
    assert Workflow.objects.get(pk=workflow.pk).name == "Sale follow-up"
    assert (
        client.post(
            reverse("admin:automation_notification_acknowledge", args=[notification.pk])
        ).status_code
        == 403
    )


def test_an_operator_edits_workflows_and_flushes(login, operator, world, statuses):
    workflow, lead, entry, notification = world
    client = login(operator)
    response = client.post(
        reverse("admin:automation_workflow_add"),
        workflow_data(name="Callback nudges", events=[("DISPOSITION", {"values": ["CALLBK"]})]),
    )
    assert response.status_code == 302
    assert Workflow.objects.filter(name="Callback nudges").exists()

    page = client.get(reverse("admin:automation_workflow_change", args=[workflow.pk]))
    assert "Flush all pending of this workflow" in page.content.decode()
    lead_page = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert "Flush this lead's pending actions" in lead_page.content.decode()

    response = client.post(
        LOGS, {"action": "flush_selected", "index": "0", ACTION_CHECKBOX_NAME: [entry.pk]}
    )
    assert "1 pending action for 1 lead will be flushed" in response.content.decode()
    client.post(
        LOGS,
        {"action": "flush_selected", "index": "0", "post": "yes", ACTION_CHECKBOX_NAME: [entry.pk]},
    )
    assert LogEntry.objects.get(pk=entry.pk).state == EntryState.FLUSHED


def test_nobody_edits_or_deletes_log_rows_by_hand(login, operator, world):
    workflow, lead, entry, notification = world
    client = login(operator)
    url = reverse("admin:automation_logentry_change", args=[entry.pk])
    assert 'name="_save"' not in client.get(url).content.decode()
    assert (
        client.get(reverse("admin:automation_logentry_delete", args=[entry.pk])).status_code == 403
    )
    assert client.get(reverse("admin:automation_logentry_add")).status_code == 403
