"""crm.http: the one outbound-HTTP wrapper. Every server here runs on 127.0.0.1."""

import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import pytest

from automation.execution import retry
from crm import http
from tests import httpserver
from tests.httpserver import HttpServer, make_certificate

http_server = httpserver.http_server  # the fixture (an import would trip ruff's F811)


def destination(url):
    """The addresses request() would connect to, after its destination check (which
    raises Blocked, InvalidURL or NotResolved), without connecting: no request to a
    public address ever leaves a test."""
    return http._resolve(http._Target.parse(url), allow_private=False)


@pytest.fixture
def resolve_to(monkeypatch):
    """Make crm.http resolve chosen names (only crm.http: urllib3 still sees real DNS)."""
    table = {}
    real = http._getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    monkeypatch.setattr(http, "_getaddrinfo", fake)

    def add(host, *addresses):
        table[host] = addresses

    return add


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Success and what was sent -------------------------------------------------------


def test_it_sends_exactly_the_request_and_returns_the_response(http_server):
    http_server.reply(201, json={"id": 7}, headers={"X-Request-Id": "r1"})

    outcome = http.request(
        "post",
        http_server.url("/leads?source=web"),
        headers={"Content-Type": "application/json", "X-Custom": "yes"},
        body='{"first_name": "Ada"}',
    )

    assert outcome.ok and outcome.reason == ""
    assert (outcome.status_code, outcome.attempts) == (201, 1)
    assert json.loads(outcome.text) == {"id": 7}
    (got,) = http_server.requests
    assert (got.method, got.path, got.query) == ("POST", "/leads", {"source": ["web"]})
    assert got.body == b'{"first_name": "Ada"}'
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Custom"] == "yes"
    assert got.headers["User-Agent"] == "crm-workflows/1 (+https://example.invalid)"
    assert got.headers["Host"] == f"127.0.0.1:{http_server.port}"
    # The log shows what the server received: the same headers, the same body.
    assert outcome.request["method"] == "POST"
    assert outcome.request["url"] == http_server.url("/leads?source=web")
    assert outcome.request["body"] == '{"first_name": "Ada"}'
    assert outcome.request["headers"] == dict(got.headers.items())
    assert outcome.response["status"] == 201
    assert outcome.response["headers"]["X-Request-Id"] == "r1"
    assert json.loads(outcome.response["body"]) == {"id": 7}


def test_it_keeps_the_response_excerpt_short_and_the_text_whole(http_server):
    http_server.reply(body="x" * 5000)

    outcome = http.request("GET", http_server.url())

    assert len(outcome.response["body"]) == 2000
    assert outcome.text == "x" * 5000


def test_it_truncates_a_long_request_body_in_the_log(http_server):
    outcome = http.request("POST", http_server.url(), body=b"a" * 50_000)

    assert http_server.requests[0].body == b"a" * 50_000
    assert outcome.request["body"].startswith("a" * 10_000 + "…")
    assert "50000 bytes" in outcome.request["body"]
    assert len(outcome.request["body"]) < 10_100


def test_it_survives_a_body_that_is_not_utf8(http_server):
    http_server.reply(body=b"caf\xe9 \xff\xfe", headers={"Content-Type": "text/plain"})
    http_server.reply(body=b"caf\xe9", headers={"Content-Type": "text/plain; charset=latin-1"})
    http_server.reply(body=b"caf\xe9", headers={"Content-Type": "text/plain; charset=bogus-42"})

    undeclared = http.request("POST", http_server.url(), body=b"\xff\x00 binary")
    declared = http.request("GET", http_server.url())
    unknown = http.request("GET", http_server.url())

    assert undeclared.ok and undeclared.text == "caf\ufffd \ufffd\ufffd"
    assert undeclared.request["body"] == "\ufffd\x00 binary"
    assert declared.text == "café"
    assert unknown.ok and unknown.text == "caf\ufffd"
    json.dumps(undeclared.as_log())


def test_it_gives_a_json_serialisable_log(http_server):
    http_server.reply(503, body="down", headers={"Retry-After": "1"})

    failed = http.request("GET", http_server.url())
    unresolved = http.request("GET", "http://nothing.invalid/")

    for outcome in (failed, unresolved):
        logged = json.loads(json.dumps(outcome.as_log()))
        assert set(logged) >= {"request", "response", "reason", "attempts"}
    assert json.loads(json.dumps(failed.as_log()))["response"]["body"] == "down"
    assert unresolved.as_log()["response"] == {}


