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

import contextlib
import json
import re
import uuid
import xml.etree.ElementTree as ElementTree
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from automation.execution.actions.base import Executor, Result, Run
from automation.constants import ActionType, EntryState
from automation.models import Adaptor, Endpoint
from automation.document.schema import ConfigError, Ref, Schema, join
from crm import http
from leads.models import Lead, List, Status
from leads.placeholders import CALL_FIELDS

# --- Retry policy (shared with the SMS and VB gateways) ------------------------------

BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=15)
RETRY_AFTER_MAX = timedelta(hours=1)
TRANSIENT_REASONS = ("dns:", "refused:", "unreachable:", "timeout:", "connection:")
# Reasons stay short enough for the log column (500) with the runner's retry prefix.
REASON_MAX = 440


def transient(outcome):
    """Worth another attempt: no response (network, DNS, timeout), a 5xx or a 429."""
    if outcome.status_code is not None:
        return outcome.status_code == 429 or 500 <= outcome.status_code < 600
    return outcome.reason.startswith(TRANSIENT_REASONS)


def retry_after(outcome, now):
    """The wait a 429/503 asked for in Retry-After (seconds or HTTP-date), or None."""
    if outcome.status_code not in (429, 503):
        return None
    headers = (outcome.response or {}).get("headers") or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return min(max(wait, timedelta(0)), RETRY_AFTER_MAX)


def retry_at(outcome, attempts, max_attempts, now):
    """When to try again after failed attempt `attempts`, or None when it is final."""
    if outcome.ok or not transient(outcome) or attempts >= max_attempts:
        return None
    wait = retry_after(outcome, now)
    if wait is None:
        wait = min(BACKOFF_FIRST * 2 ** min(attempts - 1, 16), BACKOFF_MAX)
    return now + wait


# --- What the request is about -------------------------------------------------------


@dataclass
class Subject:
    """The lead (live or from its snapshot), the triggering call and the workflow, as values."""

    lead: dict
    zone: object
    call: dict | None = None
    workflow: dict | None = None

    @classmethod
    def of(cls, lead=None, call=None, workflow=None, snapshot=None):
        values = lead_values(lead) if lead is not None else snapshot_values(snapshot or {})
        zone = lead.zone if lead is not None else zone_of(values.get("timezone"))
        return cls(
            lead=values,
            zone=zone,
            call=call_values(call) if call is not None else None,
            workflow={"id": workflow.pk, "name": workflow.name} if workflow is not None else None,
        )

    def value(self, source):
        """The value an adaptor `source` names (None when there is none)."""
        call = self.call or {}
        if source in ("workflow", "workflow.name"):
            return (self.workflow or {}).get("name")
        if source == "workflow.id":
            return (self.workflow or {}).get("id")
        if source == "agent":
            return call.get("agent")
        if source.startswith("call."):
            return call.get(source[5:])
        if source.startswith("custom."):
            return self.custom().get(source[7:])
        if source in self.lead and source != "custom_fields":
            return self.lead[source]
        return self.custom().get(source)

    def custom(self):
        custom = self.lead.get("custom_fields")
        return custom if isinstance(custom, dict) else {}


def zone_of(name):
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def lead_values(lead):
    values = {f.name: getattr(lead, f.attname) for f in lead._meta.concrete_fields}
    values["status_name"] = lead.status.name if lead.status_id else ""
    values["list_name"] = lead.list.name if lead.list_id else ""
    values["campaign"] = lead.list.campaign.name if lead.list_id else ""
    return values


def snapshot_values(snapshot):
    """A deleted lead's values from the snapshot on its log entry (attnames, ISO dates)."""
    values = {}
    for f in Lead._meta.concrete_fields:
        value = snapshot.get(f.attname)
        if isinstance(value, str) and isinstance(f, models.DateTimeField | models.DateField):
            # A value the field cannot read is sent as it was kept.
            with contextlib.suppress(Exception):
                value = f.to_python(value)
        values[f.name] = value
    status = Status.objects.filter(pk=values.get("status")).first()
    lead_list = List.objects.select_related("campaign").filter(pk=values.get("list")).first()
    values["status_name"] = status.name if status else ""
    values["list_name"] = lead_list.name if lead_list else ""
    values["campaign"] = lead_list.campaign.name if lead_list else ""
    return values


