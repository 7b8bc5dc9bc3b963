"""The simulator's workload: who asks, when, for how long, and who works. Read from YAML.

    workload = load_workload("config/simulate.example.yaml")
    arrivals = draw(workload)          # the same seed gives the same arrivals, every time

A workload holds arrival streams (per channel and kind of request: Poisson at a rate, with the
customer's message as a template that the config's rules classify), or arrivals replayed from
an exported event log (JSON lines of the event stream); handle times (exponential, lognormal,
fixed, or drawn from data); customer patience (exponential, fixed, or none: nobody hangs up);
the agents on duty with their skills, capacities and shifts (or, left out, the config's own
agents who are available); how agents answer offers; and the service-level targets. Every
problem is reported with its file, line and YAML path (`router/yamlconf`).

Everything drawn at random is drawn here, per arrival and before any routing, from generators
seeded by (seed, stream): every policy and every config of a what-if sees the same arrivals,
handle times and patience, and adding a stream leaves the others' draws unchanged.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from frontdesk.queues.request import Channel, Customer, Priority, Request, SkillRequirement
from frontdesk.router.conf.yaml import (
    Checker,
    ConfigError,
    Path,
    Problem,
    load_yaml,
    parse_duration,
)
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, TIERS, Agent, Presence

CHANNELS = [c.value for c in Channel]
DEFAULT_TARGET_S = 20.0  # answered within 20 s, the classic 80/20 service level
DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning
MAX_ARRIVALS = 20_000_000

_TOP = [
    *("seed", "start", "duration", "warmup", "drain", "targets", "offers"),
    *("arrivals", "replay", "agents"),
]
_STREAM = ["name", "channel", "rate", "request", "handle", "patience", "wrap_up"]
_REQUEST = ["subject", "body", "language", "entry_point", "customer", "attributes", "category"]
_CUSTOMER = ["id", "name", "email", "phone"]
_AGENT = ["id", "count", "name", "tier", "groups", "skills", "capacity", "shifts"]
_REPLAY = ["path", "handle", "patience", "wrap_up"]
_DISTS = ["exponential", "lognormal", "fixed", "empirical"]
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h|d)\s*$")
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}"

Ints = NDArray[np.int64]


# Distributions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dist:
    """A distribution of durations in seconds: exponential, lognormal, fixed or empirical."""

    kind: str
    mean_s: float = 0.0
    sd_s: float = 0.0
    values_s: tuple[float, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """`n` durations in seconds."""
        if self.kind == "exponential":
            return rng.exponential(self.mean_s, n)
        if self.kind == "lognormal":
            sigma2 = math.log1p((self.sd_s / self.mean_s) ** 2)
            return rng.lognormal(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2), n)
        if self.kind == "fixed":
            return np.full(n, self.mean_s)
        values = np.array(self.values_s, dtype=np.float64)
        return values[rng.integers(0, len(values), n)]

    def sample(self, rnd: random.Random) -> float:
        """One duration in seconds, from a plain `random.Random` (cheap one at a time)."""
        if self.kind == "exponential":
            return rnd.expovariate(1.0 / self.mean_s)
        if self.kind == "lognormal":
            sigma2 = math.log1p((self.sd_s / self.mean_s) ** 2)
            return rnd.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))
        if self.kind == "fixed":
            return self.mean_s
        return rnd.choice(self.values_s)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values_s)) if self.kind == "empirical" else self.mean_s


def exponential(mean_s: float) -> Dist:
    return Dist("exponential", mean_s)


# The workload ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """Requests of one kind arriving as a Poisson process, each classified by the config's rules
    from `request` (channel, text, language, entry point, customer, attributes)."""

    name: str
    channel: Channel
    rate_per_s: float
    request: Request
    handle: Dist
    patience: Dist | None = None  # None: nobody hangs up
    wrap_up_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Replayed:
    """Requests taken from an event log: their queue as the log has it (no text to classify)
    and, where the log line carries them, priority, skills, tier and category."""

    name: str  # the source's name in reports: replay:<queue>
    channel: Channel
    queue: str
    priority: Priority = Priority.MEDIUM
    skills: tuple[SkillRequirement, ...] = ()
    tier: int = 1
    category: str | None = None
    wrap_up_s: float = 0.0


Source = Stream | Replayed


@dataclass(frozen=True, slots=True)
class Shift:
    """On duty from `on_s` to `off_s` (simulated seconds)."""

    on_s: float
    off_s: float


@dataclass(frozen=True, slots=True)
class Staff:
    """An agent on the simulated floor; `shifts` empty: on duty throughout."""

    agent: Agent
    shifts: tuple[Shift, ...] = ()


@dataclass(frozen=True, slots=True)
class Offers:
    """How agents answer offers in `mode: offer` queues: after `accept_after` (None: at once),
    rejecting a share `reject` of them. An answer later than the queue's offer timeout is a
    missed offer; rejected and missed requests go to another agent."""

    accept_after: Dist | None = None
    reject: float = 0.0


@dataclass(frozen=True, slots=True)
class ReplayLog:
    """Arrivals read from an event log, with what the log tells of each one."""

    path: str
    sources: tuple[Replayed, ...]
    t_s: tuple[float, ...]  # arrival, seconds after the log's first enqueue
    source: tuple[int, ...]  # index into sources
    handle_s: tuple[float, ...]  # nan: not in the log (drawn from the replay's `handle`)
    patience_s: tuple[float, ...]  # nan: not in the log (drawn, or none)
    handle: Dist | None = None
    patience: Dist | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """Everything a simulation run needs besides the routing config."""

    source: str
    seed: int = 1
    start: datetime = DEFAULT_START
    duration_s: float = 8 * 3600.0  # arrivals come during this long
    warmup_s: float = 0.0  # arrivals before this are routed but not counted
    drain_s: float = 3600.0  # after the arrivals stop, open requests may still be served
    targets: dict[str, float] = field(default_factory=dict)  # channel -> answered within (s)
    queue_targets: dict[str, float] = field(default_factory=dict)  # queue -> answered within
    offers: Offers = Offers()
    streams: tuple[Stream, ...] = ()
    replay: ReplayLog | None = None
    staff: tuple[Staff, ...] | None = None  # None: the config's available agents

    def target_s(self, channel: str, queue: str) -> float:
        """The service-level target of a request of `channel` that came into `queue`."""
        if queue in self.queue_targets:
            return self.queue_targets[queue]
        return self.targets.get(channel, DEFAULT_TARGET_S)


@dataclass(frozen=True, slots=True, eq=False)
class Arrivals:
    """Every arrival of a run, in time order, as arrays (one row per request)."""

    sources: tuple[Source, ...]
    t_ms: Ints  # arrival, milliseconds after the start
    source: Ints  # index into sources
    handle_ms: Ints  # handle time (from acceptance to completion), >= 1 ms
    patience_ms: Ints  # hangs up this long after arriving if not answered; -1: never

    def __len__(self) -> int:
        return len(self.t_ms)


def staff_from_config(agents: tuple[Agent, ...]) -> tuple[Staff, ...]:
    """The config's agents who start available, on duty throughout."""
    return tuple(Staff(a) for a in agents if a.presence is Presence.AVAILABLE)