# --- One attempt; the one retry policy judges it (automation.execution.retry) ----------

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def test_it_makes_one_attempt_and_a_500_is_retried_with_backoff(http_server):
    http_server.reply(500)

    outcome = http.request("POST", http_server.url("/hook"), body=b"same")

    assert (outcome.ok, outcome.attempts, outcome.reason) == (False, 1, "http 500")
    assert len(http_server.requests) == 1
    waits = [retry.retry_at(outcome, n, 20, NOW) - NOW for n in range(1, 11)]
    assert [w.total_seconds() for w in waits] == [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert retry.retry_at(outcome, 20, 20, NOW) is None  # the attempts are used up


def test_a_404_is_not_retried(http_server):
    http_server.reply(404, body="no such lead")

    outcome = http.request("GET", http_server.url())

    assert not outcome.ok and outcome.status_code == 404
    assert outcome.reason == "http 404 (not retried)"
    assert outcome.text == "no such lead"
    assert retry.retry_at(outcome, 1, 3, NOW) is None


def test_it_waits_as_long_as_retry_after_says_on_429(http_server):
    http_server.reply(429, headers={"Retry-After": "3"})

    outcome = http.request("GET", http_server.url())

    assert retry.retry_at(outcome, 1, 2, NOW) == NOW + timedelta(seconds=3)


def test_it_reads_retry_after_as_an_http_date_on_503(http_server):
    when = formatdate((NOW + timedelta(seconds=30)).timestamp(), usegmt=True)
    http_server.reply(503, headers={"Retry-After": when})

    outcome = http.request("GET", http_server.url())

    assert retry.retry_at(outcome, 1, 2, NOW) == NOW + timedelta(seconds=30)


def test_it_caps_retry_after_at_an_hour(http_server):
    http_server.reply(429, headers={"Retry-After": "86400"})
    http_server.reply(429, headers={"Retry-After": "٣"})  # no ASCII digits: no wait asked

    capped = http.request("GET", http_server.url())
    unreadable = http.request("GET", http_server.url())

    assert retry.retry_at(capped, 1, 2, NOW) == NOW + timedelta(hours=1)
    assert retry.retry_at(unreadable, 1, 2, NOW) == NOW + timedelta(seconds=5)


# --- Network failures ------------------------------------------------------------------


def test_it_times_out_when_the_server_is_slow(http_server):
    http_server.reply(delay=3)

    started = time.monotonic()
    outcome = http.request("GET", http_server.url(), timeout=0.3)

    assert not outcome.ok and outcome.status_code is None
    assert outcome.reason == "timeout: no response within 0.3 s"
    assert outcome.response == {} and outcome.text == ""
    assert time.monotonic() - started < 2


def test_a_timeout_is_retried(http_server):
    http_server.reply(delay=3)

    outcome = http.request("GET", http_server.url(), timeout=0.3)

    assert retry.retry_at(outcome, 1, 2, NOW) == NOW + timedelta(seconds=5)


def test_it_reports_a_refused_connection():
    port = closed_port()

    outcome = http.request("GET", f"http://127.0.0.1:{port}/")

    assert outcome.reason == f"refused: connection refused by 127.0.0.1:{port}"
    assert outcome.attempts == 1 and retry.transient(outcome)


def test_it_reports_a_name_that_does_not_resolve():
    outcome = http.request("GET", "http://nothing.invalid/")

    assert not outcome.ok and outcome.attempts == 1
    assert outcome.reason.startswith("dns: nothing.invalid did not resolve")


def test_it_reports_a_connection_closed_without_an_answer(http_server):
    http_server.reply(drop=True)
    dropped = http.request("GET", http_server.url())

    assert retry.transient(dropped)
    assert dropped.reason == (
        f"connection: 127.0.0.1:{http_server.port} closed the connection"
        " without a complete response"
    )


def test_it_does_not_follow_redirects(http_server):
    http_server.reply(302, headers={"Location": http_server.url("/elsewhere")})

    outcome = http.request("GET", http_server.url("/here"))

    assert not outcome.ok and outcome.status_code == 302 and outcome.attempts == 1
    assert outcome.reason == "http 302 (redirects are not followed)"
    assert [r.path for r in http_server.requests] == ["/here"]


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/file", "invalid url: the scheme must be http or https"),
        ("example.com/hook", "invalid url: the scheme must be http or https"),
        ("http:///no-host", "invalid url: no host name"),
        ("http://example.com:99999/", "invalid url: Port out of range 0-65535"),
    ],
)
def test_it_refuses_an_invalid_url_without_trying(url, why):
    outcome = http.request("GET", url)

    assert (outcome.ok, outcome.reason, outcome.attempts) == (False, why, 0)
    assert outcome.request["url"] == url