def call_values(call):
    """The triggering call: relations by their readable keys (agent username, names)."""
    related = {
        "disposition": lambda: call.disposition_id,
        "disposition_name": lambda: call.disposition.name if call.disposition_id else "",
        "agent": lambda: call.agent.get_username() if call.agent_id else "",
        "campaign": lambda: call.campaign.name if call.campaign_id else "",
        "list": lambda: call.list.name if call.list_id else "",
        "queue": lambda: call.queue.name if call.queue_id else "",
        "inbound_number": lambda: call.inbound_number.number if call.inbound_number_id else "",
    }
    return {
        name: related[name]() if name in related else getattr(call, name) for name in CALL_FIELDS
    }


# --- The payload -----------------------------------------------------------------------


def is_empty(value):
    return value is None or value == "" or value == [] or value == {}


def formatted(value, date_format, zone):
    """Dates and datetimes with `date_format` (datetimes in `zone`), else ISO 8601."""
    if isinstance(value, str) and date_format:
        try:
            parsed = parse_datetime(value.strip()) or parse_date(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            value = parsed
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=zone)
        return value.astimezone(zone).strftime(date_format) if date_format else value.isoformat()
    if isinstance(value, date):
        return value.strftime(date_format) if date_format else value.isoformat()
    return plain(value)


def plain(value):
    """A JSON-ready value: Decimals as text, dates ISO, ids of keys as they are."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def destination_keys(to):
    return [key.strip() for key in to.split(",")]


def mapped_payload(fields, subject):
    payload = {}
    for spec in fields:
        value = subject.value(spec["source"])
        if is_empty(value):
            value = spec.get("default", "")
        else:
            value = formatted(value, spec.get("date_format") or "", subject.zone)
        for key in destination_keys(spec["to"]):
            payload[key] = value
    return payload


def default_payload(subject, entry_id, key):
    lead = {
        name: formatted(value, "", subject.zone)
        for name, value in subject.lead.items()
        if name != "custom_fields"
    }
    lead["custom_fields"] = plain(subject.custom())
    call = None
    if subject.call is not None:
        call = {name: formatted(value, "", subject.zone) for name, value in subject.call.items()}
    return {
        "lead": lead,
        "call": call,
        "workflow": subject.workflow,
        "entry_id": entry_id,
        "idempotency_key": key,
    }


def build_payload(adaptor, subject, entry_id, key):
    """The adaptor's mapping, or the default payload; ConfigError for a malformed adaptor."""
    if adaptor is None:
        return default_payload(subject, entry_id, key)
    return mapped_payload(clean_adaptor_fields(adaptor.fields, "adaptor.fields"), subject)


def form_pairs(payload, prefix=""):
    """A (nested) payload as form pairs: `lead[first_name]=Ada`, lists as `key[]`."""
    pairs = []
    items = payload.items() if isinstance(payload, dict) else ((None, v) for v in payload)
    for name, value in items:
        key = str(name) if not prefix else f"{prefix}[{'' if name is None else name}]"
        if isinstance(value, dict | list | tuple):
            pairs.extend(form_pairs(value, key))
        elif value is None:
            pairs.append((key, ""))
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs


# --- The request -------------------------------------------------------------------------


@dataclass
class Prepared:
    """One request, exactly as it will be sent."""

    method: str
    url: str
    headers: dict
    body: bytes
    payload: dict
    secrets: list = field(default_factory=list)
    auth_names: list = field(default_factory=list)  # query parameters of the endpoint's auth

    def masked(self):
        """What was (or would be) sent, with the secrets replaced by ***."""

        def mask(text):
            for secret in sorted(self.secrets, key=len, reverse=True):
                text = text.replace(secret, "***")
                text = text.replace(quote_plus(secret), "***")
            return text

        return {
            "method": self.method,
            "url": masked_auth(mask(self.url), self.auth_names),
            "headers": {k: mask(v) for k, v in self.headers.items()},
            "body": mask(self.body.decode("utf-8", errors="replace")),
        }


MIN_LITERAL_SECRET = 4


