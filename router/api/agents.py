"""Agents and queues through the API: presence, capacity and skills, live lists for supervisors,
and supervisors' forced assignment."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from frontdesk.queues.errors import QueueError
from frontdesk.queues.request import Channel
from frontdesk.router.api.keys import AGENTS, PRESENCE, SETTINGS, STORE
from frontdesk.router.api.work import refusal
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.body import choice, int_map, json_body, text
from frontdesk.router.http.errors import ApiError
from frontdesk.router.http.views import describe
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, Agent, Presence

CHANNELS = [c.value for c in Channel]


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "presence": agent.presence.value,
        "away_reason": agent.away_reason,
        "tier": agent.tier,
        "groups": list(agent.groups),
        "skills": agent.skills,
        "capacity": agent.capacity,
        "load": agent.load,
        "missed_in_a_row": agent.missed,
        "wrap_up_until_ms": agent.wrap_until_ms or None,
    }


async def _agent(request: web.Request, scopes: tuple[Scope, ...]) -> Agent:
    """The agent in the path; an agent token reaches only its own agent."""
    token = principal(request, *scopes)
    agent_id = request.match_info["agent"]
    if token.scope is Scope.AGENT and token.agent != agent_id:
        raise ApiError(403, "forbidden", "an agent token reaches its own agent only")
    agent = await request.app[AGENTS].get(agent_id)
    if agent is None:
        raise ApiError(404, "not_found", f"no agent {agent_id!r}")
    return agent


async def list_agents(request: web.Request) -> web.Response:
    principal(request, Scope.SUPERVISOR)
    agents = await request.app[AGENTS].all()
    return web.json_response({"agents": [agent_json(a) for a in agents]})


async def get_agent(request: web.Request) -> web.Response:
    agent = await _agent(request, (Scope.AGENT, Scope.SUPERVISOR))
    app = request.app
    holds = await app[AGENTS].holds(agent.id)
    records = [r for r in await app[STORE].get_many(sorted(holds)) if r is not None]
    return web.json_response(agent_json(agent) | {"work": [describe(r) for r in records]})


async def set_presence(request: web.Request) -> web.Response:
    """Available, away (with a reason) or offline; going away or offline hands back every offer
    not yet accepted, so it goes to someone else at once."""
    agent = await _agent(request, (Scope.AGENT, Scope.SUPERVISOR))
    body = await json_body(request, {"presence", "reason"})
    presence = Presence(choice(body, "presence", [p.value for p in Presence]))
    reason = text(body, "reason", required=False, max_len=200)
    app = request.app
    await app[AGENTS].set_presence(agent.id, presence, reason)
    released = []
    if presence is not Presence.AVAILABLE:
        for request_id in await app[AGENTS].holds(agent.id):
            record = await app[STORE].get(request_id)
            if record is not None and record.state.value == "offered":
                try:
                    await app[STORE].reject(request_id, agent.id, f"agent {presence.value}")
                    released.append(request_id)
                except QueueError:
                    pass  # accepted or expired meanwhile
    updated = await app[AGENTS].get(agent.id)
    assert updated is not None
    return web.json_response(agent_json(updated) | {"released_offers": released})


async def set_profile(request: web.Request) -> web.Response:
    """PUT /v1/agents/{agent}/capacity or /skills (supervisor): the new mapping replaces the old;
    a capacity below what the agent holds now is refused."""
    agent = await _agent(request, (Scope.SUPERVISOR,))
    what = request.match_info["what"]
    app = request.app
    body = await json_body(request, {what})
    if what == "capacity":
        changed = dataclasses.replace(agent, capacity=int_map(body, what, CHANNELS, 0, 1000))
    else:
        known = app[SETTINGS]().skills
        changed = dataclasses.replace(
            agent, skills=int_map(body, what, known, MIN_LEVEL, MAX_LEVEL)
        )
    try:
        await app[AGENTS].upsert(changed)
    except QueueError as exc:
        raise ApiError(409, exc.code.name.lower(), str(exc), what) from None
    updated = await app[AGENTS].get(agent.id)
    assert updated is not None
    return web.json_response(agent_json(updated))


async def list_queues(request: web.Request) -> web.Response:
    """Every queue, live: waiting, the oldest wait, and its routing settings in short."""
    principal(request, Scope.SUPERVISOR, Scope.INTEGRATION)
    app = request.app
    now_ms = await app[STORE].now_ms()
    orphans: dict[str, list[dict[str, Any]]] = {}
    for o in await app[PRESENCE].orphans():
        since = round((now_ms - o.since_ms) / 1000, 1)
        orphans.setdefault(o.queue, []).append(
            {"request": o.request_id, "agent": o.agent, "agent_gone_s": since}
        )
    out = []
    for name, queue in app[SETTINGS]().queues.items():
        head = await app[STORE].peek(name, 1)
        oldest = (await app[STORE].get(head[0])) if head else None
        out.append(
            {
                "name": name,
                "tier": queue.tier,
                "mode": queue.mode,
                "assignment": queue.routing.assignment,
                "waiting": await app[STORE].waiting_count(name),
                "oldest_wait_s": round((now_ms - oldest.enqueued_ms) / 1000, 1) if oldest else None,
                "orphaned": orphans.get(name, []),
            }
        )
    return web.json_response({"queues": out})


async def force_assign(request: web.Request) -> web.Response:
    """POST /v1/requests/{id}/assign (supervisor): to the named agent now, whatever its presence
    (never past its capacity); a request held by someone else is first taken back."""
    principal(request, Scope.SUPERVISOR)
    body = await json_body(request, {"agent", "reason"})
    agent_id = text(body, "agent", max_len=64)
    reason = text(body, "reason", required=False)
    app = request.app
    request_id = request.match_info["id"]
    record = await app[STORE].get(request_id)
    if record is None:
        raise ApiError(404, "not_found", f"no request {request_id!r}")
    try:
        if record.state.value != "waiting":
            await app[STORE].transfer(request_id, record.request.queue, f"supervisor: {reason}")
        await app[STORE].assign(request_id, agent_id, why={"forced": reason}, force=True)
    except QueueError as exc:
        raise refusal(exc) from None
    updated = await app[STORE].get(request_id)
    assert updated is not None
    return web.json_response(describe(updated))
