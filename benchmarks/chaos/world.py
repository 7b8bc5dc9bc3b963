"""The world a scenario runs in: an external redis-server (AOF, appendfsync always, a unix
socket in a temporary directory), N `frontdesk serve` subprocesses on fixed loopback ports (so
that a restarted daemon answers where its clients expect it), and their logs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml
from redis.asyncio import Redis

from frontdesk.router.bench.target import ORIGIN, DaemonProcess, Target, generate_config
from frontdesk.router.daemon.redis_server import EmbeddedRedis

READY_TIMEOUT_S = 60.0
TELEGRAM_BOT = "chaos_bot"
WECHAT_APP = "wxchaos0123456789"


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process (VmRSS, KiB); None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Backend(Protocol):
    """Where the daemons' Redis is: what their config says, and a client for the audit."""

    def section(self) -> dict[str, Any]: ...
    def client(self) -> Redis: ...
    def pids(self) -> list[int]: ...
    def stop(self) -> None: ...


class SingleRedis:
    """One redis-server on a unix socket, AOF with appendfsync always; SIGKILL and restart it
    on the same AOF."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = EmbeddedRedis(directory, appendfsync="always")

    def start(self) -> None:
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def section(self) -> dict[str, Any]:
        return {"url": self.url}

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def pids(self) -> list[int]:
        return [self.server.pid] if self.server.pid else []

    def kill(self) -> None:
        pid = self.server.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.server = EmbeddedRedis(self.directory, appendfsync="always")

    def stop(self) -> None:
        self.server.stop()


@dataclass(frozen=True, slots=True)
class Secrets:
    phone: str = field(default_factory=lambda: secrets.token_hex(16))
    telegram: str = field(default_factory=lambda: "tg_" + secrets.token_hex(12))
    whatsapp: str = field(default_factory=lambda: secrets.token_hex(16))
    wechat: str = field(default_factory=lambda: "wx" + secrets.token_hex(8))


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` deep-merged into a copy of `base`."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def chaos_config(
    raw: dict[str, Any], backend: Backend, keys: Secrets, overlay: dict[str, Any]
) -> dict[str, Any]:
    """The bench config with every channel the chaos suite drives: phone, Telegram, WhatsApp
    and WeChat beside form, generic webhook, SMTP and chat; offers that time out in 15 s; agents
    let go 3 s after they were last heard, their accepted work 6 s after."""
    config = copy.deepcopy(raw)
    config["redis"] = backend.section()
    config.pop("offers", None)  # the shipped default: 3 missed offers in a row set an agent away
    config["queues"]["phone"] = {}
    config["rules"].append(
        {"name": "phone", "when": {"channel": "phone"}, "then": {"queue": "phone"}}
    )
    # A vanished agent (one scenario's a0 never comes back) lets go within the drain period:
    # the shipped defaults (60 s, 10 min) are a desk's; these are short enough to watch. Bodies
    # that stall are cut after 5 s (shipped: 30 s).
    config["queue_defaults"] = {"offer_timeout": "15s", "orphaned_after": "6s"}
    config["presence"] = {"grace": "3s"}
    config.setdefault("http", {})["body_timeout"] = "5s"
    channels = config["channels"]
    channels["phone"] = {"secret": keys.phone}
    social = channels["social"]
    social["telegram"] = {"secret_token": keys.telegram, "bot": TELEGRAM_BOT}
    social["whatsapp"] = {"app_secret": keys.whatsapp, "verify_token": "chaos-verify"}
    social["wechat"] = {"token": keys.wechat, "app_id": WECHAT_APP}
    for agent in config.get("agents") or []:
        agent["capacity"]["phone"] = 2
    return merge(config, overlay)


@dataclass(slots=True)
class Daemon:
    """One daemon's slot: its ports and config file, and every process it has had."""

    n: int
    config: Path
    http_port: int
    smtp_port: int
    procs: list[DaemonProcess] = field(default_factory=list)

    @property
    def proc(self) -> DaemonProcess:
        return self.procs[-1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> DaemonProcess:
        proc = DaemonProcess(self.config, f"daemon{self.n}.{len(self.procs)}")
        self.procs.append(proc)
        return proc

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        if self.proc.proc.poll() is None:
            self.proc.proc.kill()
            self.proc.proc.wait(10)


class World:
    """`daemons` daemons with `agents` agent tokens on `backend`, under `root`."""

    def __init__(
        self,
        root: Path,
        backend: Backend,
        daemons: int = 2,
        agents: int = 8,
        overlay: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.backend = backend
        self.secrets = Secrets()
        self.generated = generate_config(root, agents, "unix:///unused")
        raw = yaml.safe_load(self.generated.path.read_text(encoding="utf-8"))
        self.config = chaos_config(raw, backend, self.secrets, overlay or {})
        self.daemons: list[Daemon] = []
        for n in range(daemons):
            http, smtp = free_port(), free_port()
            per = merge(self.config, {"http": {"port": http}, "channels": {"smtp": {"port": smtp}}})
            path = root / f"daemon{n}.yaml"
            path.write_text(yaml.safe_dump(per, allow_unicode=True), encoding="utf-8")
            self.daemons.append(Daemon(n, path, http, smtp))

    @property
    def tenant(self) -> str:
        return str(self.config.get("tenant", "default"))

    def start(self) -> None:
        procs = [d.start() for d in self.daemons]
        for proc in procs:
            proc.wait_ready(READY_TIMEOUT_S)

    def restart(self, n: int) -> None:
        self.daemons[n].start().wait_ready(READY_TIMEOUT_S)

    def target(self) -> Target:
        g = self.generated
        return Target(
            urls=tuple(d.url for d in self.daemons),
            smtp=tuple(("127.0.0.1", d.smtp_port) for d in self.daemons),
            smtp_to="support@bench.frontdesk.test",
            form_site=g.form_site,
            form_origin=ORIGIN,
            chat_site=g.chat_site,
            chat_origin=ORIGIN,
            webhook="bench",
            webhook_secret=g.webhook_secret,
            tenant=self.tenant,
            agent_tokens=g.agent_tokens,
        )

    def pids(self) -> list[int]:
        return [d.proc.proc.pid for d in self.daemons if d.proc.proc.poll() is None]

    async def wait_ready(self, timeout_s: float = 30.0) -> float | None:
        """Poll every daemon's /readyz until all answer 200; the monotonic time they did, or
        None when `timeout_s` passed first."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                ok = 0
                for d in self.daemons:
                    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                        async with http.get(d.url + "/readyz") as r:
                            ok += r.status == 200
                if ok == len(self.daemons):
                    return time.monotonic()
                await asyncio.sleep(0.05)
        return None

    def logs(self) -> list[str]:
        """Every line every daemon process logged."""
        lines: list[str] = []
        for d in self.daemons:
            for proc in d.procs:
                if proc.log_path.exists():
                    lines += proc.log_path.read_text(errors="replace").splitlines()
        return lines

    def log_counts(self) -> dict[str, int]:
        lines = self.logs()
        return {
            "tracebacks": sum("Traceback" in line for line in lines),
            "error_lines": sum(" ERROR " in line or line.startswith("ERROR") for line in lines),
        }

    def stop(self) -> None:
        for d in self.daemons:
            for proc in d.procs:
                proc.stop()
        self.backend.stop()
