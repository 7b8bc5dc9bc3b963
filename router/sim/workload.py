"""A simulation workload read from YAML and checked in full: the run's span and seed, the
service-level targets, how agents answer offers, the arrival streams with their distributions,
a replayed event log, and the agents on duty with their shifts. Every problem is reported with
its file, line and YAML path.

    workload = load_workload("config/simulate.example.yaml")
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path as FilePath

from frontdesk.queues.request import Channel, Customer, Request
from frontdesk.router.conf.yaml import (
    Checker,
    ConfigError,
    Path,
    Problem,
    load_yaml,
    parse_duration,
)
from frontdesk.router.sim.model import (
    CHANNELS,
    DEFAULT_START,
    Dist,
    Offers,
    ReplayLog,
    Shift,
    Staff,
    Stream,
    Workload,
)
from frontdesk.router.sim.replay import read_event_log
from frontdesk.skills import MAX_LEVEL, MIN_LEVEL, TIERS, Agent, Presence

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
