"""The Lua scripts of ``queues/lua``: read once, includes resolved, registered with redis-py.

Each file is named ``<verb>-<number of keys>.lua``: calling a script with another number of keys
is a programming error caught here rather than a wrong key touched in Redis. ``-n`` stands for a
variable number of keys (a fixed few, then one per address, agent, claim or limit), each listed
in the script's opening comment; it says nothing about writing: of the ten, only agents_live
only reads (its opening comment says so), the others write like any script
(tests/test_queue_ops_scripts.py holds every file to its name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterPipeline
from redis.commands.core import AsyncScript

from .batch import batcher

LUA_DIR = Path(__file__).parent / "lua"
ANY = -1  # the number of keys of a `-n` script
_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)


def _resolve(text: str) -> str:
    return _INCLUDE.sub(lambda m: (LUA_DIR / "includes" / f"{m[1]}.lua").read_text(), text)


@cache
def sources() -> dict[str, tuple[int, str]]:
    """verb -> (number of keys, script text with includes resolved)."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(LUA_DIR.glob("*-*.lua")):
        verb, _, nkeys = path.stem.rpartition("-")
        found[verb] = (ANY if nkeys == "n" else int(nkeys), _resolve(path.read_text()))
    return found


@dataclass(slots=True)
class _Bound:
    verb: str
    nkeys: int
    script: AsyncScript
    redis: Redis | Any  # the client registered on; a plain (non-cluster) one batches by tick

    async def __call__(
        self, keys: Sequence[str], args: Sequence[Any], client: Any | None = None
    ) -> Any:
        if self.nkeys != ANY and len(keys) != self.nkeys:
            raise TypeError(f"{self.verb} takes {self.nkeys} keys, got {len(keys)}")
        if isinstance(client, ClusterPipeline):
            # redis-py refuses EVALSHA in a cluster pipeline (it could not load a script the
            # node lacks, as a plain pipeline does), so the script text goes along: EVAL,
            # routed by its keys like EVALSHA, to the one slot of the tenant. Not awaited: that
            # would initialize the cluster pipeline again, dropping what it had queued.
            return client.eval(self.script.script, len(keys), *keys, *args)  # type: ignore[arg-type]
        if client is None and isinstance(self.redis, Redis):
            # group commit: one pipeline for every script call of this tick (queues/batch.py)
            return await batcher(self.redis).call(self.script, list(keys), list(args))
        return await self.script(keys=list(keys), args=list(args), client=client)


class Scripts:
    """Every script, registered on one client (EVALSHA, with redis-py's NOSCRIPT fallback); the
    client may be a Redis Cluster client (every key of a call is on one slot), and in a cluster
    pipeline a script goes as EVAL. On a plain client, the calls made in one event-loop tick go
    in one pipeline (queues/batch.py), each with its own answer."""

    def __init__(self, redis: Redis) -> None:
        self._bound = {
            verb: _Bound(verb, nkeys, redis.register_script(text), redis)
            for verb, (nkeys, text) in sources().items()
        }

    def __getattr__(self, verb: str) -> _Bound:
        try:
            return self._bound[verb]
        except KeyError:
            raise AttributeError(verb) from None