def masked_auth(url, names):
    """`url` with the values of the auth query parameters `names` replaced by ***."""
    if not names:
        return url
    parts = urlsplit(url)
    pieces = []
    for piece in parts.query.split("&"):
        name, eq, value = piece.partition("=")
        pieces.append(f"{name}=***" if eq and unquote_plus(name) in names else piece)
    return urlunsplit(parts._replace(query="&".join(pieces)))


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

    Raises ConfigError for malformed endpoint headers (saved without validation).
    """
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
    # Auth values are masked by name in the logged URL (`masked_auth`); as literals
    # (anywhere in the log) only when long enough not to mangle it ("account=7").
    secrets = [endpoint.secret] if endpoint.secret else []
    auth = parse_qsl(endpoint.auth_query.strip().lstrip("?&"), keep_blank_values=True)
    secrets += [value for _, value in auth if len(value) >= MIN_LITERAL_SECRET]
    return Prepared(endpoint.method, url, headers, body, payload, secrets, [n for n, _ in auth])


def send_request(endpoint, prepared):
    """One attempt: the backoff between attempts is the entry's rescheduling."""
    return http.request(
        prepared.method,
        prepared.url,
        headers=prepared.headers,
        body=prepared.body if prepared.method != "GET" else None,
        timeout=endpoint.timeout_seconds,
        max_attempts=1,
        allow_private=settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS,
        secrets=prepared.secrets,
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


def judge(endpoint, outcome, attempts, now, labels=None, auth_names=()):
    """The action's Result for one attempt's Outcome (with the request and response logged)."""
    # The log carries its own "reason" key: build the Results directly.
    logged = {**(labels or {}), **outcome.as_log()}
    if auth_names and logged.get("request", {}).get("url"):
        logged["request"] = {
            **logged["request"],
            "url": masked_auth(logged["request"]["url"], auth_names),
        }
    if outcome.ok:
        problem = check_response(endpoint, outcome.text)
        if problem:
            logged["reason"] = problem
            return Result(EntryState.FAILED, problem, logged)
        return Result(EntryState.SUCCEEDED, "", logged)
    reason = outcome.reason
    if outcome.status_code is not None and outcome.text.strip():
        reason = f"{reason}: {excerpt(outcome.text)}"
    when = retry_at(outcome, attempts, endpoint.max_attempts, now)
    if when is None and transient(outcome):
        reason = f"{reason} (attempt {attempts} of {endpoint.max_attempts}: giving up)"
    return Result(EntryState.FAILED, reason[:REASON_MAX], logged, when)


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
        result = judge(endpoint, outcome, 1, now, auth_names=prepared.auth_names)
        shown.update(
            ok=result.state == EntryState.SUCCEEDED,
            reason=result.reason,
            response=outcome.response,
            attempts=outcome.attempts,
            elapsed_ms=outcome.elapsed_ms,
        )
    return shown


# --- Validation of adaptor fields and endpoint headers ------------------------------------

ADAPTOR_KEYS = ("source", "to", "default", "date_format")
SPECIAL_SOURCES = (
    "status_name", "list_name", "campaign", "agent", "workflow", "workflow.name", "workflow.id",
)  # fmt: skip
BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CUSTOM_NAME = re.compile(r"^custom\.[A-Za-z_][A-Za-z0-9_]*$")
DESTINATION_KEY = re.compile(r"^[^\s,]{1,100}$")
STRFTIME_DIRECTIVES = set("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
RESERVED_HEADERS = ("host", "content-length", "transfer-encoding", "connection")


def check_source(source):
    if source in Lead.CONDITION_FIELDS or source in SPECIAL_SOURCES or CUSTOM_NAME.match(source):
        return ""
    if source.startswith("call."):
        if source[5:] in CALL_FIELDS:
            return ""
        return f"{source!r} is not a call field: use one of {', '.join(CALL_FIELDS)}"
    if BARE_NAME.match(source):
        return ""  # a custom field
    return f"{source!r} is not a lead field, custom field, call.<field> or workflow value"


def check_date_format(text):
    index = 0
    while index < len(text):
        if text[index] == "%":
            code = text[index + 1 : index + 2]
            if code == "-":  # glibc's "no padding" flag: %-d
                code = text[index + 2 : index + 3]
                index += 1
            if code not in STRFTIME_DIRECTIVES:
                return f"%{code} is not a strftime directive" if code else "ends with a lone %"
            index += 2
        else:
            index += 1
    return ""


def clean_adaptor_fields(fields, path="fields"):
    """Validate an adaptor's mapping; raise ConfigError whose paths say which field is wrong."""
    if not isinstance(fields, list):
        raise ConfigError.at(path, "must be a list of {source, to, default, date_format} objects")
    errors, cleaned, fed = {}, [], {}
    for i, spec in enumerate(fields):
        here = join(path, i)
        if not isinstance(spec, dict):
            errors[here] = "must be an object with source and to"
            continue
        for unknown in sorted(set(spec) - set(ADAPTOR_KEYS)):
            errors[join(here, unknown)] = "unknown key"
        source, to = spec.get("source"), spec.get("to")
        if not isinstance(source, str) or not source.strip():
            errors[join(here, "source")] = "is required: a lead field, custom field or call.<field>"
        elif problem := check_source(source.strip()):
            errors[join(here, "source")] = problem
        if not isinstance(to, str) or not to.strip():
            errors[join(here, "to")] = "is required: the destination key(s), comma-separated"
        else:
            for key in destination_keys(to):
                if not DESTINATION_KEY.match(key):
                    errors[join(here, "to")] = f"{key!r} is not a key (1–100 characters, no spaces)"
                elif key in fed:
                    errors[join(here, "to")] = (
                        f"the key {key!r} is already fed by fields[{fed[key]}]"
                    )
                else:
                    fed[key] = i
        default = spec.get("default", "")
        if default is not None and not isinstance(default, str | int | float | bool):
            errors[join(here, "default")] = "must be a single value"
        date_format = spec.get("date_format", "")
        if date_format is None:
            date_format = ""
        if not isinstance(date_format, str) or len(date_format) > 100:
            errors[join(here, "date_format")] = "must be a strftime format such as %Y-%m-%d"
        elif problem := check_date_format(date_format):
            errors[join(here, "date_format")] = problem
        if not any(p.startswith(here) for p in errors):
            cleaned.append(
                {
                    "source": source.strip(),
                    "to": ",".join(destination_keys(to)),
                    "default": "" if default is None else default,
                    "date_format": date_format,
                }
            )
    if errors:
        raise ConfigError(errors)
    return cleaned


def clean_auth_query(value, path="auth_query"):
    """`name=value&name2=value2` (a leading ? or & is dropped), or ConfigError."""
    value = (value or "").strip().lstrip("?&")
    for piece in value.split("&") if value else ():
        name, eq, _ = piece.partition("=")
        if not name or not eq or any(c.isspace() for c in piece):
            raise ConfigError.at(
                path, f"{piece!r} is not name=value: write e.g. api_key=abc&account=7."
            )
    return value


def clean_headers(headers, path="headers"):
    """Validate an endpoint's extra headers: an object of header names to strings."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise ConfigError.at(path, "must be an object of header names to string values")
    errors = {}
    for name, value in headers.items():
        here = f"{path}.{name}"
        if not HEADER_NAME.match(name):
            errors[here] = "is not a valid header name"
        elif name.lower() in RESERVED_HEADERS:
            errors[here] = "is set by the HTTP client and cannot be overridden"
        elif not isinstance(value, str):
            errors[here] = f"must be a string, not {type(value).__name__}"
        elif "\r" in value or "\n" in value:
            errors[here] = "may not contain line breaks"
    if errors:
        raise ConfigError(errors)
    return dict(headers)


# --- The executor ------------------------------------------------------------------------


class Integration(Executor):
    """Send the lead to the endpoint through the adaptor: one attempt per execution.

    1. Look up the endpoint (missing or inactive: failed) and the adaptor.
    2. Build the payload from the lead (or the deleted lead's snapshot), the
       triggering call and the workflow; then the request, signed, with the
       entry's idempotency key.
    3. Send once; `judge` turns the outcome into succeeded, failed, or failed
       with a retry time (the runner puts the entry back to pending for then).
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
        name = run.config["endpoint"]
        endpoint = Endpoint.objects.filter(name=name).first()
        if endpoint is None:
            return Result.failed(f"the endpoint {name!r} no longer exists")
        if not endpoint.active:
            return Result.failed(f"the endpoint {name!r} is inactive", endpoint=name)
        adaptor = None
        if run.config.get("adaptor"):
            adaptor = Adaptor.objects.filter(name=run.config["adaptor"]).first()
            if adaptor is None:
                return Result.failed(f"the adaptor {run.config['adaptor']!r} no longer exists")
        subject = Subject.of(run.lead, run.call, run.workflow, snapshot=run.snapshot)
        key = str(run.entry.idempotency_key)
        try:
            payload = build_payload(adaptor, subject, run.entry.pk, key)
            prepared = build_request(endpoint, payload, key, timestamp_of(run.now))
        except ConfigError as exc:
            return Result.failed(f"invalid configuration: {exc}")
        outcome = send_request(endpoint, prepared)
        return judge(
            endpoint,
            outcome,
            run.entry.attempts,
            run.now,
            {"endpoint": name, "adaptor": adaptor.name if adaptor is not None else None},
            auth_names=prepared.auth_names,
        )
