"""The house keeps its shape: which room may import which (every import counted, those deferred
into functions and those made only for type checking too), no import circle, small modules, and a
stated job for every room. Run as a script to list every breach at once:

    python tests/test_layout.py
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("router", "channels", "queues", "skills")
MAX_LINES = 450
MAX_FLAT_ROUTER = 12

# room -> the rooms it may import (besides itself and its own sub-rooms). A room is the longest
# prefix listed here; "*" is anything.
ALLOWED: dict[str, set[str]] = {
    "skills": set(),
    "queues": {"skills"},
    "router.conf": {"queues", "skills"},
    "router.http": {"router.conf", "queues", "skills"},
    "router.intake": {"router.http", "router.conf", "queues", "skills", "channels.base"},
    "router.routing": {"router.http", "router.conf", "queues", "skills", "channels.base"},
    "router.outbound": {"router.http", "router.conf", "queues", "skills", "channels.base"},
    "router.api": {
        "router.reports",
        "router.screens",
        "router.feedback",
        "router.sla",
        "router.quality",
        "router.intake",
        "router.routing",
        "router.outbound",
        "router.http",
        "router.conf",
        "queues",
        "skills",
        "channels.base",
    },
    "router.sla": {"router.intake", "router.http", "router.conf", "queues", "skills"},
    "router.feedback": {
        *("router.sla", "router.intake", "router.http", "router.conf", "queues", "skills"),
        *("router.outbound", "channels.base"),
    },
    "router.quality": {"router.conf", "queues", "skills"},
    "router.reports": {"router.outbound", "router.conf", "queues", "skills"},
    # the people's screens: below the API, which mounts them (their pages call it)
    "router.screens": {"router.routing", "router.http", "router.conf", "queues", "skills"},
    "router.daemon": {"*"},
    "router.cli": {"*"},
    "router.sim": {"*"},
    "router.bench": {"*"},
    "router": {"*"},  # the package itself: its version
    # a channel may use another channel's parts (the phone webhook signs as the generic one
    # does), never the registry: only the daemon's settings know which channels exist
    "channels": {"channels", "router.http", "router.conf", "queues", "skills"},
}
ONLY_IMPORTED_BY = {"channels.registry": "router.daemon"}  # only the daemon knows every channel
PURE = ("router.routing.matcher", "router.routing.matcher_batch", "router.routing.window")
PURE += ("router.routing.head",)
PURE += ("router.routing.matcher_greedy", "router.routing.matcher_classes", "router.sla.policy")
PURE += ("router.feedback.survey",)
PURE += ("router.quality.sample",)
IMPURE_LIBS = ("redis", "aiohttp", "asyncio", "socket", "aiosmtpd", "aioimaplib")


@dataclass(frozen=True)
class Import:
    source: str  # module, without the "frontdesk." prefix
    target: str  # a frontdesk module or a third-party top-level name
    line: int


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the tree by its dotted name under frontdesk."""
    found: dict[str, Path] = {}
    for top in TOPS:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every import of `path`, wherever it stands (in a function, under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = (node.module or "").removeprefix("frontdesk.")
                if not node.module or not node.module.startswith("frontdesk"):
                    module = "!" + (node.module or "")
            targets = [module]
            targets += [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
        for target in targets:
            target = target.removeprefix("frontdesk.")
            if target.startswith("!") or target.split(".")[0] not in TOPS:
                yield Import(name, "!" + target.lstrip("!").split(".")[0], node.lineno)
                continue
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield Import(name, target, node.lineno)


def room(module: str) -> str:
    rooms = sorted(ALLOWED, key=len, reverse=True)
    return next(r for r in rooms if module == r or module.startswith(r + "."))


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def breaches(root: Path = ROOT) -> list[str]:
    """Every way the tree breaks the rules, one line each."""
    known = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in known}
    found: list[str] = []
    for name, path in known.items():
        where = f"{path.relative_to(root)}"
        for imp in imports(name, path, known):
            if imp.target.startswith("!"):
                lib = imp.target[1:]
                if name in PURE and lib in IMPURE_LIBS:
                    found.append(f"{where}:{imp.line}: {name} is pure and imports {lib}")
                continue
            graph[name].add(imp.target)
            mine, theirs = room(name), room(imp.target)
            allowed = ALLOWED[mine]
            if not (
                "*" in allowed
                or imp.target == "router"  # the package itself: its version
                or _within(imp.target, mine)
                or any(_within(imp.target, a) for a in allowed)
            ):
                found.append(f"{where}:{imp.line}: {mine} may not import {imp.target} ({theirs})")
            owner = ONLY_IMPORTED_BY.get(imp.target)
            if owner is not None and not _within(name, owner):
                found.append(f"{where}:{imp.line}: only {owner} imports {imp.target}")
    found += [f"import circle: {' -> '.join(c)}" for c in circles(graph)]
    for name, path in known.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if name.split(".")[0] in ("router", "channels") and lines > MAX_LINES:
            found.append(f"{path.relative_to(root)}: {lines} lines (more than {MAX_LINES})")
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text())):
            found.append(f"{path.relative_to(root)}: a room says what its one job is")
    flat = [p for p in (root / "router").glob("*.py") if p.name != "__init__.py"]
    if len(flat) > MAX_FLAT_ROUTER:
        found.append(f"router/: {len(flat)} modules directly in it (at most {MAX_FLAT_ROUTER})")
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle from every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle(graph, set(c)) for c in components]


def _cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest way round inside `component`, from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return sorted(component)


def test_the_tree_keeps_the_layout_rules() -> None:
    found = breaches()
    assert not found, "\n".join(found)


def test_the_checker_sees_a_breach(tmp_path: Path) -> None:
    """The rules are enforced, not just listed: a channel importing the front door, a circle
    through a deferred import and an oversized module are each caught."""
    for top in TOPS:
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text('"""A room."""\n')
    (tmp_path / "router" / "intake").mkdir()
    (tmp_path / "router" / "intake" / "__init__.py").write_text('"""Intake."""\n')
    (tmp_path / "router" / "intake" / "front.py").write_text(
        "def later() -> None:\n    from frontdesk.channels import form\n"
    )
    (tmp_path / "channels" / "form.py").write_text(
        "from frontdesk.router.intake.front import later\n" + "x = 1\n" * MAX_LINES
    )
    found = breaches(tmp_path)
    assert any("router.intake.front (router.intake)" in f for f in found), found
    assert any(f.startswith("import circle: channels.form -> router.intake.front") for f in found)
    assert any("channels/form.py: 451 lines" in f for f in found), found


if __name__ == "__main__":
    problems = breaches()
    print("\n".join(problems) or "the layout keeps its rules")
    sys.exit(1 if problems else 0)


def test_every_package_is_in_the_wheel() -> None:
    """`pip install .` (the quick start) installs only the packages pyproject.toml lists: a room
    left out imports in a checkout and fails in an installed daemon."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(project["tool"]["setuptools"]["packages"])
    found = {
        "frontdesk." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in (*TOPS, "config")
        for init in (ROOT / top).rglob("__init__.py")
        if "static" not in init.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these are listed but have no __init__.py"


def test_the_licence_file_is_the_one_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole licence, not a pointer to it
