"""INTEGRATION (Convoso Connect) against a real HTTP server, and the endpoints/adaptors API."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import include, path
from django.utils import timezone

from automation.api.integration import router
from automation.constants import EntryState, EventType
from automation.document import document
from automation.engine.handler import snapshot
from automation.execution import retry
from automation.execution.actions import integration, payloads
from automation.models import Action, Adaptor, Endpoint, EventCondition, LogEntry
from leads.models import Call, Lead

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.automation.test_integration"),
]


@pytest.fixture(autouse=True)
def custom_fields(declare):
    """The custom fields these tests' workflows name, declared (SPEC C.2)."""
    declare("birthday", "missing", "plan", "revenue_missing")


pytest_plugins = ["tests.httpserver"]

# This module is also the URLconf of its API tests (crm.urls mounts the same router).
urlpatterns = [path("api/v1/", include(router.urls))]

NOW = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def make_endpoint(http_server):
    def make(name="Partner CRM", path="/hook", **fields):
        fields.setdefault("url", http_server.url(path))
        return Endpoint.objects.create(name=name, **fields)

    return make


@pytest.fixture
def integrate(make_entry):
    """A pending INTEGRATION entry for `lead` sending to `endpoint` (through `adaptor`)."""

    def make(lead, endpoint, adaptor=None, **kw):
        config = {"endpoint": endpoint.pk}
        if adaptor is not None:
            config["adaptor"] = adaptor.pk
        return make_entry(lead, action_type="INTEGRATION", config=config, **kw)

    return make


@pytest.fixture
def agent(db):
    return get_user_model().objects.create_user("grace", password="x")


def signature(secret, timestamp, body):
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# --- The request ---------------------------------------------------------------------


def test_it_posts_the_default_payload_as_json(
    make_lead, make_endpoint, integrate, run, http_server, agent
):
    lead = make_lead(status_id="SALE", city="Fresno", custom_fields={"plan": "gold"})
    call = Call.objects.create(
        lead=lead, agent=agent, length=61, term_reason="CALLER", disposition_id="SALE"
    )
    endpoint = make_endpoint(headers={"X-Partner": "acme"})
    http_server.reply(json={"ok": True})
    entry = integrate(lead, endpoint, call=call)
    entry = run(entry, now=NOW)

    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (received,) = http_server.requests
    assert (received.method, received.path) == ("POST", "/hook")
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Partner"] == "acme"
    assert received.headers["Idempotency-Key"] == str(entry.idempotency_key)
    assert received.headers["X-Timestamp"] == str(int(NOW.timestamp()))
    assert "X-Signature" not in received.headers
    body = received.json()
    assert set(body) == {"lead", "call", "workflow", "entry_id", "idempotency_key"}
    assert body["entry_id"] == entry.pk
    assert body["idempotency_key"] == str(entry.idempotency_key)
    assert body["workflow"] == {"id": entry.workflow_id, "name": entry.workflow.name}
    sent_lead = body["lead"]
    assert sent_lead["id"] == lead.pk
    assert sent_lead["first_name"] == "Ada" and sent_lead["city"] == "Fresno"
    assert (sent_lead["status"], sent_lead["status_name"]) == ("SALE", "Sale")
    assert (sent_lead["list_name"], sent_lead["campaign"]) == ("Solar CA", "Solar Q4")
    assert sent_lead["custom_fields"] == {"plan": "gold"}
    assert sent_lead["created_at"] == lead.created_at.isoformat()
    assert body["call"]["id"] == call.pk
    assert body["call"]["agent"] == "grace"
    assert body["call"]["disposition_name"] == "Sale"
    assert (body["call"]["length"], body["call"]["revenue"]) == (61, "0.00")
    # The log keeps the exact request and the response.
    assert entry.result["endpoint"] == "Partner CRM"
    assert entry.result["request"]["body"] == received.text
    assert entry.result["response"]["status"] == 200
    assert entry.result["response"]["body"] == '{"ok": true}'


