"""The HTTP application: health, readiness, metrics and the versioned API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from . import api_agents, api_outbox, openapi, ws_tickets
from .agent_ws import agent_socket
from .api_body import ApiError
from .api_requests import get_attachment, get_request
from .api_work import work
from .app_keys import DAEMON
from .auth import PRINCIPAL, TokenBook, is_public

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("frontdesk.http")

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
READY_TIMEOUT_S = 1.0
RETRY_AFTER_S = "5"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """The one JSON error shape: {"error": {"code": ..., "message": ..., ...}}."""
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error a client sees is JSON with a stable code; never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = error_response(exc.status, code, exc.text or exc.reason)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
        return response
    except ApiError as exc:
        extra = {"field": exc.field} if exc.field else {}
        response = error_response(exc.status, exc.code, exc.message, **extra)
        response.headers.update(exc.headers)
        return response
    except RedisError:
        log.warning("Redis unavailable while serving %s %s", request.method, request.path)
        response = error_response(503, "unavailable", "storage is unavailable, try again later")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; it has been logged")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API call but the public ones carries a configured bearer token. Customer-facing
    intake (marked with `auth.public`) authenticates by its own means (platform signatures, a
    site key), and sees the caller's token when one was given."""
    if request.path in PUBLIC or not request.path.startswith("/v1/"):
        return await handler(request)
    book = TokenBook(request.app[DAEMON].settings.api_tokens)
    token = book.authenticate(request.headers.get("Authorization"))
    if token is None and is_public(request.match_info.handler):
        return await handler(request)
    if token is None:
        raise web.HTTPUnauthorized(
            text="a valid bearer token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="frontdesk"'},
        )
    request[PRINCIPAL] = token
    if token.agent is not None:
        request.app[DAEMON].presence.heard(token.agent)  # the agent is there (presence_watch.py)
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to take requests: Redis answers."""
    daemon = request.app[DAEMON]
    try:
        await asyncio.wait_for(daemon.redis.ping(), READY_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        daemon.metrics.redis_up.set(0)
        response = error_response(503, "redis_unavailable", f"Redis does not answer: {exc}")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    daemon.metrics.redis_up.set(1)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[DAEMON].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_document(request: web.Request) -> web.Response:
    paths: dict[str, Any] = dict(api_outbox.OPENAPI_PATHS)
    for channel in request.app[DAEMON].channels:
        describe = getattr(channel, "openapi_paths", None)
        paths |= describe() if describe else openapi.from_routes(channel.name, channel.routes())
    return web.json_response(openapi.document(paths))


def create_app(daemon: Daemon) -> web.Application:
    app = web.Application(middlewares=[json_errors, authenticate], client_max_size=1024 * 1024)
    app[DAEMON] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/openapi.json", openapi_document)
    app.router.add_get("/v1/requests/{id}", get_request)
    app.router.add_get("/v1/requests/{id}/attachments/{ref}", get_attachment)
    from frontdesk.channels.form import status_lookup  # here: channel modules import router.app

    app.router.add_get("/v1/requests/{id}/status", status_lookup)  # any channel's receipt
    app.router.add_post("/v1/requests/{id}/assign", api_agents.force_assign)
    app.router.add_post(
        "/v1/requests/{id}/{action:accept|reject|messages|complete|transfer|escalate}", work
    )
    app.router.add_get("/v1/agents", api_agents.list_agents)
    app.router.add_get("/v1/agents/ws", agent_socket)
    app.router.add_post("/v1/agents/ws-ticket", ws_tickets.issue)
    app.router.add_get("/v1/agents/{agent}", api_agents.get_agent)
    app.router.add_post("/v1/agents/{agent}/presence", api_agents.set_presence)
    app.router.add_put("/v1/agents/{agent}/{what:capacity|skills}", api_agents.set_profile)
    app.router.add_get("/v1/queues", api_agents.list_queues)
    api_outbox.mount(app, daemon.outbox)
    for channel in daemon.channels:
        app.router.add_routes(channel.routes())
    return app
