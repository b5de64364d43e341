"""Builds the `hearth-agent` distribution from the repository's own agent/ and hooks/.

The project root is packaging/agent, so the code is mapped in with `package_dir` (paths
relative to this file, which setuptools accepts for a wheel built in place, as
`pip install packaging/agent` and `pip wheel packaging/agent` do). Hooks and the systemd unit
are data files: they land in `<prefix>/share/hearth/hooks` (where agent/runner.py looks) and
`<prefix>/share/hearth/systemd`. The version is the main project's, read from its pyproject.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def relative(path: Path) -> str:
    return os.path.relpath(path, HERE)


def hook_files() -> list[str]:
    """Every file in hooks/ (the hooks and the modules they share), none of the caches."""
    return sorted(
        relative(p)
        for p in (ROOT / "hooks").iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".pyc"
    )


def version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


setup(
    version=version(),
    packages=find_packages(where=str(ROOT), include=["agent", "agent.*"]),
    package_dir={"agent": relative(ROOT / "agent")},
    data_files=[
        ("share/hearth/hooks", hook_files()),
        ("share/hearth/systemd", [relative(HERE.parent / "systemd" / "hearth-agent.service")]),
    ],
)