def test_it_signs_the_exact_body_and_masks_secrets_in_the_log(
    make_lead, make_endpoint, integrate, run, http_server
):
    endpoint = make_endpoint(
        url=http_server.url("/hook?source=crm"),
        secret="shh-its-a-secret",
        auth_query="api_key=k-12345&account=7",
    )
    entry = run(integrate(make_lead(), endpoint), now=NOW)
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (received,) = http_server.requests
    timestamp = received.headers["X-Timestamp"]
    expected = signature("shh-its-a-secret", timestamp, received.body)
    assert received.headers["X-Signature"] == f"sha256={expected}"
    assert received.query == {"source": ["crm"], "api_key": ["k-12345"], "account": ["7"]}
    logged = json.dumps(entry.result)
    assert "shh-its-a-secret" not in logged and "k-12345" not in logged
    assert entry.result["request"]["url"] == http_server.url(
        "/hook?source=crm&api_key=***&account=***"
    )


def test_it_sends_a_form_body_through_the_adaptor(
    make_lead, make_endpoint, integrate, run, http_server
):
    lead = make_lead(email="ada@example.com")
    endpoint = make_endpoint(body_format="form", secret="s")
    adaptor = Adaptor.objects.create(
        name="Basic",
        fields=[
            {"source": "first_name", "to": "fname,first_name"},
            {"source": "email", "to": "email"},
        ],
    )
    entry = run(integrate(lead, endpoint, adaptor), now=NOW)
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (received,) = http_server.requests
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received.form == {"fname": ["Ada"], "first_name": ["Ada"], "email": ["ada@example.com"]}
    timestamp = received.headers["X-Timestamp"]
    assert received.headers["X-Signature"] == f"sha256={signature('s', timestamp, received.body)}"


def test_it_puts_the_payload_of_a_get_in_the_query_string(
    make_lead, make_endpoint, integrate, run, http_server
):
    endpoint = make_endpoint(method="GET", auth_query="token=t0k")
    adaptor = Adaptor.objects.create(name="Phone", fields=[{"source": "phone_number", "to": "p"}])
    lead = make_lead(phone_number="+13105550177")
    entry = run(integrate(lead, endpoint, adaptor), now=NOW)
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (received,) = http_server.requests
    assert received.method == "GET" and received.body == b""
    assert received.query == {"token": ["t0k"], "p": ["+13105550177"]}


def test_it_maps_sources_to_keys_with_defaults_and_date_formats(
    make_lead, make_endpoint, integrate, run, http_server, agent
):
    lead = make_lead(
        status_id="SALE",
        timezone="America/Los_Angeles",
        last_called_at=datetime(2025, 6, 1, 2, 30, tzinfo=UTC),  # May 31, 19:30 in LA
        custom_fields={"birthday": "1990-12-10", "plan": "gold"},
    )
    call = Call.objects.create(lead=lead, agent=agent, term_reason="AGENT", length=30)
    adaptor = Adaptor.objects.create(
        name="Sale payload",
        fields=[
            {"source": "first_name", "to": "fname, first_name"},
            {"source": "status", "to": "status_code"},
            {"source": "status_name", "to": "status"},
            {"source": "call.term_reason", "to": "ended_by"},
            {"source": "call.length", "to": "seconds"},
            {"source": "agent", "to": "agent"},
            {"source": "workflow", "to": "rule"},
            {"source": "list_name", "to": "list"},
            {"source": "campaign", "to": "campaign"},
            {"source": "plan", "to": "plan"},
            {"source": "custom.missing", "to": "nickname", "default": "friend"},
            {"source": "city", "to": "city", "default": "unknown"},
            {"source": "last_called_at", "to": "called", "date_format": "%m/%d/%Y %H:%M"},
            {"source": "custom.birthday", "to": "dob", "date_format": "%d.%m.%Y"},
            {"source": "created_at", "to": "created"},
        ],
    )
    entry = integrate(lead, make_endpoint(), adaptor, call=call)
    entry = run(entry, now=NOW)
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert http_server.requests[0].json() == {
        "fname": "Ada",
        "first_name": "Ada",
        "status_code": "SALE",
        "status": "Sale",
        "ended_by": "AGENT",
        "seconds": 30,
        "agent": "grace",
        "rule": entry.workflow.name,
        "list": "Solar CA",
        "campaign": "Solar Q4",
        "plan": "gold",
        "nickname": "friend",
        "city": "unknown",
        "called": "05/31/2025 19:30",
        "dob": "10.12.1990",
        "created": Lead.objects.get(pk=lead.pk).created_at.isoformat(),
    }


