"""The garbage collector's policy for a long-running daemon: short pauses.

CPython's full collection (generation 2) walks every tracked object. A daemon with a thousand
agent sockets and the dispatcher's board and rows keeps hundreds of thousands of them alive for
hours, so each full collection paused the event loop for 60-95 ms, a dozen times a minute at
200 requests/s: every offer, acknowledgement and push in flight waited for it
(benchmarks/dispatch_latency.py; a `gc.callbacks` probe measured the pauses). Here the objects
that have lived a few seconds are moved out of the collector's sight (`gc.freeze()`, cheap:
the lists are merged), so a collection walks only what is new (pauses of 1-8 ms measured), and
every `thaw_every_s` everything is thawed and collected once, so that reference cycles that died
after being frozen (a closed socket's) are freed too: one full pause per ten minutes instead of
a dozen per minute. Objects freed by their reference count are freed at once, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

log = logging.getLogger("frontdesk.gc")

FREEZE_EVERY_S = 5.0
THAW_EVERY_S = 600.0


async def keep_pauses_short(
    stopping: asyncio.Event,
    freeze_every_s: float = FREEZE_EVERY_S,
    thaw_every_s: float = THAW_EVERY_S,
) -> None:
    """Freeze what has survived every `freeze_every_s`; thaw and collect all of it every
    `thaw_every_s`; everything thawed again when the daemon stops."""
    thawed = time.monotonic()
    try:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), freeze_every_s)
            if time.monotonic() - thawed >= thaw_every_s:
                gc.unfreeze()
                started = time.perf_counter()
                found = gc.collect()
                thawed = time.monotonic()
                log.debug("full collection: %d objects freed in %.0f ms",
                          found, (time.perf_counter() - started) * 1000)  # fmt: skip
            gc.freeze()
    finally:
        gc.unfreeze()