def test_it_reports_an_invalid_header_value(http_server):
    outcome = http.request("GET", http_server.url(), headers={"X-Bad": "one\r\nInjected: 1"})

    assert outcome.reason.startswith("invalid header:")
    assert http_server.requests == []


def test_it_raises_for_programming_errors():
    with pytest.raises(ValueError):
        http.request("GET", "http://example.com/", timeout=0)
    with pytest.raises(TypeError):
        http.request("GET", "http://example.com/", body={"a": 1})


# --- Private networks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1/", "blocked: 127.0.0.1 is a loopback address"),
        ("http://127.1/", "blocked: 127.1 resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/", "blocked: 2130706433 resolves to 127.0.0.1, a loopback address"),
        ("http://0x7f000001/", "blocked: 0x7f000001 resolves to 127.0.0.1, a loopback address"),
        ("http://[::1]/", "blocked: ::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "blocked: ::ffff:127.0.0.1 is a loopback address"),
        ("http://10.1.2.3/", "blocked: 10.1.2.3 is a private address"),
        ("https://192.168.0.10/", "blocked: 192.168.0.10 is a private address"),
        ("http://172.16.5.4/", "blocked: 172.16.5.4 is a private address"),
        ("http://[fd00::1]/", "blocked: fd00::1 is a private address"),
        ("http://169.254.169.254/latest/", "blocked: 169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/", "blocked: fe80::1 is a link-local address"),
        ("http://0.0.0.0/", "blocked: 0.0.0.0 is an unspecified address"),
        ("http://224.0.0.1/", "blocked: 224.0.0.1 is a multicast address"),
        ("http://240.0.0.1/", "blocked: 240.0.0.1 is a reserved address"),
        ("http://100.64.0.1/", "blocked: 100.64.0.1 is a non-public address"),
    ],
)
def test_it_blocks_non_public_addresses(url, reason):
    outcome = http.request("GET", url, allow_private=False)

    assert not outcome.ok
    assert outcome.reason == f"{reason} (private networks are not allowed here)"
    assert outcome.attempts == 1 and outcome.response == {}
    with pytest.raises(http.Blocked):
        destination(url)


def test_it_blocks_localhost():
    outcome = http.request("GET", "http://localhost:8000/", allow_private=False)

    # localhost may resolve to 127.0.0.1 or ::1 first, depending on the machine.
    assert outcome.reason.startswith("blocked: localhost resolves to ")
    assert "a loopback address" in outcome.reason


def test_it_blocks_a_host_if_any_of_its_addresses_is_private(resolve_to):
    resolve_to("mixed.invalid", "93.184.216.34", "10.0.0.1")

    with pytest.raises(http.Blocked, match="mixed.invalid resolves to 10.0.0.1, a private"):
        destination("https://mixed.invalid/")


def test_it_lets_public_addresses_through():
    assert destination("http://93.184.216.34/")
    assert destination("https://[2606:4700::1111]/")


def test_it_follows_the_setting_when_not_told(http_server, settings):
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False
    blocked = http.request("GET", http_server.url())
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = True
    allowed = http.request("GET", http_server.url())

    assert blocked.reason == (
        "blocked: 127.0.0.1 is a loopback address (INTEGRATION_ALLOW_PRIVATE_NETWORKS is off)"
    )
    assert allowed.ok and len(http_server.requests) == 1


def test_it_allows_private_addresses_when_told(http_server, settings):
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False

    outcome = http.request("GET", http_server.url(), allow_private=True)

    assert outcome.ok