def test_it_sends_a_deleted_lead_from_its_snapshot(
    make_lead, make_endpoint, integrate, run, http_server
):
    lead = make_lead(first_name="Gone", status_id="NI")
    kept = snapshot(lead)
    lead_id = lead.pk
    adaptor = Adaptor.objects.create(
        name="Deleted",
        fields=[
            {"source": "id", "to": "id"},
            {"source": "first_name", "to": "name"},
            {"source": "status_name", "to": "status"},
            {"source": "created_at", "to": "created", "date_format": "%Y"},
        ],
    )
    entry = integrate(lead, make_endpoint(), adaptor, context={"snapshot": kept})
    Lead.objects.filter(pk=lead_id).delete()
    entry = run(entry, now=NOW)
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    assert http_server.requests[0].json() == {
        "id": lead_id,
        "name": "Gone",
        "status": "Not interested",
        "created": str(lead.created_at.astimezone(lead.zone).year),
    }


# --- Retries -------------------------------------------------------------------------


def test_it_retries_a_500_later_with_the_same_idempotency_key(
    make_lead, make_endpoint, integrate, run, http_server
):
    http_server.reply(status=500, body="upstream down")
    http_server.reply(json={"ok": True})
    entry = integrate(make_lead(), make_endpoint(max_attempts=3))

    entry = run(entry, now=NOW)
    assert (entry.state, entry.attempts) == (EntryState.PENDING, 1)
    assert entry.due_at == NOW + timedelta(seconds=5)
    assert entry.reason == "attempt 1 failed: http 500: upstream down; retrying"
    assert entry.result["response"]["status"] == 500
    assert len(http_server.requests) == 1

    entry = run(entry, now=NOW + timedelta(seconds=6))
    assert (entry.state, entry.attempts) == (EntryState.SUCCEEDED, 2)
    first, second = http_server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"] == str(entry.idempotency_key)
    assert first.json()["idempotency_key"] == second.json()["idempotency_key"]
    assert entry.result["response"]["status"] == 200


def test_it_backs_off_exponentially_then_gives_up(
    make_lead, make_endpoint, integrate, run, http_server
):
    http_server.default = http_server.default.__class__(status=502)
    entry = integrate(make_lead(), make_endpoint(max_attempts=3))
    entry = run(entry, now=NOW)
    assert entry.due_at == NOW + timedelta(seconds=5)
    entry = run(entry, now=entry.due_at)
    assert entry.due_at == NOW + timedelta(seconds=5 + 10)
    entry = run(entry, now=entry.due_at)
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 3)
    assert entry.reason == "http 502 (attempt 3 of 3: giving up)"
    assert len(http_server.requests) == 3


def test_it_caps_the_backoff_at_fifteen_minutes():
    class Outcome:
        ok, status_code, reason, response = False, 500, "http 500", {}

    assert retry.retry_at(Outcome, 12, 20, NOW) == NOW + timedelta(minutes=15)


def test_it_does_not_retry_a_4xx(make_lead, make_endpoint, integrate, run, http_server):
    http_server.reply(status=422, json={"error": "email is required"})
    entry = run(integrate(make_lead(), make_endpoint(max_attempts=5)), now=NOW)
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 1)
    assert entry.reason == 'http 422 (not retried): {"error": "email is required"}'
    assert entry.result["response"]["body"] == '{"error": "email is required"}'


