"""Request states and the transitions between them, documented in one place.

Only the Lua scripts in ``queues/lua`` move a request; each arrow below is one script.

    (new) ──enqueue──────────────► waiting
    waiting ──offer──────────────► offered      (agent's load +1, deadline set)
    waiting ──assign─────────────► assigned     (direct assignment, load +1)
    offered ──accept─────────────► assigned
    offered ──reject / expire────► waiting      (load -1, agent excluded, age kept)
    offered ──release_offer──────► waiting      (agent vanished: load -1, age kept)
    assigned ──orphan (requeue)──► waiting      (agent vanished past orphaned_after: load -1)
    assigned ──complete──────────► completed    (load -1)
    waiting|offered|assigned ──transfer──► waiting in another queue (age kept, load released)
    waiting|offered|assigned ──escalate──► waiting, tier + 1, in the next tier's queue
    waiting|offered|assigned ──abandon───► abandoned (customer left, cancelled, or timed out)

A follow-up message (``append_message``) changes no state; it is refused on a terminal request.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a request is in its life."""

    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


TERMINAL_STATES = frozenset({State.COMPLETED, State.ABANDONED})
"""States a request never leaves."""

HELD_STATES = frozenset({State.OFFERED, State.ASSIGNED})
"""States in which an agent holds the request and it counts toward the agent's load."""

OPEN_STATES = frozenset(State) - TERMINAL_STATES
"""States in which a follow-up joins the request instead of opening a new one."""

TRANSITIONS: dict[str, tuple[frozenset[State], State]] = {
    "offer": (frozenset({State.WAITING}), State.OFFERED),
    "assign": (frozenset({State.WAITING}), State.ASSIGNED),
    "accept": (frozenset({State.OFFERED}), State.ASSIGNED),
    "reject": (frozenset({State.OFFERED}), State.WAITING),
    "expire": (frozenset({State.OFFERED}), State.WAITING),
    "release_offer": (frozenset({State.OFFERED}), State.WAITING),
    "orphan": (frozenset({State.ASSIGNED}), State.WAITING),
    "complete": (frozenset({State.ASSIGNED}), State.COMPLETED),
    "transfer": (frozenset(OPEN_STATES), State.WAITING),
    "escalate": (frozenset(OPEN_STATES), State.WAITING),
    "abandon": (frozenset(OPEN_STATES), State.ABANDONED),
}
"""Operation → (states it starts from, state it ends in). Tests check the scripts against this."""
