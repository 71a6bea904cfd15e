"""Endpoints and Adaptors in the admin: masked secret, test pages, renames, protected deletes."""

import pytest
from django.contrib.auth.models import User

from automation.models import Action, ActionSet, Adaptor, Endpoint, Workflow
from tests import httpserver

http_server = httpserver.http_server


@pytest.fixture
def boss(db):
    return User.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")


@pytest.fixture
def browser(client, boss):
    client.force_login(boss)
    return client


@pytest.fixture
def endpoint(http_server):
    return Endpoint.objects.create(
        name="Partner CRM", url=http_server.url("/leads"), secret="s3cret-value"
    )


@pytest.fixture
def adaptor(db):
    return Adaptor.objects.create(
        name="Sale payload", fields=[{"source": "first_name", "to": "fname,first_name"}]
    )


def used_by_a_workflow(endpoint, adaptor):
    workflow = Workflow.objects.create(name="Push sales")
    aset = ActionSet.objects.create(workflow=workflow)
    return Action.objects.create(
        action_set=aset,
        type="INTEGRATION",
        config={"endpoint": endpoint.pk, "adaptor": adaptor.pk},
    )


def test_it_never_shows_the_secret_and_keeps_it_when_left_blank(browser, endpoint):
    page = browser.get(f"/admin/automation/endpoint/{endpoint.pk}/change/")
    assert "s3cret-value" not in page.content.decode()
    data = {
        "name": "Partner CRM", "active": "on", "method": "POST", "url": endpoint.url,
        "auth_query": "", "headers": "{}", "body_format": "json", "response_format": "json",
        "success_key": "", "success_value": "", "timeout_seconds": "10", "max_attempts": "3",
        "secret": "",
    }  # fmt: skip
    response = browser.post(f"/admin/automation/endpoint/{endpoint.pk}/change/", data)
    assert response.status_code == 302
    assert Endpoint.objects.get().secret == "s3cret-value"
    browser.post(
        f"/admin/automation/endpoint/{endpoint.pk}/change/", {**data, "clear_secret": "on"}
    )
    assert Endpoint.objects.get().secret == ""


def test_the_test_page_shows_the_exact_request_without_sending(
    browser, endpoint, adaptor, make_lead, http_server
):
    lead = make_lead(first_name="Ada")
    page = browser.post(
        f"/admin/automation/endpoint/{endpoint.pk}/test/", {"lead": lead.pk, "adaptor": adaptor.pk}
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "fname" in text and "Ada" in text and "Idempotency-Key" in text
    assert "s3cret-value" not in text
    assert http_server.requests == []


def test_the_test_page_sends_on_demand_and_shows_the_response(
    browser, endpoint, make_lead, http_server
):
    http_server.reply(200, json={"status": "ok"})
    lead = make_lead()
    page = browser.post(
        f"/admin/automation/endpoint/{endpoint.pk}/test/", {"lead": lead.pk, "send": "on"}
    )
    assert len(http_server.requests) == 1
    assert "&quot;ok&quot;: true" in page.content.decode()


def test_the_test_page_names_a_missing_lead(browser, endpoint):
    page = browser.post(f"/admin/automation/endpoint/{endpoint.pk}/test/", {"lead": 999999})
    assert "No lead with ID 999999." in page.content.decode()


def test_the_adaptor_test_page_shows_the_payload(browser, adaptor, make_lead):
    lead = make_lead(first_name="Grace")
    text = browser.post(
        f"/admin/automation/adaptor/{adaptor.pk}/test/", {"lead": lead.pk}
    ).content.decode()
    assert "&quot;first_name&quot;: &quot;Grace&quot;" in text


def test_a_renamed_endpoint_and_adaptor_stay_the_ones_the_action_uses(browser, endpoint, adaptor):
    action = used_by_a_workflow(endpoint, adaptor)
    endpoint.name = "Partner CRM v2"
    endpoint.save()
    adaptor.name = "Sales v2"
    adaptor.save()
    action.refresh_from_db()
    assert action.config == {"endpoint": endpoint.pk, "adaptor": adaptor.pk}
    page = browser.get(f"/admin/automation/actionset/{action.action_set_id}/change/")
    text = page.content.decode()
    assert '<option value="Partner CRM v2" selected>' in text
    assert '<option value="Sales v2" selected>' in text


def test_an_endpoint_in_use_cannot_be_deleted_in_the_admin(browser, endpoint, adaptor):
    used_by_a_workflow(endpoint, adaptor)
    assert browser.get(f"/admin/automation/endpoint/{endpoint.pk}/delete/").status_code == 403
    browser.post(
        "/admin/automation/endpoint/",
        {"action": "delete_selected", "_selected_action": [endpoint.pk], "post": "yes"},
    )
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()