# Drawing ----------------------------------------------------------------------------------


def _rng(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def _ms(seconds: NDArray[np.float64], least: int) -> Ints:
    return np.maximum(np.rint(seconds * 1000), least).astype(np.int64)


def draw(workload: Workload) -> Arrivals:
    """Every arrival of the run; the same workload and seed give the same arrivals."""
    duration_ms = round(workload.duration_s * 1000)
    times, sources, handles, patiences = [], [], [], []
    for i, stream in enumerate(workload.streams):
        rng = _rng(workload.seed, i)
        n = int(rng.poisson(stream.rate_per_s * workload.duration_s))
        if n > MAX_ARRIVALS:
            raise ValueError(f"stream {stream.name}: {n} arrivals, more than {MAX_ARRIVALS}")
        # A Poisson process: given the count, the times are uniform and independent.
        t = np.sort(rng.integers(0, max(duration_ms, 1), n))
        times.append(t)
        sources.append(np.full(n, i, dtype=np.int64))
        handles.append(_ms(stream.handle.draw(rng, n), 1))
        patience = stream.patience.draw(rng, n) if stream.patience else None
        patiences.append(_ms(patience, 0) if patience is not None else np.full(n, -1))
    all_sources: list[Source] = list(workload.streams)
    if workload.replay is not None:
        log = workload.replay
        rng = _rng(workload.seed, 1_000_000)
        n = len(log.t_s)
        offset = len(all_sources)
        all_sources.extend(log.sources)
        times.append(np.rint(np.array(log.t_s, dtype=np.float64) * 1000).astype(np.int64))
        sources.append(np.array(log.source, dtype=np.int64).reshape(n) + offset)
        handle = np.array(log.handle_s, dtype=np.float64).reshape(n)
        missing = np.isnan(handle)
        if missing.any():
            fallback = log.handle or exponential(300.0)
            handle[missing] = fallback.draw(rng, int(missing.sum()))
        handles.append(_ms(handle, 1))
        patience = np.array(log.patience_s, dtype=np.float64).reshape(n)
        missing = np.isnan(patience)
        if missing.any() and log.patience is not None:
            patience[missing] = log.patience.draw(rng, int(missing.sum()))
        patiences.append(np.where(np.isnan(patience), -1, _ms(np.nan_to_num(patience), 0)))
    if not times:
        empty = np.zeros(0, dtype=np.int64)
        return Arrivals(tuple(all_sources), empty, empty, empty, empty)
    t_ms = np.concatenate(times)
    source = np.concatenate(sources)
    order = np.lexsort((source, t_ms))  # by time, then by source: stable and reproducible
    order = order[t_ms[order] < max(duration_ms, 1)]  # a replay longer than the run is cut
    return Arrivals(
        sources=tuple(all_sources),
        t_ms=t_ms[order],
        source=source[order],
        handle_ms=np.concatenate(handles)[order],
        patience_ms=np.concatenate(patiences).astype(np.int64)[order],
    )


# Parsing ----------------------------------------------------------------------------------


def load_workload(path: str | FilePath, skills: set[str] | None = None) -> Workload:
    """Read and check the workload at `path`; raises ConfigError listing every problem."""
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, (), f"cannot read: {exc.strerror}")]) from exc
    return parse_workload(text, str(path), FilePath(path).resolve().parent, skills)


