"""EMAIL, SMS and VB (SPEC §4.3), run through the real runner; gateways on a real test server."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from automation.constants import EntryState
from leads.models import Call, EmailTemplate

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.httpserver"]


class DisconnectingBackend(BaseEmailBackend):
    """An SMTP server that hangs up: connection trouble worth a retry."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that refuses the recipient for good."""

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"ada@example.com": (550, b"no such user")})


@pytest.fixture
def template(db):
    return EmailTemplate.objects.create(
        name="Welcome",
        subject="Hello {first_name}, about {campaign}",
        body="Dear {first_name} {last_name},\nyour call lasted {call.length} s.\n"
        "Plan: {plan}. {{literal}} — {workflow.name}",
    )


# --- EMAIL ------------------------------------------------------------------------


def test_it_sends_the_rendered_email_template(make_lead, make_action, make_entry, run, template):
    lead = make_lead(email="ada@example.com", custom_fields={"plan": "gold"})
    call = Call.objects.create(lead=lead, length=42)
    action = make_action("EMAIL", {"template": "Welcome"})
    entry = run(make_entry(lead, action, call=call))
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == "Hello Ada, about Solar Q4"
    workflow = action.action_set.workflow.name
    assert message.body == (
        f"Dear Ada Lovelace,\nyour call lasted 42 s.\nPlan: gold. {{literal}} — {workflow}"
    )
    assert message.extra_headers["Idempotency-Key"] == str(entry.idempotency_key)
    assert entry.result["subject"] == "Hello Ada, about Solar Q4"
    assert entry.result["to"] == "ada@example.com"


def test_it_keeps_line_breaks_in_lead_data_out_of_the_subject(make_lead, make_entry, run, template):
    lead = make_lead(email="ada@example.com", first_name="Ada\r\nBcc: evil@example.com")
    entry = run(make_entry(lead, action_type="EMAIL", config={"template": "Welcome"}))
    assert entry.state == EntryState.SUCCEEDED
    assert "\n" not in mail.outbox[0].subject
    assert mail.outbox[0].bcc == []


def test_it_skips_a_lead_without_an_email_address(make_lead, make_entry, run, template):
    lead = make_lead(email="")
    entry = run(make_entry(lead, action_type="EMAIL", config={"template": "Welcome"}))
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "the lead has no email address")
    assert mail.outbox == []


def test_it_fails_when_the_template_was_deleted(make_lead, make_entry, run, template):
    lead = make_lead(email="ada@example.com")
    entry = make_entry(lead, action_type="EMAIL", config={"template": "Welcome"})
    template.delete()
    entry = run(entry)
    assert entry.state == EntryState.FAILED
    assert "Welcome" in entry.reason
    assert mail.outbox == []


def test_it_retries_smtp_connection_errors_three_times(
    make_lead, make_entry, run, template, settings
):
    settings.EMAIL_BACKEND = f"{__name__}.DisconnectingBackend"
    lead = make_lead(email="ada@example.com")
    entry = make_entry(lead, action_type="EMAIL", config={"template": "Welcome"})
    key = entry.idempotency_key
    now = timezone.now()

    entry = run(entry, now=now)
    assert (entry.state, entry.attempts) == (EntryState.PENDING, 1)
    assert entry.due_at == now + timedelta(seconds=5)  # the one retry policy's backoff
    assert entry.reason.startswith("attempt 1 failed: sending failed: SMTPServerDisconnected")

    second = entry.due_at
    entry = run(entry, now=second)
    assert (entry.state, entry.attempts) == (EntryState.PENDING, 2)
    assert entry.due_at == second + timedelta(seconds=10)
    entry = run(entry, now=entry.due_at)
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 3)
    assert entry.reason == (
        "sending failed: SMTPServerDisconnected: Connection unexpectedly closed"
    )
    assert entry.idempotency_key == key


def test_it_does_not_retry_a_refused_recipient(make_lead, make_entry, run, template, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    lead = make_lead(email="ada@example.com")
    entry = run(make_entry(lead, action_type="EMAIL", config={"template": "Welcome"}))
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 1)
    assert entry.reason.startswith("sending failed: SMTPRecipientsRefused")


# --- SMS and VB -------------------------------------------------------------------


