"""One-time tickets for the agent WebSocket from a browser, which cannot set an Authorization
header on a WebSocket: `POST /v1/agents/ws-ticket` with the agent's bearer token answers a ticket
good for one connection within 30 s, `GET /v1/agents/ws?ticket=...`. Redis keeps only the
ticket's digest, so a ticket read from Redis opens nothing; any daemon redeems it, once."""

from __future__ import annotations

import secrets

from aiohttp import web

from frontdesk.router.api.keys import AGENTS, SETTINGS
from frontdesk.router.http.auth import ApiToken, Scope, caller, digest, principal
from frontdesk.router.http.errors import ApiError

TICKET_TTL_S = 30


async def issue(request: web.Request) -> web.Response:
    """POST /v1/agents/ws-ticket: a ticket for the caller's own agent socket."""
    token = agent_token(request)
    ticket = "fdw_" + secrets.token_urlsafe(24)
    await request.app[AGENTS].keep_socket_ticket(digest(ticket), token.name, TICKET_TTL_S)
    return web.json_response(
        {"ticket": ticket, "expires_in_s": TICKET_TTL_S, "url": f"/v1/agents/ws?ticket={ticket}"}
    )


def agent_token(request: web.Request) -> ApiToken:
    """The caller's token if it acts as an agent; 403 for any other (an admin's or a
    supervisor's token names no agent whose offers a socket could carry)."""
    token = principal(request, Scope.AGENT)
    if token.agent is None:
        raise ApiError(
            403, "forbidden", "the agent socket takes an agent token (scope agent, with its agent)",
            "Authorization",
        )  # fmt: skip
    return token


async def redeem(request: web.Request) -> ApiToken:
    """The agent token a socket opens with: its bearer token, else its one-time ticket."""
    token = caller(request)
    if token is not None:
        return token
    ticket = request.query.get("ticket")
    if not ticket:
        raise ApiError(
            401, "unauthorized", "give an agent token (Authorization: Bearer) or a ?ticket=",
            "Authorization",
        )  # fmt: skip
    name = await request.app[AGENTS].redeem_socket_ticket(digest(ticket))
    found = next((t for t in request.app[SETTINGS]().api_tokens if t.name == name), None)
    if found is None:  # unknown, used, expired, or its token was removed meanwhile
        raise ApiError(401, "unauthorized", "the ticket is not valid (used, or older than 30 s)",
                       "ticket")  # fmt: skip
    return found