def parse_workload(
    text: str, source: str, base: FilePath | None = None, skills: set[str] | None = None
) -> Workload:
    """The workload in `text`; relative file names (replay, empirical data) are read from
    `base`; agents' skills must be among `skills` when given (the config's). Raises
    ConfigError listing every problem with its line and YAML path."""
    data, lines = load_yaml(text, source)
    check = Checker(lines)
    top = check.mapping((), data, _TOP)
    if data is not None and not isinstance(data, dict):
        check.raise_if_any()
    here = base or FilePath.cwd()
    seed = check.integer(("seed",), top.get("seed", 1), 0)
    start = _start(check, top.get("start"))
    duration = _positive(check, ("duration",), top.get("duration", "8h"))
    warmup = check.duration(("warmup",), top.get("warmup", 0))
    drain = check.duration(("drain",), top.get("drain", "1h"))
    if duration is not None and warmup is not None and warmup >= duration:
        check.error(("warmup",), "must be shorter than the duration")
    targets, queue_targets = _targets(check, top.get("targets"))
    offers = _offers(check, top.get("offers"), here)
    streams = _streams(check, top.get("arrivals"), here)
    replay = _replay(check, top.get("replay"), here)
    if not streams and replay is None and not check.problems:
        check.error(("arrivals",), "give at least one arrival stream, or a replay")
    staff = None if top.get("agents") is None else _staff(check, top.get("agents"), skills)
    check.raise_if_any()
    assert seed is not None and duration is not None and warmup is not None
    assert drain is not None and start is not None
    if replay is not None and "duration" not in top:  # the log's span, at least
        span = replay.t_s[-1] + 0.001
        duration = max(duration, span) if streams else span
    return Workload(
        source=source,
        seed=seed,
        start=start,
        duration_s=duration,
        warmup_s=warmup,
        drain_s=drain,
        targets=targets,
        queue_targets=queue_targets,
        offers=offers,
        streams=streams,
        replay=replay,
        staff=staff,
    )


