"""`frontdesk demo`: the quick start's desk. It is made once (tokens printed once, only their
digests kept), serves every channel on loopback, and every example of the README's Channels
section runs against it as written, with the lines it printed pasted into the shell."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from frontdesk.channels.registry import MODULES
from frontdesk.router.cli.demo import main
from frontdesk.router.daemon.settings import load_settings
from frontdesk.router.http.auth import TokenBook
from frontdesk.skills import Presence


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exports(printed: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(fdt_\S+|[A-Za-z0-9_-]{20,})$", printed, re.M))


def test_the_demo_desk_is_made_once_with_its_own_tokens(tmp_path: Path, capsys) -> None:
    desk = tmp_path / "desk"
    argv = ["--dir", str(desk), "--port", "0", "--smtp-port", "0", "--no-serve"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    exports = _exports(printed)
    config = desk / "frontdesk.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds the channels' secrets
    text = config.read_text()
    for name, secret in exports.items():  # tokens: digests only; channel secrets: kept
        assert (secret in text) == name.endswith("_SECRET"), name
    settings = load_settings(config)
    assert set(settings.channels) == set(MODULES) - {"imap"}  # imap needs a mailbox of yours
    assert all(a.presence is Presence.OFFLINE for a in settings.agents)
    book = TokenBook(settings.api_tokens)
    found = book.authenticate(f"Bearer {exports['SUP']}")
    assert found is not None and found.scope.value == "supervisor"
    agent = book.authenticate(f"Bearer {exports['LI_NA']}")
    assert agent is not None and agent.agent == "li.na"
    assert {a.id for a in settings.agents} <= {t.agent for t in settings.api_tokens}

    assert main(argv) == 0  # again: the same desk, nothing printed of its secrets
    again = capsys.readouterr().out
    assert _exports(again) == {} and config.read_text() == text
    assert main([*argv, "--reset"]) == 0  # a new desk, new tokens
    fresh = _exports(capsys.readouterr().out)
    assert fresh.keys() == exports.keys() and fresh["SUP"] != exports["SUP"]


def test_a_config_not_made_by_demo_is_left_alone(tmp_path: Path, capsys) -> None:
    (tmp_path / "frontdesk.yaml").write_text("tenant: mine\n")
    for extra in ([], ["--reset"]):
        assert main(["--dir", str(tmp_path), "--no-serve", *extra]) == 64
        assert "not made by frontdesk demo" in capsys.readouterr().err
    assert (tmp_path / "frontdesk.yaml").read_text() == "tenant: mine\n"


def _channel_examples(readme: str) -> list[str]:
    """The shell blocks of the README's Channels section that talk to the daemon."""
    section = readme.split("\n## Channels\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [b for b in blocks if "127.0.0.1:8080" in b]


def _smtp_example(readme: str) -> str:
    section = readme.split("### Email in: SMTP", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_every_channel_example_of_the_readme_runs_against_the_demo(
    tmp_path: Path, repo_root: Path, capsys, daemons
) -> None:
    desk, smtp_port = tmp_path / "desk", _free_port()
    argv = ["--dir", str(desk), "--port", "0", "--smtp-port", str(smtp_port), "--no-serve"]
    assert main(argv) == 0
    exports = _exports(capsys.readouterr().out)
    readme = (repo_root / "README.md").read_text()
    examples = _channel_examples(readme)
    assert len(examples) == 4  # chat, phone, social (two hooks), form
    daemon = daemons(desk / "frontdesk.yaml")
    try:
        port = daemon.wait_ready()
        env = {**os.environ, **exports, "AGENT": exports["LI_NA"]}
        for example in examples:
            script = example.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            script = "set -eu\n" + script.replace("curl -s ", "curl -s --fail-with-body ")
            done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"{example}\n{done.stdout}\n{done.stderr}"
            assert '"id"' in done.stdout or '"request' in done.stdout or "ok" in done.stdout
        mail = _smtp_example(readme).replace('"127.0.0.1", 2525', f'"127.0.0.1", {smtp_port}')
        sent = subprocess.run([sys.executable, "-c", mail], capture_output=True, text=True)
        assert sent.returncode == 0, sent.stderr
        daemon.wait_for(r"FD-\d+ new email request from C-\d+ into ")  # the intake's INFO line
        for kind in ("chat", "phone", "social", "form"):
            daemon.wait_for(rf"FD-\d+ new {kind} request from C-\d+ into \S+ \(category ")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.wait()
    said = ("agent desk http://127.0.0.1:", "chat: WebSocket ws://127.0.0.1:", "tokens: 6 agent")
    for line in (*said, "not configured (no channels.<name>): imap"):
        assert line in daemon.log


@pytest.mark.parametrize("tokens", [False, True])
def test_start_up_says_whether_the_api_is_closed(
    tmp_path: Path, redis_server, daemons, tokens
) -> None:
    config = tmp_path / "c.yaml"
    api = (
        "api: {tokens: [{name: ops, scope: supervisor, sha256: " + "ab" * 32 + "}]}\n"
        if tokens
        else ""
    )
    config.write_text(
        f'tenant: t{int(tokens)}\nredis: {{url: "{redis_server.url}"}}\nhttp: {{port: 0}}\n'
        f"queues: {{general: {{}}}}\ndefault_queue: general\n{api}"
    )
    daemon = daemons(config)
    try:
        daemon.wait_ready()
        said = "API tokens: 1 supervisor" if tokens else "no API tokens: the API is closed"
        daemon.wait_for(said)
        daemon.wait_for(r"not configured \(no channels.<name>\): smtp, imap, chat, social, form")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.wait()
