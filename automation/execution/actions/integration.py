"""INTEGRATION (Convoso Connect): send the lead to an Endpoint through an Adaptor.

The request (`build_request`):

- URL: the endpoint's URL with its `auth_query` appended to the query string.
- Body: the adaptor's mapping (below), or without an adaptor the default
  payload::

      {"lead": {every lead field (relations as ids), "status": code,
                "status_name", "list_name", "campaign", "custom_fields": {…}},
       "call": {the triggering call: id, call_type, started_at, ended_at, length,
                disposition, disposition_name, term_reason, revenue, external_id,
                agent (username), campaign, list, queue, inbound_number} or null,
       "workflow": {"id", "name"} or null,
       "entry_id": the log entry's id, "idempotency_key": the entry's key}

  `json` bodies are JSON (`Content-Type: application/json`), `form` bodies
  are urlencoded (nested objects as `lead[first_name]`). A GET carries the
  payload in the query string and no body.
- Headers: the endpoint's headers, then `Idempotency-Key` (the log entry's
  key: the same on every attempt), `X-Timestamp` (Unix seconds) and, with a
  secret, `X-Signature: sha256=<hex HMAC-SHA256 of b"<timestamp>." + body>`
  (the exact body bytes sent; empty for a GET).

An adaptor field is {"source", "to", "default", "date_format"}: `source` is a
lead field, a custom field (`custom.x` or a bare name), `call.<field>`,
`status` (code), `status_name`, `agent` (the call's agent), `workflow` /
`workflow.name` / `workflow.id`, `list_name` or `campaign`; `to` is one key or
several separated by commas; an empty value (missing, null, "") is replaced
by `default`; dates and datetimes are written with `date_format` (strftime,
datetimes in the lead's zone), else as ISO 8601.

The response (`judge`): one attempt per execution; backoff is done by
rescheduling the entry. No response, a timeout, a connection or DNS error, a
5xx or a 429 is retried (after 5 s, 10 s, 20 s … at most 15 min, or the
server's Retry-After) until the endpoint's `max_attempts`; other 4xx, a
blocked address and a response that fails the success rule are final. A 2xx
is read as the endpoint's `response_format`; with a `success_key` (a dotted
path in JSON, an element path in XML; for text, a `key=value` / `key: value`
pair, or with no success value just a substring) its value must equal
`success_value` (with none: be present and not empty/false/null).
"""

import json
import re
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from automation.constants import ActionType, EntryState
from automation.document.schema import ConfigError, Ref, Schema, is_id
from automation.execution import breaker, retry
from automation.execution.actions.base import Executor, Result, Run, referred

# --- The request -------------------------------------------------------------------------
from automation.execution.actions.payloads import Subject, build_payload, form_pairs, plain
from automation.execution.actions.settings_check import (
    check_credentials,
    clean_headers,
    endpoint_masker,
)
from automation.models import Adaptor, Endpoint
from crm import http
from crm.masking import NOTHING, Masker


@dataclass
class Prepared:
    """One request, exactly as it will be sent, and the masker of its secrets."""

    method: str
    url: str
    headers: dict
    body: bytes
    payload: dict
    masker: Masker = field(default_factory=Masker)

    def masked(self):
        """What was (or would be) sent, with the secrets replaced by ***."""
        return {
            "method": self.method,
            "url": self.masker.url(self.url),
            "headers": self.masker.headers(self.headers),
            "body": self.masker.text(self.body.decode("utf-8", errors="replace")),
        }


def with_query(url, query):
    if not query:
        return url
    parts = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


# Headers this module sets itself; an endpoint's own headers of these names give way.
OWN_HEADERS = ("content-type", "idempotency-key", "x-timestamp", "x-signature")


