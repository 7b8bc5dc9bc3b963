"""Which config keys differ between two loaded configs, by their YAML names, so that a reload
can say exactly what it applied and what waits for the next restart."""

from __future__ import annotations

import dataclasses
from typing import Any

# Settings fields whose YAML key is elsewhere or spelled otherwise.
_KEY_OF = {"webhooks": "events.webhooks", "api_tokens": "api.tokens", "store": "store"}
# The store's settings come from several sections.
_STORE_KEYS = {
    "store.idempotency_ttl": "retention.idempotency",
    "store.record_ttl": "retention.records",
    "store.important_ttl": "retention.records.important",
    "store.dead_letter_ttl": "retention.dead_letters",
    "store.stream_maxlen": "events.max_length",
    "store.max_missed_offers": "offers.max_missed_in_a_row",
    "store.max_tier": "queues.tier",
}


def _yaml_name(field: str) -> str:
    """A settings field as its YAML key: `tolerance_s` is `tolerance`."""
    return field.removesuffix("_s")


def changed_keys(prefix: str, old: Any, new: Any) -> list[str]:
    """The dotted keys under `prefix` whose values differ: into dataclasses and mappings field
    by field, anything else (a list, a value) as a whole."""
    if old == new:
        return []
    if (
        dataclasses.is_dataclass(old)
        and type(old) is type(new)
        and not isinstance(old, type)
        and not isinstance(new, type)
    ):
        out: list[str] = []
        for f in dataclasses.fields(old):
            key = f"{prefix}.{_yaml_name(f.name)}" if prefix else _yaml_name(f.name)
            out += changed_keys(
                _STORE_KEYS.get(key, key), getattr(old, f.name), getattr(new, f.name)
            )
        return out or [prefix]
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for name in sorted(old.keys() | new.keys(), key=str):
            out += changed_keys(f"{prefix}.{name}", old.get(name), new.get(name))
        return out or [prefix]
    return [prefix]


def top_key(field: str) -> str:
    """The YAML key of a top-level Settings field."""
    return _KEY_OF.get(field, field)
