"""The SMS and voice-broadcast providers behind the SMS and VB actions.

`get_provider("sms" | "vb")` returns an HTTP gateway when
`settings.SMS_PROVIDER_URL` / `settings.VB_PROVIDER_URL` is set, else None:
nothing is sent, and the action ends `skipped` with the reason "no SMS
provider configured" and the rendered message in its result (SPEC
Appendix B) — never `succeeded`. A gateway receives one JSON POST
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

# The kinds of message, the JSON key their text travels under, and their names.
TEXT_KEYS = {"sms": "message", "vb": "script"}
NAMES = {"sms": "SMS", "vb": "VB"}
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
            allow_private=settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS,
        )
        return Delivery(outcome.ok, self.name, outcome.reason, outcome)


def get_provider(kind):
    """The provider for "sms" or "vb", as configured now; None when there is none."""
    if kind not in TEXT_KEYS:
        raise ValueError(f"unknown provider kind {kind!r}: use sms or vb")
    url = getattr(settings, URL_SETTINGS[kind], "")
    return HttpGateway(kind, url) if url else None


def not_configured(kind):
    """The reason an entry is skipped when its kind has no provider."""
    return f"no {NAMES[kind]} provider configured"
