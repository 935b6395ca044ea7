"""Limits at the HTTP edge of a real server (`backend.cli api`): oversized bodies and heads,
slow clients, and forwarded addresses that are not believed unless from a trusted proxy."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time

import httpx
import pytest

from tests.helpers import bare_api

READ_TIMEOUT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with bare_api(
        tmp_path_factory.mktemp("edge"),
        request_read_timeout_seconds=str(READ_TIMEOUT),
        keep_alive_timeout_seconds="1",
        login_max_failures="3",
        login_address_max_failures="4",
    ) as running:
        yield running


def _raw(port: int, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass  # reset: the server refused and closed the connection
    return b"".join(chunks)


def test_a_declared_200_mb_body_is_refused_before_it_is_sent(server):
    _, port = server
    head = (
        b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200000000\r\n\r\n"
    )
    reply = _raw(port, head)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_an_oversized_head_is_refused(server):
    _, port = server
    reply = _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]


def test_an_oversized_head_sent_in_pieces_is_refused_before_it_ends(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        refused = b""
        for _ in range(40):  # 40 x 1 KiB headers: past MAX_HEADER_BYTES (16 KiB), never ended
            try:
                sock.sendall(b"X-Part: " + b"a" * 1000 + b"\r\n")
            except OSError:
                break
            time.sleep(0.01)
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            refused = sock.recv(1024)
    assert refused.startswith(b"HTTP/1.1 400"), refused[:200]


def test_heads_under_the_limit_and_keep_alive_requests_are_served(server):
    _, port = server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sockets = []
        for _ in range(3):  # one connection, one request after another
            connection.request("GET", "/health", headers={"X-Fill": "a" * 12_000})
            reply = connection.getresponse()
            assert reply.status == 200 and reply.read() == b'{"status":"ok"}'
            sockets.append(connection.sock)
        assert all(sock is sockets[0] for sock in sockets)  # one connection, kept alive
    finally:
        connection.close()
    body = b'{"username": "x"}'
    post = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    reply = _raw(port, post, wait=3)  # head and body in one packet: answered, not refused
    assert reply.startswith(b"HTTP/1.1 422"), reply[:200]


def test_slow_clients_are_disconnected(server):
    _, port = server
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        closed = False
        while time.monotonic() - started < 20:
            try:
                sock.sendall(b"X-Drip: 1\r\n")
                if sock.recv(1024, socket.MSG_DONTWAIT) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.5)
    assert closed and time.monotonic() - started < READ_TIMEOUT + 8


def test_forwarded_addresses_are_not_believed_by_default(server):
    dev, _ = server
    statuses = []
    with httpx.Client(base_url=dev.base_url) as client:
        for n in range(6):
            reply = client.post(
                "/auth/login",
                data={"username": f"nobody{n}", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"10.9.8.{n}"},
            )
            statuses.append(reply.status_code)
    # A new name and a new claimed address each time: only the real peer address is counted.
    assert statuses[:4] == [401] * 4 and statuses[-1] == 429, statuses


def test_security_headers_from_the_real_server(server):
    dev, _ = server
    reply = httpx.get(f"{dev.base_url}/health")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
