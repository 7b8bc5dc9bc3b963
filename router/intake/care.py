"""The daemon's copy of the care lists (important, low_satisfaction), in step with Redis
(queues/care.py): seeded from the config at start and reload, changed by every daemon's
`customer.listed` / `customer.unlisted` events as they are heard, and read again whole now and
then (`REFRESH_S`) in case an event went by before this daemon followed the stream. The
classification rules and the service-level policies read it through `settings.customers`, so a
request costs no round trip for its customer's standing."""

from __future__ import annotations

import time

from frontdesk.queues.care import LISTS, CareStore, Entry
from frontdesk.queues.events import Event, EventType
from frontdesk.router.intake.rules import CustomerLists, Key

REFRESH_S = 60.0


def split_key(key: str) -> Key:
    """`email:a@b.cn` -> ("email", "a@b.cn")."""
    kind, _, value = key.partition(":")
    return kind, value


def joined(key: Key) -> str:
    return f"{key[0]}:{key[1]}"


class LiveCare:
    """The care lists every intake of this daemon reads."""

    def __init__(self, store: CareStore) -> None:
        self.store = store
        self.lists = CustomerLists()
        self._config = CustomerLists()
        self._read_at = 0.0

    async def seed(self, config: CustomerLists) -> CustomerLists:
        """Put the config's entries into Redis (those an API call removed stay removed) and read
        every list; the lists to read from now on."""
        self._config = config
        found = {
            name: await self.store.seed(name, [(joined(k), e) for k, e, _ in config.items(name)])
            for name in LISTS
        }
        self.lists = self._fill(found)
        self._read_at = time.monotonic()
        return self.lists

    async def refresh_if_due(self) -> None:
        """Read the lists whole again once `REFRESH_S` has passed since the last read."""
        if time.monotonic() - self._read_at < REFRESH_S:
            return
        found = {name: await self.store.all(name) for name in LISTS}
        fresh = self._fill(found)
        for name in LISTS:  # in place: the settings hold this very object
            for key, _, _ in self.lists.items(name):
                self.lists.drop(name, key)
            for key, entry, until in fresh.items(name):
                self.lists.put(name, key, entry, until)
        self._read_at = time.monotonic()

    def heard(self, event: Event) -> None:
        """Apply a list change any daemon made."""
        name = event.data.get("list", "")
        if name not in LISTS:
            return
        key = split_key(event.data.get("key", ""))
        if event.type is EventType.CUSTOMER_LISTED:
            until = int(event.data.get("until_ms") or 0)
            self.lists.put(name, key, event.data.get("entry", key[1]), until)
        elif event.type is EventType.CUSTOMER_UNLISTED:
            self.lists.drop(name, key)

    @staticmethod
    def _fill(found: dict[str, list[Entry]]) -> CustomerLists:
        lists = CustomerLists()
        for name, entries in found.items():
            for e in entries:
                lists.put(name, split_key(e.key), e.entry, e.until_ms)
        return lists