def test_it_honours_retry_after_of_a_429(make_lead, make_endpoint, integrate, run, http_server):
    http_server.reply(status=429, headers={"Retry-After": "120"})
    entry = run(integrate(make_lead(), make_endpoint()), now=NOW)
    assert entry.state == EntryState.PENDING
    assert entry.due_at == NOW + timedelta(seconds=120)
    assert entry.reason == "attempt 1 failed: http 429; retrying"


def test_it_retries_a_timeout(make_lead, make_endpoint, integrate, run, http_server):
    http_server.reply(delay=3, json={"ok": True})
    entry = run(integrate(make_lead(), make_endpoint(timeout_seconds=1)), now=NOW)
    assert (entry.state, entry.attempts) == (EntryState.PENDING, 1)
    assert entry.reason == "attempt 1 failed: timeout: no response within 1 s; retrying"
    assert entry.result["reason"] == "timeout: no response within 1 s"
    assert entry.result["response"] == {}


def test_it_retries_a_refused_connection_until_the_last_attempt(
    make_lead, make_endpoint, integrate, run
):
    endpoint = make_endpoint(url="http://127.0.0.1:9/hook", max_attempts=1)  # discard port
    entry = run(integrate(make_lead(), endpoint), now=NOW)
    assert entry.state == EntryState.FAILED
    assert entry.reason.startswith("refused: connection refused by 127.0.0.1:9")
    assert entry.reason.endswith("(attempt 1 of 1: giving up)")


def test_it_refuses_a_private_address_without_retrying(
    make_lead, make_endpoint, integrate, run, http_server, settings
):
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False
    entry = run(integrate(make_lead(), make_endpoint(max_attempts=5)), now=NOW)
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 1)
    assert entry.reason.startswith("blocked: 127.0.0.1 is a loopback address")
    assert http_server.requests == []
    assert entry.result["request"]["url"] == http_server.url("/hook")


# --- The response --------------------------------------------------------------------


def test_it_fails_a_response_that_is_not_json(
    make_lead, make_endpoint, integrate, run, http_server
):
    http_server.reply(body="<html>Welcome to nginx</html>")
    entry = run(integrate(make_lead(), make_endpoint()), now=NOW)
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 1)
    assert entry.reason == "response is not JSON: '<html>Welcome to nginx</html>'"
    assert entry.result["reason"] == entry.reason
    assert entry.result["response"]["body"] == "<html>Welcome to nginx</html>"


def test_it_checks_the_success_key(make_lead, make_endpoint, integrate, run, http_server):
    endpoint = make_endpoint(success_key="result.status", success_value="ok")
    http_server.reply(json={"result": {"status": "error", "message": "duplicate"}})
    http_server.reply(json={"result": {"status": "ok"}})
    lead = make_lead()
    failed = run(integrate(lead, endpoint), now=NOW)
    assert (failed.state, failed.reason) == (
        EntryState.FAILED,
        "success key result.status was 'error', expected 'ok'",
    )
    assert run(integrate(lead, endpoint), now=NOW).state == EntryState.SUCCEEDED


def test_it_reports_a_missing_success_key(make_lead, make_endpoint, integrate, run, http_server):
    http_server.reply(json={"other": 1})
    endpoint = make_endpoint(success_key="status", success_value="ok")
    entry = run(integrate(make_lead(), endpoint), now=NOW)
    assert entry.reason == "success key status is missing from the response"


def test_it_reads_xml_and_text_responses(make_lead, make_endpoint, integrate, run, http_server):
    lead = make_lead()
    xml = make_endpoint(
        "XML", response_format="xml", success_key="result/code", success_value="200"
    )
    http_server.reply(body="<response><result><code>200</code></result></response>")
    assert run(integrate(lead, xml), now=NOW).state == EntryState.SUCCEEDED
    http_server.reply(body="<response><result><code>500</code></result></response>")
    entry = run(integrate(lead, xml), now=NOW)
    assert entry.reason == "success key result/code was '500', expected '200'"

    text = make_endpoint("Text", response_format="text", success_key="status", success_value="OK")
    http_server.reply(body="status=OK&id=991")
    assert run(integrate(lead, text), now=NOW).state == EntryState.SUCCEEDED
    http_server.reply(body="status=DUPLICATE")
    entry = run(integrate(lead, text), now=NOW)
    assert entry.reason == "success key status was 'DUPLICATE', expected 'OK'"


