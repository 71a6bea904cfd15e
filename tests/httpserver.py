"""A real HTTP server on 127.0.0.1 for tests of code that makes outbound requests.

It runs in a thread, answers each request with the next programmed `Reply`
(status, headers, body, delay, or a dropped connection) and records every
request it received (`Received`: method, path, query, headers, raw body).
Nothing leaves the machine.

Use the `http_server` fixture; make it visible to a test module with::

    from tests import httpserver

    http_server = httpserver.http_server  # the fixture

(`from tests.httpserver import http_server` works too, but ruff then reports
each test's `http_server` argument as F811; `pytest_plugins =
["tests.httpserver"]` belongs in the root conftest.py only, else pytest warns
that the module was imported before it could rewrite its asserts). Then::

    def test_it_sends_what_it_was_given(http_server):
        http_server.reply(status=500)
        http_server.reply(json={"ok": True})  # the queue is answered in order
        failed = crm.http.request("POST", http_server.url("/hook"), body=b"{}")
        outcome = crm.http.request("POST", http_server.url("/hook"), body=b"{}")
        first, second = http_server.requests
        assert second.method == "POST" and second.body == b"{}"

When the queue is empty, `http_server.default` answers (200, empty body);
`http_server.handler = lambda received: Reply(...)` computes every reply
instead. `HttpServer(tls=(certfile, keyfile))` serves HTTPS (see
`make_certificate`); then `Received.sni` is the TLS server name the client sent.

The default settings of tests/conftest.py turn INTEGRATION_ALLOW_PRIVATE_NETWORKS
on, which crm.http needs to talk to 127.0.0.1.
"""

from __future__ import annotations

import json as jsonlib
import shutil
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """How the server answers one request."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)
    drop: bool = False  # close the connection without any answer


@dataclass
class Received:
    """One request as the server received it."""

    method: str
    path: str  # without the query string
    query_string: str
    headers: CaseInsensitiveDict  # header lookups ignore case
    body: bytes
    sni: str | None = None  # the TLS server name indication, over HTTPS

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return jsonlib.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.text, keep_blank_values=True)


class HttpServer:
    """A threaded HTTP(S) server on 127.0.0.1 with programmable replies."""

    def __init__(self, tls: tuple[str, str] | None = None):
        self.default = Reply()
        self.handler: Callable[[Received], Reply] | None = None
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._context = None
        if tls:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(*tls)
            self._context.sni_callback = _remember_sni
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # ends pending delays at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def reply(
        self,
        status: int = 200,
        body: bytes | str = b"",
        *,
        headers: dict[str, str] | None = None,
        json=None,
        delay: float = 0.0,
        drop: bool = False,
    ) -> Reply:
        """Queue the reply to the next unanswered request (`json` sets body and Content-Type)."""
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        reply = Reply(status, body, headers, delay, drop)
        with self._lock:
            self._replies.append(reply)
        return reply

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until `count` requests have arrived (for code that sends in the background)."""
        with self._received:
            if not self._received.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
            return list(self.requests)

    def _answer(self, received: Received) -> Reply:
        with self._received:
            self.requests.append(received)
            self._received.notify_all()
            if self.handler is None:
                return self._replies.popleft() if self._replies else self.default
        return self.handler(received)


def _remember_sni(ssl_socket, server_name, context):
    ssl_socket.sni = server_name


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still in a delay must not block close()
    owner: HttpServer

    def finish_request(self, request, client_address):
        context = self.owner._context
        if context is None:
            return super().finish_request(request, client_address)
        with context.wrap_socket(request, server_side=True) as tls_socket:
            super().finish_request(tls_socket, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that time out or reject our certificate are what tests provoke


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own

    def _serve(self):
        owner: HttpServer = self.server.owner
        parts = urlsplit(self.path)
        received = Received(
            method=self.command,
            path=parts.path,
            query_string=parts.query,
            headers=CaseInsensitiveDict(self.headers.items()),
            body=self._read_body(),
            sni=getattr(self.connection, "sni", None),
        )
        reply = owner._answer(received)
        if reply.delay and owner._stopping.wait(reply.delay):
            return
        if reply.drop:
            self.close_connection = True
            return
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in reply.headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format, *args):
        pass  # keep test output quiet


def make_certificate(directory: Path, hostname: str) -> tuple[str, str]:
    """A self-signed certificate for `hostname` (its own CA): (certfile, keyfile) paths.

    Uses the openssl command; skips the test if it is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / f"{hostname}.pem", directory / f"{hostname}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={hostname}",
         "-addext", f"subjectAltName=DNS:{hostname}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def http_server():
    """A started HttpServer on 127.0.0.1 (plain HTTP), closed after the test."""
    with HttpServer() as server:
        yield server