def test_it_connects_to_the_address_it_checked(http_server, resolve_to):
    # Only crm.http can resolve this name: if urllib3 resolved it again, it would fail.
    resolve_to("pinned.invalid", "127.0.0.1")

    outcome = http.request("GET", f"http://pinned.invalid:{http_server.port}/x", allow_private=True)

    assert outcome.ok, outcome.reason
    assert http_server.requests[0].headers["Host"] == f"pinned.invalid:{http_server.port}"
    assert outcome.request["url"] == f"http://pinned.invalid:{http_server.port}/x"


def test_it_tries_the_next_address_when_one_refuses(http_server, resolve_to):
    # 127.0.0.2 is loopback too, but nothing listens there on this port.
    resolve_to("two.invalid", "127.0.0.2", "127.0.0.1")

    outcome = http.request("GET", f"http://two.invalid:{http_server.port}/", allow_private=True)

    assert outcome.ok and outcome.attempts == 1


# --- INTEGRATION_ALLOWED_URLS: prefixes exempt from the refusal ---------------------


RECEIVER = "http://127.0.0.1:8000/demo/receiver/"


def test_it_sends_to_an_allowed_prefix_on_a_private_address(http_server, settings):
    settings.INTEGRATION_ALLOW_PRIVATE_NETWORKS = False
    settings.INTEGRATION_ALLOWED_URLS = [http_server.url("/demo/receiver/")]

    allowed = http.request("POST", http_server.url("/demo/receiver/"), allow_private=False)
    other = http.request("POST", http_server.url("/admin/"), allow_private=False)

    assert allowed.ok, allowed.reason
    assert other.reason.startswith("blocked: 127.0.0.1 is a loopback address")
    assert [r.path for r in http_server.requests] == ["/demo/receiver/"]


@pytest.mark.parametrize(
    "url",
    [
        RECEIVER,
        "http://127.0.0.1:8000/demo/receiver/",
        "http://127.0.0.1:8000/demo/receiver/hook?x=1",
        "HTTP://127.0.0.1:8000/demo/receiver/a/b",
        "http://127.0.0.1:8000/demo/receiver/%41",  # an escaped letter is still under it
    ],
)
def test_it_lets_urls_under_an_allowed_prefix_through(url, settings):
    settings.INTEGRATION_ALLOWED_URLS = [RECEIVER]

    assert destination(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/demo/receiver/../admin/",  # resolved by requests or the server
        "http://127.0.0.1:8000/demo/receiver/%2e%2e/admin/",
        "http://127.0.0.1:8000/demo/receiver/.%2E/admin/",
        "http://127.0.0.1:8000/demo/receiver/./",
        "http://127.0.0.1:8000/demo/receiver/..\\admin",
        "http://127.0.0.1:8000/demo/receiver%5C..%5Cadmin",
        "http://127.0.0.1:8000/demo/receive",
        "http://127.0.0.1:8000/demo/receiverX/",
        "http://127.0.0.1:8000/demo/",
        "http://127.0.0.1:8000/admin/",
        "http://127.0.0.1:8001/demo/receiver/",  # another port
        "http://127.0.0.1/demo/receiver/",  # the default port is another port
        "https://127.0.0.1:8000/demo/receiver/",  # another scheme
        "http://127.0.0.2:8000/demo/receiver/",  # another host
        "http://localhost:8000/demo/receiver/",  # the same address, but not the same URL
        "http://10.0.0.1:8000/demo/receiver/",
        "http://127.0.0.1:8000@10.0.0.1/demo/receiver/",  # the host is 10.0.0.1
    ],
)
def test_it_still_refuses_private_urls_outside_the_prefix(url, settings):
    settings.INTEGRATION_ALLOWED_URLS = [RECEIVER]

    with pytest.raises(http.Blocked):
        destination(url)


def test_a_prefix_without_a_trailing_slash_ends_at_a_segment(settings):
    settings.INTEGRATION_ALLOWED_URLS = ["http://127.0.0.1:8000/hooks"]

    assert destination("http://127.0.0.1:8000/hooks")
    assert destination("http://127.0.0.1:8000/hooks/a")
    with pytest.raises(http.Blocked):
        destination("http://127.0.0.1:8000/hooks-admin")


def test_a_prefix_that_is_not_a_url_allows_nothing(settings):
    settings.INTEGRATION_ALLOWED_URLS = ["127.0.0.1:8000", "/demo/receiver/", "ftp://127.0.0.1/"]

    for url in ("http://127.0.0.1:8000/", "http://127.0.0.1/demo/receiver/"):
        with pytest.raises(http.Blocked):
            destination(url)


