"""What `frontdesk bench load` drives: a running daemon described by its config (and its agents'
tokens), or daemons this module starts on a generated config, on one Redis. Every target is on
loopback (127.0.0.1 or localhost): anything else is refused."""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from frontdesk.router.daemon.settings import load_settings
from frontdesk.router.http.auth import digest, new_token

CHANNELS = ("form", "webhook", "smtp", "chat")
LOOPBACK = re.compile(r"127(\.\d{1,3}){3}|localhost|\[?::1\]?")
ORIGIN = "http://bench.frontdesk.test"
_LISTENING = re.compile(r"frontdesk listening on http://([\d.]+):(\d+)")
_SMTP_LISTENING = re.compile(r"SMTP listening on ([\d.]+):(\d+)")


def check_loopback(host: str) -> str:
    if not LOOPBACK.fullmatch(host):
        raise SystemExit(f"bench load drives loopback only (127.0.0.1, localhost), not {host!r}")
    return host


@dataclass(frozen=True, slots=True)
class Target:
    """One or more daemons of one tenant on one Redis, and what each channel needs to reach them."""

    urls: tuple[str, ...]
    smtp: tuple[tuple[str, int], ...] = ()
    smtp_to: str | None = None
    form_site: str | None = None
    form_origin: str | None = None
    chat_site: str | None = None
    chat_origin: str | None = None
    webhook: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    tenant: str = "default"
    agent_tokens: dict[str, str] = field(default_factory=dict, repr=False)
    pids: tuple[int, ...] = ()
    redis_pid: int | None = None

    @property
    def channels(self) -> list[str]:
        """The channels this target can be driven through."""
        ready = {
            "form": self.form_site is not None,
            "webhook": self.webhook is not None and self.webhook_secret is not None,
            "smtp": bool(self.smtp) and self.smtp_to is not None,
            "chat": self.chat_site is not None,
        }
        return [c for c in CHANNELS if ready[c]]


def read_tokens(path: Path) -> dict[str, str]:
    """Agent tokens, one `AGENT TOKEN` pair a line (# comments); the config keeps digests only."""
    tokens = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2:
            tokens[parts[0]] = parts[1]
        elif parts:
            raise SystemExit(f"{path}: expected 'AGENT TOKEN' lines, got {line!r}")
    return tokens


def target_from_config(
    url: str, config: Path, tokens: dict[str, str], pids: tuple[int, ...] = ()
) -> Target:
    """A running daemon at `url` with the config at `config` (read for the site keys, the
    webhook secret, the SMTP listener and Redis; run from the daemon's working directory when
    its Redis is the embedded one, whose socket is under `redis.data_dir`)."""
    check_loopback(urlsplit(url).hostname or "")
    settings = load_settings(config)
    raw: Any = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    channels = raw.get("channels") or {}
    form_sites = (channels.get("form") or {}).get("sites") or []
    chat = settings.channels.get("chat")
    social = settings.channels.get("social")
    smtp = settings.channels.get("smtp")
    hook = next(iter(social.generic.values()), None) if social is not None else None
    redis_url = (
        settings.redis.url or f"unix://{Path(settings.redis.data_dir).absolute()}/redis.sock"
    )
    smtp_port = smtp.port if smtp is not None and smtp.port else None
    return Target(
        urls=(url.rstrip("/"),),
        smtp=((check_loopback(smtp.host), smtp_port),) if smtp is not None and smtp_port else (),
        smtp_to=next(iter(smtp.addresses), None) if smtp is not None else None,
        form_site=form_sites[0]["key"] if form_sites else None,
        form_origin=(form_sites[0].get("origins") or [None])[0] if form_sites else None,
        chat_site=chat.sites[0].key if chat is not None and chat.sites else None,
        chat_origin=(chat.sites[0].origins or (None,))[0]
        if chat is not None and chat.sites
        else None,
        webhook=hook.name if hook else None,
        webhook_secret=hook.secret if hook else None,
        redis_url=redis_url,
        tenant=settings.tenant,
        agent_tokens=tokens,
        pids=pids,
    )


@dataclass(frozen=True, slots=True)
class Generated:
    """A config written for a run, with the secrets it holds."""

    path: Path
    form_site: str
    chat_site: str
    webhook_secret: str
    agent_tokens: dict[str, str]
    data_dir: Path


