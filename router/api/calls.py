"""POST /v1/requests/{id}/call-attempts (and the WebSocket's `call-attempts` frame): the agent
holding a phone callback records a call and its outcome, `reached`, `no_answer`, `busy` or
`wrong_number` (`note` optional), each an event `call.attempted`. A missed call (no_answer,
busy) before `callbacks.max_attempts` goes back to waiting, held until `callbacks.retry_after`
from now, then routed again; the last missed one, or a wrong number, completes the request with
the outcome as its resolution (`callback: no_answer`). Reached: the agent goes on as usual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from frontdesk.queues.calls import Outcome
from frontdesk.queues.errors import QueueError
from frontdesk.router.api.keys import SETTINGS, STORE
from frontdesk.router.http.body import choice, text
from frontdesk.router.http.errors import ApiError
from frontdesk.router.http.views import describe, iso_ms

CALL_ACTION = "call-attempts"
CALL_FIELDS = frozenset({"outcome"})


async def call_attempt(
    app: web.Application,
    agent: str,
    request_id: str,
    body: dict[str, Any],
    refusal: Callable[[QueueError], ApiError],
) -> dict[str, Any]:
    """Record one call attempt of `agent` on the callback it holds; the request after, and
    `call`: {attempt, outcome, retry_at (None unless re-queued)}."""
    outcome = Outcome(choice(body, "outcome", [o.value for o in Outcome]))
    note = text(body, "note", required=False, max_len=500)
    settings = app[SETTINGS]().callbacks
    store = app[STORE]
    retry_at = await store.now_ms() / 1000 + settings.retry_after_s  # the dispatcher's clock
    try:
        done = await store.record_call(
            request_id, agent, outcome, retry_at, settings.max_attempts, note
        )
        record = done.reply.record
        if outcome is not Outcome.REACHED and not done.retried:  # the last try, or no use
            closed = await store.complete(
                request_id, agent, f"callback: {outcome.value}", 0, holder_only=True
            )
            record = closed.record
    except QueueError as exc:
        raise refusal(exc) from None
    retry = iso_ms(int(retry_at * 1000)) if done.retried else None
    call = {"attempt": done.attempt, "outcome": outcome.value, "retry_at": retry}
    return describe(record) | {"call": call}
