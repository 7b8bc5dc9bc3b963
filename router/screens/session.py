"""The session cookie: how a signed-in browser calls the API. The cookie (HttpOnly,
SameSite=Strict, Secure over https, Path=/) holds a random secret; Redis keeps only its digest
(queues/sessions.py). A state-changing call authenticated by the cookie must carry the session's
CSRF token in `X-CSRF-Token`, and an Origin, when sent, must be the daemon's own. The session
acts with the API token it was opened with, read from the config at each call: a token removed
from the config ends its sessions at once."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from frontdesk.queues.sessions import Session
from frontdesk.router.http.auth import ApiToken, digest
from frontdesk.router.http.errors import ApiError
from frontdesk.router.screens.deps import SCREENS, Screens

COOKIE = "fd_session"
CSRF_HEADER = "X-CSRF-Token"
IDLE_S = 8 * 3600  # a session unused this long is over
MAX_AGE_S = 24 * 3600  # and any session this long after its sign-in
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: web.Request) -> None:
    """403 when the request says it comes from a page of another origin (Origin names another
    host); no Origin (a non-browser client, an old browser's GET) passes."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
        raise ApiError(403, "cross_origin", f"a call from {origin[:100]} is refused: this "
                       "daemon's screens call it from its own origin only", "Origin")  # fmt: skip


def _token(screens: Screens, name: str) -> ApiToken | None:
    return next((t for t in screens.settings().api_tokens if t.name == name), None)


async def signed_in(request: web.Request) -> tuple[ApiToken, Session, str] | None:
    """The token, session and cookie digest of the request's session cookie; None without a
    cookie; 401 for a cookie whose session is over (expired, signed out, its token removed)."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    screens = request.app[SCREENS]
    key = digest(secret)
    session = await screens.sessions.get(key, IDLE_S)
    if session is not None and time.time() * 1000 - session.at_ms > MAX_AGE_S * 1000:
        await screens.sessions.close(key)
        session = None
    token = _token(screens, session.token) if session is not None else None
    if session is None or token is None:
        raise ApiError(401, "session_over", "the session is over (expired or signed out): "
                       "sign in again", "Cookie")  # fmt: skip
    return token, session, key


def check_csrf(request: web.Request, session: Session) -> None:
    """A state-changing call carries the session's CSRF token and comes from our own origin."""
    if request.method in SAFE:
        return
    same_origin(request)
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise ApiError(403, "csrf", f"a call made with the session cookie needs the session's "
                       f"{CSRF_HEADER} header", CSRF_HEADER)  # fmt: skip


async def cookie_principal(request: web.Request) -> ApiToken | None:
    """The API token a session cookie stands for (the `authenticate` middleware, for calls
    without an Authorization header); a WebSocket opens with its one-time ticket instead (a
    handshake's cookie would be ambient authority for any page that opens one)."""
    if request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
        return None
    found = await signed_in(request)
    if found is None:
        return None
    token, session, _ = found
    check_csrf(request, session)
    return token
