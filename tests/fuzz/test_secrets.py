"""Secrets never leave the endpoint: each kind planted in every part of a real response.

A real HTTP server (tests/httpserver.py) answers by quoting every secret the
endpoint sent — in its body, a header and a cookie. The INTEGRATION action
runs through the real runner (a final 401, a retried 503, a 200 whose body
is kept), and the "test with lead N" preview sends once, through the API
and the admin. Then every API answer, admin page and log line is searched
for each secret.
"""

import logging
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from automation.constants import EntryState, TriggerOutcome
from automation.execution import runner
from automation.models import Action, ActionSet, Endpoint, EventCondition, LogEntry, Trigger
from tests import httpserver

http_server = httpserver.http_server  # the fixture

SIGNING = "sig-SECRET-0001"
AUTH_QUERY_VALUE = "QKEY-0002"
BEARER = "TOK-0003"
API_KEY = "KEY-0004"
COOKIE = "COOK-0005"
PIN = "PIN-0006"  # a header the operator marks secret
URL_PASSWORD = "PASS-0007"
SECRETS = [SIGNING, AUTH_QUERY_VALUE, BEARER, API_KEY, COOKIE, PIN, URL_PASSWORD]


@pytest.fixture
def endpoints(world, http_server):
    with_headers = Endpoint.objects.create(
        name="Leaky partner",
        url=http_server.url("/hook"),
        auth_query=f"api_key={AUTH_QUERY_VALUE}",
        headers={
            "Authorization": f"Bearer {BEARER}",
            "X-Api-Key": API_KEY,
            "Cookie": f"session={COOKIE}",
            "X-Partner-Pin": PIN,
        },
        secret_headers=["X-Partner-Pin"],
        secret=SIGNING,
        max_attempts=3,
        response_format="text",
    )
    with_password = Endpoint.objects.create(
        name="Password partner",
        url=f"http://ada:{URL_PASSWORD}@127.0.0.1:{http_server.port}/hook",
        max_attempts=1,
        response_format="text",
    )
    return [with_headers, with_password]


HEADER_SECRETS = SECRETS[:6]  # what the first endpoint sends; the second sends URL_PASSWORD


def quoting(status, secrets=HEADER_SECRETS, *, headers=None):
    """A reply that quotes the endpoint's secrets back, in the body, a header and a cookie."""
    echo = " ".join(secrets)
    return {
        "status": status,
        "body": f"denied {echo} (you sent {echo})",
        "headers": {"X-Echo": echo, "Set-Cookie": f"s={secrets[0]}", **(headers or {})},
    }


# Inside the world's workflow schedule (9-9, Monday to Friday) wherever its leads
# are: the send-time guard would defer the entries at night.
INSIDE = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # a Wednesday, noon in Los Angeles


def integration_entry(world, endpoint):
    workflow = world.workflow
    action_set = ActionSet.objects.create(workflow=workflow, position=9)
    action = Action.objects.create(
        action_set=action_set, type="INTEGRATION", config={"endpoint": endpoint.pk}
    )
    lead = world.leads[2]
    trigger = Trigger.objects.create(
        workflow=workflow, lead_id=lead.pk, outcome=TriggerOutcome.FIRED
    )
    return LogEntry.objects.create(
        workflow=workflow,
        action=action,
        trigger=trigger,
        lead_id=lead.pk,
        list_id=lead.list_id,
        action_type="INTEGRATION",
        state=EntryState.PENDING,
        due_at=timezone.now(),
    )


def assert_no_secret(text, where):
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked in {where}"