def build_request(endpoint, payload, key, timestamp):
    """The exact request for `payload`: URL with auth, body, headers and signature.

    Raises ConfigError for malformed endpoint headers (saved without validation) and
    for a URL password with an Authorization header (HTTP would send only one).
    """
    check_credentials(endpoint.url, endpoint.headers)
    url = with_query(endpoint.url.strip(), endpoint.auth_query.strip().lstrip("?&"))
    headers = {
        name: value
        for name, value in clean_headers(endpoint.headers, "endpoint.headers").items()
        if name.lower() not in OWN_HEADERS
    }
    payload = plain(payload)
    body = b""
    if endpoint.method == "GET":
        url = with_query(url, urlencode(form_pairs(payload)))
    elif endpoint.body_format == "form":
        body = urlencode(form_pairs(payload)).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = key
    headers["X-Timestamp"] = timestamp
    if endpoint.secret:
        headers["X-Signature"] = f"sha256={http.sign(endpoint.secret, timestamp, body)}"
    return Prepared(endpoint.method, url, headers, body, payload, endpoint_masker(endpoint))


def send_request(endpoint, prepared):
    """One attempt: the backoff between attempts is the entry's rescheduling."""
    return http.request(
        prepared.method,
        prepared.url,
        headers=prepared.headers,
        body=prepared.body if prepared.method != "GET" else None,
        timeout=endpoint.timeout_seconds,
        allow_private=settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS,
        masker=prepared.masker,
    )


# --- The response --------------------------------------------------------------------------


def excerpt(text, limit=200):
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "…"


def as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


MISSING = object()


def json_path(data, path):
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif (
            isinstance(data, list)
            and part.lstrip("-").isdigit()
            and -len(data) <= int(part) < len(data)
        ):
            data = data[int(part)]
        else:
            return MISSING
    return data


def xml_path(root, path):
    path = path.strip("/")
    if path == root.tag:
        return (root.text or "").strip()
    element = root.find(path)
    if element is None and path.startswith(root.tag + "/"):
        element = root.find(path[len(root.tag) + 1 :])
    return MISSING if element is None else (element.text or "").strip()


def text_value(text, key):
    match = re.search(rf"(?:^|[\s&;,?]){re.escape(key)}\s*[=:]\s*([^\s&;,]*)", text)
    return MISSING if match is None else match.group(1).strip("\"'")


def check_response(endpoint, text):
    """'' when a 2xx response body means success for this endpoint, else why not."""
    key, expected = endpoint.success_key.strip(), endpoint.success_value
    fmt = endpoint.response_format
    if not text.strip():
        return f"the response is empty; expected success key {key}" if key else ""
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError:
            return f"response is not JSON: {excerpt(text)!r}"
        actual = json_path(data, key) if key else MISSING
    elif fmt == "xml":
        if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
            return "response XML declares a DTD or entities: refused"
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as exc:
            return f"response is not XML ({exc}): {excerpt(text)!r}"
        actual = xml_path(root, key) if key else MISSING
    else:
        if key and not expected:
            return "" if key in text else f"the response does not contain {key!r}"
        actual = text_value(text, key) if key else MISSING
    if not key:
        return ""
    if actual is MISSING:
        return f"success key {key} is missing from the response"
    if expected:
        if as_text(actual) != expected:
            return f"success key {key} was {as_text(actual)!r}, expected {expected!r}"
    elif actual in (None, False, "", [], {}):
        return f"success key {key} was {as_text(actual)!r}, expected a value"
    return ""


def judge(endpoint, outcome, attempts, now, labels=None):
    """The action's Result for one attempt's Outcome (with the request and response logged).

    The reason quotes the response: the runner masks it (and the result) with
    the endpoint's masker as it records them (`Integration.masker`).
    """
    # The log carries its own "reason" key: build the Results directly.
    logged = {**(labels or {}), **outcome.as_log()}
    if outcome.ok:
        problem = check_response(endpoint, outcome.text)
        if problem:
            logged["reason"] = problem
            return Result(EntryState.FAILED, problem, logged)
        return Result(EntryState.SUCCEEDED, "", logged)
    reason = outcome.reason
    if outcome.status_code is not None and outcome.text.strip():
        reason = f"{reason}: {excerpt(outcome.text)}"
    when = retry.retry_at(outcome, attempts, endpoint.max_attempts, now)
    if when is None and retry.transient(outcome):
        reason = f"{reason} (attempt {attempts} of {endpoint.max_attempts}: giving up)"
    return Result(EntryState.FAILED, reason[: retry.REASON_MAX], logged, when)


