"""Agent settings (declared once, with default and help), the bootstrap document and the state-dir layout."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from agent.fsutil import ensure_dir, safe_name


class ConfigError(Exception):
    """The command line or the bootstrap document cannot be used."""


@dataclass(frozen=True)
class Setting:
    flag: str
    help: str
    default: object = None
    type: object = str
    metavar: str | None = None
    required: bool = False
    action: str | None = None


SETTINGS = (
    Setting("--bootstrap", "bootstrap JSON document (server_id, base_url, metadata_url, "
            "credential, collectors)", required=True, metavar="FILE"),
    Setting("--state-dir", "directory for the cache, done markers, run artifacts, outbox and "
            "status.json", required=True, metavar="DIR"),
    Setting("--once", "fetch once without waiting, run pending deployments, deliver the "
            "signals (up to 30 s) and exit", default=False, action="store_true"),
    Setting("--hooks-path", "extra hook directories searched first, separated by ':'",
            default="", metavar="DIR[:DIR...]"),
    Setting("--poll-wait", "seconds the server may hold a metadata long-poll", default=55.0,
            type=float, metavar="SECONDS"),
    Setting("--log-level", "logging level", default="INFO", metavar="LEVEL",
            type=str.upper),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth-agent",
        description="Fetch this server's deployments, run them through hooks, signal the results.")
    for setting in SETTINGS:
        options: dict = {"help": f"{setting.help} (default: {setting.default})"
                         if setting.default not in (None, "", False) else setting.help}
        if setting.action:
            options.update(action=setting.action, default=setting.default)
        else:
            options.update(default=setting.default, type=setting.type, metavar=setting.metavar,
                           required=setting.required)
        parser.add_argument(setting.flag, **options)
    return parser


@dataclass(frozen=True)
class Bootstrap:
    server_id: str
    base_url: str
    metadata_url: str
    credential: str = field(repr=False)  # never printed, never logged
    collectors: tuple[str, ...] = ("hearth",)


def load_bootstrap(path: Path) -> Bootstrap:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read bootstrap document: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: bootstrap document must be a JSON object")
    for key in ("server_id", "base_url", "credential"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ConfigError(f"{path}: {key}: required string is missing")
    base_url = document["base_url"].rstrip("/")
    metadata_url = document.get("metadata_url") or (
        f"{base_url}/guest/v1/servers/{document['server_id']}/metadata")
    collectors = document.get("collectors") or ["hearth"]
    if not isinstance(collectors, list) or not all(isinstance(c, str) for c in collectors):
        raise ConfigError(f"{path}: collectors: must be a list of names")
    return Bootstrap(server_id=document["server_id"], base_url=base_url,
                     metadata_url=metadata_url, credential=document["credential"],
                     collectors=tuple(collectors))


@dataclass(frozen=True)
class StateLayout:
    """Where the agent keeps each kind of state under its state directory."""

    root: Path

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def deployed_dir(self) -> Path:
        return self.root / "deployed"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def outbox_dir(self) -> Path:
        return self.root / "outbox"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"

    def run_dir(self, entry_id: str) -> Path:
        return self.runs_dir / safe_name(entry_id)

    def hook_dirs(self, tool: str) -> tuple[Path, Path]:
        """Working and outputs directories for one hook (heat-agents' heat-config-<tool>)."""
        name = f"heat-config-{safe_name(tool)}"
        return self.root / "hooks-work" / name, self.root / "hooks-outputs" / name

    def create(self) -> None:
        for directory in (self.root, self.cache_dir, self.deployed_dir, self.runs_dir,
                          self.outbox_dir):
            ensure_dir(directory)


@dataclass(frozen=True)
class AgentConfig:
    bootstrap: Bootstrap
    state: StateLayout
    hooks_path: tuple[Path, ...]
    poll_wait: float
    once: bool
    log_level: str


def from_args(args: argparse.Namespace) -> AgentConfig:
    if args.poll_wait < 0:
        raise ConfigError("--poll-wait: must not be negative")
    hooks_path = tuple(Path(p) for p in args.hooks_path.split(os.pathsep) if p)
    return AgentConfig(bootstrap=load_bootstrap(Path(args.bootstrap)),
                       state=StateLayout(Path(args.state_dir).absolute()),
                       hooks_path=hooks_path, poll_wait=args.poll_wait, once=args.once,
                       log_level=args.log_level)
