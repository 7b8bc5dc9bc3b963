"""What `frontdesk simulate` shows on stderr while it runs: for each run (a policy, a config of a
what-if, a head count of a sweep) how much of the simulated time has passed and how many of the
arrivals have come. On a terminal one line, rewritten in place (at most every half second);
elsewhere (a log, a pipe) a plain line at each tenth of the simulated time, so that the output is
the same from run to run. Nothing at all with --quiet; stdout is never touched.

    progress = Progress(sys.stderr)
    Engine(settings, workload, arrivals, policy, progress.run("frontdesk")).run()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

# (simulated ms now, simulated ms at the end, arrivals so far, arrivals in all)
Watch = Callable[[int, int, int, int], None]
STEPS = 10  # plain lines: one per tenth
TTY_EVERY_S = 0.5


def span(ms: int) -> str:
    """Simulated time, as a person reads it: 45s, 12m, 3h 05m, 2d 04h."""
    s = max(ms, 0) // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


class Progress:
    """Reports each run's progress to `stream` (a terminal, or anything else)."""

    def __init__(
        self,
        stream: TextIO,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.quiet, self.clock = stream, quiet, clock
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def run(self, label: str) -> Watch | None:
        """The watch for one run, or None when nothing is to be shown."""
        if self.quiet:
            return None
        step_shown, shown_at, width = -1, float("-inf"), 0

        def watch(now: int, end: int, done: int, total: int) -> None:
            nonlocal step_shown, shown_at, width
            share = min(now / end, 1.0) if end > 0 else 1.0
            final = done >= total and now >= end
            line = (
                f"simulate {label}: {span(min(now, end))} of {span(end)} simulated, "
                f"{done:,} of {total:,} arrivals ({share:.0%})"
            )
            if self.tty:
                if final or self.clock() - shown_at >= TTY_EVERY_S:
                    pad = " " * max(width - len(line), 0)
                    self.stream.write(f"\r{line}{pad}" + ("\n" if final else ""))
                    shown_at, width = self.clock(), len(line)
            else:
                step = int(share * STEPS + 1e-9)
                if step > step_shown and (step > 0 or final):
                    self.stream.write(line + "\n")
                    step_shown = step
            self.stream.flush()

        return watch
