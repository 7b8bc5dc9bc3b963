"""deploy/Containerfile, done outside a container (no engine here, no registry of base images):
the files it copies are what a wheel is built from, the wheel (not the checkout) is installed
in a fresh venv, and the image's command, environment and port run there on its embedded Redis
until it answers /readyz and its health check, and SIGTERM stops it with exit code 0."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from deploy_files import ROOT, Containerfile, ignored, read_containerfile

IMAGE_ROOTS = ("/etc/frontdesk", "/var/lib/frontdesk")  # the image's own paths, moved under tmp


@pytest.fixture(scope="module")
def image() -> Containerfile:
    return read_containerfile()


def test_the_image_is_built_as_the_brief_says(image: Containerfile) -> None:
    assert image.stages and all(s == "python:3.11-slim" for s in image.stages)
    assert image.user not in ("", "root", "0")
    assert image.expose == [8080]
    assert image.stopsignal == "SIGTERM"
    assert image.cmd == ["frontdesk", "serve", "--config", "/etc/frontdesk/frontdesk.yaml"]
    assert image.healthcheck[:2] == ["python", "-c"] and "/healthz" in image.healthcheck[2]


def test_every_copy_source_is_in_the_repository_and_the_context(image: Containerfile) -> None:
    sources = [s for paths, _, staged in image.copies if not staged for s in paths]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(ROOT / ".dockerignore", source), f"COPY {source}: .dockerignore drops it"
    for left_out in (".git", "var/frontdesk/appendonly.aof", ".venv/bin/python", "x/__pycache__"):
        assert ignored(ROOT / ".dockerignore", left_out), left_out


def test_the_config_keeps_redis_in_the_volume(image: Containerfile) -> None:
    config = _config_source(image)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert settings["redis"]["url"] is None
    data_dir = Path(settings["redis"]["data_dir"])
    assert any(data_dir.is_relative_to(v) for v in image.volumes), (data_dir, image.volumes)
    assert settings["http"] == {"host": "0.0.0.0", "port": image.expose[0]}


def _config_source(image: Containerfile) -> Path:
    """The file the image has at the config path its command reads."""
    target = image.cmd[image.cmd.index("--config") + 1]
    (source,) = [paths[0] for paths, dest, staged in image.copies if dest == target and not staged]
    return ROOT / source


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without the test run's own PYTHONPATH (it points at the checkout)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FRONTDESK_CONFIG")}


@pytest.fixture(scope="module")
def wheel(image: Containerfile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built, as the build stage does, from only what the Containerfile copies."""
    assert importlib.util.find_spec("wheel"), (
        "the wheel package is missing (pip install -e '.[dev]' installs it): the wheel is built "
        "with this Python's setuptools, offline (--no-build-isolation)"
    )
    context = tmp_path_factory.mktemp("context")
    for paths, dest, staged in image.copies:
        if staged or dest.startswith("/"):
            continue  # the final stage's files; the build stage copies into its WORKDIR
        into = context / dest  # docker's rules: a folder's contents into dest, a file into
        for source in paths:  # dest when it ends in /, else as dest
            src = ROOT / source
            if src.is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(src, into, ignore=ignore, dirs_exist_ok=True)
            else:
                into.mkdir(parents=True, exist_ok=True) if dest.endswith("/") else None
                shutil.copy2(src, into / src.name if dest.endswith("/") else into)
    out = tmp_path_factory.mktemp("wheels")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    result = subprocess.run(
        [*build, "--wheel-dir", str(out), str(context)],
        capture_output=True, text=True, env=_clean_env(), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = out.glob("frontdesk-*.whl")
    return found


PACKAGE_FILES = ("queues/lua/**/*.lua", "config/*.yaml", "config/*.json", "channels/chat/static/*")
PACKAGES = ("router", "channels", "queues", "skills", "config")


def test_the_wheel_holds_every_file_the_daemon_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    found = [p for pattern in PACKAGE_FILES for p in ROOT.glob(pattern)]
    found += [p for top in PACKAGES for p in (ROOT / top).rglob("*.py")]
    wanted = {f"frontdesk/{p.relative_to(ROOT).as_posix()}" for p in found if p.is_file()}
    assert any(n.startswith("frontdesk/queues/lua/includes/") for n in wanted)
    assert {"frontdesk/config/frontdesk.schema.json", "frontdesk/config/defaults.yaml"} < wanted
    assert "frontdesk/channels/chat/static/chat.js" in wanted
    assert wanted - names == set(), "not in the wheel: list them under package-data"


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Iterator[Path]:
    """A fresh venv with the wheel installed (dependencies from this Python's site-packages).
    A short path: the embedded redis-server's socket lives under it."""
    where = Path(tempfile.mkdtemp(prefix="fd-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(where / "venv")],
            check=True, env=_clean_env(), timeout=120,
        )  # fmt: skip
        pip = [str(where / "venv" / "bin" / "python"), "-m", "pip", "install", "--no-deps"]
        result = subprocess.run(
            [*pip, "--no-index", str(wheel)], capture_output=True, text=True,
            env=_clean_env(), timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _redirect(text: str, root: Path) -> str:
    for path in IMAGE_ROOTS:
        text = text.replace(path, f"{root}{path}")
    return text


def test_the_venv_imports_the_wheel_not_the_checkout(venv: Path) -> None:
    python = venv / "venv" / "bin" / "python"
    code = "import frontdesk.router, frontdesk.queues; print(frontdesk.router.__file__)"
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=_clean_env(), cwd=venv
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(venv / "venv"), result.stdout


def test_the_image_command_serves_on_its_embedded_redis_and_stops_on_sigterm(
    image: Containerfile, venv: Path
) -> None:
    root = venv / "image"
    port = _free_port()
    config = _config_source(image).read_text(encoding="utf-8")
    config = _redirect(config, root).replace(f"port: {image.expose[0]}", f"port: {port}")
    target = Path(_redirect(image.cmd[image.cmd.index("--config") + 1], root))
    target.parent.mkdir(parents=True)
    target.write_text(config, encoding="utf-8")
    workdir = Path(_redirect(image.workdir, root))
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir = venv / "venv" / "bin"
    env = _clean_env() | {k: _redirect(v, root) for k, v in image.env.items()}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # `frontdesk`, `python`: the venv's
    command = [_redirect(part, root) for part in image.cmd]
    assert shutil.which(command[0], path=env["PATH"]) == str(bin_dir / command[0])
    log = venv / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=out, stderr=out)
    try:
        status = _wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log)
        assert status == 200
        health = [_redirect(p, root).replace(f":{image.expose[0]}/", f":{port}/")
                  for p in image.healthcheck]  # fmt: skip
        check = subprocess.run(health, env=env, cwd=workdir, capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
        data_dir = Path(yaml.safe_load(config)["redis"]["data_dir"])
        assert (data_dir / "redis.sock").is_socket()  # its own redis-server, in the volume
        assert any(v for v in image.volumes if data_dir.is_relative_to(_redirect(v, root)))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        output = log.read_text(errors="replace")
        assert proc.returncode == 0, output[-3000:]
        assert "frontdesk stopped" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> int:
    """/readyz's status once the daemon answers; fails if it exits or takes over a minute."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            pytest.fail(f"the daemon exited with {proc.returncode}:\n{output[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:  # not ready yet: 503
                return int(exc.code)
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("the daemon did not answer /readyz within a minute")