def timestamp_of(now):
    return str(int(now.timestamp()))


# --- Preview: "test with lead N" -----------------------------------------------------------


def preview(endpoint, adaptor, lead, call=None, workflow=None, send=False):
    """The exact request this endpoint and adaptor would send for `lead` (secrets masked).

    With `send=True` it is sent (one attempt) and the response and verdict are
    included; nothing is logged or retried.
    """
    now = timezone.now()
    key = str(uuid.uuid4())
    subject = Subject.of(lead, call, workflow)
    prepared = build_request(
        endpoint, build_payload(adaptor, subject, None, key), key, timestamp_of(now)
    )
    shown = {
        "endpoint": endpoint.name,
        "adaptor": adaptor.name if adaptor is not None else None,
        "payload": prepared.payload,
        "request": prepared.masked(),
    }
    if not endpoint.active:
        shown["warning"] = "the endpoint is inactive: workflows will not send to it"
    if send:
        outcome = send_request(endpoint, prepared)
        result = judge(endpoint, outcome, 1, now)
        shown.update(
            ok=result.state == EntryState.SUCCEEDED,
            reason=result.reason,
            response=outcome.response,
            attempts=outcome.attempts,
            elapsed_ms=outcome.elapsed_ms,
        )
    return prepared.masker.value(shown)


# --- The executor ------------------------------------------------------------------------


class Integration(Executor):
    """Send the lead to the endpoint through the adaptor: one attempt per execution.

    1. Look up the endpoint (missing or inactive: failed) and the adaptor.
    2. Build the payload from the lead (or the deleted lead's snapshot), the
       triggering call and the workflow; then the request, signed, with the
       entry's idempotency key.
    3. Send once; `judge` turns the outcome into succeeded, failed, or failed
       with a retry time (the runner puts the entry back to pending for then).
    4. The attempt goes to the endpoint's circuit breaker (automation.execution.breaker),
       which the runner consulted before claiming the entry (`breaker.admit`).
    """

    type = ActionType.INTEGRATION
    internal = False
    needs_lead = False
    schema = Schema(
        {
            "endpoint": Ref("automation.Endpoint"),
            "adaptor": Ref("automation.Adaptor", required=False),
        }
    )

    def execute(self, run: Run) -> Result:
        endpoint = referred(Endpoint, run.config["endpoint"], "endpoint")
        if isinstance(endpoint, Result):
            return endpoint
        name = endpoint.name
        if not endpoint.active:
            return Result.failed(f"the endpoint {name!r} is inactive", endpoint=name)
        adaptor = None
        if run.config.get("adaptor") is not None:
            adaptor = referred(Adaptor, run.config["adaptor"], "adaptor")
            if isinstance(adaptor, Result):
                return adaptor
        subject = Subject.of(run.lead, run.call, run.workflow, snapshot=run.snapshot)
        key = str(run.entry.idempotency_key)
        try:
            payload = build_payload(adaptor, subject, run.entry.pk, key)
            prepared = build_request(endpoint, payload, key, timestamp_of(run.now))
        except ConfigError as exc:
            return Result.failed(f"invalid configuration: {exc}")
        outcome = send_request(endpoint, prepared)
        result = judge(
            endpoint,
            outcome,
            run.entry.attempts,
            run.now,
            {"endpoint": name, "adaptor": adaptor.name if adaptor is not None else None},
        )
        error = "" if outcome.ok else prepared.masker.text(result.reason)
        breaker.record(endpoint, outcome, run.now, error=error)
        return result

    def masker(self, entry):
        """The masker of the entry's endpoint: its reason quotes what the endpoint answered."""
        action = getattr(entry, "action", None)
        pk = (action.config or {}).get("endpoint") if action is not None else None
        endpoint = Endpoint.objects.filter(pk=pk).first() if is_id(pk) else None
        return endpoint_masker(endpoint) if endpoint is not None else NOTHING
