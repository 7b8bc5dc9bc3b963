"""The agent's verbs on a request (accept, reject, complete, transfer, escalate), each one script
call that answers with what the caller shows next: the record after the change, and for accept
the thread, the customer's addresses and the ids of the customer's newest requests too.

A script must be given every key it touches (Redis Cluster), and some keys follow from where the
request is (its queue, its holder) or whose it is (its customer). Those facts come from `Facts`,
a small bounded cache fed by the records the store reads and the scripts return (and, when the
daemon passes its events to `FactsCache.follow`, by the event stream). The scripts check them:
when they were wrong the script changes nothing and answers the true ones, and the call goes
again with those; so a stale cache costs one round trip, never a wrong move."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from .errors import ErrorCode, NoNextTier, StaleRead, raise_for_code
from .events import Event, EventType
from .keys import Keys
from .record import RecordReply, RequestRecord
from .request import Message, decode_message, decode_request
from .scripts import Scripts
from .states import OPEN_STATES, State
from .wire import as_bytes, text, texts

FACTS_KEPT = 20_000  # requests whose queue, holder and customer the store remembers
HISTORY_LISTED = 200  # the customer's newest requests an accept shows (as CustomerStore lists)
MAX_MERGES = 8  # a chain of linked customers is followed at most this far
_ATTEMPTS = 5  # calls of one verb while the request keeps moving under it


@dataclass(frozen=True, slots=True)
class Facts:
    """Where a request was when last seen: its queue, its holder ('' for none), its customer
    (None when not known, '' when it has none)."""

    queue: str
    agent: str
    customer: str | None = None


class FactsCache:
    """request id -> Facts, and customer -> the customer it was merged into, both bounded (the
    least recently noted go first). Nothing in it is trusted: the scripts check every fact."""

    def __init__(self, size: int = FACTS_KEPT) -> None:
        self.size = size
        self._facts: OrderedDict[str, Facts] = OrderedDict()
        self._owners: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._facts)

    def get(self, request_id: str) -> Facts | None:
        return self._facts.get(request_id)

    def put(self, request_id: str, queue: str, agent: str, customer: str | None = None) -> None:
        """Note where a request is; a customer of None keeps the one known."""
        known = self._facts.pop(request_id, None)
        if customer is None and known is not None:
            customer = known.customer
        self._facts[request_id] = Facts(queue, agent, customer)
        if len(self._facts) > self.size:
            self._facts.popitem(last=False)

    def note(self, record: RequestRecord) -> None:
        """Note a record read or returned: open requests kept, closed ones forgotten."""
        r = record.request
        if record.state in OPEN_STATES:
            self.put(r.id, r.queue, record.agent or "", r.customer.id or "")
        else:
            self.drop(r.id)

    def drop(self, request_id: str) -> None:
        self._facts.pop(request_id, None)

    def owner(self, customer: str) -> str:
        """The customer `customer` was last seen merged into (itself when not)."""
        return self._owners.get(customer, customer)

    def merged(self, customer: str, owner: str) -> None:
        self._owners.pop(customer, None)
        if owner != customer:
            self._owners[customer] = owner
            if len(self._owners) > self.size:
                self._owners.popitem(last=False)

    def follow(self, event: Event) -> None:
        """Keep the facts of the requests known here up to date from the event stream."""
        t, known = event.type, self._facts.get(event.request)
        if t is EventType.ENQUEUED:
            self.put(event.request, event.queue, "")
        elif known is None:
            return
        elif t in (EventType.OFFERED, EventType.ASSIGNED):
            self.put(event.request, event.queue or known.queue, event.agent)
        elif t in (EventType.REJECTED, EventType.EXPIRED, EventType.REQUEUED):
            self.put(event.request, known.queue, "")
        elif t in (EventType.TRANSFERRED, EventType.ESCALATED):
            self.put(event.request, event.queue, "")
        elif t in (EventType.COMPLETED, EventType.ABANDONED):
            self.drop(event.request)


@dataclass(frozen=True, slots=True)
class PastRequest:
    """One of the customer's requests, as the accept reply lists them."""

    id: str
    state: State
    subject: str
    enqueued_ms: int


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an agent sees on accepting: the record, its thread, the customer's addresses (None
    when the request has no customer, or the customer's record is gone) and the customer's
    other requests, open ones first, newest first within each."""

    record: RequestRecord
    thread: list[Message]
    addresses: frozenset[str] | None
    history: list[PastRequest]


def keep_arg(settings: _Limits) -> str:
    """How long a closing request is kept, as the closing scripts take it (`keep_for` in
    lua/includes/common.lua): `<normal ms>/<important ms>`; 0 keeps it for ever."""
    normal = settings.record_ttl_s
    important = normal if settings.important_ttl_s is None else settings.important_ttl_s
    return f"{normal * 1000}/{important * 1000}"


class _Limits(Protocol):
    @property
    def stream_maxlen(self) -> int: ...
    @property
    def max_tier(self) -> int: ...
    @property
    def record_ttl_s(self) -> int: ...

    @property
    def important_ttl_s(self) -> int | None: ...


def _stale(result: Any) -> tuple[str, str] | None:
    """The true (queue, holder) of a script's stale answer {-9, queue, holder}, else None."""
    if isinstance(result, list) and len(result) == 3 and isinstance(result[0], int):
        return text(result[1]), text(result[2])
    return None


