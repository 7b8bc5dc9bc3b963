"""The HTTP application: health, readiness, metrics and the versioned API."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from frontdesk.queues.sessions import SessionStore
from frontdesk.router.api import agents as api_agents
from frontdesk.router.api import care as api_care
from frontdesk.router.api import customers as api_customers
from frontdesk.router.api import follow_ups as api_follow_ups
from frontdesk.router.api import helpdesk_hooks, keys, status, survey_page, ws_tickets
from frontdesk.router.api import outbox as api_outbox
from frontdesk.router.api import reports as api_reports
from frontdesk.router.api import reviews as api_reviews
from frontdesk.router.api import sla as api_sla
from frontdesk.router.api.agent_ws import agent_socket
from frontdesk.router.api.requests import get_attachment, get_messages, get_request
from frontdesk.router.api.services import HttpTimeouts, Services
from frontdesk.router.api.work import work
from frontdesk.router.http import openapi
from frontdesk.router.http.auth import PRINCIPAL, TokenBook, digest, is_public
from frontdesk.router.http.errors import (
    RETRY_AFTER_S,
    ApiError,
    BodyTimeout,
    Handler,
    client_fault,
    error_response,
    json_errors,
    short,
)
from frontdesk.router.screens import routes as screens
from frontdesk.router.screens.deps import Screens
from frontdesk.router.screens.session import cookie_principal

log = logging.getLogger("frontdesk.http")

PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
READY_TIMEOUT_S = 1.0


class ClientFaultLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The log aiohttp's protocol writes to (its `logger`): what a client did wrong (a URL
    over 8 KB, a bad request line, a reset mid-request) is one INFO line without traceback;
    anything else stays an ERROR with its traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if client_fault(exc):
            assert exc is not None  # client_fault(None) is False
            self.logger.info("%s: %s", str(msg) % args if args else msg, short(exc))
        else:
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return msg, kwargs


def runner_options(http: HttpTimeouts) -> dict[str, Any]:
    """The AppRunner's protocol options: `http.idle_timeout` closes a connection that has sent
    no complete request head for that long (aiohttp's keep-alive timer runs from the moment a
    connection opens), and aiohttp's own errors go through ClientFaultLog."""
    return {
        "access_log": None,
        "keepalive_timeout": http.idle_timeout_s,
        "logger": ClientFaultLog(logging.getLogger("frontdesk.http.protocol")),
    }


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request's body must arrive within `http.body_timeout` of its headers: past it, any
    read of the body raises BodyTimeout, answered 408 (json_errors) and the connection closed."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    timeout_s = request.app[keys.SETTINGS]().http.body_timeout_s
    content = request.content

    def expire() -> None:
        if not content.is_eof():
            content.set_exception(BodyTimeout(f"no complete body within {timeout_s:g}s"))

    timer = asyncio.get_running_loop().call_later(timeout_s, expire)
    try:
        return await handler(request)
    finally:
        timer.cancel()


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API call but the public ones carries a configured bearer token, or the session
    cookie of a signed-in screen (router/screens/session.py: a state-changing call then carries
    its CSRF header too). Customer-facing intake (marked with `auth.public`) authenticates by
    its own means (platform signatures, a site key), and sees the caller's bearer token when
    one was given; a session cookie is never read there."""
    if request.path in PUBLIC or not request.path.startswith("/v1/"):
        return await handler(request)
    if (missing := request.match_info.http_exception) is not None:  # no such route: say so
        raise unrouted(request, missing)
    book = TokenBook(request.app[keys.SETTINGS]().api_tokens)
    token = book.authenticate(request.headers.get("Authorization"))
    if token is None and is_public(request.match_info.handler):
        return await handler(request)
    if token is None and "Authorization" not in request.headers:
        token = await cookie_principal(request)
    if token is None:
        raise web.HTTPUnauthorized(
            text="a valid bearer token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="frontdesk"'},
        )
    request[PRINCIPAL] = token
    if token.agent is not None:
        request.app[keys.PRESENCE].heard(token.agent)  # the agent is there (presence_watch.py)
    return await handler(request)


def unrouted(request: web.Request, missing: web.HTTPException) -> web.HTTPException:
    """What a path no route takes answers, before any token is asked for: the path of a channel
    that is not configured names the key that would serve it (channels.registry.SERVES); any
    other answers aiohttp's own 404 or 405."""
    path = request.path
    for served, key in request.app[keys.UNSERVED].items():
        if path == served or (served.endswith("/") and path.startswith(served)):
            return web.HTTPNotFound(text=f"{path[:100]} is not served: {key} is not configured")
    return missing


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to take requests: Redis answers."""
    app = request.app
    try:
        await asyncio.wait_for(app[keys.REDIS].ping(), READY_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        app[keys.METRICS].redis_up.set(0)
        response = error_response(503, "redis_unavailable", f"Redis does not answer: {exc}")
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    app[keys.METRICS].redis_up.set(1)
    return web.json_response({"status": "ready"})


_PROXIED = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def _may_read_metrics(request: web.Request, token_sha256: str | None) -> None:
    """With `metrics.token_sha256`, the bearer token it names (401 otherwise); without, a
    loopback client that is not a proxy forwarding someone else (403 otherwise)."""
    if token_sha256 is not None:
        given = request.headers.get("Authorization", "")
        presented = given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else ""
        wanted = token_sha256.encode()
        if not presented or not hmac.compare_digest(digest(presented).encode(), wanted):
            raise ApiError(
                401, "unauthorized", "GET /metrics needs the bearer token of metrics.token_sha256",
                "Authorization", {"WWW-Authenticate": 'Bearer realm="frontdesk-metrics"'},
            )  # fmt: skip
        return
    try:
        local = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        local = False
    if not local or any(h in request.headers for h in _PROXIED):
        raise ApiError(
            403, "forbidden",
            "/metrics answers loopback clients only; set metrics.token_sha256 to scrape it "
            "from elsewhere with a bearer token", "metrics.token_sha256",
        )  # fmt: skip


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    _may_read_metrics(request, app[keys.SETTINGS]().metrics.token_sha256)
    with contextlib.suppress(TimeoutError):  # the memory gauges, fresh, if Redis answers soon
        await asyncio.wait_for(app[keys.CHECK_MEMORY](), READY_TIMEOUT_S)
    body = app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_document(request: web.Request) -> web.Response:
    paths: dict[str, Any] = dict(api_outbox.OPENAPI_PATHS) | api_reviews.openapi_paths()
    paths |= api_reports.openapi_paths() | helpdesk_hooks.OPENAPI_PATHS
    for channel in request.app[keys.CHANNELS]:
        describe = getattr(channel, "openapi_paths", None)
        paths |= describe() if describe else openapi.from_routes(channel.name, channel.routes())
        if channel.name == "form":  # the status lookup is described with the form, as it was
            paths |= status.OPENAPI_PATHS
    paths |= screens.OPENAPI_PATHS
    return web.json_response(openapi.document(paths))


def create_app(services: Services) -> web.Application:
    """The daemon's HTTP application on `services`, each set under its key (router/api/keys.py),
    with every channel's routes."""
    app = web.Application(
        middlewares=[json_errors, body_deadline, authenticate], client_max_size=1024 * 1024
    )
    app[keys.SETTINGS] = services.settings
    app[keys.REDIS] = services.redis
    app[keys.STORE] = services.store
    app[keys.AGENTS] = services.agents
    app[keys.FRONT] = services.front
    app[keys.STANDING] = services.standing
    app[keys.PRESENCE] = services.presence
    app[keys.METRICS] = services.metrics
    app[keys.CHECK_MEMORY] = services.check_memory
    app[keys.FANOUT] = services.fanout
    app[keys.CHANNELS] = services.channels
    app[keys.SITE_ORIGIN] = services.site_origin
    app[keys.SURVEYS] = services.surveys
    app[keys.UNSERVED] = services.unserved
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/openapi.json", openapi_document)
    app.router.add_get("/v1/requests/{id}", get_request)
    app.router.add_get("/v1/requests/{id}/attachments/{ref}", get_attachment)
    app.router.add_get("/v1/requests/{id}/messages", get_messages)  # the thread, for a desk
    app.router.add_get("/v1/requests/{id}/status", status.status_lookup)  # any channel's receipt
    app.router.add_post("/v1/requests/{id}/assign", api_agents.force_assign)
    app.router.add_post(
        "/v1/requests/{id}/{action:accept|reject|messages|complete|transfer|escalate|pending|"
        "resume|milestones|reclassify|call-attempts}",
        work,
    )
    app.router.add_get("/v1/sla/at-risk", api_sla.at_risk)
    api_care.mount(app)
    api_customers.mount(app)
    survey_page.mount(app)
    api_follow_ups.mount(app)
    helpdesk_hooks.mount(app)
    app.router.add_get("/v1/agents", api_agents.list_agents)
    app.router.add_get("/v1/agents/ws", agent_socket)
    app.router.add_post("/v1/agents/ws-ticket", ws_tickets.issue)
    app.router.add_get("/v1/agents/{agent}", api_agents.get_agent)
    app.router.add_post("/v1/agents/{agent}/presence", api_agents.set_presence)
    app.router.add_put("/v1/agents/{agent}/{what:capacity|skills}", api_agents.set_profile)
    app.router.add_get("/v1/queues", api_agents.list_queues)
    api_outbox.mount(app, services.outbox)
    api_reviews.mount(app, services.store)
    api_reports.mount(app, services.store)
    sessions = SessionStore(services.store.redis, services.store.keys)
    screens.mount(app, Screens(services.settings, sessions, services.store, services.agents,
                               services.fanout))  # fmt: skip
    for channel in services.channels:
        app.router.add_routes(channel.routes())
    return app