def _positive(check: Checker, path: Path, value: object) -> float | None:
    seconds = check.duration(path, value)
    if seconds is not None and seconds <= 0:
        check.error(path, "must be longer than 0s")
        return None
    return seconds


def _start(check: Checker, value: object) -> datetime | None:
    if value is None:
        return DEFAULT_START
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        check.error(("start",), f"must be a date and time with its offset, such as "
                    f"2026-03-02T08:30:00+08:00, got {value!r}")  # fmt: skip
        return None
    return parsed


def _targets(check: Checker, value: object) -> tuple[dict[str, float], dict[str, float]]:
    t = check.mapping(("targets",), value, ["channels", "queues"])
    channels: dict[str, float] = {}
    for name, v in check.mapping(("targets", "channels"), t.get("channels"), CHANNELS).items():
        seconds = check.duration(("targets", "channels", name), v)
        if seconds is not None:
            channels[name] = seconds
    queues: dict[str, float] = {}
    for name, v in check.mapping(("targets", "queues"), t.get("queues")).items():
        seconds = check.duration(("targets", "queues", name), v)
        if seconds is not None:
            queues[name] = seconds
    return channels, queues


def _offers(check: Checker, value: object, here: FilePath) -> Offers:
    o = check.mapping(("offers",), value, ["accept_after", "reject"])
    after = None
    if o.get("accept_after") is not None:
        after = _dist(check, ("offers", "accept_after"), o["accept_after"], here, zero=True)
    reject = o.get("reject", 0.0)
    if isinstance(reject, bool) or not isinstance(reject, int | float) or not 0 <= reject < 1:
        check.error(("offers", "reject"), f"must be a share from 0 to below 1, got {reject!r}")
        reject = 0.0
    return Offers(after, float(reject))


def _dist(
    check: Checker, path: Path, value: object, here: FilePath, zero: bool = False
) -> Dist | None:
    """`{exponential: 3m}`, `{lognormal: {mean: 5m, sd: 2m}}`, `{fixed: 30s}`, or
    `{empirical: [30s, 2m, ...]}` / `{empirical: {file: PATH}}` (one duration a line)."""
    hint = (
        "must be one of {exponential: MEAN}, {lognormal: {mean: M, sd: S}}, {fixed: D}, "
        "{empirical: [D, ...]} or {empirical: {file: PATH}}"
    )
    if not isinstance(value, dict) or len(value) != 1:
        check.error(path, hint)
        return None
    d = check.mapping(path, value, _DISTS)
    if not d or next(iter(d)) not in _DISTS:
        return None
    kind, body = next(iter(d.items()))
    where = (*path, kind)
    if kind in ("exponential", "fixed"):
        seconds = check.duration(where, body)
        if seconds is None:
            return None
        if seconds <= 0 and not (zero and kind == "fixed"):
            check.error(where, "must be longer than 0s")
            return None
        return Dist(kind, seconds)
    if kind == "lognormal":
        b = check.mapping(where, body, ["mean", "sd"])
        mean = _positive(check, (*where, "mean"), b.get("mean"))
        sd = _positive(check, (*where, "sd"), b.get("sd"))
        return Dist(kind, mean, sd) if mean is not None and sd is not None else None
    values = _empirical(check, where, body, here)
    return Dist(kind, values_s=tuple(values)) if values else None


def _empirical(check: Checker, path: Path, body: object, here: FilePath) -> list[float]:
    if isinstance(body, dict):
        b = check.mapping(path, body, ["file"])
        name = check.string((*path, "file"), b.get("file"))
        if name is None:
            return []
        file = here / name
        try:
            rows = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            check.error((*path, "file"), f"cannot read {str(file)!r}: {exc.strerror}")
            return []
        values = []
        for n, row in enumerate(rows, 1):
            if not row.strip() or row.lstrip().startswith("#"):
                continue
            seconds = parse_duration(row.strip())
            if seconds is None:
                check.error((*path, "file"), f"{name}:{n}: not a duration: {row.strip()[:40]!r}")
                return []
            values.append(seconds)
    else:
        items = check.sequence(path, body)
        found = [check.duration((*path, i), v) for i, v in enumerate(items)]
        if None in found:
            return []
        values = [v for v in found if v is not None]
    if not values:
        check.error(path, "needs at least one duration")
    elif max(values) <= 0:
        check.error(path, "needs at least one duration longer than 0s")
        return []
    return values