def test_it_skips_an_sms_when_no_provider_is_configured(make_lead, make_entry, run, settings):
    settings.SMS_PROVIDER_URL = ""
    lead = make_lead(phone_number="+13105550142")
    config = {"message": "Hi {first_name}, reply STOP to opt out"}
    entry = run(make_entry(lead, action_type="SMS", config=config))
    # Nothing was sent: never "succeeded"; the log shows what would have gone out.
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "no SMS provider configured")
    assert entry.result == {"to": "+13105550142", "message": "Hi Ada, reply STOP to opt out"}


def test_it_sends_an_sms_through_the_gateway(make_lead, make_entry, run, settings, http_server):
    settings.SMS_PROVIDER_URL = http_server.url("/sms")
    http_server.reply(json={"id": "m-1"})
    lead = make_lead(phone_number="+13105550142")
    entry = run(make_entry(lead, action_type="SMS", config={"message": "Hi {first_name}"}))
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    (received,) = http_server.requests
    assert (received.method, received.path) == ("POST", "/sms")
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["Idempotency-Key"] == str(entry.idempotency_key)
    assert received.json() == {
        "to": "+13105550142",
        "message": "Hi Ada",
        "lead_id": lead.pk,
        "idempotency_key": str(entry.idempotency_key),
    }
    assert entry.result["provider"] == "http"
    assert entry.result["response"]["status"] == 200
    assert entry.result["request"]["url"] == http_server.url("/sms")


def test_it_sends_a_voice_broadcast_script(make_lead, make_entry, run, settings, http_server):
    settings.VB_PROVIDER_URL = http_server.url("/vb")
    lead = make_lead()
    entry = run(make_entry(lead, action_type="VB", config={"message": "Hello {first_name}"}))
    assert entry.state == EntryState.SUCCEEDED, entry.reason
    body = http_server.requests[0].json()
    assert body["script"] == "Hello Ada" and "message" not in body


def test_it_skips_a_voice_broadcast_without_a_provider(make_lead, make_entry, run, settings):
    settings.VB_PROVIDER_URL = ""
    entry = run(make_entry(make_lead(), action_type="VB", config={"message": "Hi"}))
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "no VB provider configured")
    assert entry.result["script"] == "Hi"


def test_it_retries_a_gateway_error_with_the_same_key(
    make_lead, make_entry, run, settings, http_server
):
    settings.SMS_PROVIDER_URL = http_server.url("/sms")
    http_server.reply(status=503, body="busy")
    http_server.reply(status=200)
    lead = make_lead()
    entry = make_entry(lead, action_type="SMS", config={"message": "Hi"})
    now = timezone.now()
    entry = run(entry, now=now)
    assert entry.state == EntryState.PENDING
    assert entry.due_at == now + timedelta(seconds=5)
    assert entry.reason == "attempt 1 failed: http provider: http 503; retrying"
    entry = run(entry, now=entry.due_at)
    assert (entry.state, entry.attempts) == (EntryState.SUCCEEDED, 2)
    first, second = http_server.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"] == str(entry.idempotency_key)


def test_it_fails_a_gateway_that_rejects_the_message(
    make_lead, make_entry, run, settings, http_server
):
    settings.SMS_PROVIDER_URL = http_server.url("/sms")
    http_server.reply(status=400, json={"error": "bad number"})
    entry = run(make_entry(make_lead(), action_type="SMS", config={"message": "Hi"}))
    assert (entry.state, entry.attempts) == (EntryState.FAILED, 1)
    assert entry.reason == "http provider: http 400 (not retried)"
    assert entry.result["response"]["body"] == '{"error": "bad number"}'


def test_it_refuses_a_private_gateway_when_private_networks_are_off(
    make_lead, make_entry, run, settings, http_server
):
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False
    settings.SMS_PROVIDER_URL = http_server.url("/sms")
    entry = run(make_entry(make_lead(), action_type="SMS", config={"message": "Hi"}))
    assert entry.state == EntryState.FAILED
    assert entry.reason.startswith("http provider: blocked: 127.0.0.1 is a loopback address")
    assert http_server.requests == []


def test_it_skips_a_message_that_renders_empty(make_lead, make_entry, run, declare):
    declare("nickname")
    lead = make_lead(custom_fields={})
    entry = run(make_entry(lead, action_type="SMS", config={"message": "{nickname}"}))
    assert (entry.state, entry.reason) == (EntryState.SKIPPED, "the message is empty for this lead")
