"""A customer directory and its care lists, imported from CSV or JSON (`frontdesk customers
import`, `POST /v1/customers/import`): each row one customer, stored in one script, all or
nothing (queues/lua/import_customer-n.lua); a bad row is reported with its line and field and
the others are imported; importing the same file again makes no duplicate.

CSV: a header line, then one customer a line; columns (any order, names case-insensitive):
`name`, `email`/`emails`, `phone`/`phones`, `external_id`/`id`, `care`/`lists`/`tier`. Several
emails, phones or lists in one cell are separated by `;`, `,` or `|`.

JSON: a list of objects, or {"customers": [...]}, each with `name`, `email` or `emails` (text or
list), `phone` or `phones`, `external_id`, `care` (list names; `tier` the same).

A phone number is E.164 (+8613800138000; spaces, dots, dashes and brackets ignored); care lists
are `important` and `low_satisfaction` (`vip` stands for important). The directory's addresses
are trusted: the operator vouches for them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from frontdesk.queues.care import LISTS
from frontdesk.queues.customers import CustomerStore
from frontdesk.router.intake.rules import entry_key

MAX_ROWS = 100_000
MAX_EACH = 20  # emails, phones per row
_EXTERNAL = re.compile(r"[\x21-\x7e]{1,128}")
_SPLIT = re.compile(r"[;,|]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ALIASES = {"vip": "important"}
_COLUMNS = {
    "name": "name",
    "email": "emails",
    "emails": "emails",
    "phone": "phones",
    "phones": "phones",
    "external_id": "external_id",
    "id": "external_id",
    "care": "care",
    "lists": "care",
    "care_lists": "care",
    "tier": "care",
}


class DirectoryError(ValueError):
    """The file as a whole cannot be read (not CSV with a header, not JSON)."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    name: str
    addresses: tuple[str, ...]  # kind:value, ext:<external id> first
    lists: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Refused:
    line: int
    field: str
    error: str


@dataclass(slots=True)
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.refused)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created), "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "refused": [{"line": r.line, "field": r.field, "error": r.error}
                        for r in self.refused],
        }  # fmt: skip


def _values(raw: Any, name: str) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [v.strip() for v in _SPLIT.split(raw) if v.strip()]
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return [v.strip() for v in raw if v.strip()]
    raise ValueError(f"{name}: must be text or a list of text")


def row(line: int, cells: dict[str, Any]) -> Row | Refused:
    """One row's cells (column -> value), checked; the refusal names the first bad field."""
    try:
        name = cells.get("name") or ""
        if not isinstance(name, str) or len(name) > 200 or "\n" in name:
            raise ValueError("name: must be one line of text, up to 200 characters")
        found: list[str] = []
        external = cells.get("external_id")
        if isinstance(external, int) and not isinstance(external, bool):
            external = str(external)  # a CRM's numeric id, as JSON gives it
        if external not in (None, ""):
            if not isinstance(external, str) or not _EXTERNAL.fullmatch(external.strip()):
                raise ValueError("external_id: 1 to 128 printable characters, no spaces")
            found.append(f"ext:{external.strip()}")
        for column, kind in (("emails", "email"), ("phones", "phone")):
            values = _values(cells.get(column), column)
            if len(values) > MAX_EACH:
                raise ValueError(f"{column}: at most {MAX_EACH}")
            for value in values:
                try:
                    got = entry_key(value if kind == "email" or value[0] == "+" else f"+{value}")
                except ValueError as exc:
                    raise ValueError(f"{column}: {exc}") from None
                if kind == "phone" and not _E164.fullmatch(got[1]):
                    raise ValueError(f"{column}: {value!r} is not an E.164 number (+8613800138000)")
                if got[0] != kind:
                    raise ValueError(f"{column}: {value!r} is not an {kind}")
                found.append(f"{kind}:{got[1]}")
        if not found:
            raise ValueError("emails: a row needs an email, a phone or an external_id")
        lists = []
        for value in _values(cells.get("care"), "care"):
            listed = _ALIASES.get(value.lower(), value.lower())
            if listed not in LISTS:
                raise ValueError(f"care: {value!r} is no care list ({', '.join(LISTS)})")
            lists.append(listed)
    except ValueError as exc:
        where, _, message = str(exc).partition(": ")
        return Refused(line, where, message)
    return Row(line, name.strip(), tuple(dict.fromkeys(found)), tuple(dict.fromkeys(lists)))


