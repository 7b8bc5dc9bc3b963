"""Agents for the chaos suite: frontdesk's bench agents (router/bench/agents.py), but each one
reconnects when its socket drops (to the next daemon, as an agent's app would), takes up the work
the `hello` frame lists, and notes when offers reach it. Agents named in `vanish` do not come back
once their first socket drops: the agents whose work must not stay stuck."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from frontdesk.router.bench.agents import AgentPool, HandleTime

RECONNECT_S = 0.3
WS_PATH = "/v1/agents/ws"
MAX_OFFER_TIMES = 200_000


class ChaosAgents(AgentPool):
    def __init__(
        self,
        urls: tuple[str, ...],
        tokens: dict[str, str],
        handle: HandleTime,
        seed: int = 1,
        vanish: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(urls, tokens, handle, seed)
        self.vanish = vanish
        self.vanished: set[str] = set()
        self.connected: set[str] = set()
        self.offer_times: list[float] = []  # monotonic, each offer or assignment received
        self.reconnects = 0
        self.heard: set[tuple[str, str]] = set()  # (agent, request) of every offer that reached it

    def live(self) -> set[str]:
        """Agents with a socket open now."""
        return set(self.connected)

    async def _agent(self, agent: str, token: str, url: str) -> None:
        first = self.urls.index(url.removesuffix(WS_PATH))
        for attempt in range(1_000_000):  # ends when stop() cancels it
            url = self.urls[(first + attempt) % len(self.urls)] + WS_PATH
            opened = await self._session(agent, token, url, initial=attempt == 0)
            if opened and agent in self.vanish:
                self.vanished.add(agent)
                return
            if not opened and attempt == 0:
                return  # the first connection failed: start() reports it
            self.reconnects += 1
            await asyncio.sleep(RECONNECT_S)

    async def _session(self, agent: str, token: str, url: str, initial: bool) -> bool:
        """One socket's life; True if it was open at all."""
        assert self._http is not None
        if initial:
            await self._logins.acquire()
        try:
            ws = await self._http.ws_connect(
                url, headers={"Authorization": f"Bearer {token}"}, heartbeat=5
            )
        except (aiohttp.ClientError, OSError) as exc:
            if initial:
                self._logins.release()
                self._ready.put_nowait(f"{agent}: {exc}")
            return False
        lock = asyncio.Lock()

        async def send(frame: dict[str, Any]) -> None:
            async with lock:
                if not ws.closed:
                    await ws.send_json(frame)

        self._senders.append(send)
        self.connected.add(agent)
        waiting = initial
        try:
            await send({"type": "presence", "presence": "available"})
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                kind = frame.get("type")
                if kind == "hello":
                    for work in frame.get("work") or []:
                        await self._take(agent, send, work)
                elif kind in ("offer", "assigned"):
                    if len(self.offer_times) < MAX_OFFER_TIMES:
                        self.offer_times.append(time.monotonic())
                    self.tally.offers += kind == "offer"
                    await self._take(agent, send, frame["request"])
                elif kind == "result" and frame.get("action") == "presence" and waiting:
                    waiting = False
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
                    if waiting:
                        waiting = False
                        self._logins.release()
                        self._ready.put_nowait(f"{agent}: {frame.get('message')}")
                        return True
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        finally:
            self.connected.discard(agent)
            with contextlib.suppress(ValueError):
                self._senders.remove(send)
            if waiting:  # the socket closed before the agent was available
                self._logins.release()
                self._ready.put_nowait(f"{agent}: socket closed at login")
            await ws.close()
        return True

    async def _take(self, agent: str, send: Any, work: dict[str, Any]) -> None:
        """Accept an offer; complete an assignment after a handle time."""
        self.heard.add((agent, work["id"]))
        if work.get("state") == "offered":
            await send({"type": "accept", "request": work["id"]})
        elif work.get("state") == "assigned":
            self.tally.accepted.add(work["id"])
            self._later(send, work["id"])
