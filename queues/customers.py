"""Customers reached by any of their addresses, their requests, conversation threads, and rate
limits: the Redis side of recognizing who asks and threading what they send."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from .care import LISTS as CARE_LISTS
from .errors import ErrorCode, raise_for_code
from .keys import Keys
from .request import Customer
from .scripts import Scripts
from .states import OPEN_STATES
from .store import QueueStore, RequestRecord
from .wire import text, texts

MAX_MERGES = 8  # a chain of linked customers is followed at most this far
REQUESTS_LISTED = 200


CLAIMED = "claimed:"  # an address the channel did not prove: claimed:email:a@b.cn


def addresses(customer: Customer) -> list[str]:
    """Every address of `customer` as `kind:value`: email lower-cased, phone as given (E.164),
    each social handle under its platform. An address the channel did not prove (its kind in
    `customer.claimed`) is `claimed:kind:value`: it leads to the customers who claimed it,
    never to the one who proved it."""
    found = []
    claimed = customer.claimed
    if customer.email:
        mark = CLAIMED if "email" in claimed else ""
        found.append(f"{mark}email:{customer.email.strip().lower()}")
    if customer.phone:
        mark = CLAIMED if "phone" in claimed else ""
        found.append(f"{mark}phone:{customer.phone.strip()}")
    found += [f"{platform}:{handle}" for platform, handle in sorted(customer.handles.items())]
    return found


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: str
    name: str
    addresses: frozenset[str]
    merged_into: str | None


class CustomerStore:
    """Customers, threads and rate limits for one tenant."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.redis: Redis = store.redis
        self.keys: Keys = store.keys
        self.maxlen = store.settings.stream_maxlen
        self.scripts = Scripts(self.redis)

    # -- who is asking --------------------------------------------------------------------------
    async def identify(self, customer: Customer) -> str:
        """The id of the customer with any of these addresses (following links), attaching the
        addresses not known yet; a new customer when none is known."""
        known = addresses(customer)
        if customer.id and await self.redis.exists(self.keys.customer(customer.id)):
            owner: str | None = await self.resolve(customer.id)
        else:
            owners = await self.redis.mget([self.keys.address(a) for a in known]) if known else []
            first = next((text(o) for o in owners if o is not None), None)
            owner = await self.resolve(first) if first else None
        if owner is None:
            candidate = f"C-{await self.redis.incr(self.keys.customer_ids)}"
            owner = text(await self._call("create_customer", candidate, customer.name or "", known))
            if owner == candidate:
                return owner
        await self._call("attach_addresses", owner, customer.name or "", known)
        return owner

    async def _call(self, verb: str, customer_id: str, name: str, known: list[str]) -> object:
        k = self.keys
        script = getattr(self.scripts, verb)
        result = await script(
            [k.customer(customer_id), k.customer_addresses(customer_id), k.events,
             *(k.address(a) for a in known)],
            [customer_id, name, self.maxlen, *known],
        )  # fmt: skip
        raise_for_code(result, None, f"customer {customer_id}")
        return result

    async def find(self, address: str) -> str | None:
        """The customer known by `address` (`kind:value`, as `addresses` spells it), following
        links; None when no customer has it. Unlike `identify`, creates nothing."""
        owner = await self.redis.get(self.keys.address(address))
        return await self.resolve(text(owner)) if owner is not None else None

    async def resolve(self, customer_id: str) -> str:
        """The customer `customer_id` was linked into, if it was (else itself)."""
        for _ in range(MAX_MERGES):
            merged = await self.redis.hget(self.keys.customer(customer_id), "merged_into")
            if merged is None:
                break
            customer_id = text(merged)
        return customer_id

    async def get(self, customer_id: str) -> CustomerRecord | None:
        raw = await self.redis.hgetall(self.keys.customer(customer_id))
        if not raw:
            return None
        fields = {text(k): text(v) for k, v in raw.items()}
        found = texts(await self.redis.smembers(self.keys.customer_addresses(customer_id)))
        return CustomerRecord(
            customer_id, fields.get("name", ""), frozenset(found), fields.get("merged_into")
        )

    async def link(self, into: str, other: str) -> None:
        """One person, two customers: `other`'s addresses and requests join `into`."""
        await self.merge(other, into)

    async def merge(self, other: str, into: str) -> int:
        """`other` merged into `into`, in one script: its addresses, its requests (the whole
        history) and its care-list standing follow, its claimed addresses are dropped; the
        event `customer.merged`. The number of addresses moved. QueueError: NOT_FOUND (either
        unknown), WRONG_STATE (either was merged already)."""
        k = self.keys
        for _ in range(5):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.smembers(k.customer_addresses(other))
                pipe.smembers(k.customer_addresses(into))
                pipe.zrevrange(k.customer_requests(other), 0, REQUESTS_LISTED - 1)
                pipe.smembers(k.queues)
                theirs, ours, held, queues = await pipe.execute()
            known, kept = sorted(texts(theirs)), sorted(texts(ours))
            ids, names = texts(held), sorted(texts(queues))
            result = await self.scripts.merge_customers(
                [k.customer(into), k.customer_addresses(into), k.customer_requests(into),
                 k.customer(other), k.customer_addresses(other), k.customer_requests(other),
                 k.events, k.last_agents, *(k.care_list(name) for name in CARE_LISTS),
                 *(k.address(a) for a in known), *(k.request(i) for i in ids)],
                [into, other, self.maxlen, len(CARE_LISTS), len(known), len(kept), len(ids),
                 len(names), *CARE_LISTS, *known, *kept, *ids, *names],
            )  # fmt: skip
            if result != ErrorCode.STALE:
                raise_for_code(result, None, f"customers {other} into {into}")
                return int(result)
        raise_for_code(ErrorCode.STALE, None, f"customer {other}")
        return 0

    async def import_one(
        self, name: str, known: Sequence[str], lists: Sequence[str]
    ) -> tuple[str, str]:
        """One directory row in one script: the customer one of `known` (trusted addresses,
        `ext:<id>` among them) leads to, else a new one, gets them all, the name (when given)
        and a place on each of `lists` by its id. (outcome, customer id): outcome 'created',
        'updated' or 'unchanged'; ('conflict', what) when the addresses lead to two customers
        or one leads to another: nothing is written."""
        k = self.keys
        for _ in range(5):
            owners = await self.redis.mget([k.address(a) for a in known]) if known else []
            found = {a: await self.resolve(text(o)) for a, o in zip(known, owners, strict=True)
                     if o is not None}  # fmt: skip
            if len(set(found.values())) > 1:
                shown = ", ".join(f"{a} is {c}'s" for a, c in sorted(found.items()))
                return "conflict", f"the addresses belong to different customers ({shown})"
            target = next(iter(found.values()), None)
            mode = "found" if target else "new"
            customer_id = target or f"C-{await self.redis.incr(k.customer_ids)}"
            answer = await self.scripts.import_customer(
                [k.customer(customer_id), k.customer_addresses(customer_id), k.events,
                 *(k.care_list(name) for name in lists), *(k.address(a) for a in known)],
                [customer_id, mode, name, self.maxlen, len(lists), len(known), *lists, *known],
            )  # fmt: skip
            kind = text(answer[0])
            if kind == "conflict":
                address, owner = text(answer[1]), text(answer[2])
                return kind, f"{address} belongs to {owner}, this row to {customer_id}"
            if kind != "stale":
                return kind, text(answer[1])
        raise_for_code(ErrorCode.STALE, None, "an imported customer")
        return "stale", ""

    async def requests(self, customer_id: str) -> list[RequestRecord]:
        """The customer's requests, open ones first, newest first within each."""
        customer_id = await self.resolve(customer_id)
        ids = texts(
            await self.redis.zrevrange(
                self.keys.customer_requests(customer_id), 0, REQUESTS_LISTED - 1
            )
        )
        found = await self.store.get_many(ids)
        gone = [i for i, record in zip(ids, found, strict=True) if record is None]
        if gone:  # closed and past retention: their records expired
            await self.redis.zrem(self.keys.customer_requests(customer_id), *gone)
        records = [r for r in found if r is not None]
        return sorted(records, key=lambda r: (r.state not in OPEN_STATES, -r.enqueued_ms))

    async def secret(self) -> bytes:
        """The tenant's random secret (made by the first daemon that asks, shared by all)."""
        await self.redis.set(self.keys.secret, secrets.token_hex(32), nx=True)
        return text(await self.redis.get(self.keys.secret)).encode()

    # -- conversations --------------------------------------------------------------------------
    async def thread(self, ref: str) -> str | None:
        """The request a conversation reference leads to."""
        found = await self.redis.get(self.keys.thread(ref))
        return text(found) if found is not None else None

    async def remember(self, refs: tuple[str, ...], request_id: str) -> None:
        """From now on (for the retention time) these references lead to `request_id`."""
        if not refs:
            return
        ttl = self.store.settings.idempotency_ttl_s
        async with self.redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.set(self.keys.thread(ref), request_id, ex=ttl)
            await pipe.execute()

    # -- rate limits ----------------------------------------------------------------------------
    async def hit(self, limits: Sequence[tuple[str, str, int, float]]) -> float | None:
        """Count one hit under each of `limits` (scope, key, most hits, window in seconds) in
        turn, in one round trip; None when every one admits it, else the seconds until the
        refusing one's window ends (for Retry-After). A refused hit is not charged further."""
        if not limits:
            return None
        keys = [self.keys.rate(scope, key) for scope, key, _, _ in limits]
        args = [x for _, _, count, per_s in limits for x in (int(per_s * 1000), count)]
        wait_ms = int(await self.scripts.rate_hits(keys, args))
        return None if wait_ms == 0 else wait_ms / 1000