def _rate(check: Checker, path: Path, value: object) -> float | None:
    m = _RATE.match(value) if isinstance(value, str) else None
    if m is None or float(m[1]) <= 0:
        check.error(path, f"must be a rate above 0 such as 120/h, 2/m or 0.5/s, got {value!r}")
        return None
    return float(m[1]) / _PER[m[2]]


def _streams(check: Checker, value: object, here: FilePath) -> tuple[Stream, ...]:
    out: list[Stream] = []
    seen: dict[str, int] = {}
    for i, body in enumerate(check.sequence(("arrivals",), value)):
        path: Path = ("arrivals", i)
        s = check.mapping(path, body, _STREAM)
        name = check.string((*path, "name"), s.get("name"), _NAME)
        if name in seen:
            check.error((*path, "name"), f"{name!r} is already arrivals[{seen[name]}]")
        elif name:
            seen[name] = i
        channel = check.choice((*path, "channel"), s.get("channel"), CHANNELS)
        rate = _rate(check, (*path, "rate"), s.get("rate"))
        handle = _dist(check, (*path, "handle"), s.get("handle"), here)
        patience = None
        if s.get("patience") not in (None, "none"):
            patience = _dist(check, (*path, "patience"), s.get("patience"), here)
        wrap = check.duration((*path, "wrap_up"), s.get("wrap_up", 0))
        request = _request(check, (*path, "request"), s.get("request"), name, channel)
        if None in (name, channel, rate, handle, wrap, request):
            continue
        if s.get("patience") not in (None, "none") and patience is None:
            continue
        assert name and rate and handle and wrap is not None and request is not None
        out.append(Stream(name, Channel(str(channel)), rate, request, handle, patience, wrap))
    return tuple(out)


