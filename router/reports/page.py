"""A report as one self-contained HTML page: its charts (inline SVG from matplotlib), its table,
and the comments of low scores; no script, no external file, so it opens from a saved file and
under the API's Content-Security-Policy (the status page's: `default-src 'none'`)."""

from __future__ import annotations

import html

from frontdesk.router.reports.charts import charts
from frontdesk.router.reports.render import as_csv, as_json, as_text, cell
from frontdesk.router.reports.tables import Table

CSP = "default-src 'none'; style-src 'unsafe-inline'"
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:68em;margin:2em auto;padding:0 1em;"
    "color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}.note{color:#777;"
    "font-size:.9em}table{border-collapse:collapse;font-size:.85em}th,td{padding:.2em .6em;"
    "border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}th:first-child,"
    "td:first-child,.text{text-align:left}tr.all td{font-weight:600}figure{margin:1em 0}"
    "svg{max-width:100%;height:auto}.scroll{overflow-x:auto}"
)


def page(table: Table) -> str:
    """The whole HTML document."""
    m = table.meta()
    title = f"frontdesk: {m['title']}"
    span = (
        f"{m['from']} to {m['to']}, by {m['by']}"
        + (f", per {m['group']}" if m["group"] else "")
        + f" ({m['timezone']}"
        + (f", calendar {m['calendar']})" if m["calendar"] else ")")
    )
    parts = [f'<p class="note">{html.escape(span)}</p>']
    parts += [f"<figure>{svg}</figure>" for svg in charts(table)]
    parts.append(f'<h2>Figures</h2><div class="scroll">{_table(table)}</div>')
    if table.notes:
        items = "".join(
            f"<li>{html.escape(str(n['score']))} on {html.escape(n['request'])} "
            f"({html.escape(n.get('channel') or '-')}): {html.escape(n.get('comment') or '-')}</li>"
            for n in table.notes
        )
        parts.append(f"<h2>Comments of low scores</h2><ul>{items}</ul>")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>\n"
    )


def _table(table: Table) -> str:
    if not table.rows:
        return '<p class="note">No figures in this span.</p>'
    text = {c for c in table.columns if any(isinstance(r.get(c), str) for r in table.rows)}
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(
            f"<td{' class=text' if c in text else ''}>{html.escape(cell(row.get(c)))}</td>"
            for c in table.columns
        )
        body.append(f"<tr{' class=all' if row.get('period') == 'all' else ''}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CONTENT_TYPES = {"table": "text/plain", "csv": "text/csv", "json": "application/json",
                 "html": "text/html"}  # fmt: skip


def output(table: Table, fmt: str) -> str:
    """The report in one of FORMATS (router/reports/query.py)."""
    if fmt == "html":
        return page(table)
    return {"csv": as_csv, "json": as_json}.get(fmt, as_text)(table)
