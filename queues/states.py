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
    assigned ──pend──────────────► pending_customer  (the agent waits on the customer: the
                                                      request's SLA clocks pause; still held)
    pending_customer ──resume────► assigned     (the customer's message, or the agent: clocks run)
    pending_customer ──complete──► completed    (load -1)
    waiting|offered|assigned ──transfer──► waiting in another queue (age kept, load released)
    waiting|offered|assigned ──escalate──► waiting, tier + 1, in the next tier's queue
    waiting|offered|assigned|pending_customer ──abandon──► abandoned (customer left, cancelled,
                                                      or timed out)

A follow-up message (``append_message``, or intake joining an open request) changes no state,
except that a customer's message resumes a pending request; it is refused on a terminal request.
A pending request is transferred or escalated once resumed. Clocks (queues/lua/includes/
clocks.lua) move with these arrows: they start at intake, an agent's message meets the
responses, complete meets the resolution, abandon stops them.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a request is in its life."""

    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    PENDING_CUSTOMER = "pending_customer"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


TERMINAL_STATES = frozenset({State.COMPLETED, State.ABANDONED})
"""States a request never leaves."""

HELD_STATES = frozenset({State.OFFERED, State.ASSIGNED, State.PENDING_CUSTOMER})
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
    "complete": (frozenset({State.ASSIGNED, State.PENDING_CUSTOMER}), State.COMPLETED),
    "pend": (frozenset({State.ASSIGNED}), State.PENDING_CUSTOMER),
    "resume": (frozenset({State.PENDING_CUSTOMER}), State.ASSIGNED),
    "transfer": (frozenset(OPEN_STATES - {State.PENDING_CUSTOMER}), State.WAITING),
    "escalate": (frozenset(OPEN_STATES - {State.PENDING_CUSTOMER}), State.WAITING),
    "abandon": (frozenset(OPEN_STATES), State.ABANDONED),
}
"""Operation → (states it starts from, state it ends in). Tests check the scripts against this."""
