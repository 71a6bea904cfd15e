"""Conflict notifications on the admin index; a loop-disabled workflow re-enabled."""

from django.urls import reverse

from automation.models import Notification, Workflow

INDEX = reverse("admin:index")


def disabled_workflow(make_workflow):
    workflow = make_workflow(name="Ping-pong")
    Workflow.objects.filter(pk=workflow.pk).update(
        active=False,
        disabled_reason="Loop detected: re-triggered itself 100 times.",
    )
    notification = Notification.objects.create(
        workflow=workflow, message="Ping-pong: Loop detected"
    )
    workflow.refresh_from_db()
    return workflow, notification


def test_the_index_shows_unacknowledged_notifications(admin_client_, make_workflow):
    workflow, notification = disabled_workflow(make_workflow)
    Notification.objects.create(message="old news", acknowledged_at="2020-01-01T00:00Z")
    html = admin_client_.get(INDEX).content.decode()
    assert "Workflow conflicts need your attention" in html
    assert "Ping-pong: Loop detected" in html and "old news" not in html
    assert reverse("admin:automation_notification_acknowledge", args=[notification.pk]) in html


def test_acknowledge_hides_the_notification(admin_client_, superuser, make_workflow):
    _, notification = disabled_workflow(make_workflow)
    url = reverse("admin:automation_notification_acknowledge", args=[notification.pk])
    response = admin_client_.post(url, {"next": INDEX})
    assert response.status_code == 302 and response["Location"] == INDEX
    notification.refresh_from_db()
    assert notification.acknowledged_at is not None and notification.acknowledged_by == superuser
    assert "Workflow conflicts" not in admin_client_.get(INDEX).content.decode()


def test_acknowledge_is_a_post(admin_client_, make_workflow):
    _, notification = disabled_workflow(make_workflow)
    url = reverse("admin:automation_notification_acknowledge", args=[notification.pk])
    assert admin_client_.get(url).status_code == 405


def test_the_workflow_page_shows_why_it_was_disabled(admin_client_, make_workflow):
    workflow, _ = disabled_workflow(make_workflow)
    html = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[workflow.pk])
    ).content.decode()
    assert "This workflow was turned off by the system" in html
    assert "Loop detected: re-triggered itself 100 times." in html
    assert reverse("admin:automation_workflow_reenable", args=[workflow.pk]) in html


def test_re_enable_turns_it_on_and_acknowledges(admin_client_, make_workflow):
    workflow, notification = disabled_workflow(make_workflow)
    response = admin_client_.post(reverse("admin:automation_workflow_reenable", args=[workflow.pk]))
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert (workflow.active, workflow.disabled_reason) == (True, "")
    notification.refresh_from_db()
    assert notification.acknowledged_at is not None
    html = admin_client_.get(
        reverse("admin:automation_workflow_change", args=[workflow.pk])
    ).content.decode()
    assert "turned off by the system" not in html