def test_it_refuses_xml_with_entities(make_lead, make_endpoint, integrate, run, http_server):
    endpoint = make_endpoint(response_format="xml", success_key="a", success_value="x")
    http_server.reply(body='<!DOCTYPE a [<!ENTITY x "x">]><a>&x;</a>')
    entry = run(integrate(make_lead(), endpoint), now=NOW)
    assert entry.reason == "response XML declares a DTD or entities: refused"


def test_it_fails_when_the_endpoint_is_inactive_or_gone(
    make_lead, make_endpoint, integrate, run, http_server
):
    lead = make_lead()
    endpoint = make_endpoint(active=False)
    entry = run(integrate(lead, endpoint), now=NOW)
    assert (entry.state, entry.reason) == (
        EntryState.FAILED,
        "the endpoint 'Partner CRM' is inactive",
    )
    entry = integrate(lead, endpoint)
    Action.objects.filter(pk=entry.action_id).update(config={"endpoint": endpoint.pk + 100})
    entry = run(entry, now=NOW)
    assert entry.state == EntryState.FAILED and "no longer exists" in entry.reason
    assert http_server.requests == []


# --- Preview ("test with lead N") ----------------------------------------------------


def test_it_previews_the_request_without_sending(make_lead, make_endpoint, http_server):
    endpoint = make_endpoint(secret="sekrit", auth_query="api_key=k-999")
    adaptor = Adaptor.objects.create(name="A", fields=[{"source": "first_name", "to": "n"}])
    shown = integration.preview(endpoint, adaptor, make_lead())
    assert http_server.requests == []
    assert shown["payload"] == {"n": "Ada"}
    request = shown["request"]
    assert request["method"] == "POST"
    assert request["url"] == http_server.url("/hook?api_key=***")
    assert request["body"] == '{"n": "Ada"}'
    # Signed, and the signature masked like the log's (one masker: it would let a reader replay).
    assert request["headers"]["X-Signature"] == "***"
    assert "response" not in shown


def test_it_previews_and_sends(make_lead, make_endpoint, http_server):
    http_server.reply(status=201, json={"id": 5})
    shown = integration.preview(make_endpoint(), None, make_lead(), send=True)
    assert shown["ok"] is True and shown["reason"] == ""
    assert shown["response"]["status"] == 201
    (received,) = http_server.requests
    assert received.json()["lead"]["first_name"] == "Ada"


# --- The API -------------------------------------------------------------------------


ENDPOINT = {
    "name": "Partner CRM",
    "url": "https://crm.example.com/leads",
    "method": "POST",
    "auth_query": "api_key=abc",
    "headers": {"X-Partner": "acme"},
    "body_format": "json",
    "response_format": "json",
    "success_key": "status",
    "success_value": "ok",
    "timeout_seconds": 5,
    "max_attempts": 4,
    "secret": "topsecret",
    "active": True,
}