def _request(
    check: Checker, path: Path, value: object, name: str | None, channel: str | None
) -> Request | None:
    r = check.mapping(path, value, _REQUEST)
    texts = {}
    for key in ("subject", "body", "language", "entry_point", "category"):
        v = r.get(key)
        if v is not None and not isinstance(v, str):
            check.error((*path, key), f"must be text, got {type(v).__name__}")
        elif v is not None:
            texts[key] = v
    c = check.mapping((*path, "customer"), r.get("customer"), _CUSTOMER)
    for key, v in c.items():
        if not isinstance(v, str):
            check.error((*path, "customer", key), "must be text (quote phone numbers)")
    attributes = check.mapping((*path, "attributes"), r.get("attributes"))
    for key, v in attributes.items():
        if isinstance(v, list | dict):
            check.error((*path, "attributes", key), "must be a single value")
    if channel is None or name is None or channel not in CHANNELS:
        return None
    return Request(
        id=f"sim:{name}",
        channel=Channel(channel),
        queue="",
        subject=texts.get("subject", ""),
        body=texts.get("body", ""),
        language=texts.get("language"),
        entry_point=texts.get("entry_point"),
        category=texts.get("category"),
        customer=Customer(
            id=_text(c.get("id")),
            name=_text(c.get("name")),
            email=_text(c.get("email")),
            phone=_text(c.get("phone")),
        ),
        attributes=dict(attributes),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _staff(check: Checker, value: object, known: set[str] | None) -> tuple[Staff, ...]:
    out: list[Staff] = []
    seen: dict[str, str] = {}
    items = check.sequence(("agents",), value)
    if not items and not check.problems:
        check.error(("agents",), "list at least one agent (leave `agents` out for the config's)")
    for i, body in enumerate(items):
        path: Path = ("agents", i)
        a = check.mapping(path, body, _AGENT)
        base = check.string((*path, "id"), a.get("id"), _NAME)
        count = check.integer((*path, "count"), a.get("count", 1), 1, 10_000)
        tier = check.integer((*path, "tier"), a.get("tier", 1), min(TIERS), max(TIERS))
        groups = [
            check.string((*path, "groups", j), g, _NAME)
            for j, g in enumerate(check.sequence((*path, "groups"), a.get("groups")))
        ]
        skills = {}
        for skill, level in check.mapping((*path, "skills"), a.get("skills")).items():
            if known is not None and skill not in known:
                check.error(
                    (*path, "skills", skill), "not a skill listed under the config's skills"
                )
            elif check.integer((*path, "skills", skill), level, MIN_LEVEL, MAX_LEVEL) is not None:
                skills[skill] = int(level)
        capacity = {}
        for channel, cap in check.mapping((*path, "capacity"), a.get("capacity"), CHANNELS).items():
            if check.integer((*path, "capacity", channel), cap, 0, 1000) is not None:
                capacity[channel] = int(cap)
        if not capacity and isinstance(body, dict):
            check.error((*path, "capacity"), "give the agent capacity on at least one channel")
        shifts = _shifts(check, (*path, "shifts"), a.get("shifts"))
        name = a.get("name", base)
        if not isinstance(name, str):
            check.error((*path, "name"), "must be text")
        if base is None or count is None or tier is None or None in groups or shifts is None:
            continue
        ids = [base] if count == 1 else [f"{base}-{k}" for k in range(1, count + 1)]
        for agent_id in ids:
            if agent_id in seen:
                check.error((*path, "id"), f"{agent_id!r} is already {seen[agent_id]}")
                continue
            seen[agent_id] = f"agents[{i}]"
            agent = Agent(
                id=agent_id,
                name=str(name) if count == 1 else f"{name} {agent_id[len(base) + 1 :]}",
                skills=dict(skills),
                capacity=dict(capacity),
                tier=tier,
                groups=tuple(g for g in groups if g),
                presence=Presence.AVAILABLE,
            )
            out.append(Staff(agent, shifts))
    return tuple(out)


def _shifts(check: Checker, path: Path, value: object) -> tuple[Shift, ...] | None:
    """`[{from: 0h, to: 4h}, {from: 5h, to: 9h}]`, in simulated time, in order."""
    out: list[Shift] = []
    ok = True
    for i, body in enumerate(check.sequence(path, value)):
        s = check.mapping((*path, i), body, ["from", "to"])
        on = check.duration((*path, i, "from"), s.get("from", 0))
        off = check.duration((*path, i, "to"), s.get("to"))
        if on is None or off is None:
            ok = False
            continue
        if off <= on:
            check.error((*path, i, "to"), "must be later than `from`")
            ok = False
        elif out and on < out[-1].off_s:
            check.error((*path, i, "from"), "shifts must come in order and not overlap")
            ok = False
        else:
            out.append(Shift(on, off))
    return tuple(out) if ok else None


# Replay -----------------------------------------------------------------------------------


def _replay(check: Checker, value: object, here: FilePath) -> ReplayLog | None:
    if value is None:
        return None
    r = check.mapping(("replay",), value, _REPLAY)
    name = check.string(("replay", "path"), r.get("path"))
    handle = None
    if r.get("handle") is not None:
        handle = _dist(check, ("replay", "handle"), r["handle"], here)
    patience = None
    if r.get("patience") not in (None, "none"):
        patience = _dist(check, ("replay", "patience"), r["patience"], here)
    wrap = check.duration(("replay", "wrap_up"), r.get("wrap_up", 0))
    if name is None or wrap is None:
        return None
    file = here / name
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        check.error(("replay", "path"), f"cannot read {str(file)!r}: {exc.strerror}")
        return None
    try:
        log = read_event_log(text, str(file), wrap)
    except ConfigError as exc:
        check.problems.extend(exc.problems)
        return None
    return ReplayLog(
        path=str(file),
        sources=log.sources,
        t_s=log.t_s,
        source=log.source,
        handle_s=log.handle_s,
        patience_s=log.patience_s,
        handle=handle,
        patience=patience,
    )


@dataclass(slots=True)
class _Seen:
    t_ms: int
    source: int
    answered_ms: int | None = None
    completed_ms: int | None = None
    abandoned_ms: int | None = None


def read_event_log(text: str, source: str, wrap_up_s: float = 0.0) -> ReplayLog:
    """Arrivals from an exported event stream, one JSON object a line (``type``, ``req``,
    ``queue``, ``ts`` in ms, ``agent``, and for ``enqueued`` the ``channel``; optionally
    ``priority``, ``skills`` ({name: level}), ``tier``, ``category``).

    Each ``enqueued`` event is an arrival at its time (relative to the first). The handle time
    of a request is its ``completed`` time minus its ``accepted`` (or ``assigned``) time; the
    patience of a request that the log shows ``abandoned`` before an answer is the time it
    waited. Other event types are read past. Bad lines are reported with their line number."""
    problems: list[Problem] = []
    seen: dict[str, _Seen] = {}
    classes: dict[tuple[Any, ...], int] = {}
    sources: list[Replayed] = []
    first: int | None = None

    def bad(n: int, message: str) -> None:
        problems.append(Problem(source, n, (), message))

    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            bad(n, f"not JSON: {exc.msg}")
            continue
        if not isinstance(event, dict):
            bad(n, "each line must be a JSON object")
            continue
        kind, req = event.get("type"), event.get("req")
        try:
            ts = int(event.get("ts"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            bad(n, f"ts must be milliseconds since the epoch, got {event.get('ts')!r}")
            continue
        if kind != "enqueued":
            found = seen.get(str(req))
            if found is None:
                continue
            if kind in ("accepted", "assigned") and found.answered_ms is None:
                found.answered_ms = ts
            elif kind == "completed" and found.answered_ms is not None:
                found.completed_ms = ts
            elif kind == "abandoned" and found.answered_ms is None:
                found.abandoned_ms = ts
            continue
        key = _replayed(event, n, bad, wrap_up_s)
        if key is None or not isinstance(req, str) or not req:
            if key is not None:
                bad(n, "an enqueued event needs `req`, the request id")
            continue
        if req in seen:
            continue  # enqueued again (a retry): the first one counts
        if key not in classes:
            classes[key] = len(sources)
            sources.append(Replayed(*key))
        first = ts if first is None else min(first, ts)
        seen[req] = _Seen(ts, classes[key])
    if problems:
        raise ConfigError(problems)
    if not seen:
        raise ConfigError([Problem(source, None, (), "no `enqueued` events to replay")])
    assert first is not None
    rows = sorted(seen.values(), key=lambda s: s.t_ms)
    nan = float("nan")
    return ReplayLog(
        path=source,
        sources=tuple(sources),
        t_s=tuple((s.t_ms - first) / 1000 for s in rows),
        source=tuple(s.source for s in rows),
        handle_s=tuple(
            (s.completed_ms - s.answered_ms) / 1000
            if s.completed_ms is not None and s.answered_ms is not None
            else nan
            for s in rows
        ),
        patience_s=tuple(
            (s.abandoned_ms - s.t_ms) / 1000 if s.abandoned_ms is not None else nan for s in rows
        ),
    )


def _replayed(event: dict[str, Any], n: int, bad: Any, wrap_up_s: float) -> tuple[Any, ...] | None:
    queue, channel = event.get("queue"), event.get("channel")
    if not isinstance(queue, str) or not queue:
        bad(n, "an enqueued event needs `queue`")
        return None
    if channel not in CHANNELS:
        bad(n, f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        return None
    priority = event.get("priority", "medium")
    if priority not in [p.value for p in Priority]:
        bad(n, f"priority must be high, medium or low, got {priority!r}")
        return None
    raw_skills = event.get("skills") or {}
    if isinstance(raw_skills, str):  # the stream keeps every field as text
        try:
            raw_skills = json.loads(raw_skills)
        except json.JSONDecodeError:
            raw_skills = None
    if not isinstance(raw_skills, dict) or not all(
        isinstance(v, int) and MIN_LEVEL <= v <= MAX_LEVEL for v in raw_skills.values()
    ):
        bad(n, "skills must be a mapping of skill to a level from 1 to 5")
        return None
    try:
        tier = int(event.get("tier", 1))
    except (TypeError, ValueError):
        tier = 0
    if tier not in TIERS:
        bad(n, f"tier must be 1, 2 or 3, got {event.get('tier')!r}")
        return None
    category = event.get("category")
    skills = tuple(SkillRequirement(str(k), int(v)) for k, v in sorted(raw_skills.items()))
    return (
        f"replay:{queue}",
        Channel(channel),
        queue,
        Priority(priority),
        skills,
        tier,
        category if isinstance(category, str) else None,
        wrap_up_s,
    )