def parse_csv(text: str) -> list[Row | Refused]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DirectoryError("the file is empty: a header line is needed") from None
    except csv.Error as exc:
        raise DirectoryError(f"line 1: {exc}") from None
    columns = [_COLUMNS.get(h.strip().lower()) for h in header]
    unknown = [h for h, c in zip(header, columns, strict=True) if c is None]
    if unknown:
        raise DirectoryError(f"line 1: unknown column {unknown[0]!r}; known: "
                             f"{', '.join(sorted(_COLUMNS))}")  # fmt: skip
    rows: list[Row | Refused] = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append(Refused(start, "(line)", str(exc)))
            break
        if any(c.strip() for c in cells):
            if len(cells) > len(columns):
                rows.append(Refused(start, "(line)", f"{len(cells)} cells, the header has "
                                    f"{len(columns)}"))  # fmt: skip
            else:
                rows.append(row(start, dict(zip(columns, cells, strict=False))))  # type: ignore[arg-type]
        start = reader.line_num + 1
        if len(rows) > MAX_ROWS:
            raise DirectoryError(f"more than {MAX_ROWS} rows: split the file")
    return rows


def parse_json(text: str) -> list[Row | Refused]:
    """A list of customer objects (or {"customers": [...]}); each object's line is where it
    starts."""
    decoder = json.JSONDecoder()
    try:
        whole = json.loads(text)
    except ValueError as exc:
        raise DirectoryError(f"not JSON: {exc}") from None
    items = whole.get("customers") if isinstance(whole, dict) else whole
    if not isinstance(items, list):
        raise DirectoryError('expected a list of customers, or {"customers": [...]}')
    if len(items) > MAX_ROWS:
        raise DirectoryError(f"more than {MAX_ROWS} rows: split the file")
    at = text.find("[", text.find('"customers"') if isinstance(whole, dict) else 0) + 1
    rows: list[Row | Refused] = []
    for item in items:
        while text[at] in " \t\r\n,":
            at += 1
        line = text.count("\n", 0, at) + 1
        _, at = decoder.raw_decode(text, at)
        if not isinstance(item, dict):
            rows.append(Refused(line, "(row)", "must be an object"))
            continue
        cells: dict[str, Any] = {}
        unknown = None
        for key, value in item.items():
            column = _COLUMNS.get(key)
            if column is None:
                unknown = unknown or key
            cells[column or key] = value
        if unknown is not None:
            rows.append(Refused(line, unknown, "unknown field"))
            continue
        rows.append(row(line, cells))
    return rows


async def import_rows(customers: CustomerStore, rows: Iterable[Row | Refused]) -> Report:
    """Every good row imported (each in one script), every bad one reported."""
    report = Report()
    for r in rows:
        if isinstance(r, Refused):
            report.refused.append(r)
            continue
        outcome, detail = await customers.import_one(r.name, r.addresses, r.lists)
        if outcome == "conflict":
            report.refused.append(Refused(r.line, "emails", detail))
        else:
            {"created": report.created, "updated": report.updated,
             "unchanged": report.unchanged}[outcome].append(detail)  # fmt: skip
    return report


def parse(text: str, kind: str) -> Sequence[Row | Refused]:
    """The rows of a directory in `kind` ('csv' or 'json'); DirectoryError when unreadable."""
    return parse_csv(text) if kind == "csv" else parse_json(text)
