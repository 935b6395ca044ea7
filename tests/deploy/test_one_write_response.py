"""A response's head goes out with its first body bytes in one write, and nothing is held back:
a HEAD answer, a `100 Continue`, a closed connection and pipelined requests, unit and on a
real server (`backend.cli api`)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.devserver import free_port, run_cli, start_cli
from backend.server.protocol import BoundedHttpToolsProtocol, OneWriteResponse
from tests.helpers import server_env


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, data: tuple[bytes, ...]) -> None:
        self.calls.append(("writelines", data))

    def close(self) -> None:
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return False


def test_the_head_is_sent_with_the_first_body_bytes():
    transport, cycle = Transport(), SimpleNamespace(response_started=False)
    view = OneWriteResponse(transport, cycle)
    view.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    cycle.response_started = True
    view.write(b"HEAD")
    assert transport.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
    view.write(b"body-1")
    view.write(b"body-2")
    view.flush()
    assert transport.calls[1:] == [("writelines", (b"HEAD", b"body-1")), ("write", b"body-2")]
    assert view.is_closing() is False


def test_the_overridden_uvicorn_hook_exists():
    """The protocol gives each response cycle its view in uvicorn's `_start_asgi_task`: a
    uvicorn without it would silently send two writes again."""
    assert "_start_asgi_task" in vars(HttpToolsProtocol)
    assert "_start_asgi_task" in vars(BoundedHttpToolsProtocol)


@pytest.mark.parametrize("end", ["flush", "close"])
def test_a_head_without_body_is_not_held(end):
    transport, cycle = Transport(), SimpleNamespace(response_started=True)
    view = OneWriteResponse(transport, cycle)
    view.write(b"HEAD")
    getattr(view, end)()
    assert transport.calls[0] == ("write", b"HEAD")


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-write")
    port = free_port()
    env = server_env(
        root,
        train_on_startup="false",
        build_index_on_startup="false",
        host="127.0.0.1",
        port=str(port),
        web_concurrency="1",
    )
    run_cli(["migrate"], env)
    dev = start_cli("api", env, root / "api.log", port)
    try:
        dev.wait("/health", timeout=120)
        yield port
    finally:
        dev.stop()


def _exchange(port: int, data: bytes, until: bytes, count: int = 1) -> bytes:
    """Send `data` and read until `until` was seen `count` times (or the server closes)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        while received.count(until) < count and (chunk := sock.recv(65536)):
            received += chunk
    return received


def test_head_requests_pipelining_and_100_continue_on_a_real_server(port):
    # A HEAD answer writes no body: its head goes out when the response completes.
    head = _exchange(port, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405") and head.endswith(b"\r\n\r\n")

    two = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2
    replies = _exchange(port, two, b'{"status":"ok"}', count=2)
    assert replies.count(b"HTTP/1.1 200") == 2

    body = b'{"username": "a"}'
    post = (
        b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(post)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        reply = b""
        while b'"detail"' not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 422") and b"x-frame-options: DENY" in reply
