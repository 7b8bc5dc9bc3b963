"""The request operations: each one Lua script, each atomic, each appending one event."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from .batch import HashReads
from .calls import CallOps
from .care import CareStore
from .errors import ErrorCode, QueueError, StaleRead, raise_for_code
from .feedback import FeedbackStore
from .ids import IdBlock
from .keys import Keys
from .pipelined import Call, read_rows, run_scripts
from .reclassify import ReclassifyOps
from .record import RequestRecord as RequestRecord  # where every caller imports it from
from .record import decode_record, decode_row
from .request import Message, Request, decode_message, encode
from .scripts import Scripts
from .sla import SlaStore
from .topology import server_time_ms, wait_for_replicas
from .wire import as_bytes, fields, text, texts
from .work import FactsCache, WorkOps, keep_arg

_STALE_RETRIES = 5
ID_BLOCK = 100


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Limits and timings the store applies to every operation."""

    idempotency_ttl_s: int = 90 * 86400
    stream_maxlen: int = 1_000_000
    max_tier: int = 3
    max_missed_offers: int = 3
    dead_letter_ttl_s: int = 30 * 86400  # the outbox purges dead letters older than this
    record_ttl_s: int = 90 * 86400  # a closed request is kept this long (0: for ever)
    important_ttl_s: int | None = None  # an important customer's or escalated one (None: same)
    wait_replicas: int = 0  # an acknowledgement waits until this many replicas have the writes
    wait_timeout_ms: int = 1000


@dataclass(frozen=True, slots=True)
class HandOver:
    """One decision of the dispatcher: offer `request_id` to `agent_id` for `offer_timeout_s`,
    or with None assign it straight away."""

    request_id: str
    agent_id: str
    queue: str
    why: dict[str, Any] | None = None
    offer_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What enqueue did: the request's id, and whether this call created it."""

    id: str
    created: bool
    stale: bool = False  # a conversation claim changed since it was read: nothing was written


