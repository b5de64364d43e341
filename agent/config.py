"""Agent settings, the bootstrap document and the state-dir layout: reads the bootstrap file and
creates the state directories (``StateLayout.create``); no network, no processes.

Settings are declared once, with default and help.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    Setting(
        "--bootstrap",
        "bootstrap JSON document (server_id, base_url, base_urls, metadata_url, "
        "credential, collectors, and a section per collector); re-read on SIGHUP",
        required=True,
        metavar="FILE",
    ),
    Setting(
        "--state-dir",
        "directory for the cache, done markers, run artifacts, outbox and status.json",
        required=True,
        metavar="DIR",
    ),
    Setting(
        "--once",
        "fetch once without waiting, run pending deployments, deliver the signals (up to 30 s) and exit",
        default=False,
        action="store_true",
    ),
    Setting(
        "--hooks-path", "extra hook directories searched first, separated by ':'", default="", metavar="DIR[:DIR...]"
    ),
    Setting(
        "--poll-wait", "seconds the server may hold a metadata long-poll", default=55.0, type=float, metavar="SECONDS"
    ),
    Setting("--log-level", "logging level", default="INFO", metavar="LEVEL", type=str.upper),
    Setting(
        "--metrics-interval",
        "seconds between two reports of the host's metrics (cpu_util, memory_util, load_avg_1m/5m/15m) "
        "to the server's metrics route, through the outbox (0 turns them off)",
        default=60.0,
        type=float,
        metavar="SECONDS",
    ),
    Setting(
        "--rotate-remaining",
        "rotate the credential when less than this fraction of its lifetime is left (0 turns rotation off)",
        default=0.33,
        type=float,
        metavar="FRACTION",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth-agent", description="Fetch this server's deployments, run them through hooks, signal the results."
    )
    for setting in SETTINGS:
        options: dict[str, Any] = {
            "help": f"{setting.help} (default: {setting.default})"
            if setting.default not in (None, "", False)
            else setting.help
        }
        if setting.action:
            options.update(action=setting.action, default=setting.default)
        else:
            options.update(
                default=setting.default, type=setting.type, metavar=setting.metavar, required=setting.required
            )
        parser.add_argument(setting.flag, **options)
    return parser


# Per-collector sections of the bootstrap document: key → (accepted types, description).
SECTION_KEYS: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "request": {
        "metadata_url": ((str,), "a URL"),
        "polling_interval": ((int, float), "a number of seconds > 0"),
        "timeout": ((int, float), "a number of seconds > 0"),
    },
    "local": {"path": ((str, list), "a directory or a list of directories")},
}
# Collectors that talk to the Hearth server itself and so need server_id (for the default
# metadata_url) and the credential.
HEARTH_COLLECTORS = frozenset({"hearth"})


@dataclass(frozen=True)
class Bootstrap:
    server_id: str
    base_url: str
    metadata_url: str
    credential: str = field(repr=False)  # never printed, never logged
    collectors: tuple[str, ...] = ("hearth",)
    # {"request": {...}, "local": {...}}; repr=False: a request metadata_url can be signed
    sections: dict[str, Any] = field(default_factory=dict, repr=False, compare=True)
    # The guest API's replicas in the order tried (agent.replicas); base_url is the first.
    base_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.base_urls:
            object.__setattr__(self, "base_urls", (self.base_url,))


def load_bootstrap(path: Path) -> Bootstrap:
    """Read and check the bootstrap document; every error names the key to fix."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read bootstrap document: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: bootstrap document must be a JSON object")
    collectors = document.get("collectors", ["hearth"])
    if not isinstance(collectors, list) or not collectors or not all(isinstance(c, str) and c for c in collectors):
        raise ConfigError(f"{path}: collectors: must be a non-empty list of names")
    # Signals always go to base_url with the credential, whatever feeds the metadata: a
    # machine fed only by a config drive still reports its results to Hearth.
    base_urls = _base_urls(path, document)
    _require(path, document, "credential", "signals are sent to base_url with the credential")
    hearth = HEARTH_COLLECTORS.intersection(collectors)
    if hearth and not document.get("metadata_url"):
        _require(path, document, "server_id", f"the {sorted(hearth)[0]} collector builds its metadata_url from it")
    server_id = document.get("server_id") or ""
    if not isinstance(server_id, str):
        raise ConfigError(f"{path}: server_id: must be a string")
    base_url = base_urls[0]
    metadata_url = document.get("metadata_url") or (
        f"{base_url}/guest/v1/servers/{server_id}/metadata" if server_id else ""
    )
    if not isinstance(metadata_url, str):
        raise ConfigError(f"{path}: metadata_url: must be a string")
    return Bootstrap(
        server_id=server_id,
        base_url=base_url,
        metadata_url=metadata_url,
        credential=document["credential"],
        collectors=tuple(collectors),
        sections={name: _section(path, document, name) for name in SECTION_KEYS if name in document},
        base_urls=base_urls,
    )


