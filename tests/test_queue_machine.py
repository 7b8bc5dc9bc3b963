"""A hypothesis state machine that drives every queue operation in random order against the real
Redis, keeps a plain Python model of what should be there, and checks the invariants of
DESIGN.md after every step: one state and the matching places per request (3), load within
capacity and equal to the holds (4), one event per state change (5), idempotent intake (2).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import ErrorCode, QueueError
from frontdesk.queues.events import EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Message, Priority, Request
from frontdesk.queues.states import HELD_STATES, OPEN_STATES, TERMINAL_STATES, State
from frontdesk.queues.store import QueueStore, StoreSettings
from frontdesk.skills import Agent, Presence

QUEUES = ("l1", "l2", "billing")
CHANNELS = ("chat", "email")
START_CAPACITY = {
    "ann": {"chat": 1, "email": 2},
    "bob": {"chat": 2},
    "cy": {"chat": 1, "email": 1},
}
AGENT_IDS = tuple(START_CAPACITY)
MAX_MISSED = 2
MAX_TIER = 3
BAND_SHIFT = 2**32
REQUEST_VERBS = (
    "append_message",
    "offer",
    "assign",
    "accept",
    "reject",
    "complete",
    "abandon",
    "transfer",
    "escalate",
)
LONG_TIMEOUT_S = 3600  # offers made by the `offer` rule never fall due during a run

queues = st.sampled_from(QUEUES)
agent_ids = st.sampled_from(AGENT_IDS)
NEW_REQUEST = (
    queues,
    st.sampled_from(CHANNELS),
    st.sampled_from(Priority),
    st.none() | st.integers(0, 5).map(lambda i: f"ext-{i}"),  # few, so that some repeat
)


@dataclass
class ModelRequest:
    id: str
    channel: str
    queue: str
    band: int
    seq: int
    state: State = State.WAITING
    agent: str | None = None  # the holder; a completed request keeps who completed it
    tier: int = 1
    messages: int = 0
    excluded: set[str] = field(default_factory=set)


@dataclass
class ModelAgent:
    capacity: dict[str, int]
    presence: Presence = Presence.AVAILABLE
    missed: int = 0


class QueueMachine(RuleBasedStateMachine):
    url: str = ""  # set by the test function from the session's redis_server

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.keys = Keys("machine")
        self.reqs: dict[str, ModelRequest] = {}
        self.agents = {a: ModelAgent(dict(caps)) for a, caps in START_CAPACITY.items()}
        self.idem: dict[str, str] = {}  # idempotency key -> request id (enqueue)
        self.seen_message_keys: set[str] = set()
        self.seq = 0
        self.expected_events: list[tuple[str, str, str]] = []
        self.last_event = "-"
        self.run(self._setup())

    async def _setup(self) -> None:
        self.redis = Redis.from_url(self.url)
        await self.redis.flushall()
        self.store = QueueStore(self.redis, self.keys, StoreSettings(max_missed_offers=MAX_MISSED))
        self.agent_store = AgentStore(self.redis, self.keys)
        self.log = EventLog(self.redis, self.keys)
        for agent_id, caps in START_CAPACITY.items():
            agent = Agent(id=agent_id, name=agent_id, capacity=caps, presence=Presence.AVAILABLE)
            assert await self.agent_store.upsert(agent) is True
            self.expected_events.append(("agent_created", "", agent_id))

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    # -- model helpers ---------------------------------------------------------------------------

    def load(self, agent_id: str, channel: str) -> int:
        return sum(
            1
            for r in self.reqs.values()
            if r.state in HELD_STATES and r.agent == agent_id and r.channel == channel
        )

    def predict_take(self, r: ModelRequest, agent_id: str) -> ErrorCode | None:
        """The refusal that offer/assign must give, in the scripts' order of checks."""
        agent = self.agents[agent_id]
        if r.state is not State.WAITING:
            return ErrorCode.WRONG_STATE
        if agent.presence is not Presence.AVAILABLE:
            return ErrorCode.AGENT_UNAVAILABLE
        if agent_id in r.excluded:
            return ErrorCode.AGENT_EXCLUDED
        if self.load(agent_id, r.channel) >= agent.capacity.get(r.channel, 0):
            return ErrorCode.NO_CAPACITY
        return None

    def attempt(self, coro, expected: ErrorCode | None):
        """Run one store call; it must be refused with `expected`, or succeed when None."""
        try:
            result = self.run(coro)
        except QueueError as refused:
            assert expected is not None, f"refused with {refused.code!r}, expected success"
            assert refused.code is expected, f"refused with {refused.code!r}, not {expected!r}"
            return False, None
        assert expected is None, f"succeeded, expected a refusal with {expected!r}"
        return True, result

    def emit(self, etype: str, r: ModelRequest | None, agent: str | None) -> None:
        self.expected_events.append((etype, r.id if r else "", agent or ""))

    # -- rules -----------------------------------------------------------------------------------
    # Most draws pick a request (and agent) for which the operation can succeed, so that long
    # lives happen; the rest pick any request, so that every refusal is exercised too.

    def choose(self, data, states=None) -> ModelRequest:
        every = sorted(self.reqs)
        fitting = [i for i in every if states is None or self.reqs[i].state in states]
        targeted = fitting and data.draw(st.integers(0, 3), label="targeted") > 0
        return self.reqs[data.draw(st.sampled_from(fitting if targeted else every), label="rid")]

    def choose_taker(self, data, r: ModelRequest) -> str:
        able = [a for a in AGENT_IDS if self.predict_take(r, a) is None]
        targeted = able and data.draw(st.integers(0, 3), label="targeted") > 0
        return data.draw(st.sampled_from(able if targeted else AGENT_IDS), label="agent")

    def choose_holder(self, data, r: ModelRequest) -> str:
        own = r.state in HELD_STATES and data.draw(st.integers(0, 3), label="own") > 0
        return r.agent if own else data.draw(agent_ids, label="agent")

    def has_requests(self) -> bool:
        return bool(self.reqs)

    @initialize(arrivals=st.lists(st.tuples(*NEW_REQUEST), min_size=2, max_size=6))
    def first_arrivals(self, arrivals):
        for fields in arrivals:
            self.enqueue(*fields)

    @rule(
        queue=NEW_REQUEST[0],
        channel=NEW_REQUEST[1],
        priority=NEW_REQUEST[2],
        external=NEW_REQUEST[3],
    )
    def enqueue(self, queue, channel, priority, external):
        request = Request(
            id="", channel=Channel(channel), queue=queue, priority=priority, external_id=external
        )
        result = self.run(self.store.enqueue(request))
        key = request.idempotency_key
        if key in self.idem:
            assert result.id == self.idem[key]
            assert result.created is False
            return
        assert result.created is True
        assert result.id not in self.reqs
        self.seq += 1
        r = ModelRequest(result.id, channel, queue, priority.band, self.seq)
        self.reqs[r.id] = r
        if key:
            self.idem[key] = r.id
        self.emit("enqueued", r, None)

    @precondition(has_requests)
    @rule(data=st.data(), key=st.none() | st.integers(0, 5).map(lambda i: f"chat:msg-{i}"))
    def append_message(self, data, key):
        r = self.choose(data, OPEN_STATES)
        duplicate = key is not None and key in self.seen_message_keys
        if duplicate:
            expected = None  # a duplicate is answered 0 before the request is even looked at
        elif r.state in TERMINAL_STATES:
            expected = ErrorCode.WRONG_STATE
        else:
            expected = None
        ok, count = self.attempt(
            self.store.append_message(r.id, Message(body="更多信息"), key), expected
        )
        if not ok:
            return
        if duplicate:
            assert count == 0
            return
        r.messages += 1
        assert count == r.messages
        if key is not None:
            self.seen_message_keys.add(key)
        self.emit("message", r, r.agent if r.state in HELD_STATES else None)

    @precondition(has_requests)
    @rule(data=st.data())
    def offer(self, data):
        r = self.choose(data, {State.WAITING})
        agent = self.choose_taker(data, r)
        ok, deadline = self.attempt(
            self.store.offer(r.id, agent, LONG_TIMEOUT_S), self.predict_take(r, agent)
        )
        if ok:
            assert isinstance(deadline, int)
            r.state, r.agent = State.OFFERED, agent
            self.emit("offered", r, agent)

    @precondition(has_requests)
    @rule(data=st.data())
    def assign(self, data):
        r = self.choose(data, {State.WAITING})
        agent = self.choose_taker(data, r)
        ok, _ = self.attempt(self.store.assign(r.id, agent), self.predict_take(r, agent))
        if ok:
            r.state, r.agent = State.ASSIGNED, agent
            self.emit("assigned", r, agent)

    def predict_holder_op(self, r: ModelRequest, state: State, agent: str) -> ErrorCode | None:
        if r.state is not state:
            return ErrorCode.WRONG_STATE
        if r.agent != agent:
            return ErrorCode.NOT_YOUR_OFFER
        return None

    @precondition(has_requests)
    @rule(data=st.data())
    def accept(self, data):
        r = self.choose(data, {State.OFFERED})
        agent = self.choose_holder(data, r)
        held = r.state is State.ASSIGNED and r.agent == agent  # accepting again: idempotent
        expected = None if held else self.predict_holder_op(r, State.OFFERED, agent)
        ok, _ = self.attempt(self.store.accept(r.id, agent), expected)
        if ok and not held:
            r.state = State.ASSIGNED
            self.agents[agent].missed = 0
            self.emit("accepted", r, agent)

    @precondition(has_requests)
    @rule(data=st.data())
    def reject(self, data):
        r = self.choose(data, {State.OFFERED})
        agent = self.choose_holder(data, r)
        expected = self.predict_holder_op(r, State.OFFERED, agent)
        ok, _ = self.attempt(self.store.reject(r.id, agent, "busy"), expected)
        if ok:
            r.state, r.agent = State.WAITING, None
            r.excluded.add(agent)
            self.emit("rejected", r, agent)

    @precondition(has_requests)
    @rule(data=st.data())
    def expire(self, data):
        """Offer with no time to answer, then let the expiry sweep take it back."""
        r = self.choose(data, {State.WAITING})
        agent = self.choose_taker(data, r)
        ok, _ = self.attempt(self.store.offer(r.id, agent, 0), self.predict_take(r, agent))
        if not ok:
            return
        self.emit("offered", r, agent)
        assert self.run(self.store.expire_overdue()) == [(r.id, agent)]
        r.state, r.agent = State.WAITING, None
        r.excluded.add(agent)
        self.emit("expired", r, agent)
        model = self.agents[agent]
        model.missed += 1
        if model.missed >= MAX_MISSED and model.presence is Presence.AVAILABLE:
            model.presence = Presence.AWAY
            self.emit("presence", None, agent)  # the second event of this one state change

    @precondition(has_requests)
    @rule(data=st.data())
    def complete(self, data):
        r = self.choose(data, {State.ASSIGNED})
        agent = self.choose_holder(data, r)
        expected = self.predict_holder_op(r, State.ASSIGNED, agent)
        ok, _ = self.attempt(self.store.complete(r.id, agent, "solved"), expected)
        if ok:
            r.state = State.COMPLETED
            self.emit("completed", r, agent)

    @precondition(has_requests)
    @rule(data=st.data())
    def abandon(self, data):
        r = self.choose(data, OPEN_STATES)
        expected = None if r.state in OPEN_STATES else ErrorCode.WRONG_STATE
        ok, _ = self.attempt(self.store.abandon(r.id, "customer left"), expected)
        if ok:
            self.emit("abandoned", r, r.agent if r.state in HELD_STATES else None)
            r.state, r.agent = State.ABANDONED, None

    @precondition(has_requests)
    @rule(data=st.data(), to=queues)
    def transfer(self, data, to):
        r = self.choose(data, OPEN_STATES)
        expected = None if r.state in OPEN_STATES else ErrorCode.WRONG_STATE
        ok, _ = self.attempt(self.store.transfer(r.id, to, "moved"), expected)
        if ok:
            self.emit("transferred", r, r.agent if r.state in HELD_STATES else None)
            r.state, r.agent, r.queue = State.WAITING, None, to

    @precondition(has_requests)
    @rule(data=st.data(), to=queues)
    def escalate(self, data, to):
        r = self.choose(data, OPEN_STATES)
        if r.state not in OPEN_STATES:
            expected = ErrorCode.WRONG_STATE
        elif r.tier >= MAX_TIER:
            expected = ErrorCode.TOP_TIER
        else:
            expected = None
        ok, tier = self.attempt(self.store.escalate(r.id, to, "too hard"), expected)
        if ok:
            assert tier == r.tier + 1
            self.emit("escalated", r, r.agent if r.state in HELD_STATES else None)
            r.state, r.agent, r.queue, r.tier = State.WAITING, None, to, tier

    @precondition(has_requests)
    @rule(
        verb=st.sampled_from(REQUEST_VERBS),
        agent=agent_ids,
    )
    def unknown_request(self, verb, agent):
        store, rid = self.store, "FD-999999"
        calls = {
            "append_message": lambda: store.append_message(rid, Message(body="?")),
            "offer": lambda: store.offer(rid, agent, 30),
            "assign": lambda: store.assign(rid, agent),
            "accept": lambda: store.accept(rid, agent),
            "reject": lambda: store.reject(rid, agent),
            "complete": lambda: store.complete(rid, agent),
            "abandon": lambda: store.abandon(rid),
            "transfer": lambda: store.transfer(rid, "l2"),
            "escalate": lambda: store.escalate(rid, "l2"),
        }
        self.attempt(calls[verb](), ErrorCode.NOT_FOUND)

    @rule(agent=agent_ids, presence=st.sampled_from(Presence))
    def set_presence(self, agent, presence):
        previous = self.run(self.agent_store.set_presence(agent, presence, "test"))
        model = self.agents[agent]
        assert previous is model.presence
        if presence is Presence.AVAILABLE and previous is not Presence.AVAILABLE:
            model.missed = 0  # becoming available starts afresh; staying available does not
        model.presence = presence
        self.emit("presence", None, agent)

    @rule(
        agent=agent_ids,
        capacity=st.fixed_dictionaries({}, optional={ch: st.integers(0, 3) for ch in CHANNELS}),
    )
    def change_capacity(self, agent, capacity):
        below = any(self.load(agent, ch) > capacity.get(ch, 0) for ch in CHANNELS)
        expected = ErrorCode.CAPACITY_BELOW_LOAD if below else None
        ok, created = self.attempt(
            self.agent_store.upsert(Agent(id=agent, name=agent, capacity=capacity)), expected
        )
        if ok:
            assert created is False
            self.agents[agent].capacity = dict(capacity)
            self.emit("agent_updated", None, agent)

    # -- invariants ------------------------------------------------------------------------------

    async def _snapshot(self):
        """Everything the invariants look at, read in one round trip."""
        k = self.keys
        rids, idem_keys = sorted(self.reqs), sorted(self.idem)
        async with self.redis.pipeline(transaction=True) as pipe:
            for rid in rids:
                pipe.hgetall(k.request(rid))
                pipe.smembers(k.excluded(rid))
            for q in QUEUES:
                pipe.zrange(k.queue(q), 0, -1, withscores=True)
            pipe.zrange(k.offers, 0, -1)
            for a in AGENT_IDS:
                pipe.hgetall(k.holds(a))
                pipe.hgetall(k.agent(a))
            pipe.keys(k.prefix + "req:*")
            for key in idem_keys:
                pipe.get(k.idempotency(key))
            pipe.smembers(k.queues)
            replies = iter(await pipe.execute())
        text = lambda raw: raw.decode()  # noqa: E731
        hashes, excluded = {}, {}
        for rid in rids:
            hashes[rid] = next(replies)
            excluded[rid] = {text(m) for m in next(replies)}
        queued = {q: [(text(m), int(s)) for m, s in next(replies)] for q in QUEUES}
        offers = {text(m) for m in next(replies)}
        holds, agents = {}, {}
        for a in AGENT_IDS:
            holds[a] = {text(r): text(ch) for r, ch in next(replies).items()}
            agents[a] = next(replies)
        stored_ids = {text(key).removeprefix(k.prefix + "req:") for key in next(replies)}
        idem = {key: next(replies) for key in idem_keys}
        known_queues = {text(q) for q in next(replies)}
        return hashes, queued, offers, holds, agents, excluded, stored_ids, idem, known_queues

    @invariant()
    def store_matches_model(self):
        hashes, queued, offers, holds, agents, excluded, stored_ids, idem, known_queues = self.run(
            self._snapshot()
        )
        # Enqueue is idempotent: one stored request per created request, every key -> first id.
        assert {i for i in stored_ids if ":" not in i} == set(self.reqs)
        assert {key: v.decode() for key, v in idem.items()} == self.idem
        assert {r.queue for r in self.reqs.values()} <= known_queues

        queue_members = {q: [m for m, _ in members] for q, members in queued.items()}
        for rid, r in self.reqs.items():
            h = {f.decode(): v.decode() for f, v in hashes[rid].items() if f != b"data"}
            # Exactly one state, the model's; the fields that go with it.
            assert h["state"] == r.state, rid
            assert h["queue"] == r.queue
            assert int(h["tier"]) == r.tier
            assert int(h["seq"]) == r.seq
            assert int(h["score"]) == r.band * BAND_SHIFT + r.seq
            assert int(h["messages"]) == r.messages
            assert h.get("agent") == r.agent
            assert ("deadline" in h) == (r.state is State.OFFERED)
            assert excluded[rid] == r.excluded

            in_queues = [q for q, members in queue_members.items() if rid in members]
            holders = [a for a, held in holds.items() if rid in held]
            if r.state is State.WAITING:
                assert in_queues == [r.queue], (rid, in_queues)
                assert holders == [] and rid not in offers
            elif r.state is State.OFFERED:
                assert in_queues == [] and rid in offers
                assert holders == [r.agent]
            elif r.state is State.ASSIGNED:
                assert in_queues == [] and rid not in offers
                assert holders == [r.agent]
            else:
                assert r.state in TERMINAL_STATES
                assert in_queues == [] and holders == [] and rid not in offers

        # Nothing stored that the model does not know of.
        assert offers <= set(self.reqs)
        for members in queue_members.values():
            assert set(members) <= set(self.reqs)

        # Each queue is ordered by priority band, then arrival; scores are the first ones given.
        for q, members in queued.items():
            expected = sorted(
                (r for r in self.reqs.values() if r.state is State.WAITING and r.queue == q),
                key=lambda r: (r.band, r.seq),
            )
            assert [m for m, _ in members] == [r.id for r in expected], q
            assert [s for _, s in members] == [r.band * BAND_SHIFT + r.seq for r in expected]

        # Load never exceeds capacity and always equals what the agent holds.
        for agent_id, raw in agents.items():
            a = {f.decode(): v.decode() for f, v in raw.items()}
            model = self.agents[agent_id]
            assert a["presence"] == model.presence
            assert int(a["missed"]) == model.missed
            capacity = {f[4:]: int(v) for f, v in a.items() if f.startswith("cap:")}
            assert capacity == model.capacity
            for rid, channel in holds[agent_id].items():
                assert channel == self.reqs[rid].channel
            for channel in CHANNELS:
                load = int(a.get("load:" + channel, 0))
                held = sum(1 for ch in holds[agent_id].values() if ch == channel)
                assert load == held == self.load(agent_id, channel), (agent_id, channel)
                assert load <= capacity.get(channel, 0), (agent_id, channel)

    @invariant()
    def one_event_per_state_change(self):
        start = "-" if self.last_event == "-" else "(" + self.last_event
        fresh = self.run(self.log.range(start))
        got = [(e.type.value, e.request, e.agent) for e in fresh]
        assert got == self.expected_events
        if fresh:
            self.last_event = fresh[-1].id
        self.expected_events = []


def test_queue_operations_keep_the_invariants(redis_server):
    QueueMachine.url = redis_server.url
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
