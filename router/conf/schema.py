"""A JSON Schema of a config, derived from the checker itself: the real parsing code runs over
sample configs with a `Tracer` for its checker, and every check it makes (a mapping and the keys
it allows, a string and its pattern, a whole number and its bounds, a duration, a choice, a
switch, a list) becomes the schema of the path it was made at.

Nothing is written down twice: a key added to the loader is in the schema at the next run, with
the type its check gives it. What the checker decides in code of its own (cross-references, one
key or another, a regular expression that compiles) stays with `frontdesk check-config`; the
schema is the shape an editor can check as you type.

    tracer = Tracer(lines, fallback)   # the checker the parser is given
    ...                                # parse one or more sample configs with it
    schema = build_schema(tracer.seen, documents)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from frontdesk.router.conf.yaml import _DURATION, Checker, Lines, Path

DURATION: dict[str, Any] = {
    "description": "a duration: seconds, or a number with ms, s, m, h or d (30s, 20m, 2h, 90d)",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": _DURATION.pattern},
    ],
}


@dataclass(frozen=True, slots=True)
class Seen:
    """One check the parser made: at `path`, of `kind`, with its `detail`."""

    source: str  # the config it was made on
    path: Path
    kind: str  # mapping, sequence, string, integer, duration, choice, boolean, one_or_list
    detail: tuple[Any, ...]
    value: object = field(compare=False, hash=False)


class Tracer(Checker):
    """A checker that checks as usual and remembers every check it was asked to make."""

    def __init__(self, lines: Lines, fallback: Lines | None = None) -> None:
        super().__init__(lines, fallback)
        self.seen: list[Seen] = []
        self._mappings: dict[Path, int] = {}  # the first mapping checked at each path

    def _saw(self, path: Path, kind: str, value: object, *detail: Any) -> None:
        self.seen.append(Seen(self.lines.source, path, kind, detail, value))

    def mapping(
        self, path: Path, value: object, allowed: Iterable[str] | None = None
    ) -> dict[str, Any]:
        keys = None if allowed is None else tuple(sorted(set(allowed)))
        # a later mapping at the same path is one made from it (the SLA's `when` hands the
        # rules' parser the conditions they share): what it allows says nothing of the path
        if self._mappings.setdefault(path, id(value)) == id(value) or value is None:
            self._saw(path, "mapping", value, keys)
        return super().mapping(path, value, keys)

    def sequence(self, path: Path, value: object) -> list[Any]:
        self._saw(path, "sequence", value)
        return super().sequence(path, value)

    def string(self, path: Path, value: object, pattern: str | None = None) -> str | None:
        self._saw(path, "string", value, pattern)
        return super().string(path, value, pattern)

    def integer(self, path: Path, value: object, low: int, high: int | None = None) -> int | None:
        self._saw(path, "integer", value, low, high)
        return super().integer(path, value, low, high)

    def duration(self, path: Path, value: object) -> float | None:
        self._saw(path, "duration", value)
        return super().duration(path, value)

    def choice(self, path: Path, value: object, choices: Iterable[str]) -> str | None:
        options = tuple(choices)
        self._saw(path, "choice", value, tuple(getattr(o, "value", o) for o in options))
        return super().choice(path, value, options)

    def boolean(self, path: Path, value: object) -> bool | None:
        self._saw(path, "boolean", value)
        return super().boolean(path, value)

    def one_or_list(self, path: Path) -> None:
        self._saw(path, "one_or_list", None)


_MISSING, _ELSEWHERE = object(), object()


def _at(document: object, path: Path) -> object:
    """The value at `path`; _MISSING where a mapping lacks the key, _ELSEWHERE where the path
    runs through something that is no mapping or list (a list where a name is looked up)."""
    for part in path:
        if isinstance(part, int) and isinstance(document, list):
            document = document[part] if part < len(document) else _MISSING
        elif isinstance(part, str) and isinstance(document, Mapping):
            document = document.get(part, _MISSING)
        else:
            return _ELSEWHERE
        if document is _MISSING:
            return _MISSING
    return document


def about_its_path(seen: Seen, document: object) -> bool:
    """Whether a check was made on the value the document holds at its path (or on a default
    where the document has none), not on something derived from it (a key's name, the normal
    class of a per-class setting): only those say what the path may hold."""
    there = _at(document, seen.path)
    if there is _ELSEWHERE:
        return False
    if seen.kind == "one_or_list" or there is _MISSING or seen.value is there:
        return True
    if seen.kind == "mapping":
        return seen.value is None or isinstance(there, Mapping) == isinstance(seen.value, Mapping)
    return bool(type(there) is type(seen.value) and there == seen.value)


@dataclass
class _Node:
    checks: set[tuple[str, tuple[Any, ...]]] = field(default_factory=set)
    keys: dict[str, _Node] = field(default_factory=dict)
    any_key: _Node | None = None  # a mapping whose keys are names (queues, skills)
    items: _Node | None = None
    values: list[object] = field(default_factory=list)  # what valid samples hold here
    key_names: _Node | None = None  # checks of the keys' names (a calendar's, a skill's)

    @property
    def names_are_keys(self) -> bool:
        return any(kind == "mapping" and detail == (None,) for kind, detail in self.checks)

    def child(self, part: str | int) -> _Node:
        if isinstance(part, int):
            self.items = self.items or _Node()
            return self.items
        if self.names_are_keys:
            self.any_key = self.any_key or _Node()
            return self.any_key
        return self.keys.setdefault(part, _Node())


def _place(root: _Node, path: Path) -> _Node:
    node = root
    for part in path:
        node = node.child(part)
    return node


def _observe(node: _Node, value: object) -> None:
    node.values.append(value)
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _observe(node.child(str(key)), inner)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _observe(node.child(i), inner)


def build_schema(seen: Sequence[Seen], documents: Mapping[str, object]) -> dict[str, Any]:
    """The schema of every path checked in `seen`; `documents` are the (valid, merged) configs
    the checks were made on, by source, to tell checks of a path from checks of something
    derived from it."""
    root = _Node()
    for s in sorted(seen, key=lambda s: len(s.path)):  # a parent's kind before its children
        if about_its_path(s, documents[s.source]):
            _place(root, s.path).checks.add((s.kind, s.detail))
        elif s.kind == "string" and s.path and s.value == s.path[-1]:  # the key's own name
            parent = _place(root, s.path[:-1])
            parent.key_names = parent.key_names or _Node()
            parent.key_names.checks.add((s.kind, s.detail))
    for document in documents.values():
        _observe(root, document)
    schema = _schema(root)
    schema.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "frontdesk config",
        "description": "Generated by `frontdesk config-schema` from the checks of "
        "`frontdesk check-config`, which remains the authority (it also checks what a schema "
        "cannot: references between sections, files, regular expressions).",
        **schema,
        "$defs": {"duration": DURATION},
    }


_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def _merged(a: _Node, b: _Node) -> _Node:
    """What `a` and `b` each say of one place, together."""
    out = _Node(a.checks | b.checks, dict(a.keys), a.any_key, a.items, [*a.values, *b.values])
    for key, node in b.keys.items():
        out.keys[key] = _merged(out.keys[key], node) if key in out.keys else node
    for name in ("any_key", "items", "key_names"):
        mine, theirs = getattr(out, name), getattr(b, name)
        if theirs is not None:
            setattr(out, name, theirs if mine is None else _merged(mine, theirs))
    return out


def _schema(node: _Node) -> dict[str, Any]:
    if any(kind == "one_or_list" for kind, _ in node.checks):  # what one takes, or a list of it
        alone = _Node({c for c in node.checks if c[0] != "one_or_list"}, node.keys, node.any_key)
        alone.values = [v for v in node.values if not isinstance(v, list)]
        one = _schema(_merged(alone, node.items) if node.items else alone)
        return {"anyOf": [one, {"type": "array", "minItems": 1, "items": one}]}
    ways: list[dict[str, Any]] = []
    mappings = [detail[0] for kind, detail in node.checks if kind == "mapping"]
    if mappings or node.keys or node.any_key:  # several kinds of entry (helpdesks): any one's keys
        closed = bool(mappings) and None not in mappings
        ways.append(_mapping(node, sorted({k for m in mappings for k in m}) if closed else None))
    for kind, detail in sorted(node.checks, key=repr):
        way = _check(kind, detail, node)
        if way is not None and way not in ways:
            ways.append(way)
    if node.items and not any(k in ("sequence", "one_or_list") for k, _ in node.checks):
        ways.append({"type": "array", "items": _schema(node.items)})
    if not ways:
        return {"description": "checked by frontdesk check-config"}
    for value in node.values:  # a form the samples hold that no check above describes
        json_type = _JSON_TYPE.get(type(value))
        if json_type and not any(_admits(way, value) for way in ways):
            ways.append({"type": json_type})
    return ways[0] if len(ways) == 1 else {"anyOf": ways}


def _check(kind: str, detail: tuple[Any, ...], node: _Node) -> dict[str, Any] | None:
    if kind == "sequence":
        return {"type": ["array", "null"], "items": _schema(node.items or _Node())}
    if kind == "string":
        pattern = detail[0]
        return {"type": "string", "pattern": f"^(?:{pattern})$" if pattern else r"\S"}
    if kind == "integer":
        low, high = detail
        bounds = {"minimum": low} | ({"maximum": high} if high is not None else {})
        return {"type": "integer", **bounds}
    if kind == "duration":
        return {"$ref": "#/$defs/duration"}
    if kind == "choice":
        return {"enum": list(detail[0])}
    if kind == "boolean":
        return {"type": "boolean"}
    return None


def _mapping(node: _Node, allowed: list[str] | None) -> dict[str, Any]:
    """A mapping: of the keys the checker allows (others refused), else of names."""
    out: dict[str, Any] = {"type": ["object", "null"]}
    names = sorted({*(allowed or ()), *node.keys})  # and any key a valid sample holds
    if names:
        out["properties"] = {n: _schema(node.keys.get(n) or _Node()) for n in names}
    if node.key_names is not None:
        out["propertyNames"] = _schema(node.key_names)
    if allowed is not None:
        out["additionalProperties"] = False
    elif node.any_key is not None:
        out["additionalProperties"] = _schema(node.any_key)
    return out


def _admits(way: Mapping[str, Any], value: object) -> bool:
    """Roughly whether `way` takes `value`'s type (enough to tell a form nothing describes)."""
    if "anyOf" in way:
        return any(_admits(w, value) for w in way["anyOf"])
    if "$ref" in way:
        return _admits(DURATION, value)
    if "enum" in way:
        return value in way["enum"]
    kinds = way.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    kind = _JSON_TYPE.get(type(value), "object" if isinstance(value, Mapping) else "array")
    return kind in kinds or (kind == "integer" and "number" in kinds)
