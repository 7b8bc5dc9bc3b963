"""A follow-up call's outcome through the API: `POST /v1/requests/{id}/follow-up` with
`reached` (true, false), `verdict` (satisfied, unsatisfied, none) and a `note`, by the agent who
holds the follow-up (or a supervisor naming the agent); once. Recorded on the follow-up and on the
request it followed up, and the event `follow_up.recorded`."""

from __future__ import annotations

from aiohttp import web

from frontdesk.queues.errors import AlreadyAnswered, NotYourRequest, RequestNotFound, WrongState
from frontdesk.router.api.keys import STORE
from frontdesk.router.http.auth import Scope, principal
from frontdesk.router.http.body import choice, json_body, text
from frontdesk.router.http.errors import ApiError, invalid
from frontdesk.router.http.views import describe

VERDICTS = ["satisfied", "unsatisfied", "none"]


async def record_outcome(request: web.Request) -> web.Response:
    token = principal(request, Scope.AGENT, Scope.SUPERVISOR)
    request_id = request.match_info["id"]
    body = await json_body(request, ("agent", "reached", "verdict", "note"))
    own = token.scope is Scope.AGENT
    agent = token.agent if own else text(body, "agent", max_len=64)
    if own and "agent" in body and body["agent"] != agent:
        raise invalid("agent", "an agent's token acts for its own agent only")
    reached = body.get("reached")
    if not isinstance(reached, bool):
        raise invalid("reached", "must be true or false")
    verdict = choice(body, "verdict", VERDICTS, required=False) or "none"
    note = text(body, "note", required=False, max_len=2000)
    store = request.app[STORE]
    found = await store.get(request_id)
    original = found.request.attributes.get("follow_up_of") if found is not None else None
    if found is None:
        raise ApiError(404, "not_found", f"no request {request_id}")
    if not isinstance(original, str):
        raise ApiError(409, "not_a_follow_up", f"{request_id} is not a follow-up call")
    assert agent is not None
    try:
        await store.feedback.follow_up(request_id, original, agent, reached, verdict, note, own)
    except AlreadyAnswered:
        raise ApiError(409, "recorded", "the outcome was recorded before") from None
    except NotYourRequest:
        raise ApiError(403, "not_yours", f"{request_id} is held by another agent") from None
    except (WrongState, RequestNotFound):
        raise ApiError(
            409, "not_taken", "take the follow-up before recording its outcome"
        ) from None
    record = await store.get(request_id)
    assert record is not None
    return web.json_response(describe(record))


def mount(app: web.Application) -> None:
    app.router.add_post("/v1/requests/{id}/follow-up", record_outcome)
