"""What the operator does through the API with the permissions the admin checks (SPEC C.2)."""

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from automation.constants import EntryState
from automation.models import LogEntry, Notification


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_it_lets_an_operator_flush_pending_entries(world, users):
    response = api(users["operator"]).post(
        "/api/v1/workflow-logs/flush/", {"ids": [world["workflow-log"]]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["flushed"] == 1
    assert LogEntry.objects.get(pk=world["workflow-log"]).state == EntryState.FLUSHED


def test_it_refuses_a_viewer_to_flush(world, users):
    response = api(users["viewer"]).post(
        "/api/v1/workflow-logs/flush/", {"ids": [world["workflow-log"]]}, format="json"
    )
    assert response.status_code == 403
    assert LogEntry.objects.get(pk=world["workflow-log"]).state == EntryState.PENDING


def test_it_lets_an_operator_acknowledge_a_notification(world, users):
    url = f"/api/v1/notifications/{world['notification']}/acknowledge/"
    assert api(users["viewer"]).post(url).status_code == 403
    assert Notification.objects.get(pk=world["notification"]).acknowledged_at is None
    assert api(users["operator"]).post(url).status_code == 200
    notification = Notification.objects.get(pk=world["notification"])
    assert notification.acknowledged_by == users["operator"]


def test_it_hides_workflows_from_a_user_without_the_view_permission(world, users):
    nobody = api(users["nobody"])
    assert nobody.get("/api/v1/workflows/").status_code == 403
    assert nobody.get("/api/v1/workflows/export/").status_code == 403
    assert api(users["viewer"]).get("/api/v1/workflows/").json()["count"] == 1


def test_a_viewer_previews_an_endpoint_request_but_cannot_send_it(world, users):
    url = f"/api/v1/endpoints/{world['endpoint']}/test/"
    viewer = api(users["viewer"])
    preview = viewer.post(url, {"lead": world["lead"]}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["endpoint"] == "Partner CRM"
    sent = viewer.post(url, {"lead": world["lead"], "send": True}, format="json")
    assert sent.status_code == 403


def test_an_inactive_user_of_a_group_is_refused(world, users):
    operator = users["operator"]
    User.objects.filter(pk=operator.pk).update(is_active=False)
    operator.refresh_from_db()
    assert api(operator).post(f"/api/v1/workflows/{world['workflow']}/flush/").status_code == 403