def test_it_creates_reads_and_updates_an_endpoint(admin_client):
    response = admin_client.post("/api/v1/endpoints/", ENDPOINT, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "secret" not in body and body["has_secret"] is True
    assert body["headers"] == {"X-Partner": "acme"}
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert endpoint.secret == "topsecret"

    url = f"/api/v1/endpoints/{endpoint.pk}/"
    read = admin_client.get(url).json()
    assert "secret" not in read and read["max_attempts"] == 4
    assert "topsecret" not in json.dumps(admin_client.get("/api/v1/endpoints/").json())

    update = {**ENDPOINT, "max_attempts": 2}
    del update["secret"]
    assert admin_client.put(url, update, content_type="application/json").status_code == 200
    endpoint.refresh_from_db()
    assert (endpoint.max_attempts, endpoint.secret) == (2, "topsecret")  # kept
    patch = admin_client.patch(url, {"secret": ""}, content_type="application/json")
    assert patch.json()["has_secret"] is False
    assert admin_client.delete(url).status_code == 204
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    "change, path",
    [
        ({"headers": ["X-A: b"]}, "headers"),
        ({"headers": {"X-Count": 3}}, "headers.X-Count"),
        ({"headers": {"Bad Name": "x"}}, "headers.Bad Name"),
        ({"headers": {"X-A": "b\r\nX-Injected: 1"}}, "headers.X-A"),
        ({"url": "ftp://crm.example.com/"}, "url"),
        ({"method": "TRACE"}, "method"),
        ({"body_format": "xml"}, "body_format"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"auth_query": "api key"}, "auth_query"),
        ({"success_key": ""}, "success_value"),
    ],
)
def test_it_rejects_a_bad_endpoint_naming_the_field(admin_client, change, path):
    response = admin_client.post(
        "/api/v1/endpoints/", {**ENDPOINT, **change}, content_type="application/json"
    )
    assert response.status_code == 400
    assert path in response.json(), response.json()
    assert not Endpoint.objects.exists()


def test_it_creates_an_adaptor(admin_client):
    fields = [
        {"source": "first_name", "to": "fname,first_name", "default": "", "date_format": ""},
        {"source": "call.started_at", "to": "called", "date_format": "%Y-%m-%d"},
    ]
    response = admin_client.post(
        "/api/v1/adaptors/", {"name": "Sale", "fields": fields}, content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    assert Adaptor.objects.get().fields[1] == {
        "source": "call.started_at",
        "to": "called",
        "default": "",
        "date_format": "%Y-%m-%d",
    }


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"source": "first_name"}, "fields"),
        ([{"source": "first_name", "to": "a"}, {"source": "email"}], "fields[1].to"),
        ([{"source": " ", "to": "a"}], "fields[0].source"),
        ([{"source": "call.nope", "to": "a"}], "fields[0].source"),
        ([{"source": "first_name", "to": "a", "colour": "red"}], "fields[0].colour"),
        ([{"source": "first_name", "to": "a", "date_format": "%Y-%"}], "fields[0].date_format"),
        ([{"source": "first_name", "to": "a", "date_format": "%Q"}], "fields[0].date_format"),
        ([{"source": "first_name", "to": "a"}, {"source": "email", "to": "b,a"}], "fields[1].to"),
        (["first_name"], "fields[0]"),
    ],
)
def test_it_rejects_bad_adaptor_fields_naming_the_path(admin_client, fields, path):
    response = admin_client.post(
        "/api/v1/adaptors/", {"name": "Bad", "fields": fields}, content_type="application/json"
    )
    assert response.status_code == 400
    assert path in response.json(), response.json()


def test_a_renamed_endpoint_stays_the_one_its_actions_use(admin_client, make_endpoint, make_action):
    endpoint = make_endpoint()
    action = make_action("INTEGRATION", {"endpoint": endpoint.pk})
    response = admin_client.patch(
        f"/api/v1/endpoints/{endpoint.pk}/", {"name": "Partner CRM v2"}, "application/json"
    )
    assert response.status_code == 200
    assert Action.objects.get(pk=action.pk).config == {"endpoint": endpoint.pk}
    workflow = action.action_set.workflow
    doc = document.export(workflow)
    assert doc["action_sets"][0]["actions"][0]["config"] == {"endpoint": "Partner CRM v2"}


def test_it_refuses_to_delete_an_adaptor_in_use(admin_client, make_action):
    adaptor = Adaptor.objects.create(name="Used", fields=[])
    endpoint = Endpoint.objects.create(name="E", url="https://example.com/")
    action = make_action("INTEGRATION", {"endpoint": endpoint.pk, "adaptor": adaptor.pk})
    response = admin_client.delete(f"/api/v1/adaptors/{adaptor.pk}/")
    assert response.status_code == 409
    assert action.action_set.workflow.name in response.json()["detail"]
    assert Adaptor.objects.filter(pk=adaptor.pk).exists()


