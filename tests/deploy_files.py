"""Readers of the deploy/ files, so that the tests follow what the files say: a Containerfile's
instructions and a systemd unit's settings."""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@dataclass
class Containerfile:
    """The instructions of the last stage (the image), and the COPY sources of every stage."""

    stages: list[str] = field(default_factory=list)  # each FROM line's image
    copies: list[tuple[list[str], str, bool]] = field(
        default_factory=list
    )  # sources, dest, from a stage
    env: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    workdir: str = "/"
    user: str = "root"
    stopsignal: str = ""
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "a continuation line ends the file"
    return out


def read_containerfile(path: Path = DEPLOY / "Containerfile") -> Containerfile:
    c = Containerfile()
    for word, rest in _instructions(path.read_text(encoding="utf-8")):
        if word == "FROM":
            c.stages.append(rest.split()[0])
            c.env, c.expose, c.volumes, c.workdir, c.user = {}, [], [], "/", "root"
        elif word == "COPY":
            parts = shlex.split(rest)
            flags = [p for p in parts if p.startswith("--")]
            paths = [p for p in parts if not p.startswith("--")]
            staged = any(f.startswith("--from=") for f in flags)
            c.copies.append((paths[:-1], paths[-1], staged))
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                c.env[key] = value
        elif word == "EXPOSE":
            c.expose += [int(p.split("/")[0]) for p in rest.split()]
        elif word == "VOLUME":
            c.volumes += json.loads(rest) if rest.startswith("[") else rest.split()
        elif word == "WORKDIR":
            c.workdir = rest
        elif word == "USER":
            c.user = rest
        elif word == "STOPSIGNAL":
            c.stopsignal = rest
        elif word == "HEALTHCHECK":
            c.healthcheck = json.loads(rest[rest.index("CMD") + 3 :].strip())
        elif word == "CMD":
            assert rest.startswith("["), "CMD in exec form (JSON), so that SIGTERM reaches it"
            c.cmd = json.loads(rest)
    return c


def ignored(pattern_file: Path, relative: str) -> bool:
    """Whether a .dockerignore (patterns without `!`) leaves `relative` out of the context: a
    pattern matches the path or a folder it is in; `**/x` matches x at any depth."""
    patterns = [
        line.strip()
        for line in pattern_file.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(relative.rstrip("/")).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def read_unit(path: Path = DEPLOY / "frontdesk.service") -> dict[str, list[str]]:
    """`Section.Key` -> every value given (ExecReload may be given twice)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


def seconds(value: str) -> float:
    """A systemd time span such as 45s, 2min or 90."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    return float(number) * units.get(value[len(number) :] or "s", 1)
