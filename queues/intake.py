"""Intake in one round trip: every key one message needs, resolved here first, then one script
(lua/intake-n.lua) does rate limits, customer recognition, idempotency, threading and the enqueue
or the follow-up's append, atomically.

The keys come from a bounded in-memory cache of what Redis said last (address -> customer,
customer -> the customer it was merged into, conversation reference -> request, customer -> its
requests), and what the cache does not know is taken to be empty: a new customer, a new
conversation. The script checks every one of those mappings and, when one moved (another daemon
made the customer, a merge, a concurrent message of the conversation made its request), writes
nothing and answers STALE with what it saw; the cache learns it and the message is planned again
(optimistic, and legal on Redis Cluster: every key comes in KEYS, all under the tenant's tag).
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .customers import MAX_MERGES, REQUESTS_LISTED, addresses
from .errors import ErrorCode, StaleRead, raise_for_code
from .ids import IdBlock
from .request import Message, Request, encode
from .scripts import Scripts
from .store import QueueStore
from .wire import text

CACHED = 20_000  # entries of each mapping kept (least recently used dropped first)
CUSTOMER_BLOCK = 100
READ_AFTER = 2  # attempts after which a merge the cache does not know is read, not assumed
K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A dict that keeps its `size` most recently used entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._d.get(key)
        if found is not None:
            self._d.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def pop(self, key: K) -> None:
        self._d.pop(key, None)


@dataclass(frozen=True, slots=True)
class Lookup:
    """A conversation reference a message is threaded by, looked up in order."""

    ref: str
    names: str | None = None  # the request the reference names itself ("[#FD-12]" in a subject)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message at intake, as the front door hands it over."""

    request: Request  # its customer as the channel knows them (an id, addresses)
    message: Message  # the same message as a follow-up of an open request
    lookups: tuple[Lookup, ...] = ()  # the references it refers to, in order
    thread_refs: tuple[str, ...] = ()  # the references it made (remembered on a duplicate)
    thread_keys: tuple[str, ...] = ()  # references that lead back to its request from now on
    join_open: str | None = None  # the prefix of the open-request reference, when it joins one
    limits: Sequence[tuple[str, str, int, float]] = ()  # (scope, key, most hits, window s)
    limit_duplicates: bool = True  # False: a message seen before is not counted again
    join_only: bool = False  # only a follow-up: no open request to join, nothing is stored
    # sent by a robot (why: 'auto-replied', 'list', ...): only joins, as a message marked auto
    # that is not the customer speaking; with nothing to join, the event auto_reply.dropped
    auto: str | None = None
    # a person's message on a request completed less than this ago reopens it (0: never);
    # later, it opens a new request linked to it (`previous`)
    reopen_within_ms: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message became: 'created', 'appended', 'reopened' (a completed request waiting
    again), 'duplicate', 'limited' (over a rate limit) or 'closed' (only to join, and nothing
    open to join)."""

    kind: str
    request_id: str
    customer_id: str
    messages: int = 0  # the request's message count after an append
    retry_after: float | None = None  # seconds, when limited
    request: Request | None = None  # the stored request, as classified, when created


@dataclass(slots=True)
class _Plan:
    mode: str
    addresses: list[str]
    chain: list[str]
    refs: list[tuple[str, str, str]]  # (ref, the request it names itself or '', flags)
    candidates: list[str]
    closed: list[str]
    new_customer: str | None


class IntakeDesk:
    """The one-call intake of one tenant, with its cache of mappings (one per daemon)."""

    def __init__(self, store: QueueStore, cached: int = CACHED) -> None:
        self.store = store
        self.keys = store.keys
        self.scripts = Scripts(store.redis)
        self.customer_ids = IdBlock(store.redis, self.keys.customer_ids, "C-", CUSTOMER_BLOCK)
        self.owners: _Lru[str, str] = _Lru(cached)  # address -> its owner
        self.merged: _Lru[str, str] = _Lru(cached)  # customer -> merged into ('' not merged)
        self.threads: _Lru[str, str] = _Lru(cached)  # reference -> request
        # customer -> its open requests; "closed:<customer>" -> those known closed (they stay so)
        self.members: _Lru[str, dict[str, None]] = _Lru(cached)
        self.calls = 0  # intake scripts sent (a STALE answer and its retry count two)
        # a queue's sticky window in ms (0 none): the customer's last agent there is preferred
        self.sticky_ms: Callable[[str], int] = lambda queue: 0

    async def take(
        self, arrival: Arrival, classify: Callable[[Request], tuple[Request, str]], attempts: int
    ) -> Outcome:
        """Store `arrival`: `classify` turns the request (its id and its customer's id set)
        into the one to enqueue and the service-level clocks it starts with (JSON for the
        script, '' none). Planned again on STALE, at most `attempts` times."""
        given = arrival.request.id  # a request whose id its caller chose keeps it
        rid = given or await self.store.new_request_id()
        found: Outcome | None = None
        try:
            for attempt in range(attempts):
                plan = await self._plan(arrival, attempt)
                customer = plan.chain[-1]
                request = dataclasses.replace(
                    arrival.request,
                    id=rid,
                    customer=dataclasses.replace(arrival.request.customer, id=customer),
                )
                found = await self._call(plan, arrival, *classify(request))
                if found is not None:
                    return found
        finally:
            if not given and (found is None or found.kind != "created"):
                self.store.request_ids.give_back(rid)
        raise StaleRead(ErrorCode.STALE, None, "the customer or conversation of a message")

    async def _plan(self, arrival: Arrival, attempt: int) -> _Plan:
        customer = arrival.request.customer
        known = addresses(customer)
        start: str | None = None
        mode = "address"
        if customer.id and await self._exists(customer.id):
            start, mode = customer.id, "given"
        else:
            start = next((o for a in known if (o := self.owners.get(a)) is not None), None)
        new_customer = None
        if start is None:
            new_customer = start = await self.customer_ids.take()
            mode = "new"
        chain = [start]
        while len(chain) <= MAX_MERGES and mode != "new":
            into = self.merged.get(chain[-1])
            if into is None and attempt >= READ_AFTER:  # a long chain: read what is not known
                into = await self._read_merged(chain[-1])
            if not into:
                break
            chain.append(into)
        final = chain[-1]
        lookups = list(arrival.lookups)
        if arrival.join_open is not None:
            lookups.append(Lookup(f"{arrival.join_open}{final}:{arrival.request.channel.value}"))
        refs: dict[str, list[str]] = {}
        for lookup in lookups:
            refs.setdefault(lookup.ref, [lookup.names or "", ""])[1] += "l"
        for ref in arrival.thread_refs:
            refs.setdefault(ref, ["", ""])[1] += "r"
        for ref in arrival.thread_keys:
            refs.setdefault(ref, ["", ""])[1] += "k"
        candidates: dict[str, None] = {}
        for lookup in lookups:
            led = self.threads.get(lookup.ref) or lookup.names
            if led:
                candidates[led] = None
        closed: list[str] = []
        if arrival.join_open is not None:
            candidates.update(dict.fromkeys(self.members.get(final) or {}))
            closed = list(self.members.get(f"closed:{final}") or {})
        return _Plan(
            mode,
            known,
            chain,
            [(ref, names, flags) for ref, (names, flags) in refs.items()],
            list(candidates),
            closed,
            new_customer,
        )

    async def _exists(self, customer_id: str) -> bool:
        if self.merged.get(customer_id) is not None:
            return True
        into = await self._read_merged(customer_id)
        return into is not None

    async def _read_merged(self, customer_id: str) -> str | None:
        """What `customer_id` was merged into ('' none), None when there is no such customer."""
        async with self.store.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.customer(customer_id))
            pipe.hget(self.keys.customer(customer_id), "merged_into")
            exists, into = await pipe.execute()
        if not exists:
            return None
        found = text(into) if into is not None else ""
        self.merged.put(customer_id, found)
        return found

    async def _call(
        self, plan: _Plan, arrival: Arrival, request: Request, clocks: str
    ) -> Outcome | None:
        k = self.keys
        s = self.store.settings
        idem = request.idempotency_key
        final = plan.chain[-1]
        rate_keys = [k.rate(scope, key) for scope, key, _, _ in arrival.limits]
        rate_args = [x for _, _, n, per_s in arrival.limits for x in (int(per_s * 1000), n)]
        message = encode(arrival.message) if plan.candidates else ""
        keys = [
            k.idempotency(idem) if idem else k.nobody,
            k.events,
            k.request(request.id),
            k.queue(request.queue),
            k.seq,
            k.queues,
            k.customer_requests(final),
            k.customer_addresses(final),
            k.sla_due,
            k.calendars,
            k.sla_stats,
            k.last_agents,
            *(k.address(a) for a in plan.addresses),
            *(k.customer(c) for c in plan.chain),
            *(k.thread(ref) for ref, _, _ in plan.refs),
            *(x for rid in plan.candidates for x in (k.request(rid), k.messages(rid))),
            *rate_keys,
        ]
        args = [
            request.id, request.channel.value, request.queue, request.priority.band,
            request.tier, encode(request), message, s.idempotency_ttl_s, s.stream_maxlen,
            "1" if idem else "0", plan.mode, request.customer.name or "", arrival.message.author,
            arrival.request.channel.value if arrival.join_open is not None else "",
            REQUESTS_LISTED, len(plan.addresses), len(plan.chain), len(plan.refs),
            len(plan.candidates), len(arrival.limits), len(plan.closed),
            "1" if arrival.limit_duplicates else "0", _joins(arrival), clocks,
            request.category or "", arrival.reopen_within_ms, self.sticky_ms(request.queue),
            *plan.addresses, *plan.chain,
            *(x for triple in plan.refs for x in triple), *plan.candidates, *rate_args,
            *plan.closed,
        ]  # fmt: skip
        self.calls += 1
        answer = await self.scripts.intake(keys, args)
        kind = text(answer[0]) if isinstance(answer, list) else "refused"
        if plan.new_customer and kind not in ("created", "appended", "reopened", "duplicate"):
            self.customer_ids.give_back(plan.new_customer)  # not made: the next one takes it
        raise_for_code(answer, request.id)
        _, first, customer, count, *facts = answer
        first, customer = text(first), text(customer)
        self._learn(plan, [text(f) for f in facts])
        if kind == "stale":
            return None
        if kind == "limited":
            return Outcome(kind, "", customer, retry_after=int(first) / 1000)
        if kind == "closed":
            return Outcome(kind, "", customer)
        self._stored(plan, arrival, kind, first)
        return Outcome(
            kind, first, customer, int(count), request=request if kind == "created" else None
        )

    def _learn(self, plan: _Plan, facts: list[str]) -> None:
        """Note what the script saw."""
        final = plan.chain[-1]
        for i in range(0, len(facts) - 2, 3):
            kind, index, value = facts[i], int(facts[i + 1]), facts[i + 2]
            if kind == "address":
                address = plan.addresses[index - 1]
                if value:
                    self.owners.put(address, value)
                else:
                    self.owners.pop(address)
            elif kind == "customer":
                customer = plan.chain[index - 1]
                if value == "!":
                    self.merged.pop(customer)
                elif plan.mode != "new" or value:
                    self.merged.put(customer, value)
            elif kind == "ref":
                ref = plan.refs[index - 1][0]
                if value:
                    self.threads.put(ref, value)
                else:
                    self.threads.pop(ref)
            elif kind == "member":
                found = self.members.get(final) or {}
                found[value] = None
                self.members.put(final, found)
            elif kind == "closed":
                (self.members.get(final) or {}).pop(value, None)
                done = self.members.get(f"closed:{final}") or {}
                done[value] = None
                self.members.put(f"closed:{final}", done)

    def _stored(self, plan: _Plan, arrival: Arrival, kind: str, request_id: str) -> None:
        """Note what the script wrote."""
        final = plan.chain[-1]
        for address in plan.addresses:  # the script gave those nobody had to the customer
            if self.owners.get(address) is None:
                self.owners.put(address, final)
        if plan.mode == "new":
            self.merged.put(final, "")
            self.members.put(final, {})
        for ref, _, flags in plan.refs:
            if kind == "created" or "k" in flags or (kind == "duplicate" and "r" in flags):
                self.threads.put(ref, request_id)
        if kind == "created":
            found = self.members.get(final)
            if found is not None:
                found[request_id] = None


def _joins(arrival: Arrival) -> str:
    """ARGV[23] of the intake script: '0' may open a request, '1' only joins, else the reason
    a robot sent it (only joins, as an auto message)."""
    if arrival.auto:
        return arrival.auto if arrival.auto not in ("0", "1") else f"auto-{arrival.auto}"
    return "1" if arrival.join_only else "0"


def keep_important(plan: str) -> str:
    """The intake plan (the clocks' JSON, '' none) marked so that the request is kept as an
    important customer's when it closes (retention by class: `keep_for` in the scripts)."""
    doc = json.loads(plan) if plan else {}
    doc["k"] = "important"
    return json.dumps(doc, separators=(",", ":"))
