"""deploy/frontdesk.service: systemd finds nothing wrong with it, its command lines are ones our
CLI takes, its config passes the checker, and the paths, signals and limits agree with what the
daemon does (where it writes, how long it drains)."""

from __future__ import annotations

import inspect
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml
from deploy_files import DEPLOY, read_containerfile, read_unit, seconds

from frontdesk.router.cli.main import _parser, main
from frontdesk.router.daemon import daemon
from frontdesk.router.daemon.redis_server import EmbeddedRedis

UNIT = DEPLOY / "frontdesk.service"
INSTALLED = "/usr/local/bin/frontdesk"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: apt-get install systemd (it ships the verifier)"
    return found


def _verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` on a copy whose frontdesk is the one installed here (verify
    wants every command it names to exist)."""
    here = shutil.which("frontdesk")
    assert here, "the frontdesk command is not installed (pip install -e '.[dev]')"
    unit = tmp_path / "frontdesk.service"
    unit.write_text(unit_text.replace(INSTALLED, here), encoding="utf-8")
    return subprocess.run(
        [_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60
    )


def test_systemd_finds_no_problem_in_the_unit(tmp_path: Path) -> None:
    result = _verify(UNIT.read_text(encoding="utf-8"), tmp_path)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_the_verifier_would_see_a_mistake(tmp_path: Path) -> None:
    """verify passes a misspelt key with exit code 0 and a line on stderr: the test above looks
    at both."""
    text = UNIT.read_text(encoding="utf-8").replace("KillMode=", "KilMode=")
    result = _verify(text, tmp_path)
    assert "Unknown key 'KilMode'" in result.stdout + result.stderr


def _commands(key: str) -> list[list[str]]:
    return [shlex.split(line.lstrip("-+!@:")) for line in read_unit().get(f"Service.{key}", [])]


def test_its_commands_are_ones_the_cli_takes() -> None:
    (start,) = _commands("ExecStart")
    assert start[0] == INSTALLED
    args = _parser().parse_args(start[1:])
    assert (args.command, args.config) == ("serve", "/etc/frontdesk/frontdesk.yaml")
    assert len(_commands("ExecReload")) == 2
    for check in _commands("ExecReload")[:-1]:
        assert check[0] == INSTALLED
        parsed = _parser().parse_args(check[1:])
        assert (parsed.command, parsed.path) == ("check-config", args.config)
    assert _commands("ExecReload")[-1] == ["/bin/kill", "-HUP", "$MAINPID"]  # the daemon reloads


def test_the_service_config_passes_the_checker() -> None:
    assert main(["check-config", str(DEPLOY / "frontdesk.yaml")]) == 0


def test_the_daemon_writes_only_where_the_unit_lets_it() -> None:
    unit = read_unit()
    (state,) = unit["Service.StateDirectory"]
    state_dir = Path("/var/lib") / state
    assert unit["Service.WorkingDirectory"] == [str(state_dir)]
    assert unit["Service.ReadWritePaths"] == [str(state_dir)]
    assert unit["Service.ProtectSystem"] == ["strict"]  # everything else read-only
    config = yaml.safe_load((DEPLOY / "frontdesk.yaml").read_text(encoding="utf-8"))
    data_dir = Path(config["redis"]["data_dir"])
    assert data_dir.is_absolute() and data_dir.is_relative_to(state_dir)
    assert config["redis"]["url"] is None  # the embedded redis-server, whose files those are
    assert len(str(data_dir / "redis.sock")) < 100  # a unix socket's path has room


def test_stopping_gives_the_daemon_its_drain() -> None:
    unit = read_unit()
    assert unit["Service.KillSignal"] == ["SIGTERM"]
    # SIGTERM to the daemon alone: its redis-server is stopped by it, after the drain
    assert unit["Service.KillMode"] == ["mixed"]
    redis_stop = inspect.signature(EmbeddedRedis.stop).parameters["timeout_s"].default
    drain = daemon.STOP_TIMEOUT_S + redis_stop
    assert seconds(unit["Service.TimeoutStopSec"][0]) > drain
    assert unit["Service.Restart"] == ["on-failure"]
    assert "2" in unit["Service.RestartPreventExitStatus"][0].split()  # a refused config


def test_it_is_hardened_and_has_descriptors_to_spare() -> None:
    unit = read_unit()
    assert unit["Service.User"] == ["frontdesk"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert unit[f"Service.{key}"] == ["yes"], key
    assert int(unit["Service.LimitNOFILE"][0]) >= 10_032  # redis-server's 10000 clients and more
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_the_unit_and_the_container_run_the_same_command() -> None:
    (start,) = _commands("ExecStart")
    image = read_containerfile()
    assert [Path(start[0]).name, *start[1:]] == image.cmd  # pip puts it in /usr/local/bin there
