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
    def durable(self) -> str:
        """String counter: written after an intake's writes when an acknowledgement waits for
        replicas (redis.wait_replicas), so that WAIT on that connection covers them all."""
        return self.prefix + "durable"

    @property
    def offers(self) -> str:
        """Sorted set: request id -> offer deadline (ms since epoch, Redis clock)."""
        return self.prefix + "offers"

    @property
    def wait_due(self) -> str:
        """Sorted set: request id -> the instant its wait in a queue counts as long (ms), for
        progress notices (queues/notices.py WaitTimer)."""
        return self.prefix + "notices:wait_due"

    @property
    def sla_due(self) -> str:
        """Sorted set: `<request>|<target index>|w` (warning) or `|b` (breach) -> the instant it
        is due (ms, Redis clock); claimed by the timer that fires it (queues/sla.py)."""
        return self.prefix + "sla:due"

    @property
    def calendars(self) -> str:
        """Hash: `<calendar>:<week>` -> msgpack working spans of that week (ms), published by
        the daemon (router/sla/spans.py) for the scripts that count working time."""
        return self.prefix + "calendars"

    @property
    def sla_stats(self) -> str:
        """Hash: `<policy>|<target>|<outcome>` -> count, and `fr|<channel>|<le>` -> first
        responses within that many seconds (the /metrics histogram)."""
        return self.prefix + "sla:stats"

    @property
    def sla_keys(self) -> tuple[str, str, str]:
        """The keys every script that moves a request's clocks takes, in this order."""
        return (self.sla_due, self.calendars, self.sla_stats)

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
        summary (the agent's words for the customer, given with complete), closed_ms, flagged
        (`<agent>:<ms>` while flagged as orphaned work of a vanished agent)."""
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

    @property
    def last_agents(self) -> str:
        """Hash: `<customer>|<queue>` -> `<agent>|<ms>`, who completed the customer's last request
        in that queue and when (sticky routing: queues/lua/complete-10.lua writes, intake reads)."""
        return f"{self.prefix}last_agents"

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
        """String with TTL: a conversation reference (a Message-ID, a chat id, a sender on a
        platform, `open:<customer>:<channel>` for a channel that joins the open request) ->
        request id; set by the enqueue that claims it."""
        return f"{self.prefix}thread:{ref}"

    def rate(self, scope: str, key: str) -> str:
        """String with TTL: hits of `key` in the current window of limit `scope`."""
        return f"{self.prefix}rate:{scope}:{key}"

    def ws_ticket(self, digest: str) -> str:
        """String with TTL: the sha256 of a one-time agent WebSocket ticket -> the API token's
        name it stands for."""
        return f"{self.prefix}wsticket:{digest}"

    def session(self, digest: str) -> str:
        """String with TTL (renewed on each use): the sha256 of a screens' session cookie -> JSON
        {token: the API token's name, csrf, at: when signed in (ms)}; deleted at sign-out."""
        return f"{self.prefix}session:{digest}"

    def blob(self, ref: str) -> str:
        """String with TTL: an attachment's content, by its reference `sha256:<hex>`."""
        return f"{self.prefix}blob:{ref}"

    @property
    def chat_heard(self) -> str:
        """Sorted set: chat conversation id -> when a daemon last heard its customer (a message,
        or an open socket), ms on the Redis clock; for the idle timeout across daemons."""
        return self.prefix + "chat:heard"

    @property
    def agents_heard(self) -> str:
        """Sorted set: agent id -> when a daemon last heard the agent (an open agent WebSocket,
        an API call with its token), ms on the Redis clock; agents never heard are not in it.
        The presence sweeper of every daemon reads it for agents gone past the grace."""
        return self.prefix + "agents:heard"

    @property
    def orphans(self) -> str:
        """Sorted set: request id -> when it was flagged as the orphaned work of an agent gone
        past its queue's orphaned_after (queues with `orphaned: flag`), for supervisors."""
        return self.prefix + "orphans"

    @property
    def nobody(self) -> str:
        """Placeholder passed where a script takes agent keys but no agent is involved."""
        return self.prefix + "agent:-"

    # -- outbox: events out to sinks (signed webhooks, helpdesk connectors), per sink -------------
    @property
    def outbox_sinks(self) -> str:
        """Set: names of every sink given an outbox (a consumer group on the event stream)."""
        return self.prefix + "outbox"

    def outbox_lanes(self, sink: str) -> str:
        """Sorted set, every score 0 (read by lex): `<lane>\\0<zero-padded entry id>` for each
        event taken from the stream for `sink` and not yet delivered or dead; a lane (a request
        id, `agent:<id>`, `customer:<id>`) goes out in stream order."""
        return f"{self.prefix}outbox:{sink}:lanes"

    def outbox_events(self, sink: str) -> str:
        """Hash: entry id -> the event's fields (JSON), from admission until delivered (kept
        while dead, for replay)."""
        return f"{self.prefix}outbox:{sink}:events"

    def outbox_due(self, sink: str) -> str:
        """Sorted set: lane -> when its first event may be tried (ms, Redis clock): at once,
        after a backoff, or at the end of the lease of a delivery in flight."""
        return f"{self.prefix}outbox:{sink}:due"

    def outbox_leases(self, sink: str) -> str:
        """Hash: lane -> the consumer (one daemon's engine) delivering its first event."""
        return f"{self.prefix}outbox:{sink}:leases"

    def outbox_attempts(self, sink: str) -> str:
        """Hash: entry id -> failed delivery attempts so far."""
        return f"{self.prefix}outbox:{sink}:attempts"

    def outbox_dead(self, sink: str) -> str:
        """Hash: entry id -> dead letter (JSON: lane, attempts, error, dead_ms)."""
        return f"{self.prefix}outbox:{sink}:dead"

    # -- helpdesk connectors --------------------------------------------------------------------
    def helpdesk_ticket(self, sink: str, request_id: str) -> str:
        """Hash with TTL: what helpdesk connector `sink` made of the request: ticket (the
        helpdesk's ticket id), attempt_ms (a create was sent whose outcome is not known yet),
        done:<step> (follow-up steps of the creation already applied), posted (how many of the
        request's messages are on the ticket)."""
        return f"{self.prefix}hd:{sink}:req:{request_id}"

    def helpdesk_request(self, sink: str, ticket: str) -> str:
        """String with TTL: the request whose ticket in `sink` is `ticket` (the helpdesk's own
        webhooks name the ticket)."""
        return f"{self.prefix}hd:{sink}:ticket:{ticket}"

    def helpdesk_lock(self, sink: str, request_id: str) -> str:
        """String with TTL: held by the one delivery that creates the request's ticket in `sink`."""
        return f"{self.prefix}hd:{sink}:lock:{request_id}"

    def helpdesk_contact(self, sink: str, customer: str) -> str:
        """String with TTL: the helpdesk's contact for a customer key (`email:a@b`, `id:C-1`)."""
        return f"{self.prefix}hd:{sink}:contact:{customer}"

    # -- customer notices -------------------------------------------------------------------------
    def care_list(self, name: str) -> str:
        """Hash: a care list (important, low_satisfaction): entry key (`email:a@b.cn`,
        `phone:+86...`, `id:C-1`) -> JSON (entry as written, until ms, source, reason)."""
        return f"{self.prefix}care:{name}"

    def care_removed(self, name: str) -> str:
        """Set: the entry keys of a care list's config entries removed by API (not put back at
        the next start)."""
        return f"{self.prefix}care:{name}:removed"

    def survey_open(self, address: str) -> str:
        """String with TTL: the request whose survey the customer at `address` (kind:value) may
        still answer with a reply that is only a digit."""
        return f"{self.prefix}survey:{address}"

    def notice(self, request_id: str, event_id: str) -> str:
        """String with TTL: the customer notice for event `event_id` (a stream entry id) of the
        request: `pending:<token>` while one delivery sends it (a short TTL, so a daemon that died
        mid-send blocks it only that long), then `sent:<ms>` for the retention time, so that a
        redelivered event sends nothing."""
        return f"{self.prefix}notice:{request_id}:{event_id}"

    # -- quality review: the daily sample and the reviews ----------------------------------------
    @property
    def quality_days(self) -> str:
        """Hash: day (YYYY-MM-DD, the calendar's) -> JSON summary of its sample (size, closed,
        share, at), written once, by the script that stores the sample: the day is taken."""
        return self.prefix + "quality:days"

    def quality_claim(self, day: str) -> str:
        """String with TTL: the daemon drawing the day's sample (a lease; the sample's script
        checks it and the days hash, so a day is sampled once)."""
        return f"{self.prefix}quality:claim:{day}"

    @property
    def reviews_pending(self) -> str:
        """Sorted set: sampled request id -> when it closed (ms), until its review."""
        return self.prefix + "quality:pending"

    @property
    def reviews_done(self) -> str:
        """Sorted set: reviewed request id -> when it was reviewed (ms)."""
        return self.prefix + "quality:done"

    def review_day(self, day: str) -> str:
        """Sorted set with TTL: request id -> when it closed (ms), for each request of that day
        sampled or picked for review (its status is its review's)."""
        return f"{self.prefix}quality:day:{day}"

    def review(self, request_id: str) -> str:
        """Hash with the request's TTL: status (pending, done), day, sampled ('1' or '0'),
        channel, category, agent, queue, closed_ms, and once reviewed: scores (JSON), comment,
        reviewer, reviewed_ms."""
        return f"{self.prefix}req:{request_id}:review"

    # -- reports: figures kept per hour as the events happen (router/reports) --------------------
    def report_hour(self, hour: int) -> str:
        """Hash: the figures of one UTC hour (`hour` = ms since the epoch // 3,600,000), field
        `<figure>|<dimension>|<value>[|<bucket>]` -> an integer (counts, sums of ms); see
        router/reports/figures.py. Kept `reports` retention after its last write."""
        return f"{self.prefix}reports:h:{hour}"

    def report_notes(self, hour: int) -> str:
        """List: the comments of that hour's low survey scores (JSON each), for the reports."""
        return f"{self.prefix}reports:notes:{hour}"

    def report_seen(self, hour: int) -> str:
        """Set with TTL: ids of that hour's events applied to the figures, so that an event
        delivered again is not counted twice (lua/report_apply-n.lua)."""
        return f"{self.prefix}reports:seen:{hour}"
