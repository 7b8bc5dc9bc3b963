"""Where the screens are served: `mount` puts their routes on the daemon's application.

GET  /desk/, /wall/                  the pages (sign-in first)
GET  /screens/static/{name}          their scripts and style
POST /screens/sign-in, /screens/sign-out; GET /screens/session
GET  /v1/wall/stream                 the wall's live feed (server-sent events, supervisor)
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from frontdesk.router.http.openapi import operation
from frontdesk.router.screens.deps import SCREENS, STOPPING, Screens
from frontdesk.router.screens.pages import page, static, to_page
from frontdesk.router.screens.signin import current, sign_in, sign_out
from frontdesk.router.screens.wall import stream


def mount(app: web.Application, screens: Screens) -> None:
    app[SCREENS] = screens
    app[STOPPING] = stopping = asyncio.Event()

    async def stop(app: web.Application) -> None:
        stopping.set()

    app.on_shutdown.append(stop)
    for screen in ("desk", "wall"):
        app.router.add_get(f"/{screen}/", page(screen))
        app.router.add_get(f"/{screen}", to_page(screen))
    app.router.add_get("/screens/static/{name}", static)
    app.router.add_post("/screens/sign-in", sign_in)
    app.router.add_get("/screens/session", current)
    app.router.add_post("/screens/sign-out", sign_out)
    app.router.add_get("/v1/wall/stream", stream)


_FEED = {
    "description": "Server-sent events: `snapshot` (queues, agents with what they hold, requests "
    "at risk, the last hour's service level by minute, the last event's id), then one `event` "
    "per event after it; `overflow` before a wall that fell behind is dropped",
    "content": {
        "text/event-stream": {
            "schema": {  # one event of the stream
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"enum": ["snapshot", "event", "overflow"]},
                    "data": {"type": "string", "contentMediaType": "application/json"},
                },
            }
        }
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/wall/stream": {"get": operation("Supervisor: the wall's live feed", "wallStream", _FEED)},
}
