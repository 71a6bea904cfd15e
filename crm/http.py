"""Outbound HTTP: the one place in the project that calls `requests`.

Integrations (Endpoints), the SMS and voice-broadcast gateways all send through
`request()`, which never raises for network trouble: every failure comes back
as an `Outcome` with a precise `reason`, ready to be stored in a log entry.

Public API::

    @dataclass
    class Outcome:
        ok: bool                # a 2xx was received
        status_code: int | None
        reason: str             # '' when ok, else e.g. "timeout: no response within 5 s"
        attempts: int           # 1, or 0 when the URL itself was invalid
        request: dict           # {"method", "url", "headers", "body"}: what was sent
                                # (or would have been, when blocked), secrets masked,
                                # body truncated to 10 kB
        response: dict          # {"status", "headers", "body"} (body: first 2,000 chars) or {}
        text: str               # the full response text (up to 1 MB), '' when none
        elapsed_ms: int         # the whole call
        def as_log(self) -> dict  # JSON-serialisable, for a log entry's `result`

    request(method, url, *, headers=None, body=None, timeout=10,
            allow_private=None, secrets=(), masker=None) -> Outcome
    sign(secret, timestamp, body) -> str     # hex HMAC-SHA256 of b"<timestamp>." + body

A caller that accepts more than a 2xx (a success key in the JSON body, say)
checks `outcome.text` and replaces the outcome: `dataclasses.replace(o, ok=False,
reason="...")`.

Reasons start with a word a person can filter on: "invalid url:", "invalid
header:", "blocked:", "dns:", "refused:", "unreachable:", "timeout:", "tls:",
"connection:", "decode:", "http <status>".

One attempt per call. Whether a failure is worth another attempt, and when,
is the one retry policy's to say (automation.execution.retry): the caller
reschedules its log entry, no process ever sleeps. Redirects are never
followed (a 3xx is a failure naming the status).

Private networks: before each attempt the host is resolved and the request is
refused if *any* address is loopback, private (RFC 1918, fc00::/7), link-local,
reserved, multicast, unspecified or otherwise not global, unless
`allow_private` is True or, when it is None, `settings.
INTEGRATION_ALLOW_PRIVATE_NETWORKS` is on, or unless the URL is under one of
`settings.INTEGRATION_ALLOWED_URLS` (URL prefixes, e.g. the demo's own
`http://127.0.0.1:8000/demo/receiver/`): same scheme, host and port, and a
path under the prefix's path at a segment boundary; a path with a `.` or `..`
segment (also percent-encoded) or a backslash is never under a prefix.
The connection is then made to the address that was checked
(`_PinnedAdapter`), keeping the original Host header, TLS SNI and certificate
hostname check, so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot redirect the request. Other addresses of the
host are tried in turn if connecting fails. Environment
proxies and .netrc are ignored (a proxy would connect on our behalf, defeating
the check); REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE are honoured as requests would.

Timeouts: `timeout` bounds connecting, each read, and reading the body as a
whole (checked between chunks, so a trickling server can overrun it by at most
one read timeout).

Secrets in `Outcome.request` (and in the response headers and excerpt) are
masked as "***" by crm.masking's one `Masker` (`masker`, or one of the
literal strings in `secrets`): secret headers and query parameters by name,
the password of a user:password@ URL, and the literals wherever they appear.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import http.client
import ipaddress
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import idna
import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter

from crm.masking import Masker

USER_AGENT = "crm-workflows/1 (+https://example.invalid)"
REQUEST_BODY_LOG_CHARS = 10_000
RESPONSE_EXCERPT_CHARS = 2_000
MAX_RESPONSE_BYTES = 1_000_000

# Tests substitute a fake resolver here (never patch socket.getaddrinfo itself:
# urllib3 must not resolve at all, and the tests prove it).
_getaddrinfo = socket.getaddrinfo


class DestinationError(Exception):
    """A request that must not or cannot be sent; `reason` is the Outcome's reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InvalidURL(DestinationError):
    pass


class Blocked(DestinationError):
    pass


class NotResolved(DestinationError):
    pass


