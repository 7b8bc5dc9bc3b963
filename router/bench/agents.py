"""Simulated agents for `frontdesk bench load`: each connects to the agent WebSocket
(`/v1/agents/ws`) with its own agent token, sets itself available, accepts every offer, and
completes the work after a handle time drawn from a distribution:

    exp:2s         exponential with mean 2 s (the default)
    lognormal:2s   lognormal with mean 2 s and sigma 0.5
    fixed:500ms    always 500 ms

Agents spread over the daemons given (agent i on daemon i mod n). Everything they do ends when
`stop()` closes their sockets; no loop outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from frontdesk.router.conf.yaml import parse_duration

CONNECT_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
LOGINS_AT_ONCE = 10  # agents connecting at the same time, as people log in over a minute
KINDS = ("exp", "lognormal", "fixed")
SIGMA = 0.5


@dataclass(frozen=True, slots=True)
class HandleTime:
    """A distribution of handle times, in seconds."""

    kind: str = "exp"
    mean_s: float = 2.0

    @classmethod
    def parse(cls, text: str) -> HandleTime:
        kind, _, mean = text.partition(":")
        seconds = parse_duration(mean) if mean else None
        if kind not in KINDS or seconds is None or seconds < 0:
            raise ValueError(f"a handle time is KIND:DURATION, KIND one of {', '.join(KINDS)}")
        return cls(kind, seconds)

    def draw(self, rng: random.Random) -> float:
        if self.kind == "fixed" or self.mean_s == 0:
            return self.mean_s
        if self.kind == "exp":
            return rng.expovariate(1 / self.mean_s)
        mu = math.log(self.mean_s) - SIGMA**2 / 2  # so that the mean is mean_s
        return rng.lognormvariate(mu, SIGMA)

    def __str__(self) -> str:
        return f"{self.kind}:{self.mean_s:g}s"


@dataclass(slots=True)
class Tally:
    """What the agents saw and did."""

    connected: int = 0
    offers: int = 0
    accepted: set[str] = field(default_factory=set)
    completed: int = 0
    gone: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "offers": self.offers,
            "accepted": len(self.accepted),
            "completed": self.completed,
            "offers_gone": dict(self.gone),
            "errors": dict(self.errors),
        }


class AgentPool:
    """`tokens` (agent -> token) at work on the daemons at `urls`."""

    def __init__(
        self,
        urls: tuple[str, ...],
        tokens: dict[str, str],
        handle: HandleTime,
        seed: int = 1,
        wrap_up_s: float = 0.0,
    ) -> None:
        self.urls = urls
        self.tokens = tokens
        self.handle = handle
        self.rng = random.Random(seed)
        self.wrap_up_s = wrap_up_s
        self.tally = Tally()
        self._http: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._work: set[asyncio.Task[None]] = set()
        self._hurry = asyncio.Event()  # set: every held request is completed now
        self._ready: asyncio.Queue[str | None] = asyncio.Queue()
        self._logins = asyncio.Semaphore(LOGINS_AT_ONCE)
        self._senders: list[Callable[[dict[str, Any]], Awaitable[None]]] = []

    async def start(self) -> None:
        """Connect every agent and wait until each is available; a refusal stops the run."""
        if not self.tokens:
            return
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for i, (agent, token) in enumerate(sorted(self.tokens.items())):
            url = self.urls[i % len(self.urls)] + "/v1/agents/ws"
            self._tasks.append(asyncio.create_task(self._agent(agent, token, url)))
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            for _ in self.tokens:
                failed = await self._ready.get()
                if failed is not None:
                    await self.stop()
                    raise SystemExit(f"an agent could not connect: {failed}")
                self.tally.connected += 1

    async def finish_all(self, timeout_s: float = 60.0) -> None:
        """Complete every held request now (not after its handle time), and wait until the
        completions are sent: a benchmark's next step starts with every agent free."""
        self._hurry.set()
        try:
            async with asyncio.timeout(timeout_s):
                while self._work:
                    await asyncio.sleep(0.05)
        finally:
            self._hurry.clear()

    async def stop(self) -> None:
        """Set every agent offline (so that nothing more is offered to it) and close its socket;
        work in progress is left as it is (offered or assigned)."""
        senders, self._senders = list(self._senders), []
        if senders:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await asyncio.gather(
                        *(send({"type": "presence", "presence": "offline"}) for send in senders),
                        return_exceptions=True,
                    )
        for task in [*self._tasks, *self._work]:
            task.cancel()
        if self._tasks or self._work:
            await asyncio.wait([*self._tasks, *self._work], timeout=10)
        if self._http is not None:
            await self._http.close()

    async def _agent(self, agent: str, token: str, url: str) -> None:
        assert self._http is not None
        headers = {"Authorization": f"Bearer {token}"}
        await self._logins.acquire()  # released once the agent is available
        try:
            ws = await self._http.ws_connect(url, headers=headers, heartbeat=30)
        except (aiohttp.ClientError, OSError) as exc:
            self._logins.release()
            self._ready.put_nowait(f"{agent}: {exc}")
            return
        lock = asyncio.Lock()

        async def send(frame: dict[str, Any]) -> None:
            async with lock:
                if not ws.closed:
                    await ws.send_json(frame)

        self._senders.append(send)
        ready = False
        try:
            await send({"type": "presence", "presence": "available"})
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                kind = frame.get("type")
                if kind == "offer":
                    self.tally.offers += 1
                    await send({"type": "accept", "request": frame["request"]["id"]})
                elif kind == "assigned":
                    self.tally.accepted.add(frame["request"]["id"])
                    self._later(send, frame["request"]["id"])
                elif kind == "result" and frame.get("action") == "presence":
                    ready = True
                    self._logins.release()
                    self._ready.put_nowait(None)
                elif kind == "result" and frame.get("action") == "accept":
                    self.tally.accepted.add(frame["request"]["id"])
                    self._later(send, frame["request"]["id"])
                elif kind == "result" and frame.get("action") == "complete":
                    self.tally.completed += 1
                elif kind == "gone":
                    self.tally.gone[frame.get("reason", "?")] += 1
                elif kind == "error":
                    self.tally.errors[frame.get("code", "?")] += 1
                    if not ready:  # the presence was refused: the run cannot go on
                        self._logins.release()
                        self._ready.put_nowait(f"{agent}: {frame.get('message')}")
                        return
        finally:
            await ws.close()

    def _later(self, send: Callable[[dict[str, Any]], Awaitable[None]], request: str) -> None:
        """Complete `request` after a drawn handle time."""
        delay = self.handle.draw(self.rng)

        async def complete() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), delay)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await send(
                    {
                        "type": "complete",
                        "request": request,
                        "resolution": "bench",
                        "wrap_up_s": self.wrap_up_s,
                    }
                )

        task = asyncio.create_task(complete())
        self._work.add(task)
        task.add_done_callback(self._work.discard)
