"""One real redis-server per test session (the binary the daemon itself runs), flushed per test."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from notice_standins import SmtpRelay
from queue_ops_helpers import Events
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.events import EventLog
from frontdesk.queues.keys import Keys
from frontdesk.queues.store import QueueStore, StoreSettings
from frontdesk.router.daemon.redis_server import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendfsync="no")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


Tool = Callable[..., "asyncio.Future[tuple[int, str, str]]"]


@pytest.fixture
def tool(redis_server: EmbeddedRedis, tmp_path: Path) -> Tool:
    """Run a command-line tool's `main(argv)` in a thread with `--config` for tenant `test` on
    the test redis-server (the file is `tool.config`, to rewrite); returns the exit code, stdout
    and stderr. An option argparse refuses is its exit code 2."""
    config = tmp_path / "tool.yaml"
    config.write_text(
        f'tenant: test\nredis: {{url: "{redis_server.url}"}}\n'
        "queues: {general: {}}\ndefault_queue: general\n"
    )

    def run(main: Callable[[list[str]], int], *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*argv, "--config", str(config)])
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue()

    def start(main: Callable[[list[str]], int], *argv: str) -> asyncio.Future[tuple[int, str, str]]:
        return asyncio.ensure_future(asyncio.to_thread(run, main, *argv))

    start.config = config  # type: ignore[attr-defined]
    return start


@pytest.fixture
def keys() -> Keys:
    return Keys("test")


@pytest.fixture
def store(redis: Redis, keys: Keys) -> QueueStore:
    return QueueStore(redis, keys, StoreSettings(max_missed_offers=2))


@pytest.fixture
def agents(redis: Redis, keys: Keys) -> AgentStore:
    return AgentStore(redis, keys)


@pytest.fixture
async def events(redis: Redis, keys: Keys) -> Events:
    """The events appended from now on (tests/queue_ops_helpers.py)."""
    tracker = Events(EventLog(redis, keys))
    await tracker.new()
    return tracker


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


MINI_CONFIG = """\
tenant: t1
redis:
  data_dir: {data_dir}
http:
  port: 0
skills: [billing]
queues:
  general: {{}}
default_queue: general
agents:
  - id: ann
    skills: {{billing: 3}}
    capacity: {{chat: {chat_capacity}}}
    presence: available
"""


@pytest.fixture
def daemon_config(tmp_path: Path):
    """Write a small config (embedded Redis under tmp_path, a free HTTP port); returns a function
    that writes it again with other values, and the path."""
    path = tmp_path / "frontdesk.yaml"

    def write(chat_capacity: int = 2, extra: str = "") -> Path:
        text = MINI_CONFIG.format(data_dir=tmp_path / "data", chat_capacity=chat_capacity)
        path.write_text(text + extra)
        return path

    write()
    return write


@pytest.fixture
def daemons(tmp_path: Path):
    """Start `frontdesk serve` subprocesses; every one still running is killed at teardown."""
    from daemon_proc import DaemonProcess

    started: list[DaemonProcess] = []

    def start(config: Path) -> DaemonProcess:
        proc = DaemonProcess(config, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


FRONT_CONFIG = """\
tenant: test
skills: [billing, chinese]
queues:
  general: {}
  chat: {offer_timeout: 20s}
  email: {mode: assign}
  phone: {offer_timeout: 15s}
default_queue: general
limits:
  per_sender: {count: 1000, per: 1m}
  per_source: {count: 1000, per: 1m}
rules:
  - name: by-channel-chat
    when: {channel: [chat, social]}
    then: {queue: chat}
  - name: by-channel-email
    when: {channel: email}
    then: {queue: email}
  - name: by-channel-phone
    when: {channel: phone}
    then: {queue: phone}
"""


@pytest.fixture
def front_settings():
    """Settings for channel tests; a test may override `front_config_text` to change them."""
    from frontdesk.router.daemon.settings import parse_settings

    return parse_settings(FRONT_CONFIG, "front.yaml")


@pytest.fixture
async def front(store: QueueStore, front_settings):
    """The front door every channel calls, on the test Redis (tenant "test")."""
    from frontdesk.queues.customers import CustomerStore
    from frontdesk.router.intake.front import Front

    door = Front(store, CustomerStore(store), lambda: front_settings)
    await door.start()
    return door


@pytest.fixture
async def relay() -> AsyncIterator[SmtpRelay]:
    """A real SMTP relay on a free loopback port that takes the daemon's notices."""
    server = SmtpRelay()
    await server.start()
    yield server
    await server.stop()
