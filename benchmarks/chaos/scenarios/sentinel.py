"""sentinel-failover: a primary, two replicas and three sentinels (the same redis-server binary,
`--sentinel`); the daemons configured with `redis.sentinel` and `wait_replicas: 1`; the primary
SIGKILLed under load. Nothing acknowledged may be lost, and intake and routing must resume on the
promoted replica by themselves. A build whose config refuses `redis.sentinel` gets the row "not
supported by this build"."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from frontdesk.router.daemon.redis_server import _die_with_parent, find_binary

from ..load import Plan
from ..report import Fault, Row
from ..world import World, free_port
from .base import Context, conclude, now, under_load

NAME = "sentinel-failover"
MASTER = "frontdesk"
START_TIMEOUT_S = 20.0
FAILOVER_TIMEOUT_S = 30.0


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class SentinelSet:
    """Primary, two replicas, three sentinels on loopback ports under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # two replicas: a failover promotes one, and the acknowledgements (wait_replicas: 1)
        # still have the other to wait for ("one more replica than you wait for", README)
        self.primary, self.replicas = free_port(), [free_port(), free_port()]
        self.sentinels = [free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def _spawn(self, port: int, lines: list[str], sentinel: bool = False) -> None:
        d = self.root / f"redis-{port}"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "redis.conf"
        conf.write_text("\n".join([f"port {port}", "bind 127.0.0.1", f'dir "{d}"',
                                   f'logfile "{d / "redis.log"}"', *lines, ""]))  # fmt: skip
        argv = [find_binary(), str(conf), *(["--sentinel"] if sentinel else [])]
        self.procs[port] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip

    def start(self) -> None:
        data = ["appendonly yes", "appendfsync always", 'save ""']
        self._spawn(self.primary, data)
        for replica in self.replicas:
            self._spawn(replica, [*data, f"replicaof 127.0.0.1 {self.primary}"])
        for port in self.sentinels:
            self._spawn(port, [
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary} 2",
                f"sentinel down-after-milliseconds {MASTER} 1000",
                f"sentinel failover-timeout {MASTER} 5000",
                f"sentinel parallel-syncs {MASTER} 1",
            ], sentinel=True)  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(_answers(p) for p in self.procs):
                return
            time.sleep(0.05)
        raise RuntimeError("the primary, replica and sentinels did not all answer")

    def nodes(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.sentinels]

    def section(self) -> dict[str, Any]:
        return {"sentinel": {"master": MASTER, "nodes": self.nodes()},
                "wait_replicas": 1, "wait_timeout": "1s"}  # fmt: skip

    def sentinel(self) -> Sentinel:
        return Sentinel([("127.0.0.1", p) for p in self.sentinels], socket_timeout=2)

    def client(self) -> Redis:
        return self.sentinel().master_for(MASTER, socket_timeout=5)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def kill_primary(self) -> None:
        proc = self.procs[self.primary]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    async def promoted(self, timeout_s: float) -> float | None:
        """When the sentinels name a primary other than the killed one (monotonic)."""
        deadline = time.monotonic() + timeout_s
        s = self.sentinel()
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                _, port = await s.discover_master(MASTER)
                if int(port) != self.primary:
                    return time.monotonic()
            await asyncio.sleep(0.1)
        return None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def check_config(path: Path) -> tuple[bool, str]:
    """`frontdesk check-config` on the daemons' config: does this build take redis.sentinel?"""
    done = subprocess.run(
        [sys.executable, "-m", "frontdesk.router.cli.main", "check-config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=path.parent,
    )  # fmt: skip
    lines = (done.stdout + done.stderr).strip().splitlines()
    why = next((line for line in lines if "sentinel" in line or "wait_" in line), "")
    return done.returncode == 0, (why or (lines[-1] if lines else ""))[:200]


async def run(ctx: Context) -> Row:
    daemons, agents = 2, ctx.size(8, 40)
    seconds = ctx.size(10.0, 60.0)
    plan = Plan(rate=ctx.size(30.0, 50.0), duration_s=seconds, retry_for_s=40.0)
    with tempfile.TemporaryDirectory(prefix="fdchaos-", dir=ctx.keep) as tmp:
        backend = SentinelSet(Path(tmp))
        try:
            await asyncio.to_thread(backend.start)
            w = World(Path(tmp), backend, daemons, agents, ctx.overlay)
            supported, why = await asyncio.to_thread(check_config, w.daemons[0].config)
            if not supported:
                return Row(NAME, status="not supported by this build", note=why)

            async def inject(w: World, faults: list[Fault]) -> None:
                await asyncio.sleep(seconds / 3)
                at = now()
                backend.kill_primary()
                fault = Fault(NAME, at, at)
                faults.append(fault)
                promoted = await backend.promoted(FAILOVER_TIMEOUT_S)
                fault.ready = await w.wait_ready() if promoted else None
                w_note.append(f"promoted after {promoted - at:.2f} s" if promoted else
                              "no replica promoted")  # fmt: skip

            w_note: list[str] = []
            await asyncio.to_thread(w.start)
            try:
                sent, faults, pool = await under_load(w, plan, inject)
                row = await conclude(NAME, w, sent, faults, pool, ctx.size(15.0, 60.0))
            finally:
                await asyncio.to_thread(w.stop)
        finally:
            backend.stop()
    row.note += f"primary SIGKILLed at {seconds / 3:.0f} s; " + "; ".join(w_note)
    return row
