"""One row per scenario, the table, the JSON; recovery times and 5xx counted from the answers."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from frontdesk.router.bench.report import machine

from .audit import Findings
from .load import Sent

COLUMNS = [
    ("scenario", "scenario"),
    ("sent", "sent"),
    ("acknowledged", "acked"),
    ("found", "found"),
    ("lost", "lost"),
    ("duplicated", "dup"),
    ("double_assigned", "double"),
    ("over_capacity", "over cap"),
    ("stuck", "stuck"),
    ("http_5xx", "5xx"),
    ("tracebacks", "tracebacks"),
    ("intake_recovery_s", "intake back s"),
    ("routing_recovery_s", "routing back s"),
]
NEVER = -1.0  # a recovery that did not happen before the run ended


@dataclass(slots=True)
class Fault:
    """A fault injected at `at` (monotonic); `back` is when what failed was restored (for a
    daemon kill or a failover, the fault itself: the others serve on); `ready` when every
    daemon's /readyz answered 200 again."""

    kind: str
    at: float
    back: float
    ready: float | None = None
    intake_s: float | None = None
    routing_s: float | None = None


@dataclass(slots=True)
class Row:
    scenario: str
    status: str = "ok"
    sent: int | None = None
    acknowledged: int | None = None
    found: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    double_assigned: int | None = None
    over_capacity: int | None = None
    stuck: int | None = None
    http_5xx: int | None = None
    tracebacks: int | None = None
    intake_recovery_s: float | None = None
    routing_recovery_s: float | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def take(self, f: Findings) -> None:
        for name in ("sent", "acknowledged", "found", "lost", "duplicated", "double_assigned",
                     "over_capacity", "stuck"):  # fmt: skip
            setattr(self, name, getattr(f, name))
        if f.unheard:
            self.note = f"{f.unheard} offers never reached the agent's open socket; " + self.note
        self.details["audit"] = {"requests": f.requests, "stuck": f.stuck_detail,
                                 "examples": f.examples}  # fmt: skip


def in_outage(t: float, faults: list[Fault]) -> bool:
    return any(f.at <= t <= (f.ready or f.back) for f in faults if f.kind != "daemon-kill")


def server_errors(
    sent: list[Sent], faults: list[Fault], examples: list[dict[str, Any]] | None = None
) -> tuple[int, dict[str, int]]:
    """HTTP 5xx and SMTP 451 answers, except 503/451 refusals sent while Redis was down (the
    channels' correct temporary refusal); and the count of every status seen. Each such
    answer, up to 20, goes into `examples` (channel, attempt, status, when it was sent and
    answered relative to the last fault's recovery) to tell a late refusal from a real fault."""
    bad, seen = 0, {}
    last = faults[-1] if faults else None
    for s in sent:
        for n, a in enumerate(s.answers):
            seen[a.status] = seen.get(a.status, 0) + 1
            if a.code is None:
                continue
            http5 = a.status.startswith("http") and a.code >= 500
            smtp451 = a.status.startswith("smtp") and a.code == 451
            if (http5 or smtp451) and not (a.code in (503, 451) and in_outage(a.sent, faults)):
                bad += 1
                if examples is not None and len(examples) < 20:
                    ready = (last.ready or last.back) if last else 0.0
                    examples.append({
                        "channel": s.channel, "message": s.i, "attempt": n, "status": a.status,
                        "sent_after_ready_s": round(a.sent - ready, 4),
                        "answered_after_ready_s": round(a.answered - ready, 4),
                    })  # fmt: skip
    return bad, seen


def recover(faults: list[Fault], sent: list[Sent], offers: list[float]) -> None:
    """Each fault's recovery: from `back` to the first 2xx answer after it, and to the first
    offer reaching an agent after it."""
    oks = sorted(a.answered for s in sent for a in s.answers if a.status == "ok")
    offers = sorted(offers)
    for f in faults:
        after = next((t for t in oks if t >= f.back), None)
        f.intake_s = round(after - f.back, 3) if after is not None else NEVER
        first = next((t for t in offers if t >= f.back), None)
        f.routing_s = round(first - f.back, 3) if first is not None else NEVER


def worst(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return NEVER if NEVER in known else max(known)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "never" if value == NEVER else f"{value:.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[Row]) -> str:
    head = [title for _, title in COLUMNS]
    body = [[cell(getattr(r, name)) for name, _ in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(b[n]) for b in body)) for n, h in enumerate(head)]
    lines = [
        "  ".join(
            h.rjust(w) if n else h.ljust(w)
            for n, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    for r, b in zip(rows, body, strict=True):
        lines.append(
            "  ".join(
                v.rjust(w) if n else v.ljust(w)
                for n, (v, w) in enumerate(zip(b, widths, strict=True))
            )
        )
        if r.status != "ok" or r.note:
            lines.append(f"    {r.status}{': ' if r.note else ''}{r.note}")
    return "\n".join(lines)


def document(rows: list[Row], command: str, quick: bool, seed: int) -> dict[str, Any]:
    return {
        "benchmark": "chaos",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": command,
        "quick": quick,
        "seed": seed,
        "machine": machine(),
        "columns": [name for name, _ in COLUMNS],
        "scenarios": [asdict(r) for r in rows],
    }
