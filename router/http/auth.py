"""API authentication: bearer tokens with scopes, kept in the config as SHA-256 digests only.

    frontdesk token create --name ops --scope supervisor

prints a new token once, and the lines to add under `api.tokens`. A presented token is hashed
and compared with every configured digest in constant time."""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

TOKEN_PREFIX = "fdt_"


class Scope(StrEnum):
    """What a token may do."""

    AGENT = "agent"  # its own agent's work only
    INTEGRATION = "integration"  # a helpdesk or another system
    SUPERVISOR = "supervisor"  # every queue and agent, live
    QA = "qa"  # a quality reviewer: the review queue, closed requests, reviews; nothing else
    ADMIN = "admin"  # everything


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A configured token: who it is, what it may do, and the digest of its secret."""

    name: str
    scope: Scope
    sha256: str
    agent: str | None = None  # the agent an agent-scope token acts as


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenBook:
    """The configured tokens."""

    def __init__(self, tokens: tuple[ApiToken, ...]) -> None:
        self.tokens = tokens

    def authenticate(self, authorization: str | None) -> ApiToken | None:
        """The token named by an `Authorization: Bearer ...` header, or None. Every configured
        digest is compared, in constant time, whichever matches."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        presented = digest(authorization[len("Bearer ") :].strip()).encode()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(presented, token.sha256.encode()):
                found = token
        return found


PRINCIPAL = web.RequestKey("principal", ApiToken)
_PUBLIC = "__frontdesk_public__"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def public(handler: Handler) -> Handler:
    """Mark a customer-facing handler that authenticates by its own means (a platform's
    signature, a site key); a bearer token, when given, is still checked and made available.
    A bound method is marked through a wrapper of its own (a method takes no attributes)."""
    if inspect.ismethod(handler):
        method: Handler = handler

        @functools.wraps(method)
        async def handler(request: web.Request) -> web.StreamResponse:
            return await method(request)

    setattr(handler, _PUBLIC, True)
    return handler


def is_public(handler: object) -> bool:
    return bool(getattr(handler, _PUBLIC, False))


def caller(request: web.Request) -> ApiToken | None:
    """The bearer token given with a public call, if any."""
    return request.get(PRINCIPAL)


def principal(request: web.Request, *scopes: Scope) -> ApiToken:
    """The authenticated caller; 403 unless its scope is one of `scopes` (admin always is)."""
    token = request[PRINCIPAL]
    if token.scope is not Scope.ADMIN and token.scope not in scopes:
        allowed = ", ".join(s.value for s in scopes)
        raise web.HTTPForbidden(text=f"this needs a token with scope {allowed}")
    return token