@dataclass
class Outcome:
    """What became of one `request()` call; see the module docstring."""

    ok: bool
    status_code: int | None = None
    reason: str = ""
    attempts: int = 0
    request: dict = field(default_factory=dict)
    response: dict = field(default_factory=dict)
    text: str = ""
    elapsed_ms: int = 0

    def as_log(self) -> dict:
        return {
            "request": self.request,
            "response": self.response,
            "reason": self.reason,
            "attempts": self.attempts,
            "elapsed_ms": self.elapsed_ms,
        }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `b"<timestamp>." + body`, keyed with `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 10,
    allow_private: bool | None = None,
    secrets: Iterable[str] = (),
    masker: Masker | None = None,
) -> Outcome:
    """Send one request; never raises for network trouble.

    1. Check the URL and prepare the request.
    2. Resolve the host and check every address, then connect to a checked
       address (the next one if connecting fails), send, and read the response
       within the timeout.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    started = time.monotonic()
    masker = masker or Masker(secrets)
    if isinstance(body, str):
        body = body.encode()
    outcome = Outcome(ok=False)
    try:
        target = _Target.parse(url)
        prepared = _prepare(method, url, target, headers, body)
    except DestinationError as exc:
        outcome.reason = exc.reason
        outcome.request = _logged_request(masker, method.upper(), url, dict(headers or {}), body)
    else:
        outcome.request = _logged_request(masker, prepared.method, url, prepared.headers, body)
        with requests.Session() as session:
            session.trust_env = False  # no env proxies/.netrc: see the module docstring
            outcome.attempts = 1
            result = _attempt(session, prepared, target, timeout, allow_private)
            outcome.status_code = result.status
            outcome.reason = result.reason
            outcome.response = _logged_response(masker, result)
            outcome.text = result.text
    outcome.ok = outcome.reason == ""
    outcome.elapsed_ms = round((time.monotonic() - started) * 1000)
    return outcome


# --- Destination: parse, resolve, check -------------------------------------------


@dataclass
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    host_header: str  # what the Host header says: host[:port], as a browser would send
    path: str = "/"  # as written in the URL (percent-encoded)

    @classmethod
    def parse(cls, url: str) -> _Target:
        if not isinstance(url, str):
            raise TypeError("url must be a str")
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise InvalidURL(f"invalid url: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidURL("invalid url: the scheme must be http or https")
        if not parts.hostname:
            raise InvalidURL("invalid url: no host name")
        host = parts.hostname  # lower-cased, IPv6 brackets removed
        try:
            # As requests encodes it: the Host header and the certificate check must agree.
            host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidURL(f"invalid url: {parts.hostname!r} is not a valid host name") from None
        if any(c.isspace() or not c.isprintable() or c in "/\\@" for c in host):
            raise InvalidURL(f"invalid url: {parts.hostname!r} is not a valid host name")
        default_port = 443 if scheme == "https" else 80
        bracketed = f"[{host}]" if ":" in host else host
        header = bracketed if port in (None, default_port) else f"{bracketed}:{port}"
        return cls(scheme, host, port or default_port, header, parts.path or "/")

    def is_under(self, prefix: str) -> bool:
        """True if this URL is under the URL prefix `prefix` (see the module docstring)."""
        try:
            base = _Target.parse(prefix)
        except DestinationError:
            return False
        if (self.scheme, self.host, self.port) != (base.scheme, base.host, base.port):
            return False
        path, base_path = unquote(self.path), unquote(base.path)
        if "\\" in path or any(segment in (".", "..") for segment in path.split("/")):
            return False  # a server may resolve it to somewhere outside the prefix
        if base_path.endswith("/"):
            return path.startswith(base_path)
        return path == base_path or path.startswith(base_path + "/")


def _resolve(target: _Target, allow_private: bool | None) -> list[str]:
    """Every address of the target's host, after checking them all; raises DestinationError."""
    try:
        infos = _getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise NotResolved(f"dns: {target.host} did not resolve (temporary failure)") from None
        raise NotResolved(f"dns: {target.host} did not resolve") from None
    except (UnicodeError, ValueError) as exc:
        raise InvalidURL(f"invalid url: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise NotResolved(f"dns: {target.host} did not resolve")
    if allow_private is None:
        allowed = getattr(settings, "INTEGRATION_ALLOW_PRIVATE_NETWORKS", False)
        why_off = "INTEGRATION_ALLOW_PRIVATE_NETWORKS is off"
    else:
        allowed, why_off = allow_private, "private networks are not allowed here"
    if not allowed:
        prefixes = getattr(settings, "INTEGRATION_ALLOWED_URLS", ())
        allowed = any(target.is_under(prefix) for prefix in prefixes)
    if not allowed:
        for address in addresses:
            kind = _non_public_kind(address)
            if kind:
                if address == target.host:
                    raise Blocked(f"blocked: {address} is {kind} address ({why_off})")
                raise Blocked(
                    f"blocked: {target.host} resolves to {address}, {kind} address ({why_off})"
                )
    return addresses


def _non_public_kind(address: str) -> str:
    """'' for a public address, else e.g. 'a loopback' (checked in this order)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 (Python < 3.13 misses it)
    for attribute, kind in (
        ("is_unspecified", "an unspecified"),
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(ip, attribute):
            return kind
    return "" if ip.is_global else "a non-public"


# --- One attempt ------------------------------------------------------------------


class _PinnedAdapter(HTTPAdapter):
    """Connects to an address checked beforehand, whatever DNS answers now.

    The request keeps its URL, so the Host header (set in `_prepare`), the TLS
    SNI and the certificate's hostname check all use the original host name;
    only the pool's TCP destination is the checked address.
    """

    def __init__(self, address: str):
        self.address = address
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = self.address
        return host_params, pool_kwargs


@dataclass
class _Result:
    reason: str = ""
    status: int | None = None
    headers: dict = field(default_factory=dict)
    text: str = ""
    truncated: bool = False


class _ConnectFailed(Exception):
    """Connecting to one address failed: the next address may do better."""

    def __init__(self, result: _Result):
        super().__init__(result.reason)
        self.result = result


def _prepare(method, url, target, headers, body) -> requests.PreparedRequest:
    if not isinstance(method, str) or not method.strip():
        raise TypeError("method must be a non-empty str")
    if body is not None and not isinstance(body, bytes):
        raise TypeError("body must be bytes, str or None")
    all_headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}
    all_headers.update(headers or {})
    all_headers["Host"] = target.host_header  # the connection goes to an IP: say who we mean
    try:
        return requests.Request(method.upper(), url.strip(), all_headers, data=body).prepare()
    except requests.exceptions.InvalidHeader as exc:
        raise DestinationError(f"invalid header: {exc}") from None
    except (requests.exceptions.RequestException, ValueError) as exc:
        raise InvalidURL(f"invalid url: {exc}") from None


def _attempt(session, prepared, target, timeout, allow_private) -> _Result:
    """Resolve, check, connect (trying each address), send and read; never raises."""
    try:
        addresses = _resolve(target, allow_private)
    except DestinationError as exc:
        return _Result(reason=exc.reason)
    deadline = time.monotonic() + timeout
    result = _Result(reason="connection: no address to connect to")
    for number, address in enumerate(addresses):
        if number and time.monotonic() >= deadline:
            break  # no time left for the next address
        adapter = _PinnedAdapter(address)
        session.mount(f"{target.scheme}://", adapter)
        try:
            return _send(session, prepared.copy(), address, target, timeout, deadline)
        except _ConnectFailed as failed:
            result = failed.result
        finally:
            adapter.close()
    return result


def _send(session, prepared, address, target, timeout, deadline) -> _Result:
    where = f"[{address}]:{target.port}" if ":" in address else f"{address}:{target.port}"
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    try:
        with session.send(
            prepared,
            stream=True,
            timeout=(timeout, timeout),
            allow_redirects=False,
            verify=verify,
        ) as response:
            content, truncated = _read_body(response, deadline)
            result = _Result(
                status=response.status_code,
                headers=dict(response.headers),
                text=_decode(content, response.headers.get("Content-Type", "")),
                truncated=truncated,
            )
    except _BodyTooSlow:
        return _Result(reason=f"timeout: no complete response within {timeout:g} s", retry=True)
    except _NETWORK_ERRORS as exc:
        result, connect_phase = _describe(exc, where, timeout)
        if connect_phase:
            raise _ConnectFailed(result) from exc
        return result
    _judge(result, response)
    return result


class _BodyTooSlow(Exception):
    pass


# What sending may raise for network reasons (requests wraps nearly all of it).
_NETWORK_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def _read_body(response, deadline) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return b"".join(chunks)[:MAX_RESPONSE_BYTES], True
        if time.monotonic() > deadline:
            raise _BodyTooSlow
    return b"".join(chunks), False


def _decode(content: bytes, content_type: str) -> str:
    """Text of a body: its declared charset, else UTF-8; bad bytes become U+FFFD."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    try:
        return content.decode(match.group(1) if match else "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return content.decode("utf-8", errors="replace")


def _judge(result: _Result, response) -> None:
    """Set the reason of a response that arrived (automation.execution.retry judges it)."""
    status = result.status
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        result.reason = f"http {status} (redirects are not followed)"
    elif status == 429 or 500 <= status < 600:
        result.reason = f"http {status}"
    else:
        result.reason = f"http {status} (not retried)"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 `reason`s, args)."""
    seen, todo, found = set(), [exc], []
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += list(current.args)
    return found


def _describe(exc: Exception, where: str, timeout: float) -> tuple[_Result, bool]:
    """(result, failed_while_connecting) for an exception raised while sending."""
    causes = _causes(exc)

    def find(*types):
        return next((c for c in causes if isinstance(c, types)), None)

    # urllib3's NewConnectionError subclasses ConnectTimeoutError: requests sorts them out.
    connect_timeout = isinstance(exc, requests.exceptions.ConnectTimeout)
    connecting = connect_timeout or bool(find(urllib3.exceptions.NewConnectionError))
    if tls := find(ssl.SSLError):
        if isinstance(tls, ssl.SSLCertVerificationError):
            detail = f"certificate verify failed: {tls.verify_message}"
        else:
            detail = re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(tls)) or tls.reason
        return _Result(reason=f"tls: {detail}"), False
    if connect_timeout:
        reason = f"timeout: could not connect to {where} within {timeout:g} s"
        return _Result(reason=reason), True
    if isinstance(exc, requests.exceptions.ReadTimeout) or (
        not connecting and find(urllib3.exceptions.ReadTimeoutError, TimeoutError)
    ):
        return _Result(reason=f"timeout: no response within {timeout:g} s"), False
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return _Result(reason=f"decode: the response body could not be decoded ({exc})"), False
    # requests' own exceptions are OSErrors too, without an errno: skip to the socket's.
    os_error = next((c for c in causes if isinstance(c, OSError) and c.errno), None)
    code = os_error.errno if os_error else None
    if code == errno.ECONNREFUSED:
        reason = f"refused: connection refused by {where}"
    elif code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        reason = f"unreachable: {where} cannot be reached ({os.strerror(code).lower()})"
    elif code == errno.ECONNRESET:
        reason = f"connection: reset by {where}"
    elif not connecting and find(http.client.RemoteDisconnected, urllib3.exceptions.ProtocolError):
        reason = f"connection: {where} closed the connection without a complete response"
    elif os_error and os_error.strerror:
        reason = f"connection: {where}: {os_error.strerror.lower()}"
    else:
        reason = f"connection: {where}: {type(exc).__name__}: {exc}"
    return _Result(reason=reason), connecting


# --- What is logged: masked (crm.masking) and cut to size ----------------------------


def _logged_request(masker: Masker, method: str, url: str, headers: Mapping, body) -> dict:
    text = masker.text((body or b"").decode("utf-8", errors="replace"))
    if len(text) > REQUEST_BODY_LOG_CHARS:
        text = f"{text[:REQUEST_BODY_LOG_CHARS]}… [truncated, {len(body)} bytes in all]"
    return {
        "method": method,
        "url": masker.url(url),
        "headers": masker.headers(headers),
        "body": text,
    }


def _logged_response(masker: Masker, result: _Result) -> dict:
    if result.status is None:
        return {}
    logged = {
        "status": result.status,
        "headers": masker.headers(result.headers),
        "body": masker.text(result.text[:RESPONSE_EXCERPT_CHARS]),
    }
    if result.truncated:
        logged["truncated"] = True  # the body was cut at MAX_RESPONSE_BYTES
    return logged