def _base_urls(path: Path, document: dict[str, Any]) -> tuple[str, ...]:
    """``base_urls`` (a list), else ``[base_url]``; a ``base_url`` missing from the list goes
    first, so that editing ``base_url`` alone still moves the agent (older documents have no
    list). No trailing slashes, no repeats."""
    listed = document.get("base_urls")
    if listed is not None and (
        not isinstance(listed, list) or not listed or not all(isinstance(u, str) and u for u in listed)
    ):
        raise ConfigError(f"{path}: base_urls: must be a non-empty list of URLs")
    if listed is None or "base_url" in document:
        _require(path, document, "base_url", "signals are sent to base_url with the credential")
    first = [document["base_url"]] if "base_url" in document else []
    return tuple(dict.fromkeys(u.rstrip("/") for u in [*first, *(listed or [])]))


def _require(path: Path, document: dict[str, Any], key: str, why: str) -> None:
    if not isinstance(document.get(key), str) or not document[key]:
        raise ConfigError(f"{path}: {key}: required string is missing ({why})")


def _section(path: Path, document: dict[str, Any], name: str) -> dict[str, Any]:
    """One collector's section, checked key by key (unknown keys are errors: likely typos)."""
    section = document[name]
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {name}: must be a JSON object")
    for key, value in section.items():
        if key not in SECTION_KEYS[name]:
            raise ConfigError(f"{path}: {name}.{key}: unknown key (known: {', '.join(SECTION_KEYS[name])})")
        types, meaning = SECTION_KEYS[name][key]
        if (
            not isinstance(value, types)
            or isinstance(value, bool)
            or (isinstance(value, (int, float)) and value <= 0)
            or (isinstance(value, str) and not value)
            or (isinstance(value, list) and not all(isinstance(v, str) and v for v in value))
        ):
            raise ConfigError(f"{path}: {name}.{key}: must be {meaning}")
    return dict(section)


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
        for directory in (self.root, self.cache_dir, self.deployed_dir, self.runs_dir, self.outbox_dir):
            ensure_dir(directory)


@dataclass(frozen=True)
class AgentConfig:
    bootstrap: Bootstrap
    state: StateLayout
    hooks_path: tuple[Path, ...]
    poll_wait: float
    once: bool
    log_level: str
    bootstrap_path: Path | None = None  # where a rotated credential is written back
    rotate_remaining: float = 0.33
    metrics_interval: float = 60.0  # 0: the host's metrics are not reported


def from_args(args: argparse.Namespace) -> AgentConfig:
    if args.poll_wait < 0:
        raise ConfigError("--poll-wait: must not be negative")
    rotate_remaining = getattr(args, "rotate_remaining", 0.33)
    if not 0 <= rotate_remaining < 1:
        raise ConfigError("--rotate-remaining: must be at least 0 and below 1")
    metrics_interval = getattr(args, "metrics_interval", 60.0)
    if metrics_interval < 0:
        raise ConfigError("--metrics-interval: must not be negative")
    hooks_path = tuple(Path(p) for p in args.hooks_path.split(os.pathsep) if p)
    return AgentConfig(
        bootstrap=load_bootstrap(Path(args.bootstrap)),
        state=StateLayout(Path(args.state_dir).absolute()),
        hooks_path=hooks_path,
        poll_wait=args.poll_wait,
        once=args.once,
        log_level=args.log_level,
        bootstrap_path=Path(args.bootstrap).absolute(),
        rotate_remaining=rotate_remaining,
        metrics_interval=metrics_interval,
    )