def generate_config(directory: Path, agents: int, redis_url: str | None = None) -> Generated:
    """A complete config for a load run: embedded Redis under `directory` (or `redis_url`),
    HTTP and SMTP on free loopback ports, every channel the drivers use, intake limits out of
    the way, a queue per channel, and `agents` agents with agent tokens."""
    form_site, chat_site = f"form-{secrets.token_hex(8)}", f"chat-{secrets.token_hex(8)}"
    secret = secrets.token_hex(24)
    tokens = {f"a{i}": new_token() for i in range(agents)}
    data_dir = directory / "data"
    redis = f"{{url: '{redis_url}'}}" if redis_url else f"{{data_dir: '{data_dir}'}}"
    lines = [
        "tenant: bench",
        f"redis: {redis}",
        "http: {host: 127.0.0.1, port: 0}",
        "limits: {per_sender: {count: 1000000, per: 1s}, per_source: {count: 1000000, per: 1s}}",
        "offers: {max_missed_in_a_row: 0}",
        "skills: [orders, account, tech, chinese]",
        "queue_defaults: {offer_timeout: 60s}",
        "queues: {chat: {}, email: {}, social: {}, form: {}}",
        "default_queue: form",
        "rules:",
        *(
            f"  - {{name: {q}, when: {{channel: {q}}}, then: {{queue: {q}}}}}"
            for q in ("chat", "email", "social")
        ),
        "channels:",
        "  smtp: {host: 127.0.0.1, port: 0, hostname: bench.frontdesk.test,"
        " addresses: {support@bench.frontdesk.test: {}}}",
        f"  form: {{sites: [{{key: {form_site}, origins: ['{ORIGIN}']}}]}}",
        f"  chat: {{sites: [{{key: {chat_site}, origins: ['{ORIGIN}']}}]}}",
        f"  social: {{generic: {{bench: {{secret: '{secret}', tolerance: 5m}}}}}}",
        "api:",
        "  tokens:" + ("" if tokens else " []"),
        *(
            f"    - {{name: {a}, scope: agent, agent: {a}, sha256: {digest(t)}}}"
            for a, t in tokens.items()
        ),
        "agents:" + ("" if tokens else " []"),
        *(
            f"  - {{id: {a}, skills: {{orders: 3, account: 3, tech: 3, chinese: 3}}, capacity: "
            "{chat: 3, email: 5, social: 5, form: 5}, presence: offline}"
            for a in tokens
        ),
    ]
    path = directory / "bench.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Generated(path, form_site, chat_site, secret, tokens, data_dir)


LOOPS = ("asyncio", "uvloop")


def python_main(module: str, loop: str = "asyncio") -> list[str]:
    """The interpreter arguments that run `module` as __main__ on event loop `loop`: asyncio's
    own, or uvloop's (installed as the policy first: a benchmark's A/B, not the daemon's own
    choice)."""
    if loop == "asyncio":
        return ["-m", module]
    if loop != "uvloop":
        raise ValueError(f"loop is one of {', '.join(LOOPS)}")
    code = (
        f"import runpy, sys, uvloop; uvloop.install(); sys.argv[0] = {module!r}; "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return ["-c", code]


class DaemonProcess:
    """`frontdesk serve` on a generated config, its log in a file beside the config."""

    def __init__(
        self, config: Path, name: str = "daemon", cpus: str | None = None, loop: str = "asyncio"
    ) -> None:
        self.log_path = config.parent / f"{name}.log"
        self._log = self.log_path.open("w")
        command = [sys.executable, *python_main("frontdesk.router.cli.main", loop), "serve"]
        command.append("--config")
        if cpus is not None:  # on these cores only (taskset -c), and what it starts with it
            command = ["taskset", "-c", cpus, *command]
        self.proc = subprocess.Popen(
            [*command, str(config)],
            cwd=config.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.url = ""
        self.smtp: tuple[str, int] | None = None

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            if m := _LISTENING.search(text):
                self.url = f"http://{m[1]}:{m[2]}"
                if s := _SMTP_LISTENING.search(text):
                    self.smtp = (s[1], int(s[2]))
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"frontdesk serve exited {self.proc.returncode}:\n{text[-2000:]}")
            time.sleep(0.05)
        self.stop()
        raise SystemExit(
            f"frontdesk serve did not start within {timeout_s:g} s; see {self.log_path}"
        )

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def started_target(
    generated: Generated, daemons: list[DaemonProcess], redis_url: str | None, redis_pid: int | None
) -> Target:
    """The target made of daemons started on `generated`."""
    url = redis_url or f"unix://{generated.data_dir}/redis.sock"
    if redis_pid is None and (pidfile := generated.data_dir / "redis.pid").exists():
        redis_pid = int(pidfile.read_text().split()[0])
    return Target(
        urls=tuple(d.url for d in daemons),
        smtp=tuple(d.smtp for d in daemons if d.smtp),
        smtp_to="support@bench.frontdesk.test",
        form_site=generated.form_site,
        form_origin=ORIGIN,
        chat_site=generated.chat_site,
        chat_origin=ORIGIN,
        webhook="bench",
        webhook_secret=generated.webhook_secret,
        redis_url=url,
        tenant="bench",
        agent_tokens=generated.agent_tokens,
        pids=tuple(d.proc.pid for d in daemons),
        redis_pid=redis_pid,
    )
