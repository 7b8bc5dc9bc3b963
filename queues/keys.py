"""Every Redis key frontdesk uses, in one place.

All keys of a tenant share the hash tag ``{tenant}``, so every multi-key script stays on one slot of
a Redis Cluster. ``v1`` is the layout version: a layout change gets a new segment, never a silent
reinterpretation of old keys.
"""

from __future__ import annotations

from dataclasses import dataclass

LAYOUT_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one tenant."""

    tenant: str = "default"

    @property
    def prefix(self) -> str:
        return f"fd:{LAYOUT_VERSION}:{{{self.tenant}}}:"

    # -- counters and streams ------------------------------------------------------------------
    @property
    def request_ids(self) -> str:
        """String counter: the number in each new request id (FD-<n>)."""
        return self.prefix + "ids"

    @property
    def seq(self) -> str:
        """String counter: arrival order, the FIFO part of a queue score; kept across moves."""
        return self.prefix + "seq"

    @property
    def events(self) -> str:
        """Stream: one entry per state change (type, request, agent, queue, ...)."""
        return self.prefix + "events"

    @property
    def offers(self) -> str:
        """Sorted set: request id -> offer deadline (ms since epoch, Redis clock)."""
        return self.prefix + "offers"

    @property
    def queues(self) -> str:
        """Set: names of every queue that has held a request."""
        return self.prefix + "queues"

    @property
    def agents(self) -> str:
        """Set: ids of every agent known to this tenant."""
        return self.prefix + "agents"

    # -- per request -----------------------------------------------------------------------------
    def request(self, request_id: str) -> str:
        """Hash: data (msgpack Request), state, queue, band (priority), seq, score, tier, channel,
        agent, deadline, enqueued_ms, messages, why (JSON routing explanation), resolution,
        closed_ms."""
        return f"{self.prefix}req:{request_id}"

    def messages(self, request_id: str) -> str:
        """List: msgpack follow-up messages, oldest first."""
        return f"{self.prefix}req:{request_id}:msgs"

    def excluded(self, request_id: str) -> str:
        """Set: agents who rejected or missed an offer of this request."""
        return f"{self.prefix}req:{request_id}:excluded"

    def idempotency(self, key: str) -> str:
        """String with TTL: channel:external id -> the request it became."""
        return f"{self.prefix}idem:{key}"

    # -- per queue and agent ---------------------------------------------------------------------
    def queue(self, name: str) -> str:
        """Sorted set: waiting request ids, score = priority band * 2^32 + seq."""
        return f"{self.prefix}queue:{name}"

    def agent(self, agent_id: str) -> str:
        """Hash: name, tier, groups, skills (JSON), presence, away_reason, cap:<channel>,
        load:<channel>, missed (offers missed in a row), last_taken_ms, available_since_ms,
        wrap_until_ms."""
        return f"{self.prefix}agent:{agent_id}"

    def holds(self, agent_id: str) -> str:
        """Hash: request id -> channel, for every request offered or assigned to the agent."""
        return f"{self.prefix}agent:{agent_id}:holds"

    # -- customers, conversations, limits ---------------------------------------------------
    @property
    def customer_ids(self) -> str:
        """String counter: the number in each new customer id (C-<n>)."""
        return self.prefix + "customer_ids"

    @property
    def secret(self) -> str:
        """String: the tenant's random secret, for customers' status tokens (made once)."""
        return self.prefix + "secret"

    def customer(self, customer_id: str) -> str:
        """Hash: name, created_ms, merged_into (when linked into another customer)."""
        return f"{self.prefix}cust:{customer_id}"

    def customer_addresses(self, customer_id: str) -> str:
        """Set: the customer's addresses, each `kind:value` (email:a@b, phone:+86..)."""
        return f"{self.prefix}cust:{customer_id}:addrs"

    def customer_requests(self, customer_id: str) -> str:
        """Sorted set: the customer's request ids by enqueue time (ms)."""
        return f"{self.prefix}cust:{customer_id}:reqs"

    def address(self, address: str) -> str:
        """String: `kind:value` address -> the customer it belongs to."""
        return f"{self.prefix}addr:{address}"

    def thread(self, ref: str) -> str:
        """String with TTL: a conversation reference (a Message-ID, a chat id) -> request id."""
        return f"{self.prefix}thread:{ref}"

    def rate(self, scope: str, key: str) -> str:
        """String with TTL: hits of `key` in the current window of limit `scope`."""
        return f"{self.prefix}rate:{scope}:{key}"

    @property
    def nobody(self) -> str:
        """Placeholder passed where a script takes agent keys but no agent is involved."""
        return self.prefix + "agent:-"