class QueueStore(WorkOps, ReclassifyOps, CallOps):
    """Requests in Redis for one tenant (the agent's verbs are WorkOps's, queues/work.py;
    reclassify is ReclassifyOps's, queues/reclassify.py; call attempts CallOps's, calls.py)."""

    settings: StoreSettings

    def __init__(self, redis: Redis, keys: Keys, settings: StoreSettings | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings or StoreSettings()
        self.scripts = Scripts(redis)
        self.request_ids = IdBlock(redis, keys.request_ids, "FD-", ID_BLOCK)
        self.facts = FactsCache()  # where requests are, so that a verb needs no read first
        self._hash_reads = HashReads(redis)
        self.sla = SlaStore(redis, keys, self.settings.stream_maxlen)  # service-level clocks
        self.care = CareStore(redis, keys, self.settings.stream_maxlen)  # important, unhappy
        self.feedback = FeedbackStore(redis, keys, self.settings.stream_maxlen)  # surveys

    @property
    def tenant(self) -> str:
        """The tenant whose requests these are."""
        return self.keys.tenant

    # -- intake ----------------------------------------------------------------------------------
    async def new_request_id(self) -> str:
        """FD-<n>: numbers are taken from Redis in blocks, so most ids cost no round trip.
        Ids are unique across daemons; a stopped daemon leaves a gap, never a repeat."""
        return await self.request_ids.take()

    async def enqueue(
        self, request: Request, claims: Mapping[str, str | None] | None = None
    ) -> Enqueued:
        """Store a new request as waiting; the same channel + external id twice gives the first.

        `claims` are conversation references (thread refs) with the request each led to when the
        caller read them (None: to none); from now on they lead to the new request. If one of
        them changed meanwhile (a concurrent message of the same conversation made a request),
        nothing is written and the result is `stale`, its id the request the claim leads to."""
        claims = claims or {}
        if not request.id:
            request = dataclasses.replace(request, id=await self.new_request_id())
        idem = request.idempotency_key
        customer = request.customer.id
        k = self.keys
        result = await self.scripts.enqueue(
            [
                k.idempotency(idem) if idem else k.nobody,
                k.request(request.id),
                k.queue(request.queue),
                k.seq,
                k.events,
                k.queues,
                k.customer_requests(customer) if customer else k.nobody,
                *(k.thread(ref) for ref in claims),
            ],
            [
                request.id,
                request.channel.value,
                request.queue,
                request.priority.band,
                request.tier,
                encode(request),
                self.settings.idempotency_ttl_s,
                self.settings.stream_maxlen,
                "1" if idem else "0",
                "1" if customer else "0",
                self.settings.idempotency_ttl_s,
                request.category or "",
                *(seen or "" for seen in claims.values()),
            ],
        )
        raise_for_code(result, request.id)
        rid, outcome = result
        if int(outcome) == 1:
            self.facts.put(request.id, request.queue, "", customer or "")
        return Enqueued(text(rid), int(outcome) == 1, stale=int(outcome) == 2)

    async def append_message(
        self, request_id: str, message: Message, idempotency_key: str | None = None
    ) -> int:
        """Append a follow-up to an open request; returns its message count, 0 for a duplicate."""
        k = self.keys
        result = await self.scripts.append_message(
            [
                k.idempotency(idempotency_key) if idempotency_key else k.nobody,
                k.request(request_id),
                k.messages(request_id),
                k.events,
                *k.sla_keys,
            ],
            [
                request_id,
                encode(message),
                self.settings.idempotency_ttl_s,
                self.settings.stream_maxlen,
                "1" if idempotency_key else "0",
                message.author,
            ],
        )
        raise_for_code(result, request_id)
        return int(result)

    # -- reading ---------------------------------------------------------------------------------
    async def get(self, request_id: str) -> RequestRecord | None:
        """The record of `request_id` (None when it is gone); the reads of one tick share one
        round trip (queues/batch.py HashReads)."""
        raw = await self._hash_reads.hgetall(self.keys.request(request_id))
        if not raw:
            return None
        record = decode_record(fields(raw))
        self.facts.note(record)
        return record

    async def get_many(self, request_ids: list[str]) -> list[RequestRecord | None]:
        """The records of `request_ids` in one round trip (None where a request is gone)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in request_ids:
                pipe.hgetall(self.keys.request(request_id))
            replies = await pipe.execute()
        records = [decode_record(fields(raw)) if raw else None for raw in replies]
        for record in records:
            if record is not None:
                self.facts.note(record)
        return records

    async def rows(
        self, request_ids: Sequence[str]
    ) -> list[tuple[RequestRecord, frozenset[str]] | None]:
        """What a decision round needs of each of `request_ids` (the ROW_FIELDS of its record,
        HMGET, and the agents excluded from it) in one round trip; None where it is gone."""
        out: list[tuple[RequestRecord, frozenset[str]] | None] = []
        for values, excluded in await read_rows(self.redis, self.keys, request_ids):
            record = decode_row(values)
            out.append(None if record is None else (record, excluded))
        return out

    async def _run_scripts(self, calls: Sequence[Call]) -> list[Any]:
        return await run_scripts(self.redis, self.scripts, calls)

    async def excluded_many(self, request_ids: list[str]) -> list[set[str]]:
        """The agents excluded from each of `request_ids`, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in request_ids:
                pipe.smembers(self.keys.excluded(request_id))
            replies = await pipe.execute()
        return [set(texts(members)) for members in replies]

    async def seen(self, idempotency_key: str) -> str | None:
        """The request an external message (channel:external id) became or joined, if seen."""
        found = await self.redis.get(self.keys.idempotency(idempotency_key))
        return text(found) if found is not None else None

    async def now_ms(self) -> int:
        """The Redis clock, the one every script uses."""
        return await server_time_ms(self.redis, self.keys)

    async def durable(self) -> None:
        """Return once `wait_replicas` replicas have every write so far (at once when 0); else
        raise ReplicasBehind, a RedisError: the channel refuses temporarily."""
        s = self.settings
        await wait_for_replicas(self.redis, self.keys, s.wait_replicas, s.wait_timeout_ms)

    async def position(self, request_id: str, queue: str | None = None) -> int | None:
        """1-based place of a waiting request in its queue (`queue` when the caller knows it);
        None when it is not waiting there."""
        if queue is None:
            queue, _ = await self._where(request_id)
        rank = await self.redis.zrank(self.keys.queue(queue), request_id)
        return rank + 1 if isinstance(rank, int) else None

    async def positions(self, queue: str, request_ids: Sequence[str]) -> list[int | None]:
        """`position` of each of `request_ids` in `queue`, in one pipelined round trip."""
        if not request_ids:
            return []
        key = self.keys.queue(queue)
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in request_ids:
                pipe.zrank(key, request_id)
            ranks: list[Any] = await pipe.execute()
        return [r + 1 if isinstance(r, int) else None for r in ranks]

    async def next_deadline_ms(self) -> int | None:
        """The earliest deadline among open offers."""
        first = await self.redis.zrange(self.keys.offers, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def messages(self, request_id: str, newest: int | None = None) -> list[Message]:
        """The thread of `request_id` after its opening message, oldest first (with `newest`:
        only the newest that many)."""
        start = -newest if newest else 0
        raw = await self.redis.lrange(self.keys.messages(request_id), start, -1)
        return [decode_message(as_bytes(m)) for m in raw]

    async def peek(self, queue: str, n: int, start: int = 0) -> list[str]:
        """The ids of `n` waiting requests of `queue` from place `start` (0: the first), in
        order: priority first, then age."""
        return texts(await self.redis.zrange(self.keys.queue(queue), start, start + n - 1))

    async def peek_scored(
        self, queue: str, n: int, start: int = 0
    ) -> tuple[list[str], list[float]]:
        """As peek, with each request's score (its band and its place in arrival order). The
        reply is taken flat, without redis-py's pair-by-pair parsing."""
        key = self.keys.queue(queue)
        redis: Any = self.redis  # execute_command is untyped: the reply stays flat, unparsed
        found = await redis.execute_command("ZRANGE", key, start, start + n - 1, "WITHSCORES")
        if found and isinstance(found[0], list):  # RESP3: [member, score] pairs
            return [text(m) for m, _ in found], [float(score) for _, score in found]
        return [m.decode() for m in found[0::2]], list(map(float, found[1::2]))

    async def waiting_count(self, queue: str) -> int:
        return int(await self.redis.zcard(self.keys.queue(queue)))

    async def queue_names(self) -> set[str]:
        return set(texts(await self.redis.smembers(self.keys.queues)))

    async def excluded(self, request_id: str) -> set[str]:
        return set(texts(await self.redis.smembers(self.keys.excluded(request_id))))

    async def _where(self, request_id: str) -> tuple[str, str]:
        """The request's queue and holder ('' when none), for scripts that need their keys."""
        queue, agent = await self.redis.hmget(self.keys.request(request_id), "queue", "agent")
        if queue is None:
            raise_for_code(ErrorCode.NOT_FOUND, request_id)
        return text(queue), text(agent or b"")

    # -- offers ----------------------------------------------------------------------------------
    async def offer(
        self,
        request_id: str,
        agent_id: str,
        timeout_s: float,
        queue: str | None = None,
        why: dict[str, Any] | None = None,
    ) -> int:
        """Offer a waiting request to an agent; returns the deadline (ms, Redis clock)."""
        return int(
            await self._take("offer", request_id, agent_id, queue, why, int(timeout_s * 1000))
        )

    async def assign(
        self,
        request_id: str,
        agent_id: str,
        queue: str | None = None,
        why: dict[str, Any] | None = None,
        force: bool = False,
    ) -> None:
        """Give a waiting request straight to an agent, with no offer to accept. `force` (a
        supervisor's decision) waives presence, wrap-up and exclusion, never the capacity."""
        await self._take("assign", request_id, agent_id, queue, why, "1" if force else "0")

    async def _take(
        self, verb: str, request_id: str, agent_id: str, queue: str | None,
        why: dict[str, Any] | None, *extra: int | str,
    ) -> Any:  # fmt: skip
        """offer and assign: the same checks; the offer with a deadline and the offers key, the
        assignment with its force flag."""
        queue = queue or (await self._where(request_id))[0]
        result = await self._take_call(verb, request_id, agent_id, queue, why, *extra)
        raise_for_code(result, request_id, f"agent {agent_id}")
        self.facts.put(request_id, queue, agent_id)
        return result

    async def _take_call(
        self, verb: str, request_id: str, agent_id: str, queue: str,
        why: dict[str, Any] | None, *extra: int | str,
    ) -> Any:  # fmt: skip
        keys, args = self._take_args(verb, request_id, agent_id, queue, why, *extra)
        return await getattr(self.scripts, verb)(keys, args)

    async def hand_over(self, moves: Sequence[HandOver]) -> list[QueueError | None]:
        """Offer or assign several requests in one round trip: each checked by its own script
        exactly as offer() and assign() check it, in order. None where it was handed over,
        else why not (taken by another daemon meanwhile, the agent gone away...)."""
        if not moves:
            return []
        calls = []
        for m in moves:
            verb = "assign" if m.offer_timeout_s is None else "offer"
            extra = ("0",) if m.offer_timeout_s is None else (int(m.offer_timeout_s * 1000),)
            calls.append(
                (verb, *self._take_args(verb, m.request_id, m.agent_id, m.queue, m.why, *extra))
            )
        results = await self._run_scripts(calls)
        out: list[QueueError | None] = []
        for m, result in zip(moves, results, strict=True):
            if isinstance(result, Exception):
                raise result
            try:
                raise_for_code(result, m.request_id, f"agent {m.agent_id}")
            except QueueError as exc:
                out.append(exc)
                continue
            self.facts.put(m.request_id, m.queue, m.agent_id)
            out.append(None)
        return out

    def _take_args(
        self, verb: str, request_id: str, agent_id: str, queue: str,
        why: dict[str, Any] | None, *extra: int | str,
    ) -> tuple[list[str], list[Any]]:  # fmt: skip
        k = self.keys
        offers = [k.offers] if verb == "offer" else []
        timeout_ms = extra if verb == "offer" else ()
        force = extra if verb == "assign" else ()
        return (
            [k.request(request_id), k.queue(queue), k.agent(agent_id), k.holds(agent_id),
             *offers, k.excluded(request_id), k.events, *(k.sla_keys if not offers else ())],
            [request_id, agent_id, queue, *timeout_ms, self.settings.stream_maxlen,
             json.dumps(why) if why else "", *force],
        )  # fmt: skip

    def _give_back_keys(self, request_id: str, agent_id: str, queue: str) -> list[str]:
        k = self.keys
        return [
            k.request(request_id),
            k.queue(queue),
            k.agent(agent_id),
            k.holds(agent_id),
            k.offers,
            k.excluded(request_id),
            k.events,
        ]

    async def expire_overdue(self, limit: int = 100) -> list[tuple[str, str]]:
        """Take back every offer past its deadline; returns (request, agent) pairs expired.
        Two round trips however many are due: their holders read in one pipeline, then one
        expire script each, in one pipeline."""
        now_ms = await self.now_ms()
        due = texts(
            await self.redis.zrangebyscore(self.keys.offers, "-inf", now_ms, start=0, num=limit)
        )
        if not due:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for request_id in due:
                pipe.hmget(self.keys.request(request_id), "queue", "agent")
            where = await pipe.execute()
        calls, pairs = [], []
        for request_id, (queue, agent) in zip(due, where, strict=True):
            if queue is None or not agent:
                continue
            q, a = text(queue), text(agent)
            s = self.settings
            calls.append(
                ("expire_offer", self._give_back_keys(request_id, a, q),
                 [request_id, a, q, s.max_missed_offers, s.stream_maxlen])
            )  # fmt: skip
            pairs.append((request_id, a))
        results = await self._run_scripts(calls)
        expired = []
        for pair, result in zip(pairs, results, strict=True):
            if isinstance(result, Exception):
                raise result
            if isinstance(result, int) and result > 0:
                expired.append(pair)
        return expired

    # -- endings and moves -----------------------------------------------------------------------
    async def abandon(self, request_id: str, reason: str = "") -> None:
        """End an open request unhandled (customer left, cancelled, timed out)."""

        async def attempt() -> Any:
            queue, agent = await self._where(request_id)
            k = self.keys
            return await self.scripts.abandon(
                [
                    k.request(request_id),
                    k.queue(queue),
                    *self._holder_keys(agent),
                    k.offers,
                    k.events,
                    k.messages(request_id),
                    k.excluded(request_id),
                    *k.sla_keys,
                ],
                [
                    request_id,
                    agent,
                    queue,
                    reason,
                    self.settings.stream_maxlen,
                    keep_arg(self.settings),
                ],
            )

        await self._retrying(attempt, request_id)
        self.facts.drop(request_id)

    def _holder_keys(self, agent: str) -> tuple[str, str]:
        k = self.keys
        return (k.agent(agent), k.holds(agent)) if agent else (k.nobody, k.nobody)

    async def _retrying(
        self, attempt: Callable[[], Awaitable[Any]], request_id: str, detail: str = ""
    ) -> Any:
        """Run a read-then-script step again while the request moved in between (STALE)."""
        for _ in range(_STALE_RETRIES):
            result = await attempt()
            try:
                raise_for_code(result, request_id, detail)
            except StaleRead:
                continue
            return result
        raise_for_code(ErrorCode.STALE, request_id, detail)
