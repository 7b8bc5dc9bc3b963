"""The wall's live feed, `GET /v1/wall/stream` (supervisor): server-sent events. The first is
`snapshot` (snapshot.py), then one `event` per event of the stream after the snapshot's last,
from the daemon's fan-out: one listener per connected wall, which only queues the event (no
I/O, nothing per agent). A wall that falls BACKLOG events behind, or whose writes stall, is
told `overflow` when it can be and dropped: it reconnects and paints a new snapshot. A comment
line every KEEPALIVE_S keeps proxies from closing a quiet feed."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from frontdesk.queues.events import Event, EventType, id_order
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.errors import REDIS_DOWN, Unavailable
from frontdesk.router.screens.deps import SCREENS, STOPPING
from frontdesk.router.screens.snapshot import dumps, event_view, snapshot

log = logging.getLogger("frontdesk.screens")

BACKLOG = 2000
KEEPALIVE_S = 15.0
CHECK_S = 1.0  # how often a quiet feed looks whether its wall left or the daemon stops
WRITE_TIMEOUT_S = 10.0
QUIET = frozenset({EventType.MESSAGE, EventType.QUALITY_SAMPLED, EventType.CUSTOMER_CREATED,
                   EventType.CUSTOMER_UPDATED, EventType.CUSTOMER_LINKED,
                   EventType.CUSTOMER_MERGED})  # fmt: skip


async def stream(request: web.Request) -> web.StreamResponse:
    principal(request, Scope.SUPERVISOR)
    screens = request.app[SCREENS]
    events: asyncio.Queue[Event] = asyncio.Queue(BACKLOG)
    slow = asyncio.Event()

    def listen(event: Event) -> None:
        if event.type in QUIET:
            return
        try:
            events.put_nowait(event)
        except asyncio.QueueFull:
            slow.set()

    unsubscribe = screens.fanout.subscribe(listen)  # before the snapshot: nothing is missed
    response: web.StreamResponse | None = None
    try:
        try:
            first = await snapshot(screens)
        except REDIS_DOWN as exc:
            log.warning("wall feed refused, Redis unavailable: %s", exc)
            raise Unavailable() from None
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})  # fmt: skip
        await response.prepare(request)
        await _send(response, "snapshot", dumps(first))
        after = id_order(first["last_event"])
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        stopping = request.app[STOPPING]
        while not slow.is_set():
            try:
                event = await asyncio.wait_for(events.get(), CHECK_S)
            except TimeoutError:
                if stopping.is_set() or request.transport is None or request.transport.is_closing():
                    return response  # the wall left, or the daemon stops
                if loop.time() - quiet_since >= KEEPALIVE_S:
                    await _write(response, b": keep-alive\n\n")
                    quiet_since = loop.time()
                continue
            if id_order(event.id) > after:
                await _send(response, "event", dumps(event_view(event)))
                quiet_since = loop.time()
        log.info("wall feed closed: over %d events behind (the wall reconnects)", BACKLOG)
        await _send(response, "overflow", "{}")
        return response
    except (ConnectionError, TimeoutError):
        log.info("wall feed: the wall went away or stalled")
        assert response is not None  # only its writes raise these
        return response
    finally:
        unsubscribe()


async def _send(response: web.StreamResponse, kind: str, data: str) -> None:
    await _write(response, f"event: {kind}\ndata: {data}\n\n".encode())


async def _write(response: web.StreamResponse, chunk: bytes) -> None:
    await asyncio.wait_for(response.write(chunk), WRITE_TIMEOUT_S)