def test_the_test_view_shows_the_request_for_a_lead(
    admin_client, make_lead, make_endpoint, http_server
):
    endpoint = make_endpoint(secret="sekrit")
    Adaptor.objects.create(name="A", fields=[{"source": "last_name", "to": "surname"}])
    lead = make_lead()
    url = f"/api/v1/endpoints/{endpoint.pk}/test/"
    shown = admin_client.post(url, {"lead": lead.pk, "adaptor": "A"}, "application/json").json()
    assert shown["payload"] == {"surname": "Lovelace"}
    assert shown["request"]["url"] == http_server.url("/hook")
    assert http_server.requests == []

    http_server.reply(json={"ok": 1})
    sent = admin_client.post(url, {"lead": lead.pk, "send": True}, "application/json").json()
    assert sent["ok"] is True and sent["response"]["status"] == 200
    assert http_server.requests[0].json()["lead"]["id"] == lead.pk

    missing = admin_client.post(url, {"lead": 0}, "application/json")
    assert missing.status_code == 400 and "lead" in missing.json()
    bad = admin_client.post(url, {"lead": lead.pk, "adaptor": "nope"}, "application/json")
    assert bad.status_code == 400 and "adaptor" in bad.json()


def test_the_adaptor_test_view_shows_the_payload(admin_client, make_lead):
    adaptor = Adaptor.objects.create(
        name="A", fields=[{"source": "revenue_missing", "to": "r", "default": "0"}]
    )
    lead = make_lead()
    response = admin_client.post(
        f"/api/v1/adaptors/{adaptor.pk}/test/", {"lead": lead.pk}, "application/json"
    )
    assert response.json() == {"adaptor": "A", "lead": lead.pk, "payload": {"r": "0"}}


def test_the_api_needs_permissions(client, db):
    user = get_user_model().objects.create_user("agent", password="pw")
    client.force_login(user)
    assert client.get("/api/v1/endpoints/").status_code == 403
    assert client.post("/api/v1/adaptors/", {"name": "x"}, "application/json").status_code == 403


def test_it_keeps_revenue_as_exact_text():
    assert payloads.plain({"r": Decimal("10.10")}) == {"r": "10.10"}
    assert timezone.is_aware(NOW)


def test_it_fails_cleanly_on_an_adaptor_saved_without_validation(
    make_lead, make_endpoint, integrate, run, http_server
):
    adaptor = Adaptor.objects.create(name="Broken", fields=[{"source": "first_name"}])
    entry = run(integrate(make_lead(), make_endpoint(), adaptor), now=NOW)
    assert entry.state == EntryState.FAILED
    assert entry.reason.startswith("invalid configuration: adaptor.fields[0].to: is required")
    assert http_server.requests == []


def test_a_fired_workflow_sends_the_new_lead_end_to_end(
    make_lead,
    make_workflow,
    make_action,
    make_endpoint,
    http_server,
    fresh_rules,
    django_capture_on_commit_callbacks,
):
    workflow = make_workflow("Push new leads")
    EventCondition.objects.create(
        workflow=workflow, type=EventType.LEAD_ACTION, config={"values": ["create"]}
    )
    make_action("INTEGRATION", {"endpoint": make_endpoint().name}, workflow=workflow)
    with django_capture_on_commit_callbacks(execute=True):
        lead = make_lead(first_name="Marie")
    entry = LogEntry.objects.get(workflow=workflow, lead_id=lead.pk)
    assert (entry.state, entry.attempts) == (EntryState.SUCCEEDED, 1), entry.reason
    (received,) = http_server.requests
    assert received.json()["lead"]["first_name"] == "Marie"
    assert received.headers["Idempotency-Key"] == str(entry.idempotency_key)
