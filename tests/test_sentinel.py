"""Redis Sentinel: a real primary, one replica and three sentinels (tests/redis_topology.py); a
daemon on `redis.sentinel` with `wait_replicas: 1`. The primary is SIGKILLed under load: after the
failover the daemon takes requests again by itself, every acknowledged request is on the new
primary, and routing resumes. With the replica gone, intake refuses temporarily instead of
acknowledging what only the primary has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from redis_topology import Replicated, replicated, wait_until

from frontdesk.queues.keys import Keys
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.settings import parse_settings

ORIGIN = "https://shop.example.test"
FAILOVER_S = 30.0
POST_TIMEOUT_S = 5.0


def config(setup: Replicated, wait_replicas: int = 1) -> str:
    nodes = ", ".join(f'"{a}"' for a in setup.sentinel_nodes)
    return f"""\
tenant: failover
redis:
  sentinel:
    master: frontdesk
    nodes: [{nodes}]
  wait_replicas: {wait_replicas}
  wait_timeout: 500ms
http: {{port: 0}}
queues:
  general: {{offer_timeout: 10m}}
default_queue: general
limits:
  per_sender: {{count: 100000, per: 1m}}
  per_source: {{count: 100000, per: 1m}}
agents:
  - id: ann
    capacity: {{form: 1000}}
    presence: available
channels:
  form:
    sites:
      - key: site-0001
        origins: ["{ORIGIN}"]
"""


@contextlib.asynccontextmanager
async def running(text: str, directory: Path) -> AsyncIterator[Daemon]:
    path = directory / "frontdesk.yaml"
    path.write_text(text)
    daemon = Daemon(parse_settings(text, str(path)), path)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def post(
    http: aiohttp.ClientSession, daemon: Daemon, key: str
) -> tuple[int, str | None, dict[str, str]]:
    """Send one form request; its status, the request id when acknowledged, the headers."""
    assert daemon.address is not None
    url = f"http://127.0.0.1:{daemon.address[1]}/v1/requests"
    form = {"name": "Li", "email": f"{key}@example.test", "body": f"request {key}"}
    headers = {"Origin": ORIGIN, "X-Frontdesk-Site": "site-0001", "Idempotency-Key": key}
    timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
    try:
        async with http.post(url, json=form, headers=headers, timeout=timeout) as response:
            body = await response.json()
            found = body.get("id") if response.status in (200, 201) else None
            return response.status, found, dict(response.headers)
    except (TimeoutError, aiohttp.ClientError):
        return 0, None, {}


async def until(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"no {what} within {timeout_s}s"
        await asyncio.sleep(0.1)


async def test_primary_killed_under_load_fails_over_and_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    with replicated(tmp_path / "redis") as setup:
        async with running(config(setup), tmp_path) as daemon, aiohttp.ClientSession() as http:
            acked: dict[str, str] = {}
            statuses: list[int] = []
            killed = asyncio.Event()

            async def load(worker: int) -> None:
                """A sender: one request after another, backing off a little on a refusal;
                30 acknowledged before the kill, until 30 more after it (or the deadline)."""
                deadline = asyncio.get_running_loop().time() + FAILOVER_S
                for n in range(5000):
                    if asyncio.get_running_loop().time() > deadline:
                        return
                    if len(acked) >= 30 and not killed.is_set():
                        await asyncio.sleep(0.05)
                        continue
                    if killed.is_set() and len(acked) >= 60:
                        return
                    key = f"w{worker}-{n}"
                    status, request_id, _ = await post(http, daemon, key)
                    statuses.append(status)
                    if request_id is not None:
                        acked[key] = request_id
                    else:
                        assert status in (0, 503), f"{key}: {status}"  # 0: timed out
                        await asyncio.sleep(0.1)

            workers = [asyncio.create_task(load(w)) for w in range(4)]
            await until(lambda: _true(len(acked) >= 30), 20, "30 acknowledgements")
            old_port = setup.primary.port
            setup.primary.kill()  # SIGKILL, under load
            killed.set()
            await asyncio.to_thread(
                wait_until, lambda: setup.master_port() != old_port, FAILOVER_S, "a failover"
            )
            new_port = setup.master_port()
            assert new_port == setup.replica.port
            # the old primary comes back (as an operator would restart it) as the new one's
            # replica, so that acknowledgements can wait for a replica again
            setup.primary.lines = [f"replicaof 127.0.0.1 {new_port}"]
            setup.primary.start()
            await asyncio.wait_for(asyncio.gather(*workers), FAILOVER_S + POST_TIMEOUT_S)
            assert 503 in statuses or 0 in statuses  # it was down for a while

            # the daemon takes requests again, by itself
            status, after_id, _ = await post(http, daemon, "after-failover")
            assert status == 201 and after_id is not None

            # every acknowledged request is on the new primary
            primary = Redis(host="127.0.0.1", port=new_port)
            try:
                store = QueueStore(primary, Keys("failover"))
                ids = sorted(set(acked.values()))
                records = await store.get_many(ids)
                missing = [i for i, r in zip(ids, records, strict=True) if r is None]
                assert not missing, f"acknowledged, then lost in the failover: {missing}"
                assert len(acked) >= 60

                async def offered() -> bool:
                    record = await store.get(after_id)
                    return record is not None and record.state is State.OFFERED

                await until(offered, 15, "offer of the request made after the failover")
            finally:
                await primary.aclose()


async def _true(value: bool) -> bool:
    return value


async def test_without_its_replica_intake_refuses_instead_of_acknowledging(
    tmp_path: Path,
) -> None:
    with replicated(tmp_path / "redis") as setup:
        async with running(config(setup), tmp_path) as daemon, aiohttp.ClientSession() as http:
            status, first, _ = await post(http, daemon, "k-1")
            assert status == 201 and first is not None  # the replica confirms it

            setup.replica.kill()
            status, request_id, headers = await post(http, daemon, "k-2")
            assert (status, request_id) == (503, None)
            assert int(headers["Retry-After"]) > 0

            setup.replica.start()  # it syncs again; the sender's retry is then acknowledged
            await asyncio.to_thread(
                wait_until, lambda: _replica_linked(setup), 15, "the replica to sync"
            )
            status, retried, _ = await post(http, daemon, "k-2")
            assert status in (200, 201) and retried is not None
            status, again, _ = await post(http, daemon, "k-2")  # deduplicated: the same one
            assert (status, again) == (200, retried)


def _replica_linked(setup: Replicated) -> bool:
    with setup.replica.client() as c:
        return c.info("replication").get("master_link_status") == "up"
