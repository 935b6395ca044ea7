"""uvicorn's h11 protocol with a deadline for each request's head and body (slow clients).

h11 already bounds a request head (MAX_HEADER_BYTES → `--h11-max-incomplete-event-size`); this
adds the missing time bound, so connections that trickle bytes are closed instead of held open.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from backend.config import get_settings

log = logging.getLogger(__name__)


class BoundedH11Protocol(H11Protocol):
    _read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._cancel_read_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_deadline()
        super().connection_lost(exc)

    def _arm_read_deadline(self) -> None:
        self._cancel_read_deadline()
        timeout = get_settings().request_read_timeout_seconds + self.timeout_keep_alive
        self._read_deadline = self.loop.call_later(timeout, self._drop_slow_client)

    def _cancel_read_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _drop_slow_client(self) -> None:
        self._read_deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.info("closing a connection from %s: request not received in time", self.client)
            self.transport.close()