def test_no_secret_reaches_the_log_the_api_the_admin_or_the_preview(
    world, endpoints, http_server, caplog
):
    caplog.set_level(logging.DEBUG)
    api, admin = world.api, world.admin
    # The header endpoint: a retried 503, then a final 401; the password one: a 200 kept.
    http_server.reply(**quoting(503, headers={"Retry-After": "0"}))
    http_server.reply(**quoting(401))
    http_server.reply(**quoting(200, [URL_PASSWORD]))
    first = integration_entry(world, endpoints[0])
    runner.run_entry(first.pk, now=INSIDE)
    first.refresh_from_db()
    assert first.state == EntryState.PENDING and "retrying" in first.reason
    runner.run_entry(first.pk, now=INSIDE)
    first.refresh_from_db()
    assert first.state == EntryState.FAILED and first.reason.startswith("http 401")
    assert "denied *** ***" in first.reason  # the partner's words, its quotes masked
    second = integration_entry(world, endpoints[1])
    runner.run_entry(second.pk, now=INSIDE)
    second.refresh_from_db()
    assert second.state == EntryState.SUCCEEDED
    received = http_server.requests
    assert received[0].headers["Authorization"] == f"Bearer {BEARER}"  # sent for real
    assert received[2].headers["Authorization"].startswith("Basic ")

    # Every place the entries show up.
    pages = [
        ("API log list", api.get("/api/v1/workflow-logs/")),
        ("API log entry", api.get(f"/api/v1/workflow-logs/{first.pk}/")),
        ("API log entry", api.get(f"/api/v1/workflow-logs/{second.pk}/")),
        ("admin log list", admin.get(reverse("admin:automation_logentry_changelist"))),
        ("admin log entry", admin.get(f"/admin/automation/logentry/{first.pk}/change/")),
        ("admin log entry", admin.get(f"/admin/automation/logentry/{second.pk}/change/")),
        ("admin lead page", admin.get(f"/admin/leads/lead/{first.lead_id}/change/")),
        ("workflow page", admin.get(f"/admin/automation/workflow/{world.workflow.pk}/change/")),
    ]
    # The preview: sent once through the API and the admin.
    for endpoint, secrets in zip(endpoints, (HEADER_SECRETS, [URL_PASSWORD]), strict=True):
        http_server.reply(**quoting(401, secrets))
        pages.append(
            (
                "API endpoint test",
                api.post(
                    f"/api/v1/endpoints/{endpoint.pk}/test/",
                    {"lead": world.leads[0].pk, "send": True},
                    "application/json",
                ),
            )
        )
        http_server.reply(**quoting(200, secrets))
        pages.append(
            (
                "admin endpoint test",
                admin.post(
                    f"/admin/automation/endpoint/{endpoint.pk}/test/",
                    {"lead": world.leads[0].pk, "send": "on"},
                ),
            )
        )
        pages.append(("API endpoint", api.get(f"/api/v1/endpoints/{endpoint.pk}/")))
        pages.append(
            ("admin endpoint", admin.get(f"/admin/automation/endpoint/{endpoint.pk}/change/"))
        )
    for where, response in pages:
        assert response.status_code == 200, (where, response.status_code)
        assert_no_secret(response.content.decode(), where)
    preview = api.post(
        f"/api/v1/endpoints/{endpoints[0].pk}/test/",
        {"lead": world.leads[0].pk},
        "application/json",
    ).json()
    assert preview["request"]["headers"]["Authorization"] == "***"
    assert preview["request"]["headers"]["X-Partner-Pin"] == "***"
    assert f"api_key={AUTH_QUERY_VALUE}" not in preview["request"]["url"]
    for record in caplog.records:
        assert_no_secret(record.getMessage(), f"log line {record.name}")
    assert_no_secret(str([(e.reason, e.result) for e in LogEntry.objects.all()]), "the log table")


def test_a_url_password_with_an_authorization_header_is_refused(world, http_server):
    body = {
        "name": "Both",
        "url": f"http://ada:pw@127.0.0.1:{http_server.port}/",
        "headers": {"Authorization": "Bearer x"},
    }
    response = world.api.post("/api/v1/endpoints/", body, "application/json")
    assert response.status_code == 400
    assert "url" in response.json()
    form = {
        "name": "Both",
        "active": "on",
        "method": "POST",
        "url": body["url"],
        "auth_query": "",
        "headers": '{"Authorization": "Bearer x"}',
        "secret_headers": "[]",
        "body_format": "json",
        "response_format": "json",
        "timeout_seconds": "10",
        "max_attempts": "3",
    }
    response = world.admin.post("/admin/automation/endpoint/add/", form)
    assert response.status_code == 200  # the form again, with the error
    assert "only one can be sent" in response.content.decode()
    assert not Endpoint.objects.filter(name="Both").exists()


def test_the_signing_secret_is_never_shown_back(world, endpoints):
    page = world.api.get("/api/v1/endpoints/").content.decode()
    assert SIGNING not in page
    assert not EventCondition.objects.filter(config__icontains=SIGNING).exists()


def test_secret_values_shown_as_stars_are_kept_when_sent_back(world, endpoints):
    api = world.api
    for endpoint in endpoints:
        shown = api.get(f"/api/v1/endpoints/{endpoint.pk}/").json()
        shown.pop("secret", None)
        shown["success_key"] = "ok"
        response = api.put(f"/api/v1/endpoints/{endpoint.pk}/", shown, "application/json")
        assert response.status_code == 200, response.content
        stored = Endpoint.objects.get(pk=endpoint.pk)
        assert (stored.url, stored.auth_query, stored.headers, stored.secret) == (
            endpoint.url,
            endpoint.auth_query,
            endpoint.headers,
            endpoint.secret,
        )
        assert stored.success_key == "ok"
