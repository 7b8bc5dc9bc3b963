"""A report as text: an aligned table for a terminal, CSV (one header line, one line per row,
empty for no value), or JSON (what it covers, its columns in order, its rows as objects, and the
low-score comments of a satisfaction or overview report)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from frontdesk.router.reports.tables import Table

MAX_CELL = 40


def cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


def as_json(table: Table) -> str:
    body: dict[str, Any] = table.meta() | {"columns": table.columns, "rows": table.rows}
    if table.query.name in ("satisfaction", "overview"):
        body["comments"] = table.notes
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def as_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in table.columns])
    return out.getvalue()


def as_text(table: Table) -> str:
    """A heading line, then the columns aligned (numbers to the right)."""
    m = table.meta()
    head = f"{m['title']}: {m['from']} to {m['to']} by {m['by']} ({m['timezone']})"
    cells = [[cell(row.get(c))[:MAX_CELL] for c in table.columns] for row in table.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(table.columns)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in table.rows)
        for c in table.columns
    ]

    def line(items: list[str]) -> str:
        parts = [
            item.rjust(w) if num else item.ljust(w)
            for item, w, num in zip(items, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [head, "", line(table.columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells] or ["(no figures in this span)"]
    for note in table.notes:
        out.append(f"score {note['score']} on {note['request']}: {note.get('comment') or '-'}")
    return "\n".join(out) + "\n"
