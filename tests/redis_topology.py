"""Real Redis topologies for tests, from the redis-server binary the daemon itself runs: a primary
with a replica and three sentinels, and a three-node Redis Cluster. Every server listens on a free
127.0.0.1 port, keeps its files in a tmp directory, and is killed at teardown; every wait is
bounded."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from frontdesk.router.daemon.redis_server import find_binary

START_TIMEOUT_S = 10.0
SLOTS = 16384
MASTER = "frontdesk"


def free_port(also: int = 0) -> int:
    """A port free on 127.0.0.1 now (and `port + also` too: a cluster node's bus port)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if also == 0 or port + also > 65535:
            if also == 0:
                return port
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + also))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Server:
    """One redis-server (or sentinel) process."""

    directory: Path
    port: int
    lines: list[str]
    sentinel: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, socket_timeout=timeout_s)

    def start(self) -> Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        base = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f'dir "{self.directory}"',
            f'logfile "{self.directory / "log"}"',
            "daemonize no",
        ]
        if not self.sentinel:
            base += ['save ""', "appendonly no"]
        conf.write_text("\n".join([*base, *self.lines, ""]))
        args = [find_binary(), str(conf)] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, START_TIMEOUT_S, f"redis-server on {self.port}")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.directory / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server on {self.port} exited: {log}")
        try:
            with self.client(0.5) as c:
                return bool(c.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Replicated:
    """A primary, its replica and three sentinels (quorum 2) watching it as `frontdesk`."""

    primary: Server
    replica: Server
    sentinels: list[Server] = field(default_factory=list)

    @property
    def sentinel_nodes(self) -> list[str]:
        return [s.address for s in self.sentinels]

    def master_port(self) -> int:
        """The primary's port as the sentinels tell it now."""
        with self.sentinels[0].client() as c:
            _, port = c.sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def all(self) -> list[Server]:
        return [self.primary, self.replica, *self.sentinels]


@contextlib.contextmanager
def replicated(directory: Path, down_after_ms: int = 1000) -> Iterator[Replicated]:
    """Start a primary, a replica of it and three sentinels; wait until the sentinels see the
    replica and each other; kill them all on the way out."""
    primary = Server(directory / "primary", free_port(), [])
    replica = Server(directory / "replica", free_port(), [f"replicaof 127.0.0.1 {primary.port}"])
    watch = [
        f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2",
        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
        f"sentinel failover-timeout {MASTER} 3000",
        f"sentinel parallel-syncs {MASTER} 1",
    ]
    sentinels = [
        Server(directory / f"sentinel{i}", free_port(), watch, sentinel=True) for i in range(3)
    ]
    setup = Replicated(primary, replica, sentinels)
    try:
        primary.start()
        replica.start()
        wait_until(lambda: _link_up(replica), START_TIMEOUT_S, "the replica to sync")
        for s in sentinels:
            s.start()
        wait_until(lambda: _sentinels_ready(setup), 20, "the sentinels to see each other")
        yield setup
    finally:
        for server in setup.all():
            server.kill()


def _link_up(replica: Server) -> bool:
    with replica.client() as c:
        return c.info("replication").get("master_link_status") == "up"


def _sentinels_ready(setup: Replicated) -> bool:
    for s in setup.sentinels:
        with s.client() as c:
            master = c.sentinel_master(MASTER)
            if int(master.get("num-other-sentinels", 0)) < 2:
                return False
            if int(master.get("num-slaves", 0)) < 1:
                return False
    return True


@dataclass
class Cluster:
    """A Redis Cluster of three primaries (no replicas) with every slot assigned."""

    nodes: list[Server]

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def port_of_slot(self, slot: int) -> int:
        share = SLOTS // len(self.nodes)
        return self.nodes[min(slot // share, len(self.nodes) - 1)].port


@contextlib.contextmanager
def cluster(directory: Path) -> Iterator[Cluster]:
    """Start three cluster-enabled servers, give each a third of the slots, introduce them, and
    wait until every node says cluster_state:ok; kill them on the way out."""
    nodes = []
    for i in range(3):
        port = free_port(also=10000)
        lines = ["cluster-enabled yes", f'cluster-config-file "nodes-{port}.conf"',
                 "cluster-node-timeout 5000"]  # fmt: skip
        nodes.append(Server(directory / f"node{i}", port, lines))
    setup = Cluster(nodes)
    try:
        for node in nodes:
            node.start()
        share = SLOTS // len(nodes)
        for i, node in enumerate(nodes):
            first, last = i * share, SLOTS - 1 if i == len(nodes) - 1 else (i + 1) * share - 1
            with node.client() as c:
                c.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        with nodes[0].client() as c:
            for other in nodes[1:]:
                c.execute_command("CLUSTER MEET", "127.0.0.1", other.port)
        wait_until(lambda: _cluster_ok(setup), 20, "cluster_state:ok on every node")
        yield setup
    finally:
        for node in nodes:
            node.kill()


def _cluster_ok(setup: Cluster) -> bool:
    for node in setup.nodes:
        with node.client() as c:
            info = c.execute_command("CLUSTER INFO")  # parsed into a mapping by redis-py
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != 3:
                return False
    return True
