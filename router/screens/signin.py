"""Signing in and out of the screens.

    POST /screens/sign-in   {"token": "fdt_...", "screen": "desk" | "wall"}  -> cookie, csrf
    GET  /screens/session?screen=desk|wall                                  -> who, csrf
    POST /screens/sign-out  (cookie + X-CSRF-Token)                          -> cookie cleared

The desk takes a token that acts as an agent (scope agent, or admin with an agent); the wall a
supervisor's or an admin's. The CSRF token is given to the page in these JSON answers only (no
other origin can read them), and kept in the page's memory: never in a URL or in storage."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from frontdesk.queues.sessions import Session
from frontdesk.router.http.auth import ApiToken, Scope, TokenBook, digest
from frontdesk.router.http.body import choice, json_body, text
from frontdesk.router.http.errors import ApiError
from frontdesk.router.screens.deps import SCREENS
from frontdesk.router.screens.session import (
    COOKIE,
    IDLE_S,
    check_csrf,
    same_origin,
    signed_in,
)

SCREENS_NAMES = ("desk", "wall")


def may_use(token: ApiToken, screen: str) -> str | None:
    """Why `token` may not open `screen` (None: it may)."""
    if screen == "desk" and token.agent is None:
        return "the agent desk takes a token that acts as an agent (scope agent, with its agent)"
    if screen == "wall" and token.scope not in (Scope.SUPERVISOR, Scope.ADMIN):
        return "the supervisor wall takes a token with scope supervisor or admin"
    return None


def _who(request: web.Request, token: ApiToken, session: Session, screen: str) -> dict[str, Any]:
    """Who is signed in, the session's CSRF token, and the queues (the desk's transfer list)."""
    queues = sorted(request.app[SCREENS].settings().queues)
    return {"screen": screen, "name": token.name, "scope": token.scope.value,
            "agent": token.agent, "csrf": session.csrf, "queues": queues}  # fmt: skip


async def sign_in(request: web.Request) -> web.Response:
    same_origin(request)  # no sign-in from another site's page (login CSRF)
    body = await json_body(request, {"token", "screen"})
    screen = choice(body, "screen", list(SCREENS_NAMES))
    presented = text(body, "token", max_len=200).strip()
    screens = request.app[SCREENS]
    token = TokenBook(screens.settings().api_tokens).authenticate(f"Bearer {presented}")
    if token is None:
        raise ApiError(401, "unauthorized", "this token is not one of the daemon's API tokens",
                       "token")  # fmt: skip
    if (why := may_use(token, screen)) is not None:
        raise ApiError(403, "forbidden", why, "token")
    secret = secrets.token_urlsafe(32)
    session = Session(token.name, secrets.token_urlsafe(32), int(time.time() * 1000))
    await screens.sessions.open(digest(secret), session, IDLE_S)
    response = web.json_response(_who(request, token, session, screen))
    response.set_cookie(
        COOKIE, secret, path="/", httponly=True, samesite="Strict", secure=request.secure
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def current(request: web.Request) -> web.Response:
    """GET /screens/session: who is signed in, for the page's first paint."""
    screen = request.query.get("screen", "desk")
    if screen not in SCREENS_NAMES:
        raise ApiError(400, "invalid", f"screen: one of {', '.join(SCREENS_NAMES)}", "screen")
    found = await signed_in(request)
    if found is None:
        raise ApiError(401, "unauthorized", "not signed in", "Cookie")
    token, session, _ = found
    if (why := may_use(token, screen)) is not None:
        raise ApiError(403, "forbidden", why, "token")
    response = web.json_response(_who(request, token, session, screen))
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out(request: web.Request) -> web.Response:
    """POST /screens/sign-out: the session is deleted (the cookie is then worth nothing)."""
    found = await signed_in(request)
    if found is None:
        raise ApiError(401, "unauthorized", "not signed in", "Cookie")
    _, session, key = found
    check_csrf(request, session)
    await request.app[SCREENS].sessions.close(key)
    response = web.json_response({"signed_out": True})
    response.del_cookie(COOKIE, path="/")
    return response
