"""POST /v1/helpdesks/{name}/webhook: a helpdesk's own webhook (a Zendesk trigger, a Zammad
trigger, a Chatwoot webhook), verified with `helpdesks[].webhook_secret` and applied back.

- the ticket closed or solved there (Zendesk solved/closed, Zammad closed, Chatwoot resolved,
  and the state configured under `states.completed`): the request is completed here, by the
  agent holding it, through the same script as an agent's complete;
- the ticket given to another user there: the request is transferred to the frontdesk agent
  mapped to that user (back to its queue, then assigned to them; should they be unavailable
  or full, it waits there for the matcher);
- every event so caused carries `origin: helpdesk:<name>`, which that helpdesk's connector never
  writes back to the ticket (no loop).

Answers: 200 `{"request", "applied"}` (completed, moved, transferred, nothing); 202
`{"ignored": <why>}` for a ticket that is no request of ours (unknown_ticket), an event that
changes nothing here, an assignee mapped to no agent, or a request not held by an agent; 401 a
bad or missing signature; 400 a malformed body (the field named); 404 no such helpdesk or no
webhook secret configured for it. Never a 5xx for what the helpdesk sends.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from frontdesk.queues.errors import QueueError
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.queues.tickets import TicketMap
from frontdesk.router.api.keys import SETTINGS, STORE
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import ApiError
from frontdesk.router.http.openapi import Schema, json_content, operation
from frontdesk.router.outbound.helpdesks.base import HelpdeskSettings
from frontdesk.router.outbound.helpdesks.inbound import CLOSED, Change, read, verify

log = logging.getLogger("frontdesk.helpdesks")

PATH = "/v1/helpdesks/{name}/webhook"
_ANSWER: Schema = {
    "type": "object",
    "properties": {
        "request": {"type": "string"},
        "applied": {"type": "string", "enum": ["completed", "moved", "transferred", "nothing"]},
        "ignored": {"type": "string"},
    },
}
_OP = operation(
    "A helpdesk's own signed webhook (Zendesk trigger, Zammad trigger, Chatwoot webhook)",
    "helpdeskWebhook", json_content("Applied (202: ignored, with the reason)", _ANSWER),
    path_params=("name",), body={"type": "object"}, secured=False, errors=(400, 401, 404),
)  # fmt: skip
OPENAPI_PATHS: dict[str, Schema] = {PATH: {"post": _OP}}


def mount(app: web.Application) -> None:
    app.router.add_post(PATH, helpdesk_webhook)


@public
async def helpdesk_webhook(request: web.Request) -> web.Response:
    """Verify, read and apply one webhook of the helpdesk `name`."""
    name = request.match_info["name"]
    found = [h for h in request.app[SETTINGS]().helpdesks if h.name == name]
    if not found or found[0].webhook_secret is None:
        raise ApiError(404, "not_found", f"no helpdesk {name[:64]!r} with a webhook_secret", "name")
    settings = found[0]
    assert settings.webhook_secret is not None
    body = await request.read()
    verify(settings.kind, settings.webhook_secret, request.headers, body, time.time())
    change = read(settings.kind, body)
    if change is None:
        return _ignored("event")
    store = request.app[STORE]
    request_id = await TicketMap.of(store, name).request_of(change.ticket)
    if request_id is None:
        return _ignored("unknown_ticket", ticket=change.ticket)
    return await apply(store, settings, request_id, change)


def _ignored(why: str, **more: Any) -> web.Response:
    return web.json_response({"ignored": why, **more}, status=202)


def _applied(request_id: str, applied: str, **more: Any) -> web.Response:
    return web.json_response({"request": request_id, "applied": applied, **more})


def closes(settings: HelpdeskSettings[Any], status: str) -> bool:
    """Whether the helpdesk's `status` means the ticket is done."""
    configured = settings.states.get("completed", "").lower()
    return bool(status) and (status in CLOSED.get(settings.kind, ()) or status == configured)


async def apply(
    store: QueueStore, settings: HelpdeskSettings[Any], request_id: str, change: Change
) -> web.Response:
    """Complete or move `request_id` as the ticket's change says."""
    origin = f"helpdesk:{settings.name}"
    record = await store.get(request_id)
    if record is None:
        return _ignored("unknown_ticket", ticket=change.ticket)
    state = record.state
    try:
        if closes(settings, change.status):
            if state in (State.COMPLETED, State.ABANDONED):
                return _applied(request_id, "nothing", state=state.value)
            if state not in (State.ASSIGNED, State.PENDING_CUSTOMER) or not record.agent:
                return _ignored("not_held", request=request_id, state=state.value)
            await store.complete(request_id, record.agent, "", 0, origin=origin)
            log.info("%s completed from %s (ticket %s)", request_id, settings.name, change.ticket)
            return _applied(request_id, "completed", agent=record.agent)
        if change.assignee is None:
            return _ignored("event")
        agents = {user: agent for agent, user in settings.agents.items()}
        agent = agents.get(change.assignee)
        if agent is None:
            return _ignored("unmapped_assignee", assignee=change.assignee)
        if agent == record.agent or state in (State.COMPLETED, State.ABANDONED):
            return _applied(request_id, "nothing", state=state.value)
        reason = f"reassigned in {settings.name}"
        back = await store.transfer(request_id, None, reason, None, origin=origin)
        try:
            await store.assign(request_id, agent, back.queue, {"origin": origin})
        except QueueError as exc:
            return _applied(request_id, "transferred", waiting=True, refused=exc.code.name.lower())
        log.info("%s moved to %s from %s", request_id, agent, settings.name)
        return _applied(request_id, "moved", agent=agent)
    except QueueError as exc:  # it moved under us (completed, taken): nothing to apply
        return _ignored("changed", request=request_id, refused=exc.code.name.lower())
