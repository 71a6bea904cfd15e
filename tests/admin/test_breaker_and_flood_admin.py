"""The admin's side of SPEC C.5 that the browser test does not drive: the breaker and
flood settings on their forms, and the notifications' links and buttons."""

import pytest

from automation.engine import flood
from automation.execution import breaker
from automation.models import Endpoint, Notification, Workflow

pytestmark = pytest.mark.django_db

ENDPOINT = {
    "name": "Partner CRM",
    "active": "on",
    "method": "POST",
    "url": "https://partner.example.com/hook",
    "auth_query": "",
    "headers": "{}",
    "secret_headers": "[]",
    "body_format": "json",
    "response_format": "json",
    "success_key": "",
    "success_value": "",
    "timeout_seconds": "10",
    "max_attempts": "3",
}


def test_an_endpoint_saved_without_the_breaker_settings_takes_the_defaults(admin_client_):
    response = admin_client_.post("/admin/automation/endpoint/add/", ENDPOINT)
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = Endpoint.objects.get()
    assert (endpoint.breaker_failures, endpoint.breaker_probe_seconds) == (10, 60)
    changed = admin_client_.post(
        f"/admin/automation/endpoint/{endpoint.pk}/change/",
        {**ENDPOINT, "breaker_failures": "4", "breaker_probe_seconds": ""},
    )
    assert changed.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.breaker_failures, endpoint.breaker_probe_seconds) == (4, 60)


def test_a_bad_breaker_setting_is_named_and_nothing_is_saved(admin_client_, endpoint):
    response = admin_client_.post(
        f"/admin/automation/endpoint/{endpoint.pk}/change/",
        {**ENDPOINT, "breaker_failures": "0"},
    )
    assert response.status_code == 200
    assert "breaker_failures" in response.context["adminform"].form.errors
    assert Endpoint.objects.get().breaker_failures == 10


def test_the_pause_button_needs_the_change_permission_and_a_post(login, viewer, operator, endpoint):
    url = f"/admin/automation/endpoint/{endpoint.pk}/pause/"
    assert login(operator).get(url).status_code == 405
    assert login(viewer).post(url).status_code in (302, 403)  # no access to the admin page
    assert breaker.health(endpoint)["state"] == "closed"
    assert login(operator).post(url).status_code == 302
    assert breaker.health(endpoint)["state"] == "paused"
    page = login(operator).get(f"/admin/automation/endpoint/{endpoint.pk}/change/").content
    assert b'data-state="paused"' in page and b"breaker-resume" in page


def test_the_index_offers_release_and_flush_for_a_flood(admin_client_, make_workflow, endpoint):
    workflow = make_workflow(name="Bad import")
    flood.notify(workflow.pk, 1000)
    Notification.notify("Endpoint open", "Endpoint open", endpoint_id=endpoint.pk)
    html = admin_client_.get("/admin/").content.decode()
    assert f"/admin/automation/workflow/{workflow.pk}/held/release/" in html
    assert f"/admin/automation/workflow/{workflow.pk}/held/flush/" in html
    assert f"/admin/automation/endpoint/{endpoint.pk}/change/" in html
    assert Workflow.objects.get(pk=workflow.pk).flood_limit == 1000