# --- TLS -------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path):
    certfile, keyfile = make_certificate(tmp_path, "pinned.invalid")
    with HttpServer(tls=(certfile, keyfile)) as server:
        server.certfile = certfile
        yield server


def test_it_keeps_sni_and_the_certificate_check_on_a_pinned_https_address(
    tls_server, resolve_to, monkeypatch
):
    resolve_to("pinned.invalid", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server.certfile)

    outcome = http.request("GET", f"https://pinned.invalid:{tls_server.port}/secure")

    assert outcome.ok, outcome.reason
    (got,) = tls_server.requests
    assert got.sni == "pinned.invalid"
    assert got.headers["Host"] == f"pinned.invalid:{tls_server.port}"


def test_it_reports_an_untrusted_certificate(tls_server, resolve_to, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    resolve_to("pinned.invalid", "127.0.0.1")

    outcome = http.request("GET", f"https://pinned.invalid:{tls_server.port}/")

    assert outcome.reason.startswith("tls: certificate verify failed: self")
    assert outcome.attempts == 1 and tls_server.requests == []


def test_it_reports_a_certificate_for_another_name(tls_server, resolve_to, monkeypatch):
    resolve_to("other.invalid", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server.certfile)

    outcome = http.request("GET", f"https://other.invalid:{tls_server.port}/")

    assert outcome.reason.startswith("tls: certificate verify failed: Hostname mismatch")
    assert tls_server.requests == []


# --- Secrets ---------------------------------------------------------------------------


def test_it_masks_secrets_in_the_log_but_sends_them(http_server):
    http_server.reply(body="echo: hunter2-secret", headers={"Set-Cookie": "session=abc"})

    outcome = http.request(
        "POST",
        http_server.url("/in?api_key=K123&user=ada&access_token=T9&auth=zz&page=2"),
        headers={
            "Authorization": "Bearer abc",
            "X-Api-Key": "k1",
            "X-Auth-Token": "t1",
            "X-Signature": "sig",
            "X-Client-Secret": "cs",
            "Idempotency-Key": "idem-1",
            "X-Note": "uses hunter2-secret",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body="name=Ada&pw=hunter2-secret&enc=hunter2%2Dsecret",
        secrets=["hunter2-secret", "", "hunter2%2Dsecret"],
    )

    logged = outcome.request
    assert logged["url"] == http_server.url(
        "/in?api_key=***&user=ada&access_token=***&auth=***&page=2"
    )
    for name in ("Authorization", "X-Api-Key", "X-Auth-Token", "X-Signature", "X-Client-Secret"):
        assert logged["headers"][name] == "***"
    assert logged["headers"]["Idempotency-Key"] == "idem-1"
    assert logged["headers"]["X-Note"] == "uses ***"
    assert logged["body"] == "name=Ada&pw=***&enc=***"
    assert outcome.response["body"] == "echo: ***"
    assert outcome.response["headers"]["Set-Cookie"] == "***"
    assert "hunter2" not in json.dumps(outcome.as_log())
    # The server got the real values.
    (got,) = http_server.requests
    assert got.headers["Authorization"] == "Bearer abc"
    assert got.query["api_key"] == ["K123"]
    assert got.form["pw"] == ["hunter2-secret"]
    assert outcome.text == "echo: hunter2-secret"


def test_it_masks_a_password_in_the_url_and_a_url_encoded_secret(http_server):
    outcome = http.request(
        "GET",
        f"http://bob:pa%24%24@127.0.0.1:{http_server.port}/?q=a%20b%2Fc",
        secrets=["a b/c"],
    )

    assert outcome.request["url"] == f"http://bob:***@127.0.0.1:{http_server.port}/?q=***"
    assert outcome.request["headers"]["Authorization"] == "***"
    assert http_server.requests[0].headers["Authorization"].startswith("Basic ")


# --- Signing ---------------------------------------------------------------------------


def test_it_signs_timestamp_dot_body_with_hmac_sha256():
    body = b'{"lead": 1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert http.sign("s3cret", "1700000000", body) == expected
    assert http.sign("s3cret", "1700000001", body) != expected
