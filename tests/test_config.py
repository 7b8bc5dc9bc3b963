"""Config loading: every problem reported with its YAML path and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frontdesk.router.conf.yaml import ConfigError, parse_duration, render
from frontdesk.router.daemon.settings import load_settings, parse_settings
from frontdesk.skills import Presence

CONFIGS = Path(__file__).parent / "configs"
_EXPECT = re.compile(r"^# expect: (\d+) (\S+) (.+)$", re.MULTILINE)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_config_reports_each_problem_with_path_and_line(path: Path) -> None:
    expected = [(int(line), where, text) for line, where, text in _EXPECT.findall(path.read_text())]
    assert expected, f"{path.name} declares no '# expect:' line"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = caught.value.problems
    found = [(p.line, render(p.path), p.message) for p in problems]
    for line, where, text in expected:
        assert any(pl == line and pw == where and text in pm for pl, pw, pm in found), (
            f"missing {line} {where} {text!r} in {found}"
        )
    assert len(problems) == len(expected), found
    assert all(p.source == str(path) for p in problems)
    assert all(str(p).startswith(f"{path}:{p.line}: ") for p in problems)


def test_example_config_is_valid(repo_root: Path) -> None:
    settings = load_settings(repo_root / "config" / "frontdesk.example.yaml")
    assert settings.default_queue in settings.queues
    assert {q.tier for q in settings.queues.values()} == {1, 2, 3}
    email = settings.queues["email-l1"]
    assert email.mode == "assign" and email.escalate_to == "l2"
    assert settings.queues["chat-l1"].offer_timeout_s == 20
    li = next(a for a in settings.agents if a.id == "li.na")
    assert li.name == "李娜" and li.capacity["phone"] == 1
    assert all(a.presence is Presence.OFFLINE for a in settings.agents)  # until they sign in


def test_defaults_fill_what_the_file_leaves_out() -> None:
    settings = parse_settings("queues: {q: {}}\ndefault_queue: q\n", "mini.yaml")
    assert settings.redis.url is None and settings.redis.appendfsync == "everysec"
    assert settings.http.port == 8080
    q = settings.queues["q"]
    assert (q.tier, q.mode, q.offer_timeout_s) == (1, "offer", 20.0)
    assert settings.store.idempotency_ttl_s == 90 * 86400
    assert settings.store.max_missed_offers == 3


def test_queue_defaults_override_applies_to_every_queue() -> None:
    text = "queue_defaults: {offer_timeout: 45s}\nqueues: {a: {}, b: {offer_timeout: 5s}}\n"
    settings = parse_settings(text + "default_queue: a\n", "x.yaml")
    assert settings.queues["a"].offer_timeout_s == 45
    assert settings.queues["b"].offer_timeout_s == 5


def test_problem_in_an_overridden_default_names_the_operators_file() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            "queues: {a: {}}\ndefault_queue: a\noffers:\n  max_missed_in_a_row: -1\n", "op.yaml"
        )
    (problem,) = caught.value.problems
    assert (problem.source, problem.line) == ("op.yaml", 4)
    assert render(problem.path) == "offers.max_missed_in_a_row"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")


def test_skills_as_list_or_mapping() -> None:
    base = "queues: {a: {}}\ndefault_queue: a\n"
    assert parse_settings(base + "skills: [x, y]\n", "s").skills == {"x": "", "y": ""}
    described = parse_settings(base + "skills: {x: Refunds}\n", "s").skills
    assert described == {"x": "Refunds"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("20m", 1200),
        ("2h", 7200),
        ("90d", 7776000),
        ("500ms", 0.5),
        (15, 15),
        ("1.5m", 90),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", -3, True, "3 weeks", None])
def test_not_durations(text: object) -> None:
    assert parse_duration(text) is None
