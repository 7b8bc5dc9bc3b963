"""Run `frontdesk serve` as a real subprocess for tests, and read what it logs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


class DaemonProcess:
    """`frontdesk serve --config PATH` in its own process, logs captured line by line."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.config = config
        self.cwd = cwd
        self.lines: list[str] = []
        self.port: int | None = None
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "frontdesk.router.cli.main",
                "serve",
                "--config",
                str(config),
                "--log-level",
                "DEBUG",
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float = 20.0) -> re.Match[str]:
        """The first log line matching `pattern`; fails if the process exits or time runs out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := regex.search(line):
                    return m
            if self.proc.poll() is not None:
                self._reader.join(2)
                for line in self.lines:
                    if m := regex.search(line):
                        return m
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log}")
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} in {timeout_s}s: {self.log}")

    def wait_ready(self) -> int:
        m = self.wait_for(_LISTENING.pattern)
        self.port = int(m[2])
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 20.0) -> int:
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon still running after {timeout_s}s: {self.log}") from None
        self._reader.join(2)
        return code

    def kill(self) -> None:
        """Kill the process if it still runs, and close its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
