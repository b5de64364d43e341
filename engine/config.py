"""Settings, declared once with their default and help; read from the environment when a Config is built."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Config:
    """Everything an installation can set. `HEARTH_<NAME>` in the environment overrides a default."""

    db_url: str = _setting("", "SQLAlchemy URL of the store; empty means sqlite in data_dir")
    data_dir: str = _setting("", "directory for the SQLite file, keys and local servers; "
                             "empty means $XDG_STATE_HOME/hearth (~/.local/state/hearth)")
    host: str = _setting("127.0.0.1", "address the server listens on")
    port: int = _setting(8004, "port the server listens on (Heat's orchestration port)")
    public_url: str = _setting("", "base URL guests use to reach this server; empty means http://host:port")
    compute: str = _setting("local", "compute driver for OS::Nova::Server: local or deployed")
    secret_key: str = _setting("", "key for signing pre-signed URLs and encrypting secrets; empty means a key file in data_dir")
    environment_dir: str = _setting("", "directory of environment files merged, in name order, "
                                    "under every stack's own environment (Heat's environment.d)")
    hidden_stack_tags: str = _setting("data-processing-cluster", "comma-separated stack tags that "
                                      "hide a stack from lists unless show_hidden is asked for")
    hooks_dir: str = _setting("", "extra directory the local driver's agents search for hooks")
    stack_timeout_mins: int = _setting(60, "default stack operation timeout in minutes")
    server_boot_timeout: int = _setting(300, "seconds a local server may take to contact the server after start")
    longpoll_max_wait: int = _setting(60, "longest a guest long-poll is held, in seconds")
    credential_ttl: int = _setting(365 * 24 * 3600, "lifetime of guest credentials, in seconds")
    presigned_url_ttl: int = _setting(7 * 24 * 3600, "lifetime of pre-signed signal URLs, in seconds")
    max_signal_bytes: int = _setting(4 * 1024 * 1024, "largest accepted signal body (Heat: 1 MiB; an agent result carries up to 1 MiB of stdout plus 1 MiB of stderr)")
    max_template_bytes: int = _setting(4 * 1024 * 1024, "largest accepted stack create request body")
    engine_workers: int = _setting(8, "threads that run resource handlers that may block")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Config":
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = "HEARTH_" + f.name.upper()
            raw = environ.get(name)
            if raw is not None and raw != "":
                try:
                    values[f.name] = type(f.default)(raw) if not isinstance(f.default, str) else raw
                except ValueError:
                    raise ValueError(f"{name} must be {type(f.default).__name__}, not '{raw}'") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def resolved_data_dir(self) -> str:
        if self.data_dir:
            return os.path.abspath(self.data_dir)
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        return os.path.join(base, "hearth")

    @property
    def resolved_db_url(self) -> str:
        return self.db_url or "sqlite:///" + os.path.join(self.resolved_data_dir, "hearth.db")

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for docs/operations.md."""
    return [(f.name, f.default, f.metadata["help"]) for f in dataclasses.fields(Config)]
