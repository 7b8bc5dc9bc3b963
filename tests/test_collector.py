"""The daemon's collector policy (router/daemon/collector.py): what survives is frozen out of
the collector's walks, thawed and collected on schedule, and all thawed when the daemon stops."""

from __future__ import annotations

import asyncio
import gc

from frontdesk.router.daemon.collector import keep_pauses_short


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_survivors_are_frozen_and_everything_is_thawed_at_the_end():
    stopping = asyncio.Event()
    gc.unfreeze()
    task = asyncio.create_task(keep_pauses_short(stopping, freeze_every_s=0.02, thaw_every_s=60))
    await asyncio.sleep(0.1)
    frozen = gc.get_freeze_count()
    stopping.set()
    await asyncio.wait_for(task, 1)
    assert frozen > 1000  # this process's long-lived objects, out of the collector's walks
    assert gc.get_freeze_count() == 0  # stopped: nothing left frozen


async def test_a_cycle_that_died_after_it_was_frozen_is_freed_at_the_thaw():
    stopping = asyncio.Event()
    gc.unfreeze()
    gc.collect()
    cycles = [_Cycle() for _ in range(50)]
    gc.freeze()  # as the policy freezes what has lived a while
    del cycles  # dead now, but frozen: no collection sees them
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) == 0  # hidden while frozen
    gc.collect()
    gc.unfreeze()
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) == 50  # still there
    gc.freeze()
    task = asyncio.create_task(keep_pauses_short(stopping, freeze_every_s=0.02, thaw_every_s=0))
    await asyncio.sleep(0.1)  # a thaw and a full collection at every step
    stopping.set()
    await asyncio.wait_for(task, 1)
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) == 0
