"""`frontdesk serve` as a real process: health, readiness, metrics, restart, signals."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Priority, Request
from frontdesk.queues.states import State
from frontdesk.queues.store import QueueStore


async def _get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, dict(response.headers), await response.text()


def _redis_pid(data_dir: Path) -> int:
    return int((data_dir / "redis.pid").read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_serves_health_readiness_metrics_and_openapi(daemon_config, daemons) -> None:
    daemon = daemons(daemon_config())
    daemon.wait_ready()
    status, _, body = await _get(daemon.url + "/healthz")
    assert (status, body) == (200, '{"status": "ok"}')
    status, _, body = await _get(daemon.url + "/readyz")
    assert (status, body) == (200, '{"status": "ready"}')
    status, headers, body = await _get(daemon.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'frontdesk_agents{presence="available"} 1.0' in body
    status, _, body = await _get(daemon.url + "/v1/openapi.json")
    assert status == 200 and '"openapi": "3.1.0"' in body and '"/readyz"' in body
    status, headers, body = await _get(daemon.url + "/no-such-thing")
    assert status == 404 and headers["Content-Type"].startswith("application/json")
    assert '"code": "not_found"' in body and "Traceback" not in body
    status, headers, body = await _get(daemon.url + "/v1/requests/FD-1")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert '"code": "unauthorized"' in body


async def test_restart_after_hard_kill_keeps_every_waiting_request(
    daemon_config, daemons, tmp_path
) -> None:
    config = daemon_config()
    data_dir = tmp_path / "data"
    first = daemons(config)
    first.wait_ready()
    redis = Redis.from_url(f"unix://{data_dir / 'redis.sock'}")
    store = QueueStore(redis, Keys("t1"))
    ids = []
    for i in range(60):
        priority = (Priority.LOW, Priority.MEDIUM, Priority.HIGH)[i % 3]
        request = Request("", Channel.EMAIL, "general", external_id=f"<m{i}@x>", priority=priority)
        ids.append((await store.enqueue(request)).id)
    before = await store.peek("general", 100)
    await redis.aclose()

    redis_pid = _redis_pid(data_dir)
    os.kill(redis_pid, signal.SIGKILL)  # both hard: no shutdown hook runs in either
    first.proc.kill()
    first.wait()
    while _alive(redis_pid):
        time.sleep(0.01)

    second = daemons(config)
    second.wait_ready()
    redis = Redis.from_url(f"unix://{data_dir / 'redis.sock'}")
    store = QueueStore(redis, Keys("t1"))
    try:
        assert await store.peek("general", 100) == before
        assert sorted(before) == sorted(ids)
        for request_id in ids:
            record = await store.get(request_id)
            assert record is not None and record.state is State.WAITING
        again = await store.enqueue(Request("", Channel.EMAIL, "general", external_id="<m7@x>"))
        assert (again.id, again.created) == (ids[7], False)
    finally:
        await redis.aclose()


def test_sigterm_stops_daemon_and_its_redis(daemon_config, daemons, tmp_path) -> None:
    daemon = daemons(daemon_config())
    daemon.wait_ready()
    redis_pid = _redis_pid(tmp_path / "data")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "frontdesk stopped" in daemon.log
    assert not _alive(redis_pid)


def test_a_quiet_stream_at_start_is_not_taken_for_a_lost_one(daemon_config, daemons) -> None:
    """The follower starts after the last event there is; with nothing new for a few of its
    one-second reads it must not decide that Redis lost its data (it did, from "now")."""
    daemon = daemons(daemon_config())
    daemon.wait_ready()
    time.sleep(3)  # three empty reads of the follower, each checking the stream's bounds
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert "Redis lost its data" not in daemon.log, daemon.log
    assert "WARNING frontdesk: " not in daemon.log, daemon.log


def test_killed_daemon_takes_its_redis_with_it(daemon_config, daemons, tmp_path) -> None:
    daemon = daemons(daemon_config())
    daemon.wait_ready()
    redis_pid = _redis_pid(tmp_path / "data")
    daemon.proc.kill()
    daemon.wait()
    deadline = time.monotonic() + 10
    while _alive(redis_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(redis_pid)


async def test_sighup_applies_a_good_config_and_refuses_a_bad_one(
    daemon_config, daemons, tmp_path
) -> None:
    daemon = daemons(daemon_config(chat_capacity=2))
    daemon.wait_ready()
    daemon_config(chat_capacity=5)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for("config reloaded")
    redis = Redis.from_url(f"unix://{tmp_path / 'data' / 'redis.sock'}")
    try:
        assert await redis.hget(Keys("t1").agent("ann"), "cap:chat") == b"5"
        daemon_config(chat_capacity=5, extra="bogus_key: 1\n")
        daemon.signal(signal.SIGHUP)
        refused = daemon.wait_for(r"reload refused: (\S+):(\d+): bogus_key: unknown key")
        assert refused[1].endswith("frontdesk.yaml") and refused[2] == "15"
        assert await redis.hget(Keys("t1").agent("ann"), "cap:chat") == b"5"
        status, _, _ = await _get(daemon.url + "/readyz")
        assert status == 200
    finally:
        await redis.aclose()


def test_serve_refuses_a_bad_config_before_starting_anything(
    daemon_config, daemons, tmp_path
) -> None:
    daemon = daemons(daemon_config(extra="offers:\n  max_missed_in_a_row: lots\n"))
    assert daemon.wait() == 2
    assert "frontdesk.yaml:16: offers.max_missed_in_a_row: must be a whole number" in daemon.log
    assert not (tmp_path / "data").exists()


def test_second_daemon_on_the_same_data_dir_is_refused(daemon_config, daemons) -> None:
    config = daemon_config()
    first = daemons(config)
    first.wait_ready()
    second = daemons(config)
    assert second.wait() == 1
    assert "another frontdesk" in second.log and "redis.url" in second.log
    assert first.proc.poll() is None
