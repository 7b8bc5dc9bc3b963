"""The YAML files that ship inside the package (`frontdesk.config`), found through
`importlib.resources` so that they are found the same way in a checkout, an editable install and
a wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(name: str) -> Path:
    """The path of `name` among the shipped config files (a real file: errors name its lines)."""
    return Path(str(files("frontdesk.config").joinpath(name)))