class WorkOps:
    """The verbs, mixed into QueueStore (which provides these attributes)."""

    redis: Redis
    keys: Keys
    scripts: Scripts
    settings: _Limits
    facts: FactsCache

    # -- accept ----------------------------------------------------------------------------------
    async def accept(self, request_id: str, agent_id: str) -> RecordReply:
        """The agent takes the request offered to it; returns the record after (one call)."""
        flat, *_ = await self._accept(request_id, agent_id, None)
        return self._noted(request_id, flat)

    async def accept_full(self, request_id: str, agent_id: str) -> Accepted:
        """accept, answering all the agent's screen shows: one script call, and one pipelined
        read of the customer's other requests when there are any (more only when the cache did
        not know the request's customer, or the customer was merged since)."""
        facts = self.facts.get(request_id)
        customer = facts.customer if facts is not None else None
        flat, thread, known, newest, merged = await self._accept(request_id, agent_id, customer)
        record = self._noted(request_id, flat).record
        messages = [decode_message(as_bytes(m)) for m in thread]
        true = record.request.customer.id or ""
        if not true:
            return Accepted(record, messages, None, [])
        if true != customer or text(merged):
            if text(merged):
                self.facts.merged(true, await self._resolve(text(merged)))
            addresses, ids = await self._customer_view(true)
        else:
            addresses = frozenset(texts(known[1:])) if int(known[0]) else None
            ids = texts(newest)
        others = [i for i in ids if i != request_id]
        return Accepted(record, messages, addresses, await self._history(true, others))

    async def held_view(self, record: RequestRecord) -> Accepted:
        """What accept_full answers, read without accepting (a desk reloaded while the agent
        holds the request): its thread, the customer's addresses and other requests."""
        request_id = record.request.id
        raw = await self.redis.lrange(self.keys.messages(request_id), 0, -1)
        messages = [decode_message(as_bytes(m)) for m in raw]
        customer = record.request.customer.id or ""
        if not customer:
            return Accepted(record, messages, None, [])
        addresses, ids = await self._customer_view(customer)
        others = [i for i in ids if i != request_id]
        return Accepted(record, messages, addresses, await self._history(customer, others))

    async def _accept(self, request_id: str, agent_id: str, customer: str | None) -> list[Any]:
        k = self.keys
        owner = self.facts.owner(customer) if customer else ""
        whose = (
            [k.customer(customer), k.customer_addresses(customer),
             k.customer_requests(owner), k.customer(owner)]
            if customer else [k.nobody] * 4
        )  # fmt: skip
        result = await self.scripts.accept(
            [k.request(request_id), k.offers, k.agent(agent_id), k.events,
             k.messages(request_id), *whose, *k.sla_keys],
            [request_id, agent_id, self.settings.stream_maxlen, "1" if customer else "0",
             HISTORY_LISTED],
        )  # fmt: skip
        raise_for_code(result, request_id, f"agent {agent_id}")
        return list(result)

    async def _resolve(self, customer: str) -> str:
        """The end of the chain of merges from `customer`."""
        for _ in range(MAX_MERGES):
            merged = await self.redis.hget(self.keys.customer(customer), "merged_into")
            if merged is None:
                break
            customer = text(merged)
        return customer

    async def _customer_view(self, customer: str) -> tuple[frozenset[str] | None, list[str]]:
        """The customer's addresses and newest request ids, in one pipelined read (and a walk
        down the merges when the customer was merged since last seen)."""
        k = self.keys
        for _ in range(2):
            owner = self.facts.owner(customer)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(k.customer(customer))
                pipe.smembers(k.customer_addresses(customer))
                pipe.hget(k.customer(owner), "merged_into")
                pipe.zrevrange(k.customer_requests(owner), 0, HISTORY_LISTED - 1)
                exists, addresses, merged, ids = await pipe.execute()
            if merged is None:
                break
            self.facts.merged(customer, await self._resolve(text(merged)))
        return (frozenset(texts(addresses)) if exists else None), texts(ids)

    async def _history(self, customer: str, ids: Sequence[str]) -> list[PastRequest]:
        """The states and subjects of `ids` in one pipelined read, open ones first, newest first
        within each; ids whose records expired (closed, past retention) are dropped from the
        customer's list as CustomerStore.requests drops them."""
        if not ids:
            return []
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in ids:
                pipe.hmget(k.request(request_id), "state", "data", "enqueued_ms")
            rows = await pipe.execute()
        found, gone = [], []
        for request_id, (state, data, enqueued) in zip(ids, rows, strict=True):
            if state is None or data is None:
                gone.append(request_id)
                continue
            subject = decode_request(as_bytes(data)).subject
            found.append(PastRequest(request_id, State(text(state)), subject, int(enqueued)))
        if gone:
            owner = self.facts.owner(customer)
            await self.redis.zrem(k.customer_requests(owner), *gone)
        return sorted(found, key=lambda p: (p.state not in OPEN_STATES, -p.enqueued_ms))

    # -- reject, complete ------------------------------------------------------------------------
    async def reject(
        self, request_id: str, agent_id: str, reason: str = "", holder_only: bool = False
    ) -> RecordReply:
        """The agent turns the offer down: the request waits again, with its age kept.
        `holder_only` (an agent's own token): refused unless the agent holds the request."""
        k = self.keys

        async def call(queue: str, _holder: str, _verified: bool) -> Any:
            return await self.scripts.reject(
                [k.request(request_id), k.queue(queue), k.agent(agent_id), k.holds(agent_id),
                 k.offers, k.excluded(request_id), k.events],
                [request_id, agent_id, queue, reason, self.settings.stream_maxlen,
                 "1" if holder_only else "0"],
            )  # fmt: skip

        return self._noted(
            request_id, await self._with_facts(request_id, call, f"agent {agent_id}")
        )

    async def complete(
        self,
        request_id: str,
        agent_id: str,
        resolution: str = "",
        wrap_up_s: float = 0,
        holder_only: bool = False,
        summary: str = "",
        origin: str = "",
    ) -> RecordReply:
        """The agent finished; with `wrap_up_s` it takes no new work for that long. Returns the
        closed record. `holder_only` as for reject; `summary` the agent's words for the customer
        (in the completed notice); `origin` ('helpdesk:<name>') marks the event as applied from
        that helpdesk, which its connector then does not write back."""
        k = self.keys
        result = await self.scripts.complete(
            [k.request(request_id), k.agent(agent_id), k.holds(agent_id), k.events,
             k.messages(request_id), k.excluded(request_id), *k.sla_keys, k.last_agents],
            [request_id, agent_id, resolution, self.settings.stream_maxlen, int(wrap_up_s * 1000),
             keep_arg(self.settings), "1" if holder_only else "0", summary, origin],
        )  # fmt: skip
        raise_for_code(result, request_id, f"agent {agent_id}")
        return self._noted(request_id, result)

    # -- moves -----------------------------------------------------------------------------------
    async def transfer(
        self,
        request_id: str,
        to_queue: str | None,
        reason: str = "",
        holder: str | None = None,
        origin: str = "",
    ) -> RecordReply:
        """Move an open request to another queue (None: back to its own), keeping its age.
        `holder` (an agent's own token): refused unless that agent holds the request; `origin`
        as for complete."""
        return await self._move(
            "transfer", request_id, lambda queue: to_queue or queue, holder, reason,
            after=(origin,) if origin else (),
        )  # fmt: skip

    async def escalate(
        self, request_id: str, to_queue: str, note: str = "", reason_code: str = ""
    ) -> int:
        """Raise an open request one tier, into that tier's queue; returns the new tier."""
        reply = await self.escalate_to(request_id, lambda _queue: to_queue, note, None, reason_code)
        return reply.tier

    async def escalate_to(
        self,
        request_id: str,
        next_queue: Callable[[str], str | None],
        note: str = "",
        holder: str | None = None,
        reason_code: str = "",
    ) -> RecordReply:
        """Raise an open request one tier into `next_queue(its queue)`; raises NoNextTier when
        that is None. `reason_code`: why (one of the config's escalation.reasons; the caller
        checks it), in the event. Returns the record after (its tier the new one)."""
        return await self._move(
            "escalate", request_id, next_queue, holder, note, self.settings.max_tier,
            after=(reason_code,),
        )  # fmt: skip

    async def _move(
        self,
        verb: str,
        request_id: str,
        target: Callable[[str], str | None],
        holder: str | None,
        text_arg: str,
        *more: Any,
        after: tuple[str, ...] = (),
    ) -> RecordReply:
        k = self.keys
        script = getattr(self.scripts, verb)

        async def call(queue: str, agent: str, verified: bool) -> Any:
            to = target(queue) if queue else ""
            if to is None and verified:
                raise NoNextTier(queue)
            if to is None:  # a queue from the cache: ask the script for the true one first
                queue, to = "", ""
            holder_keys = (k.agent(agent), k.holds(agent)) if agent else (k.nobody, k.nobody)
            return await script(
                [k.request(request_id), k.queue(queue), k.queue(to) if to else k.nobody,
                 *holder_keys, k.offers, k.events, k.queues],
                [request_id, agent, queue, to, text_arg, self.settings.stream_maxlen, *more,
                 holder or "", *after],
            )  # fmt: skip

        return self._noted(request_id, await self._with_facts(request_id, call))

    # -- the facts -------------------------------------------------------------------------------
    async def _with_facts(
        self, request_id: str, call: Callable[[str, str, bool], Any], detail: str = ""
    ) -> Any:
        """`call(queue, holder, verified)` with the facts the cache has ('' when none), then,
        while the script answers that they are stale, with the true ones it gave."""
        facts = self.facts.get(request_id)
        queue, agent = (facts.queue, facts.agent) if facts is not None else ("", "")
        verified = False
        for _ in range(_ATTEMPTS):
            result = await call(queue, agent, verified)
            true = _stale(result)
            if true is None:
                raise_for_code(result, request_id, detail)
                return result
            (queue, agent), verified = true, True
            self.facts.put(request_id, queue, agent)
        raise StaleRead(ErrorCode.STALE, request_id, detail)

    def _noted(self, request_id: str, flat: Sequence[Any]) -> RecordReply:
        reply = RecordReply(flat)
        if reply.state in OPEN_STATES:
            self.facts.put(request_id, reply.queue, reply.agent or "")
        else:
            self.facts.drop(request_id)
        return reply
