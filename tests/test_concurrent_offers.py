"""Several daemons' worth of routers racing to offer and assign the same requests to the same
agents: separate Redis connections in one process, then two OS processes. Whatever the
interleaving, no request is taken twice, every success is exactly one holding, and no agent goes
over capacity (invariants 3, 4 and 6 of DESIGN.md).

Nothing here is timed; the sizes bound the work.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.errors import AgentRefused, ErrorCode, WrongState
from frontdesk.queues.events import EventLog, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Priority, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.skills import Agent, Presence

N_AGENTS = 10
N_REQUESTS = 200
CHANNELS = (Channel.CHAT, Channel.EMAIL)
CAPACITY = {
    f"agent-{i}": {"chat": 2 + i % 2, "email": 3 - i % 2} for i in range(N_AGENTS)
}  # 25 per channel: far fewer places than requests
AGENT_IDS = tuple(CAPACITY)
LONG_TIMEOUT_S = 3600  # no offer falls due during a test: nothing is taken back behind our back
BARRIER_WAIT_S = 60  # how long a process waits for the other to start before giving up


def total_capacity(channel: str) -> int:
    return sum(caps[channel] for caps in CAPACITY.values())


async def seed(redis: Redis, keys: Keys) -> list[str]:
    """The agents, all available, and N_REQUESTS waiting requests; returns the request ids."""
    agents = AgentStore(redis, keys)
    for agent_id, caps in CAPACITY.items():
        await agents.upsert(
            Agent(id=agent_id, name=agent_id, capacity=caps, presence=Presence.AVAILABLE)
        )
    store = QueueStore(redis, keys)
    rids = []
    for i in range(N_REQUESTS):
        request = Request(
            id="",
            channel=CHANNELS[i % 2],
            queue=f"q{i % 3}",
            priority=list(Priority)[i % 3],
            external_id=f"race-{i}",
        )
        rids.append((await store.enqueue(request)).id)
    return rids


async def race(
    url: str, keys: Keys, rids: list[str], seed_: int, clients: int, tasks_per_client: int
) -> tuple[list[tuple[str, str, str]], Counter]:
    """`clients` independent connections, each running `tasks_per_client` routers; every client
    goes through the same requests in the same order, so that they collide. Each router tries
    agents in a random order with offer or assign until one takes the request, someone else has
    it (WrongState), or every agent refused. Returns the successes (request, agent, verb) and
    the refusal codes seen."""
    rng = random.Random(seed_)
    successes: list[tuple[str, str, str]] = []
    refusals: Counter = Counter()
    redises = [Redis.from_url(url) for _ in range(clients)]
    try:
        stores = [QueueStore(r, keys) for r in redises]

        async def router(store: QueueStore, shard: list[str], rng: random.Random) -> None:
            for rid in shard:
                for agent in rng.sample(AGENT_IDS, len(AGENT_IDS)):
                    verb = rng.choice(("offer", "assign"))
                    try:
                        if verb == "offer":
                            await store.offer(rid, agent, LONG_TIMEOUT_S)
                        else:
                            await store.assign(rid, agent)
                    except WrongState as refused:
                        refusals[refused.code] += 1
                        break  # another router took it
                    except AgentRefused as refused:
                        refusals[refused.code] += 1
                        continue
                    successes.append((rid, agent, verb))
                    break

        await asyncio.gather(
            *(
                router(store, rids[t::tasks_per_client], random.Random(rng.random()))
                for store in stores
                for t in range(tasks_per_client)
            )
        )
    finally:
        for r in redises:
            await r.aclose()
    return successes, refusals


async def check_holdings(redis: Redis, keys: Keys, successes, candidates: list[str]) -> None:
    """The store holds exactly what the successful calls took, and no more than fits."""
    store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
    taken = [rid for rid, _, _ in successes]
    assert len(taken) == len(set(taken)), "a request was taken twice"

    holdings = {}
    for agent_id in AGENT_IDS:
        for rid, channel in (await agents.holds(agent_id)).items():
            assert rid not in holdings, f"{rid} held by two agents"
            holdings[rid] = (agent_id, channel)
    assert holdings.keys() == set(taken)

    offers = {m.decode() for m in await redis.zrange(keys.offers, 0, -1)}
    for rid, agent_id, verb in successes:
        record = await store.get(rid)
        assert holdings[rid] == (agent_id, record.request.channel)
        assert record.agent == agent_id
        assert record.state is (State.OFFERED if verb == "offer" else State.ASSIGNED)
        assert (rid in offers) == (verb == "offer")
    assert offers <= holdings.keys()

    for agent in await agents.all():
        held = Counter(channel for a, channel in holdings.values() if a == agent.id)
        assert agent.load == dict(held), agent.id  # zero loads are left out of Agent.load
        for channel, n in held.items():
            assert n <= agent.capacity[channel], (agent.id, channel)

    # What nobody took still waits, in its queue.
    for rid in set(candidates) - set(taken):
        record = await store.get(rid)
        assert record.state is State.WAITING
        assert await redis.zscore(keys.queue(record.request.queue), rid) is not None

    # Every agent is full on every channel that had more requests than places.
    channels = Counter([(await store.get(rid)).request.channel.value for rid in candidates])
    for channel in ("chat", "email"):
        wanted = channels[channel]
        got = sum(1 for _, ch in holdings.values() if ch == channel)
        assert got == min(wanted, total_capacity(channel)), channel


async def takes_per_request(redis: Redis, keys: Keys) -> Counter:
    """How many `offered` or `assigned` events each request has in the stream."""
    events = await EventLog(redis, keys).range()
    assert not [e for e in events if e.type in (EventType.REJECTED, EventType.EXPIRED)]
    return Counter(e.request for e in events if e.type in (EventType.OFFERED, EventType.ASSIGNED))


async def drain(redis: Redis, keys: Keys, successes) -> None:
    """Finish everything taken in a round, so that the next round has the places again."""
    store = QueueStore(redis, keys)
    for rid, agent, verb in successes:
        if verb == "offer":
            await store.accept(rid, agent)
        await store.complete(rid, agent, "done")


async def test_connections_racing_offers_and_assigns_never_double_assign(redis, redis_server):
    keys = Keys("race")
    rids = await seed(redis, keys)
    store = QueueStore(redis, keys)
    all_successes = []
    rounds = collisions = 0
    while rounds < 10:  # 200 requests into 50 places: 4 rounds are enough
        waiting = [rid for rid in rids if (await store.get(rid)).state is State.WAITING]
        if not waiting:
            break
        rounds += 1
        successes, refusals = await race(
            redis_server.url, keys, waiting, seed_=rounds, clients=4, tasks_per_client=4
        )
        # Only the refusals that losing a race or a full agent give; never a stale read.
        assert set(refusals) <= {ErrorCode.WRONG_STATE, ErrorCode.NO_CAPACITY}, refusals
        collisions += refusals[ErrorCode.WRONG_STATE]
        await check_holdings(redis, keys, successes, waiting)
        all_successes += successes
        await drain(redis, keys, successes)

    assert rounds == 4
    assert collisions > 0  # the routers did race for the same requests
    assert sorted(rid for rid, _, _ in all_successes) == sorted(rids)
    for rid in rids:
        assert (await store.get(rid)).state is State.COMPLETED
    takes = await takes_per_request(redis, keys)
    assert takes == Counter({rid: 1 for rid in rids})
    for agent in await AgentStore(redis, keys).all():
        assert agent.load == {}
        assert await AgentStore(redis, keys).holds(agent.id) == {}


async def test_racing_routers_leave_no_trace_of_losing(redis, redis_server):
    """Every router wants the same single request and the same agent at once: one wins."""
    keys = Keys("race")
    await AgentStore(redis, keys).upsert(
        Agent(id="solo", name="Solo", capacity={"chat": 1}, presence=Presence.AVAILABLE)
    )
    store = QueueStore(redis, keys)
    rids = []
    for round_ in range(20):
        rid = (await store.enqueue(Request(id="", channel=Channel.CHAT, queue="q"))).id
        rids.append(rid)
        redises = [Redis.from_url(redis_server.url) for _ in range(8)]
        try:
            results = await asyncio.gather(
                *(
                    QueueStore(r, keys).offer(rid, "solo", LONG_TIMEOUT_S)
                    if i % 2
                    else QueueStore(r, keys).assign(rid, "solo")
                    for i, r in enumerate(redises)
                ),
                return_exceptions=True,
            )
        finally:
            for r in redises:
                await r.aclose()
        won = [x for x in results if not isinstance(x, Exception)]
        lost = [x for x in results if isinstance(x, Exception)]
        assert len(won) == 1, (round_, results)
        assert all(isinstance(x, WrongState) for x in lost), lost
        assert await AgentStore(redis, keys).holds("solo") == {rid: "chat"}
        assert (await AgentStore(redis, keys).get("solo")).load == {"chat": 1}
        record = await store.get(rid)
        if record.state is State.OFFERED:
            await store.accept(rid, "solo")
        await store.complete(rid, "solo")
    assert await takes_per_request(redis, keys) == Counter({rid: 1 for rid in rids})


# -- two OS processes ----------------------------------------------------------------------------


def race_in_process(url: str, tenant: str, rids: list[str], seed_: int) -> tuple[list, dict]:
    """Runs in a spawned process: wait until both processes are up, then race."""

    async def main() -> tuple[list, dict]:
        keys = Keys(tenant)
        redis = Redis.from_url(url)
        try:
            await redis.incr("race-barrier")
            for _ in range(BARRIER_WAIT_S * 100):
                if int(await redis.get("race-barrier")) >= 2:
                    break
                await asyncio.sleep(0.01)
            else:
                raise RuntimeError("the other process never started")
        finally:
            await redis.aclose()
        successes, refusals = await race(url, keys, rids, seed_, clients=2, tasks_per_client=4)
        return successes, {int(code): n for code, n in refusals.items()}

    return asyncio.run(main())


async def test_two_processes_racing_offers_never_double_assign(redis, redis_server):
    keys = Keys("race")
    rids = await seed(redis, keys)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(
                loop.run_in_executor(pool, race_in_process, redis_server.url, "race", rids, n)
                for n in (1, 2)
            )
        )

    successes = [tuple(s) for found, _ in results for s in found]
    per_process = [len(found) for found, _ in results]
    refusals = Counter()
    for _, codes in results:
        refusals.update({ErrorCode(code): n for code, n in codes.items()})
    assert set(refusals) <= {ErrorCode.WRONG_STATE, ErrorCode.NO_CAPACITY}, refusals
    assert sum(per_process) == total_capacity("chat") + total_capacity("email")
    await check_holdings(redis, keys, successes, rids)
    takes = await takes_per_request(redis, keys)
    assert set(takes.values()) == {1}
    assert takes.keys() == {rid for rid, _, _ in successes}
