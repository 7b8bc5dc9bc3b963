"""Handing each event of the stream to the listeners that care: by the event's agent, its request
and its queue (a dictionary look-up each), plus the few listeners of every event. A publish
costs O(listeners who care), not O(every agent socket of the daemon). Pure bookkeeping: no I/O.

    fanout = Fanout()
    stop = fanout.subscribe(socket.listen, agent="a1")   # offers, assignments, messages of a1
    stop = fanout.subscribe(watch.wake, request="FD-7")  # everything about FD-7
    stop = fanout.subscribe(board.changed, queue="billing")
    fanout.everyone.add(metrics.observe)                 # every event
    fanout.publish(event)
    stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from frontdesk.queues.events import Event

log = logging.getLogger("frontdesk.events")

Listener = Callable[[Event], None]


class Subscription:
    """One listener under one key; calling it unsubscribes (idempotent). `calls` counts the
    events it was handed."""

    __slots__ = ("_group", "_index", "calls", "key", "listener")

    def __init__(
        self, listener: Listener, key: str, group: set[Subscription], index: dict[str, Any]
    ) -> None:
        self.listener = listener
        self.key = key
        self.calls = 0
        self._group = group
        self._index = index

    def __call__(self) -> None:
        group = self._group
        group.discard(self)
        if not group and self._index.get(self.key) is group:
            del self._index[self.key]


class Fanout:
    """The daemon's listeners of its event stream, by agent id, request id and queue."""

    def __init__(self) -> None:
        self.by_agent: dict[str, set[Subscription]] = {}
        self.by_request: dict[str, set[Subscription]] = {}
        self.by_queue: dict[str, set[Subscription]] = {}
        # listeners of every event (metrics, the daemon's own bookkeeping, tests); kept few
        self.everyone: set[Listener] = set()
        self.calls = 0  # listener calls made, over every publish
        self.published = 0  # events published
        self.failures = 0  # listener calls that raised

    def subscribe(
        self,
        listener: Listener,
        *,
        agent: str | None = None,
        request: str | None = None,
        queue: str | None = None,
    ) -> Callable[[], None]:
        """Hand `listener` the events of exactly one of `agent`, `request` or `queue` (every
        event when none is given); returns the unsubscribe."""
        named = [(i, k) for i, k in ((0, agent), (1, request), (2, queue)) if k is not None]
        if len(named) > 1:
            raise ValueError("subscribe by one of agent, request or queue")
        if not named:
            self.everyone.add(listener)
            return lambda: self.everyone.discard(listener)
        which, key = named[0]
        if not key:
            raise ValueError("an empty key names no agent, request or queue")
        index = (self.by_agent, self.by_request, self.by_queue)[which]
        group = index.setdefault(key, set())
        subscription = Subscription(listener, key, group, index)
        group.add(subscription)
        return subscription

    def publish(self, event: Event) -> None:
        """Hand `event` to its agent's, its request's and its queue's listeners and to those of
        every event; each listener at most once, a failing one logged and passed over."""
        self.published += 1
        found: list[Subscription] = []
        if event.agent and (group := self.by_agent.get(event.agent)):
            found += group
        if event.request and (group := self.by_request.get(event.request)):
            found += group
        if event.queue and (group := self.by_queue.get(event.queue)):
            found += group
        seen: set[Listener] = set()
        for subscription in found:  # copied: a listener may (un)subscribe while it is called
            listener = subscription.listener
            if listener in seen:
                continue
            seen.add(listener)
            subscription.calls += 1
            self._call(listener, event)
        for listener in list(self.everyone):
            if listener not in seen:
                self._call(listener, event)

    def _call(self, listener: Listener, event: Event) -> None:
        self.calls += 1
        try:
            listener(event)
        except Exception:
            self.failures += 1
            log.exception("a listener of %s events failed on %s", event.type, event.id)

    def __len__(self) -> int:
        """Listeners subscribed, every key counted."""
        keyed = (self.by_agent, self.by_request, self.by_queue)
        return len(self.everyone) + sum(len(g) for i in keyed for g in i.values())
