"""uvicorn's httptools protocol with the two bounds a public server needs on request heads.

httptools (llhttp, in C) parses a request in microseconds where h11 (pure Python) costs a
sizeable part of a cached answer's CPU; uvicorn's httptools protocol bounds neither how large
nor how slow a request head may be. This adds both:
- a head over `MAX_HEADER_BYTES` gets 400 and the connection is closed (as h11's
  incomplete-event bound did): counted as it arrives, so a trickled head holds no more memory;
- a deadline for each request's head and body (slow clients), so connections that trickle
  bytes are closed instead of held open.

It also sends a response's head with its first body bytes in one write: uvicorn writes the
status line and headers as soon as the app starts the response, then the body, so every
answer left in two TCP segments (TCP_NODELAY), two send calls and two wake-ups of the client.
The head waits one event-loop turn at most, so a streamed response whose first bytes come
later (server-sent events, a HEAD request to a streamed route) still gets its head at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from backend.config import get_settings

log = logging.getLogger(__name__)


class RequestHeadTooLarge(Exception):
    """Raised from a parser callback: httptools turns it into a parser error, a 400."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _read_deadline: asyncio.TimerHandle | None = None
    # Whether the next bytes belong to a request head, and how many have come since it began
    # (received; parsed: the url and headers of the head the parser is in).
    _in_head = True
    _head_bytes = 0
    _parsed_head = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._max_head = get_settings().max_header_bytes
        self._arm_read_deadline()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self._max_head and not self.transport.is_closing():
            self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_head = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_read_deadline()
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_read_deadline()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        transport = OneWriteResponse(self.transport, cycle, self.loop)
        cycle.transport = transport
        response_done = cycle.on_response

        def flushed_then_done() -> None:
            transport.flush()  # a HEAD answer's body is never written
            response_done()

        cycle.on_response = flushed_then_done
        super()._start_asgi_task(cycle, app)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def _count(self, size: int) -> None:
        """The parsed head's size (a head that arrives in one read is refused here)."""
        self._parsed_head += size
        if self._parsed_head > self._max_head:
            raise RequestHeadTooLarge

    def _arm_read_deadline(self) -> None:
        self._cancel_read_deadline()
        timeout = get_settings().request_read_timeout_seconds + self.timeout_keep_alive
        self._read_deadline = self.loop.call_later(timeout, self._drop_slow_client)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _drop_slow_client(self) -> None:
        """Close the connection unless the app is still answering a request received in full."""
        self._read_deadline = None
        cycle = self.cycle
        answering = cycle is not None and not cycle.more_body and not cycle.response_complete
        if not answering and not self.transport.is_closing():
            log.info("closing a connection from %s: request not received in time", self.client)
            self.transport.close()


class OneWriteResponse:
    """One response's view of the connection: the head (the write made when the response
    starts) is held back and sent with the first body bytes, in one `writelines`.

    The head is the first write after the cycle starts its response (a `100 Continue` comes
    before it). It is held for one event-loop turn at most: an app that sends its first body
    bytes in the same turn (every plain response) sends both in one call; otherwise the head
    goes out on the next turn. A held head also goes out when the response completes and when
    the connection is closed through this view (the cycle's own closes); the protocol's closes
    (a 400 for a bad request, the keep-alive and read timeouts, shutdown, a lost connection)
    use the transport directly, where at most a head held for that one turn is dropped with
    the connection. Everything else is the connection's own transport.

    The cycle holds this view (`cycle.transport`), so the view holds the cycle weakly: a
    reference cycle would keep every request's cycle, scope and headers for the cyclic GC."""

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._transport = transport
        self._cycle = weakref.ref(cycle)
        self._loop = loop
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if not self._head_seen:
            cycle = self._cycle()
            if cycle is not None and cycle.response_started:
                self._head_seen, self._head = True, data
                self._loop.call_soon(self.flush)
                return
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines((head, data))
            return
        self._transport.write(data)

    def writelines(self, data: Iterable[bytes]) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.writelines((head, *data))
            return
        self._transport.writelines(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):  # noqa: ANN204 - the transport's other methods
        return getattr(self._transport, name)
