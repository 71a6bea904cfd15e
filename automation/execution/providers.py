"""The SMS and voice-broadcast providers behind the SMS and VB actions.

`get_provider("sms" | "vb")` returns an HTTP gateway when
`settings.SMS_PROVIDER_URL` / `settings.VB_PROVIDER_URL` is set, else a
provider that only logs (development, demo). A gateway receives one JSON POST
per message::

    {"to": "+13105550123", "message": "…",   # "script" instead of "message" for VB
     "lead_id": 42, "idempotency_key": "…"}

with the same key in an `Idempotency-Key` header, so a message sent again
after a crash can be dropped by the gateway. Another provider (Twilio, say)
is a class with the same `send()`, returned by `get_provider`.
"""

import json
import logging
from dataclasses import dataclass, field

from django.conf import settings

from crm import http

log = logging.getLogger(__name__)

# The kinds of message, and the JSON key their text travels under.
TEXT_KEYS = {"sms": "message", "vb": "script"}
URL_SETTINGS = {"sms": "SMS_PROVIDER_URL", "vb": "VB_PROVIDER_URL"}
GATEWAY_TIMEOUT_SECONDS = 10


@dataclass
class Delivery:
    """What became of one message: `outcome` is set when a request was made."""

    ok: bool
    provider: str
    reason: str = ""
    outcome: http.Outcome | None = None
    detail: dict = field(default_factory=dict)

    def as_log(self):
        logged = {"provider": self.provider, **self.detail}
        if self.outcome is not None:
            logged.update(self.outcome.as_log())
        return logged


class LogProvider:
    """Sends nothing: writes the message to the log and reports success."""

    name = "log"

    def __init__(self, kind):
        self.kind = kind

    def send(self, to, text, *, lead_id, idempotency_key):
        log.info("%s to %s (lead %s, key %s): %s", self.kind, to, lead_id, idempotency_key, text)
        return Delivery(True, self.name, detail={"to": to, TEXT_KEYS[self.kind]: text})


class HttpGateway:
    """POSTs each message as JSON to a gateway URL, through crm.http (one attempt)."""

    name = "http"

    def __init__(self, kind, url):
        self.kind = kind
        self.url = url

    def send(self, to, text, *, lead_id, idempotency_key):
        body = json.dumps(
            {
                "to": to,
                TEXT_KEYS[self.kind]: text,
                "lead_id": lead_id,
                "idempotency_key": idempotency_key,
            }
        )
        outcome = http.request(
            "POST",
            self.url,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            body=body,
            timeout=GATEWAY_TIMEOUT_SECONDS,
            max_attempts=1,
            allow_private=settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS,
        )
        return Delivery(outcome.ok, self.name, outcome.reason, outcome)


def get_provider(kind):
    """The provider for "sms" or "vb", as configured now."""
    if kind not in TEXT_KEYS:
        raise ValueError(f"unknown provider kind {kind!r}: use sms or vb")
    url = getattr(settings, URL_SETTINGS[kind], "")
    return HttpGateway(kind, url) if url else LogProvider(kind)
