"""The real server stays up: raw hostile requests over a socket, then a normal page."""

import socket

import pytest


def send_raw(live_server, payload: bytes) -> bytes:
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


HOSTILE = [
    b"GET /api/v1/leads/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Token abc\x00def\r\n\r\n",
    b"GET /api/v1/leads/?limit=99999999999999999999999 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /admin/leads/lead/?state__exact=a%00b HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /api/v1/workflows/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: 10000\r\n\r\n" + b"[" * 10000,
    b"POST /api/v1/leads/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999\r\n\r\n{}",
    b"\x00\x01\x02 garbage\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
]


@pytest.mark.django_db(transaction=True)
def test_the_server_stays_up(live_server):
    for payload in HOSTILE:
        answer = send_raw(live_server, payload)
        assert not answer.startswith(b"HTTP/1.1 5") and not answer.startswith(b"HTTP/1.0 5"), (
            payload[:60],
            answer[:200],
        )
    answer = send_raw(
        live_server, b"GET /admin/login/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200")
