"""The code stays ruff clean and fully typed (mypy --strict), checked on every CI run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGES = ("router", "queues", "skills", "channels")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True)


def test_ruff_check_and_format(repo_root: Path) -> None:
    check = _run("ruff", "check", ".", cwd=repo_root)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _run("ruff", "format", "--check", ".", cwd=repo_root)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_strict(repo_root: Path, tmp_path: Path) -> None:
    # The top-level folders install as frontdesk.<name> (package-dir mapping), which mypy cannot
    # follow through an editable install: give it the installed layout as symlinks.
    (tmp_path / "frontdesk").mkdir()
    for name in PACKAGES:
        (tmp_path / "frontdesk" / name).symlink_to(repo_root / name)
    args = ["--config-file", str(repo_root / "pyproject.toml"), "--cache-dir", str(tmp_path / "c")]
    packages = [x for name in PACKAGES for x in ("-p", f"frontdesk.{name}")]
    result = _run("mypy", *args, *packages, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
