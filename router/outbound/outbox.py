"""The outbox engine: every event of the tenant's stream out to every sink, at least once, in
order per request, with exponential backoff, and a dead-letter list when a sink gives up.

For each sink the engine runs a reader (new events from the sink's consumer group, and events a
dead daemon had read but not admitted, reclaimed after `claim_idle_s`) and a scheduler (leases
the first event of due lanes and delivers up to `concurrency` of them at once, one per lane).
A failing event holds its lane: the request's later events wait behind it while other requests'
events go on. Several daemons run one engine each on the same Redis; the scripts in
`queues/outbox.py` make sure that a lane is delivered by one of them at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.keys import Keys
from frontdesk.queues.outbox import Admission, Entry, Leased, Outbox
from frontdesk.router.outbound.sinks import DeliveryContext, RetryLater, Sink, Undeliverable

log = logging.getLogger("frontdesk.outbox")

WIND_DOWN_S = 2.0  # the longest a stop waits for deliveries in flight to be cancelled
CUSTOMER_EVENTS = frozenset(
    {
        EventType.CUSTOMER_CREATED,
        EventType.CUSTOMER_UPDATED,
        EventType.CUSTOMER_LINKED,
        EventType.CUSTOMER_MERGED,
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    """How one sink's deliveries are retried."""

    max_attempts: int = 12  # then the dead-letter list
    backoff_base_s: float = 1.0  # the wait after the first failure (before jitter)
    backoff_cap_s: float = 600.0  # the longest wait between two attempts (before jitter)
    retry_after_cap_s: float = 86400.0  # the longest Retry-After honoured
    lease_s: float = 60.0  # a delivery in flight longer than this may be taken over: > timeout


@dataclass(frozen=True, slots=True)
class Target:
    """A sink and how to retry it."""

    sink: Sink
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How the engine reads, waits and recovers; the defaults suit a daemon."""

    concurrency: int = 8  # deliveries in flight per sink (each on its own lane)
    batch: int = 100  # events read per call
    wait_s: float = 1.0  # the longest wait for new events or due lanes before looking again
    claim_idle_s: float = 10.0  # events read but not admitted for this long are reclaimed
    forget_consumers_s: float = 86400.0  # idle consumers holding nothing are removed after this
    dead_letters_kept_s: float | None = 30 * 86400.0  # then purged (None: kept until purged)
    redis_retry_s: float = 0.5  # first wait while Redis is unavailable, doubling...
    redis_retry_cap_s: float = 10.0  # ... up to this
    start: str = "$"  # where a new sink's group starts: "$" new events, "0" the whole stream


def backoff_s(failures: int, policy: Policy, rng: random.Random) -> float:
    """Seconds to wait after `failures` failed attempts: base * 2^(failures - 1), capped, with
    equal jitter (uniform in [d/2, d]) so that retries of many events spread out."""
    exponent = min(max(failures - 1, 0), 62)
    ceiling = min(policy.backoff_cap_s, policy.backoff_base_s * 2.0**exponent)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def lane_of(event: Event) -> str:
    """The lane whose order an event keeps: its request, else its customer, else its agent."""
    if event.request:
        return event.request
    if event.type in CUSTOMER_EVENTS:
        return "customer:" + event.data.get("customer", "")
    if event.agent:
        return "agent:" + event.agent
    return "-"


def consumer_name() -> str:
    """A name for this process's consumer in the groups: host, pid, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


@runtime_checkable
class _Ticking(Protocol):
    async def tick(self, context: DeliveryContext) -> float:
        """Do what is due; the seconds until it should be asked again."""
        ...


@dataclass(eq=False)
class _SinkRun:
    """The working state of one sink in this engine."""

    target: Target
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    next_claim: float = 0.0
    next_forget: float = 0.0
    next_purge: float = 0.0

    @property
    def name(self) -> str:
        return self.target.sink.name


