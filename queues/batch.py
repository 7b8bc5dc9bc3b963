"""Group commit: the script calls made in one event-loop tick go to Redis in one pipeline.

Each call is still its own EVALSHA with its own answer (or its own error): the batch only shares
the round trip. The first call of a tick schedules the flush (a task: its first step is called
soon, `loop.call_soon`, one hop, as an awaited command's reply would be), so every call
made before the loop next looks at its ready callbacks (the requests that arrived together, the
`asyncio.gather` of a dispatcher's hand-overs) joins it. The flush sends one raw pipeline
(`transaction=False`, no MULTI) of EVALSHAs, and so no `SCRIPT EXISTS` either: a NOSCRIPT answer
(a restarted or flushed server) loads the scripts that were missing and sends those calls once
more. A connection error fails every call of the batch with that error: a caller whose script
may not have run is never told it did (nothing acknowledged that was not stored).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    keys: Sequence[Any]
    args: Sequence[Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class Batcher:
    """The pending script calls of one Redis client, sent together once per tick."""

    client: weakref.ref[Redis]  # weak: the table of batchers must not keep its client alive
    flushes: int = 0  # pipelines sent (a NOSCRIPT resend counts as one more)
    calls: int = 0  # script calls sent through them (a resent call counts once)
    _pending: list[_Call] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Queue one EVALSHA of `script` for this tick's pipeline; returns a future of its answer
        (a redis-py error, a script's own error reply included, is raised by awaiting it)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a client used in a new loop: what the old one left is dead
            self._loop, self._pending = loop, []
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Call(script, keys, args, future))
        if len(self._pending) == 1:  # the flush's first step runs once this tick is over
            task = loop.create_task(self._flush())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            await self._send(batch)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            answers = await self._pipeline(batch)
            missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            if missing:  # the server lost its scripts (restart, SCRIPT FLUSH): load, send again
                again = [batch[i] for i in missing]
                loads = {c.script.sha: c.script.script for c in again}
                resent = await self._pipeline(again, loads)
                for i, answer in zip(missing, resent, strict=True):
                    answers[i] = answer
        except Exception as exc:  # the connection: no call of the batch may count as done
            for c in batch:
                if not c.future.done():
                    c.future.set_exception(exc)
            return
        except BaseException:  # the flush itself was cancelled (the loop is closing)
            for c in batch:
                c.future.cancel()
            raise
        for c, answer in zip(batch, answers, strict=True):
            if c.future.done():  # its caller was cancelled: the script ran (or failed) anyway
                continue
            if isinstance(answer, Exception):
                c.future.set_exception(answer)
            else:
                c.future.set_result(answer)

    async def _pipeline(self, batch: list[_Call], loads: dict[str, Any] | None = None) -> list[Any]:
        """One round trip: SCRIPT LOAD of `loads` (sha -> text), then every call's EVALSHA;
        returns the calls' answers, errors in their places."""
        loads = loads or {}
        self.flushes += 1
        self.calls += len(batch)
        redis = self.client()
        assert redis is not None, "a batcher is used only through its live client"
        async with redis.pipeline(transaction=False) as pipe:
            for text in loads.values():
                pipe.execute_command("SCRIPT LOAD", text)
            for c in batch:
                pipe.execute_command("EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args)
            answers = await pipe.execute(raise_on_error=False)
        for answer in answers[: len(loads)]:
            if isinstance(answer, Exception):
                raise answer
        return list(answers[len(loads) :])


_BATCHERS: weakref.WeakKeyDictionary[Redis, Batcher] = weakref.WeakKeyDictionary()


def batcher(redis: Redis) -> Batcher:
    """The one batcher of `redis` (made on first use, gone with the client)."""
    found = _BATCHERS.get(redis)
    if found is None:
        found = _BATCHERS[redis] = Batcher(weakref.ref(redis))
    return found


@dataclass(slots=True)
class HashReads:
    """HGETALLs asked for in one event-loop tick, sent in one pipeline (the agent sockets' offer
    frames of one round, the chat sockets' records after one event): each caller awaits its own
    hash; a connection error fails every read of the batch, as each would have failed alone.
    One read alone goes as a plain HGETALL."""

    redis: Redis
    flushes: int = 0
    _pending: dict[str, list[asyncio.Future[Any]]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _sending: set[asyncio.Task[None]] = field(default_factory=set)

    def hgetall(self, key: str) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a store used in a new loop: what the old one left is dead
            self._loop, self._pending = loop, {}
        future: asyncio.Future[Any] = loop.create_future()
        first = not self._pending
        self._pending.setdefault(key, []).append(future)
        if first:
            task = loop.create_task(self._flush())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, {}
        keys = list(batch)
        try:
            self.flushes += 1
            if len(keys) == 1:
                answers = [await self.redis.hgetall(keys[0])]
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hgetall(key)
                    answers = await pipe.execute()
        except Exception as exc:
            for futures in batch.values():
                for f in futures:
                    if not f.done():
                        f.set_exception(exc)
            return
        except BaseException:
            for futures in batch.values():
                for f in futures:
                    f.cancel()
            raise
        for key, answer in zip(keys, answers, strict=True):
            for f in batch[key]:
                if not f.done():
                    f.set_result(answer)
