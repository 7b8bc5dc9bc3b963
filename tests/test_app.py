"""The daemon in-process against a Redis we can stop: readiness, refusals, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from frontdesk.router.cli.main import main
from frontdesk.router.daemon.daemon import Daemon
from frontdesk.router.daemon.redis_server import (
    EmbeddedRedis,
    RedisServerError,
    RedisURLError,
    check_url,
    find_binary,
)
from frontdesk.router.daemon.settings import parse_settings

CONFIG = """\
redis:
  url: {url}
http:
  port: 0
queues:
  general: {{}}
default_queue: general
"""


def _settings(url: str):
    return parse_settings(CONFIG.format(url=url), "test.yaml")


async def test_readyz_is_503_with_retry_after_while_redis_is_down(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="no")
    server.start()
    daemon = Daemon(_settings(server.url), "test.yaml")
    await daemon.start()
    assert daemon.address is not None
    base = f"http://127.0.0.1:{daemon.address[1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/readyz") as response:
                assert response.status == 200
            server.stop()
            async with http.get(base + "/readyz") as response:
                assert response.status == 503
                assert response.headers["Retry-After"] == "5"
                body = await response.json()
                assert body["error"]["code"] == "redis_unavailable"
            async with http.get(base + "/healthz") as response:
                assert response.status == 200
            async with http.get(base + "/metrics") as response:
                assert "frontdesk_redis_up 0.0" in await response.text()
            server.start()
            async with http.get(base + "/readyz") as response:
                assert response.status == 200
    finally:
        await daemon.stop()
        server.stop()


async def test_unreachable_redis_url_fails_start_with_its_address() -> None:
    daemon = Daemon(_settings("redis://127.0.0.1:1/0"), "test.yaml", connect_timeout_s=0.3)
    with pytest.raises(RedisServerError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        await daemon.start()
    await daemon.stop()


@pytest.mark.parametrize(
    ("url", "named"),
    [("http://h:6379", "'http'"), ("localhost:6379", "'localhost'"), ("", "'(none)'")],
)
def test_bad_redis_url_scheme_is_named(url: str, named: str) -> None:
    with pytest.raises(RedisURLError, match=re.escape(f"unsupported Redis URL scheme {named}")):
        check_url(url)


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://h:6380", "unix:///run/r.sock"])
def test_good_redis_urls_pass(url: str) -> None:
    assert check_url(url) == url


def test_unix_url_needs_a_path() -> None:
    with pytest.raises(RedisURLError, match="needs a socket path"):
        check_url("unix://")


def test_configured_binary_must_be_executable(tmp_path: Path) -> None:
    with pytest.raises(RedisServerError, match="not an executable"):
        find_binary(str(tmp_path / "nope"))
    assert Path(find_binary()).name == "redis-server"


def test_embedded_redis_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "r", appendfsync="no")
    first.start()
    try:
        with pytest.raises(RedisServerError, match="already answers"):
            EmbeddedRedis(tmp_path / "r").start()
    finally:
        first.stop()


def test_embedded_redis_runs_with_the_configured_appendfsync(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="always")
    server.start()
    try:
        conf = (tmp_path / "r" / "redis.conf").read_text()
        assert "appendonly yes" in conf and "appendfsync always" in conf
        assert (tmp_path / "r" / "appendonly.aof").exists()
    finally:
        server.stop()


def test_check_config_cli(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(repo_root / "config" / "frontdesk.example.yaml")]) == 0
    assert "ok (8 queues, 6 agents)" in capsys.readouterr().out
    bad = repo_root / "tests" / "configs" / "wrong_types.yaml"
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6: http.port: must be a whole number" in err
    assert err.rstrip().endswith("4 problems")


async def test_a_state_change_that_keeps_losing_its_race_is_a_temporary_refusal() -> None:
    """The front door gives up after a few lost races (StaleRead): 503 with Retry-After, which a
    sender retries, not a 500."""
    from aiohttp import web

    from frontdesk.queues.errors import ErrorCode, StaleRead
    from frontdesk.router.http.errors import json_errors

    async def contended(request: web.Request) -> web.Response:
        raise StaleRead(ErrorCode.STALE, None, "conversation of customer C-1")

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/v1/requests", contended)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/v1/requests") as response,
        ):
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            assert (await response.json())["error"]["code"] == "contended"
    finally:
        await runner.cleanup()
