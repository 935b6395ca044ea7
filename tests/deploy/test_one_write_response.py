"""A response's head goes out with its first body bytes in one write, and nothing is held back:
a HEAD answer, a `100 Continue`, a closed connection, a late first chunk and pipelined
requests, unit, through the protocol in process and on a real server (`backend.cli api`)."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from backend.server.protocol import BoundedHttpToolsProtocol, OneWriteResponse
from tests.helpers import bare_api


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, data: tuple[bytes, ...]) -> None:
        self.calls.append(("writelines", tuple(data)))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Cycle:
    response_started = False


class Loop:
    """Records what the view schedules for the next event-loop turn."""

    def __init__(self) -> None:
        self.soon: list = []

    def call_soon(self, callback) -> None:  # noqa: ANN001
        self.soon.append(callback)


def test_the_head_is_sent_with_the_first_body_bytes():
    transport, cycle, loop = Transport(), Cycle(), Loop()
    view = OneWriteResponse(transport, cycle, loop)
    view.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    cycle.response_started = True
    view.write(b"HEAD")
    assert transport.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
    view.write(b"body-1")
    view.write(b"body-2")
    view.flush()
    assert transport.calls[1:] == [("writelines", (b"HEAD", b"body-1")), ("write", b"body-2")]
    assert view.is_closing() is False


def test_a_held_head_goes_out_on_the_next_loop_turn():
    transport, cycle, loop = Transport(), Cycle(), Loop()
    cycle.response_started = True
    view = OneWriteResponse(transport, cycle, loop)
    view.write(b"HEAD")
    assert transport.calls == []
    for callback in loop.soon:
        callback()
    assert transport.calls == [("write", b"HEAD")]
    view.write(b"body")
    assert transport.calls[1:] == [("write", b"body")]


def test_writelines_sends_a_held_head_first_in_the_same_call():
    transport, cycle, loop = Transport(), Cycle(), Loop()
    cycle.response_started = True
    view = OneWriteResponse(transport, cycle, loop)
    view.write(b"HEAD")
    view.writelines([b"a", b"b"])
    view.writelines([b"c"])
    assert transport.calls == [("writelines", (b"HEAD", b"a", b"b")), ("writelines", (b"c",))]


def test_the_overridden_uvicorn_hook_exists():
    """The protocol gives each response cycle its view in uvicorn's `_start_asgi_task`: a
    uvicorn without it would silently send two writes again."""
    assert "_start_asgi_task" in vars(HttpToolsProtocol)
    assert "_start_asgi_task" in vars(BoundedHttpToolsProtocol)


@pytest.mark.parametrize("end", ["flush", "close"])
def test_a_head_without_body_is_not_held(end):
    transport, cycle = Transport(), Cycle()
    cycle.response_started = True
    view = OneWriteResponse(transport, cycle, Loop())
    view.write(b"HEAD")
    getattr(view, end)()
    assert transport.calls[0] == ("write", b"HEAD")


async def _plain(scope, receive, send) -> None:  # noqa: ANN001
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def _late_first_chunk(scope, receive, send) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(0.05)
    await send({"type": "http.response.body", "body": b"event", "more_body": False})


class InProcess:
    """BoundedHttpToolsProtocol on a recording transport, driven by its own event loop."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.loop = asyncio.new_event_loop()
        self.state = ServerState()
        config = Config(app=app, lifespan="off", log_config=None, proxy_headers=False)
        self.protocol = BoundedHttpToolsProtocol(
            config=config, server_state=self.state, app_state={}, _loop=self.loop
        )
        self.transport = Transport()
        self.protocol.connection_made(self.transport)

    def request(self, data: bytes) -> None:
        """Feed `data` and run the loop until its responses are complete, and a turn more."""
        self.protocol.data_received(data)
        while self.state.tasks:
            self.loop.run_until_complete(asyncio.gather(*self.state.tasks))
        self.loop.run_until_complete(asyncio.sleep(0))

    def close(self) -> None:
        self.protocol.connection_lost(None)
        self.loop.close()


@pytest.fixture
def in_process():
    made: list[InProcess] = []

    def make(app) -> InProcess:  # noqa: ANN001
        made.append(InProcess(app))
        return made[-1]

    yield make
    for server in made:
        server.close()


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_the_protocol_sends_a_response_in_one_writelines(in_process):
    server = in_process(_plain)
    server.request(GET)
    [(kind, (head, body))] = server.transport.calls
    assert kind == "writelines" and head.startswith(b"HTTP/1.1 200") and body == b"ok"


def test_a_late_first_chunk_does_not_hold_the_head(in_process):
    server = in_process(_late_first_chunk)
    server.request(GET)
    (kind, head), *rest = server.transport.calls
    assert kind == "write" and head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    assert rest == [("write", b"5\r\nevent\r\n0\r\n\r\n")]


def test_a_served_request_leaves_no_reference_cycle(in_process):
    """Each request's cycle (its scope, headers, body) is freed when the response completes,
    not left for the cyclic garbage collector."""
    server = in_process(_plain)
    cycles = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            server.request(GET)
            cycles.append(weakref.ref(server.protocol.cycle))
        server.protocol.cycle = None
        alive = sum(cycle() is not None for cycle in cycles)
    finally:
        gc.enable()
    assert alive == 0
    assert len(server.transport.calls) == 50


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    with bare_api(tmp_path_factory.mktemp("one-write")) as (_, port):
        yield port


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
