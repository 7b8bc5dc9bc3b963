"""Operations (issue 10, defects 9 and 10): a port already in use is one clean line; SIGHUP
applies channel settings that can be applied and names every key that waits for a restart;
/metrics needs its token (or a loopback client); Redis memory is checked at start-up against
what the retention will need, and shown on /metrics."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis

from frontdesk.channels.phone import signed_headers
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.memory import BYTES_PER_REQUEST
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.router.daemon.settings import load_settings
from frontdesk.router.http.auth import digest, new_token

SECRET, NEW_SECRET = "the-first-ivr-secret", "the-second-ivr-secret"
METRICS_TOKEN = new_token()


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port that a socket of this test listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _write(path: Path, data_dir: Path, http_port: int, extra: str = "") -> Path:
    path.write_text(
        f"tenant: ops\nredis: {{data_dir: {data_dir}}}\nhttp: {{port: {http_port}}}\n"
        "queues: {general: {}}\ndefault_queue: general\n" + extra
    )
    return path


def _refused_in_one_line(daemon, data_dir: Path, says: str) -> None:
    assert daemon.wait() == 1
    errors = [line for line in daemon.lines if " ERROR " in line]
    assert len(errors) == 1 and errors[0].endswith(says), daemon.log
    assert "Traceback" not in daemon.log
    pid = int(daemon.wait_for(r"embedded redis-server pid (\d+)")[1])  # it ran, and stopped
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


def test_an_http_port_in_use_is_one_line_naming_it(daemons, tmp_path, held_port) -> None:
    data_dir = tmp_path / "data"
    daemon = daemons(_write(tmp_path / "f.yaml", data_dir, held_port))
    says = f"cannot listen on 127.0.0.1:{held_port} (http.host, http.port): address already in use"
    _refused_in_one_line(daemon, data_dir, says)


def test_an_smtp_port_in_use_is_one_line_naming_it(daemons, tmp_path, held_port) -> None:
    data_dir = tmp_path / "data"
    smtp = f"channels:\n  smtp: {{port: {held_port}, addresses: {{help@example.com: {{}}}}}}\n"
    daemon = daemons(_write(tmp_path / "f.yaml", data_dir, 0, smtp))
    says = (
        f"cannot listen on 127.0.0.1:{held_port} (channels.smtp.host, channels.smtp.port): "
        "address already in use"
    )
    _refused_in_one_line(daemon, data_dir, says)


# -- in-process daemons on the test Redis ---------------------------------------------------------
def _config(url: str, secret: str = SECRET, extra: str = "") -> str:
    return (
        f'tenant: opstest\nredis: {{url: "{url}"}}\nhttp: {{port: 0}}\n'
        "queues: {general: {}}\ndefault_queue: general\n"
        f"channels:\n  phone: {{secret: {secret}}}\n" + extra
    )


async def _started(path: Path) -> Daemon:
    daemon = Daemon(load_settings(path), path)
    await daemon.start()
    return daemon


def _base(daemon: Daemon) -> str:
    assert daemon.address is not None
    return f"http://127.0.0.1:{daemon.address[1]}"


async def _callback(daemon: Daemon, secret: str) -> int:
    raw = json.dumps({"number": "+8613800138000", "reason": "call me"}).encode()
    headers = {"Content-Type": "application/json", **signed_headers(secret, raw)}
    url = _base(daemon) + "/v1/callbacks"
    async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as got:
        return got.status


async def test_sighup_applies_channel_settings_and_names_restart_only_keys(
    redis, redis_server, tmp_path, caplog
) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(_config(redis_server.url))
    daemon = await _started(path)
    try:
        assert await _callback(daemon, NEW_SECRET) == 401
        hook = (
            "events:\n  webhooks:\n"
            "    - {name: crm, url: 'http://127.0.0.1:9/x', secret: s3cr3t-s3cr3t-s3cr3t}\n"
        )
        hook += "retention: {records: 30d}\n"
        text = _config(redis_server.url, NEW_SECRET, hook).replace("port: 0", "port: 18099")
        path.write_text(text)
        with caplog.at_level(logging.INFO, logger="frontdesk"):
            assert await daemon.reload()
        assert await _callback(daemon, NEW_SECRET) == 201  # applied without a restart
        assert await _callback(daemon, SECRET) == 401
        said = [r.getMessage() for r in caplog.records]
        assert "config channels.phone.secret changed: applied" in said
        assert "config http.port changed: takes effect at the next restart" in said
        assert "config events.webhooks changed: takes effect at the next restart" in said
        assert "config retention.records changed: takes effect at the next restart" in said
        assert daemon.settings.http.port == 0  # kept as it runs
        assert not any(NEW_SECRET in line for line in said)
        # a channel added while running needs its routes mounted: a restart
        path.write_text(text.replace("  phone:", "  form: {}\n  phone:"))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="frontdesk"):
            assert await daemon.reload()
        said = [r.getMessage() for r in caplog.records]
        assert "config channels.form changed: takes effect at the next restart" in said
        assert "form" not in daemon.settings.channels
    finally:
        await daemon.stop()


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as got:
        return got.status, await got.text()


async def test_metrics_need_the_token_when_one_is_set(redis, redis_server, tmp_path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        _config(redis_server.url, extra=f'metrics: {{token_sha256: "{digest(METRICS_TOKEN)}"}}\n')
    )
    daemon = await _started(path)
    try:
        url = _base(daemon) + "/metrics"
        status, body = await _get(url)
        assert status == 401 and json.loads(body)["error"]["field"] == "Authorization"
        status, _ = await _get(url, {"Authorization": "Bearer not-the-token"})
        assert status == 401
        status, body = await _get(url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200 and "frontdesk_redis_up" in body
    finally:
        await daemon.stop()


async def test_without_a_token_metrics_answer_loopback_clients_only(
    redis, redis_server, tmp_path
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(_config(redis_server.url))
    daemon = await _started(path)
    try:
        url = _base(daemon) + "/metrics"
        assert (await _get(url))[0] == 200
        status, body = await _get(url, {"X-Forwarded-For": "203.0.113.7"})  # through a proxy
        assert status == 403 and json.loads(body)["error"]["field"] == "metrics.token_sha256"
    finally:
        await daemon.stop()


# -- Redis memory ---------------------------------------------------------------------------------
def _gauges(body: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line.startswith("frontdesk_redis_")
    }


async def test_unset_maxmemory_warns_at_start_and_the_gauges_show_it(
    redis, redis_server, tmp_path, caplog
) -> None:
    path = tmp_path / "mem.yaml"
    path.write_text(_config(redis_server.url))
    assert (await redis.config_get("maxmemory"))["maxmemory"] == "0"
    with caplog.at_level(logging.WARNING, logger="frontdesk"):
        daemon = await _started(path)
    try:
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(s.startswith("Redis maxmemory is unset") for s in said), said
        status, body = await _get(_base(daemon) + "/metrics")
        assert status == 200
        gauges = _gauges(body)
        assert gauges["frontdesk_redis_maxmemory_bytes"] == 0
        assert gauges["frontdesk_redis_used_bytes"] > 0
        assert gauges["frontdesk_redis_projected_bytes"] == 0  # nothing served yet, no rate set
    finally:
        await daemon.stop()


async def test_a_maxmemory_below_the_projection_warns(
    redis, redis_server, tmp_path, caplog
) -> None:
    path = tmp_path / "mem.yaml"
    url = redis_server.url
    path.write_text(_config(url).replace(f'"{url}"}}', f'"{url}", expected_rate: 10000}}'))
    await redis.config_set("maxmemory", str(256 << 20))
    try:
        with caplog.at_level(logging.WARNING, logger="frontdesk"):
            daemon = await _started(path)
        try:
            said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert not any(s.startswith("Redis maxmemory is unset") for s in said), said
            below = [
                s for s in said if s.startswith("Redis maxmemory 256MB is below the projected")
            ]
            assert below and "10000 requests a day x 90 days" in below[0], said
            status, body = await _get(_base(daemon) + "/metrics")
            gauges = _gauges(body)
            assert status == 200 and gauges["frontdesk_redis_maxmemory_bytes"] == 256 << 20
            assert gauges["frontdesk_redis_projected_bytes"] == 10000 * 90 * BYTES_PER_REQUEST
        finally:
            await daemon.stop()
    finally:
        await redis.config_set("maxmemory", "0")


def test_the_embedded_server_never_evicts_and_takes_its_limit(tmp_path) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="no", maxmemory=64 << 20)
    server.start()
    try:
        client = sync_redis.Redis.from_url(server.url)
        try:
            found = client.config_get("maxmemory*")
            assert found["maxmemory-policy"] == "noeviction"
            assert found["maxmemory"] == str(64 << 20)
        finally:
            client.close()
    finally:
        server.stop()