class OutboxEngine:
    """Delivers the tenant's events to its sinks; one per daemon."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        targets: Sequence[Target],
        context: DeliveryContext,
        *,
        consumer: str | None = None,
        options: EngineOptions | None = None,
        rng: random.Random | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        """`on_outcome(sink, outcome)` hears every attempt: delivered, retry or dead."""
        names = [t.sink.name for t in targets]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.outbox = Outbox(redis, keys)
        self.targets = tuple(targets)
        self.context = context
        self.consumer = consumer or consumer_name()
        self.options = options or EngineOptions()
        self._rng = rng or random.Random()
        self._on_outcome = on_outcome or (lambda sink, outcome: None)
        self._runs: list[_SinkRun] = []

    @property
    def sink_names(self) -> tuple[str, ...]:
        return tuple(t.sink.name for t in self.targets)

    async def prepare(self) -> None:
        """Create each sink's consumer group: events from now on are kept for it. Call before
        the daemon takes requests."""
        for target in self.targets:
            if await self.outbox.ensure_group(target.sink.name, self.options.start):
                log.info("outbox %s: new consumer group", target.sink.name)

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until `stopping` is set or the task is cancelled. Redis outages are logged
        and waited out. Deliveries in flight at a stop are given back and delivered again (after
        a crash, when their leases run out), so a receiver sees an event at least once."""
        if not self.targets:
            await stopping.wait()
            return
        self._runs = [_SinkRun(t) for t in self.targets]
        try:
            async with asyncio.TaskGroup() as group:
                for run in self._runs:
                    reader = self._guarded(run, "reader", self._read_once, stopping)
                    scheduler = self._guarded(run, "scheduler", self._schedule_once, stopping)
                    group.create_task(reader, name=f"outbox-{run.name}-reader")
                    group.create_task(scheduler, name=f"outbox-{run.name}-scheduler")
                    if isinstance(run.target.sink, _Ticking):  # its own timer (long waits)
                        ticker = self._guarded(run, "ticker", self._tick_once, stopping)
                        group.create_task(ticker, name=f"outbox-{run.name}-ticker")
        finally:
            await self._wind_down()

    async def _wind_down(self) -> None:
        """Stop deliveries in flight and give back every lane this consumer holds (what it was
        delivering may have reached the receiver: it comes again), then close the sinks."""
        tasks = [task for run in self._runs for task in run.inflight.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=WIND_DOWN_S)
        for run in self._runs:
            try:
                await self.outbox.release(run.name, self.consumer)
            except (RedisError, OSError) as exc:
                log.warning("outbox %s: leases left to run out (%s)", run.name, exc)
        for target in self.targets:
            if isinstance(target.sink, _Closable):
                try:
                    await target.sink.aclose()
                except Exception:
                    log.exception("outbox %s: sink did not close cleanly", target.sink.name)

    async def _guarded(
        self,
        run: _SinkRun,
        what: str,
        step: Callable[[_SinkRun, asyncio.Event], Awaitable[None]],
        stopping: asyncio.Event,
    ) -> None:
        """Run `step` again and again; while Redis is unavailable, log once and back off."""
        o = self.options
        delay, down = o.redis_retry_s, False
        me = asyncio.current_task()
        while not stopping.is_set():
            if me is not None and me.cancelling():
                raise asyncio.CancelledError  # a stop that a library call swallowed
            try:
                await step(run, stopping)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning(
                    "outbox %s: consumer group gone (Redis lost data?); recreated", run.name
                )
                await self.outbox.ensure_group(run.name, "0")
                continue
            except (RedisError, OSError) as exc:
                if not down:
                    log.warning(
                        "outbox %s %s: Redis unavailable (%s); retrying", run.name, what, exc
                    )
                down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, o.redis_retry_cap_s)
                continue
            if down:
                log.info("outbox %s %s: Redis is back", run.name, what)
                delay, down = o.redis_retry_s, False

    async def _tick_once(self, run: _SinkRun, stopping: asyncio.Event) -> None:
        sink = run.target.sink
        assert isinstance(sink, _Ticking)
        try:
            wait = await sink.tick(self.context)
        except (RedisError, OSError):
            raise
        except Exception:
            log.exception("outbox %s: its timer failed; trying again", run.name)
            wait = self.options.redis_retry_cap_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), max(wait, 0.05))

    # -- reading -----------------------------------------------------------------------------------
    async def _read_once(self, run: _SinkRun, stopping: asyncio.Event) -> None:
        o = self.options
        now = asyncio.get_running_loop().time()
        if now >= run.next_claim:
            run.next_claim = now + o.claim_idle_s / 2
            claimed = await self.outbox.reclaim(
                run.name, self.consumer, int(o.claim_idle_s * 1000), o.batch
            )
            if claimed:
                log.warning(
                    "outbox %s: reclaimed %d events another consumer read but did not take in",
                    run.name,
                    len(claimed),
                )
                await self._admit(run, claimed)
        if now >= run.next_forget:
            run.next_forget = now + 3600
            idle_ms = int(o.forget_consumers_s * 1000)
            for gone in await self.outbox.forget_consumers(run.name, idle_ms, self.consumer):
                log.info("outbox %s: forgot consumer %s (idle, holding nothing)", run.name, gone)
        if o.dead_letters_kept_s is not None and now >= run.next_purge:
            run.next_purge = now + min(3600.0, o.dead_letters_kept_s / 10)
            kept_ms = int(o.dead_letters_kept_s * 1000)
            purged = await self.outbox.purge(run.name, older_than_ms=kept_ms)
            if purged:
                log.info("outbox %s: purged %d dead letters (kept %ss)", run.name, len(purged),
                         o.dead_letters_kept_s)  # fmt: skip
        entries = await self.outbox.read(run.name, self.consumer, o.batch, int(o.wait_s * 1000))
        await self._admit(run, entries)

    async def _admit(self, run: _SinkRun, entries: list[Entry]) -> None:
        admissions = []
        for entry in entries:
            if entry.fields is None:
                log.error("outbox %s: event %s was trimmed before delivery", run.name, entry.id)
                admissions.append(Admission(entry.id, None, {}))
                continue
            try:
                event = Event.from_entry(entry.id, entry.fields)
            except (KeyError, ValueError) as exc:
                log.error("outbox %s: cannot read event %s (%r); skipped", run.name, entry.id, exc)
                admissions.append(Admission(entry.id, None, entry.fields))
                continue
            lane = lane_of(event) if run.target.sink.wants(event) else None
            admissions.append(Admission(entry.id, lane, entry.fields))
        if await self.outbox.admit(run.name, admissions):
            run.wake.set()

    # -- delivering --------------------------------------------------------------------------------
    async def _schedule_once(self, run: _SinkRun, stopping: asyncio.Event) -> None:
        o = self.options
        run.wake.clear()
        wait = o.wait_s
        free = o.concurrency - len(run.inflight)
        if free > 0:
            lease_ms = int(run.target.policy.lease_s * 1000)
            taken = await self.outbox.take(run.name, self.consumer, free, lease_ms)
            for leased in taken.leased:
                task = asyncio.create_task(self._deliver(run, leased))
                run.inflight[leased.lane] = task
            if taken.next_due_ms is not None and not taken.held_back:
                if taken.next_due_ms == 0 and len(taken.leased) < free:
                    return  # more is due: look again at once
                wait = min(wait, taken.next_due_ms / 1000)
        # a timer, not a cancellation-based timeout (wait_for, asyncio.timeout), so that no
        # timeout can get in the way of a stop
        timer = asyncio.get_running_loop().call_later(max(wait, 0.001), run.wake.set)
        try:
            await run.wake.wait()
        finally:
            timer.cancel()

    async def _deliver(self, run: _SinkRun, leased: Leased) -> None:
        sink, policy = run.target.sink, run.target.policy
        name, lane, entry_id = run.name, leased.lane, leased.id
        failures = leased.attempts + 1
        try:
            if leased.fields is None:
                log.error("outbox %s: event %s has no stored copy; dropped", name, entry_id)
                await self.outbox.done(name, lane, entry_id, self.consumer)
                return
            kept = True
            try:
                event = Event.from_entry(entry_id, leased.fields)
                await sink.deliver(event, self.context)
            except Undeliverable as exc:
                kept = await self._give_up(run, leased, failures, str(exc))
            except RetryLater as exc:
                kept = await self._failed(run, leased, failures, str(exc), exc.after_s)
            except (KeyError, ValueError) as exc:
                kept = await self._give_up(run, leased, failures, f"unreadable event: {exc!r}")
            except Exception as exc:
                log.exception("outbox %s: sink failed on event %s", name, entry_id)
                kept = await self._failed(run, leased, failures, f"sink error: {exc!r}", None)
            else:
                kept = await self.outbox.done(name, lane, entry_id, self.consumer)
                self._on_outcome(name, "delivered")
            if not kept:
                log.warning(
                    "outbox %s: lease on %s lost during delivery of %s (longer than %ss?)",
                    *(name, lane, entry_id, policy.lease_s),
                )
        except (RedisError, OSError) as exc:
            log.warning(
                "outbox %s: could not record the outcome for event %s (%s); "
                "it is delivered again when its lease runs out",
                *(name, entry_id, exc),
            )
        finally:
            run.inflight.pop(lane, None)
            run.wake.set()

    async def _failed(
        self, run: _SinkRun, leased: Leased, failures: int, reason: str, after_s: float | None
    ) -> bool:
        policy = run.target.policy
        if failures >= policy.max_attempts:
            return await self._give_up(run, leased, failures, reason)
        if after_s is not None:
            delay = min(max(after_s, 0.0), policy.retry_after_cap_s)
        else:
            delay = backoff_s(failures, policy, self._rng)
        self._on_outcome(run.name, "retry")
        log.info(
            "outbox %s: event %s (%s) failed, attempt %d of %d (%s); next in %.1fs",
            *(run.name, leased.id, leased.lane, failures, policy.max_attempts, reason, delay),
        )
        return await self.outbox.retry(
            run.name, leased.lane, leased.id, self.consumer, failures, int(delay * 1000)
        )

    async def _give_up(self, run: _SinkRun, leased: Leased, failures: int, reason: str) -> bool:
        self._on_outcome(run.name, "dead")
        log.warning(
            "outbox %s: event %s (%s) to the dead letters after %d attempts: %s",
            *(run.name, leased.id, leased.lane, failures, reason),
        )
        return await self.outbox.dead(
            run.name, leased.lane, leased.id, self.consumer, failures, reason
        )
