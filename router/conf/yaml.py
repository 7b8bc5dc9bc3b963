"""YAML with line numbers, and a checker that reports every problem with its YAML path and line.

data, lines = load_yaml(text, "frontdesk.yaml")
check = Checker(lines)
port = check.integer(("http", "port"), data["http"].get("port"), low=1, high=65535)
check.raise_if_any()   # ConfigError listing "frontdesk.yaml:7: http.port: ..." lines
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from frontdesk.queues.errors import FrontdeskError

Path = tuple[str | int, ...]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}

NAME = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"  # a name in the config: a queue, an agent, a sink


def render(path: Path) -> str:
    """`("agents", 2, "capacity")` -> `agents[2].capacity`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config, where it is."""

    source: str
    line: int | None
    path: Path
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {render(self.path)}: {self.message}"


class ConfigError(FrontdeskError):
    """A config was refused; `problems` lists every reason with its path and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Lines:
    """Where each path of a loaded YAML document stands (1-based lines)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.at: dict[Path, int] = {}
        self.duplicates: list[Problem] = []

    def depth(self, path: Path) -> int:
        """How much of `path` this file holds: the length of its longest prefix found here."""
        while path and path not in self.at:
            path = path[:-1]
        return len(path)

    def line(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that exists in the file."""
        while path:
            if path in self.at:
                return self.at[path]
            path = path[:-1]
        return self.at.get((), None)


def _walk(node: yaml.Node, path: Path, lines: Lines) -> None:
    lines.at[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                line = key_node.start_mark.line + 1
                lines.duplicates.append(Problem(lines.source, line, child, "duplicate key"))
            seen.add(key)
            _walk(value_node, child, lines)
            lines.at[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


class _Loader(yaml.SafeLoader):
    """SafeLoader reading dates as text: a config's dates are checked where they are used, so
    an impossible one (2026-13-01) is a problem with its path and line, not a crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in found if tag != "tag:yaml.org,2002:timestamp"]
    for first, found in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, source: str) -> tuple[Any, Lines]:
    """Parse one YAML document; a syntax error becomes a ConfigError with its line."""
    lines = Lines(source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"YAML syntax: {exc.problem or exc.context}"
        raise ConfigError([Problem(source, line, (), message)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(source, None, (), f"YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    if node is not None:
        _walk(node, (), lines)
    if lines.duplicates:
        raise ConfigError(lines.duplicates)
    return data, lines


def parse_duration(value: object) -> float | None:
    """Seconds in `20`, `20s`, `1.5m`, `2h`, `90d`, `500ms`; None when it is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m[1]) * _UNIT_S[m[2]]
    return None


class Checker:
    """Collects problems; each check returns the value it vouches for, or None.

    With `fallback` (the shipped defaults under the operator's file), a problem is placed in
    whichever file holds more of its path."""

    def __init__(self, lines: Lines, fallback: Lines | None = None) -> None:
        self.lines = lines
        self.fallback = fallback
        self.problems: list[Problem] = []

    def _where(self, path: Path) -> Lines:
        if self.fallback is None:
            return self.lines
        return max((self.lines, self.fallback), key=lambda f: f.depth(path))

    def error(self, path: Path, message: str) -> None:
        where = self._where(path)
        self.problems.append(Problem(where.source, where.line(path), path, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(sorted(self.problems, key=lambda p: (p.line or 0, render(p.path))))

    def mapping(
        self, path: Path, value: object, allowed: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """A mapping (None counts as empty); keys outside `allowed` are reported."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"must be a mapping, got {_kind(value)}")
            return {}
        if allowed is not None:
            known = set(allowed)
            for key in value:
                if str(key) not in known:
                    hint = ", ".join(sorted(known))
                    self.error((*path, str(key)), f"unknown key; expected one of: {hint}")
        return {str(k): v for k, v in value.items()}

    def sequence(self, path: Path, value: object) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_kind(value)}")
            return []
        return value

    def string(self, path: Path, value: object, pattern: str | None = None) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"must be a non-empty string, got {_kind(value)}")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.error(path, f"{value!r} does not match {pattern}")
            return None
        return value

    def integer(self, path: Path, value: object, low: int, high: int | None = None) -> int | None:
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be a whole number {bounds}, got {_kind(value)}")
            return None
        if value < low or (high is not None and value > high):
            self.error(path, f"must be a whole number {bounds}, got {value}")
            return None
        return value

    def duration(self, path: Path, value: object) -> float | None:
        seconds = parse_duration(value)
        if seconds is None:
            self.error(path, f"must be a duration such as 30s, 20m, 2h or 90d, got {value!r}")
        return seconds

    def choice(self, path: Path, value: object, choices: Iterable[str]) -> str | None:
        options = list(choices)
        if value not in options:
            self.error(path, f"must be one of {', '.join(options)}, got {value!r}")
            return None
        return str(value)

    def boolean(self, path: Path, value: object) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, got {_kind(value)}")
            return None
        return value

    def one_or_list(self, path: Path) -> None:
        """`path` takes one value or a list of them (`items` says so; the schema listens)."""


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, bool | int | float):
        return f"{type(value).__name__} {value!r}"
    return {"dict": "a mapping", "list": "a list"}.get(type(value).__name__, type(value).__name__)


def merge(base: Any, override: Any) -> Any:
    """`override` laid over `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return override


def items(check: Checker, path: Path, value: object) -> list[tuple[Path, object]]:
    """One value or a list of them, each with its own path; an empty list is a problem."""
    check.one_or_list(path)
    if not isinstance(value, list):
        return [(path, value)]
    if not value:
        check.error(path, "must name at least one")
    return [((*path, i), v) for i, v in enumerate(value)]


def strings(check: Checker, path: Path, value: object) -> list[tuple[Path, str]]:
    """One string or a list of them, each with its own path; what is not a string is a problem."""
    out = []
    for where, item in items(check, path, value):
        text = check.string(where, item)
        if text is not None:
            out.append((where, text))
    return out
