"""The stack's facts on the agent's side (docs/facts.md): owns the facts file hooks read (its path in
``$HEARTH_FACTS_FILE``, rewritten atomically before each hook runs) and ``hearth-agent fact
set|get|list|delete``; talks to ``/guest/v1/servers/<id>/facts`` with the server's credential,
through the session it is given.

A hook gets, besides the facts file, ``$HEARTH_FACTS_PREFIX`` (the server's own prefix,
``servers/<server name>/``, the only place it may write), ``$HEARTH_AGENT_BOOTSTRAP`` (the
bootstrap document the ``fact`` command reads its credential from) and the agent's own
directory first on ``$PATH``, so that ``hearth-agent fact set KEY VALUE`` works in a script.
When the server cannot be reached the hook gets the last facts fetched; a fact is never logged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from agent.config import ConfigError, load_bootstrap
from agent.fsutil import atomic_write_json, read_json
from agent.outbox import JSON_CONTENT_TYPE, encode_body, error_message
from agent.replicas import Replicas

LOG = logging.getLogger("hearth.agent.facts")

FACTS_FILE_ENV = "HEARTH_FACTS_FILE"
FACTS_PREFIX_ENV = "HEARTH_FACTS_PREFIX"
BOOTSTRAP_ENV = "HEARTH_AGENT_BOOTSTRAP"
DEFAULT_BOOTSTRAP = "/etc/hearth/bootstrap.json"  # packaging/systemd/hearth-agent.service's
TIMEOUT = (10.0, 30.0)
# Before a hook: a server out of reach must not hold the hook back long (it gets the last facts).
HOOK_TIMEOUT = (3.0, 10.0)


class FactsError(Exception):
    """The server refused or could not be reached; the message says why, for a person."""


class FactsClient:
    """The server's facts route, with its credential; the base URL is the agent's choice in use."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str | Replicas,
        server_id: str,
        credential: str,
        timeout: tuple[float, float] = TIMEOUT,
    ):
        self._session = session
        self._timeout = timeout
        self._replicas = base_url if isinstance(base_url, Replicas) else Replicas([base_url])
        self.server_id = server_id
        self._credential = credential

    def retarget(self, credential: str) -> None:
        """Use a rotated (or reloaded) credential from now on."""
        self._credential = credential

    def listing(self, prefix: str = "") -> dict[str, Any]:
        return self._call("GET", "", params={"prefix": prefix} if prefix else None)

    def put(self, key: str, value: Any, *, bound: bool = False, cas: int | None = None) -> dict[str, Any]:
        body = {"value": value, "bound": bound}
        return self._call("PUT", key, params=None if cas is None else {"cas": cas}, body=body)

    def delete(self, key: str, *, cas: int | None = None) -> dict[str, Any]:
        return self._call("DELETE", key, params=None if cas is None else {"cas": cas})

    def _call(self, method: str, key: str, *, params: dict[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
        base = self._replicas.current
        path = f"/guest/v1/servers/{quote(self.server_id, safe='')}/facts"
        if key:
            path += "/" + quote(key, safe="/")
        headers = {"Authorization": f"Bearer {self._credential}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = JSON_CONTENT_TYPE
            data = encode_body(body)
        try:
            response = self._session.request(
                method, base + path, params=params, data=data, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            self._replicas.failed(base, type(exc).__name__)
            raise FactsError(f"the Hearth server at {base} cannot be reached: {type(exc).__name__}") from None
        with response:
            if response.status_code >= 500:
                self._replicas.failed(base, f"HTTP {response.status_code}", expected=response.status_code == 503)
            else:
                self._replicas.answered(base)
            if response.status_code != 200:
                raise FactsError(f"HTTP {response.status_code}: {error_message(response.text)}")
            answer = response.json()
        if not isinstance(answer, dict):
            raise FactsError("the server's answer is not a JSON object")
        return answer


class HookFacts:
    """What a hook is given of the facts: ``environment()`` fetches them, writes the facts file
    (``{"index", "own_prefix", "facts": {key: value}}``) and answers the variables to add."""

    def __init__(self, client: FactsClient | None, path: Path, bootstrap_path: Path | None):
        self.client, self.path, self.bootstrap_path = client, path, bootstrap_path

    def environment(self) -> dict[str, str]:
        own = None
        if self.client is not None and self.client.server_id:
            try:
                listing = self.client.listing()
                own = listing.get("own_prefix")
                facts = {f["key"]: f["value"] for f in listing.get("facts") or [] if isinstance(f, dict)}
                atomic_write_json(self.path, {"index": listing.get("index"), "own_prefix": own, "facts": facts})
            except (FactsError, ValueError, KeyError, TypeError, OSError) as exc:
                LOG.warning("facts not refreshed (%s); the hook gets the last ones fetched", exc)
        env: dict[str, str] = {}
        if self.path.exists():
            env[FACTS_FILE_ENV] = str(self.path)
            if own is None:
                try:
                    own = read_json(self.path).get("own_prefix")
                except (OSError, ValueError, AttributeError):
                    own = None
        if isinstance(own, str):
            env[FACTS_PREFIX_ENV] = own
        if self.bootstrap_path is not None:
            env[BOOTSTRAP_ENV] = str(self.bootstrap_path)
        here = str(Path(sys.argv[0]).resolve().parent) if sys.argv and sys.argv[0] else ""
        commands = [d for d in (here, str(Path(sys.executable).parent)) if (Path(d) / "hearth-agent").exists()]
        if commands:
            env["PATH"] = os.pathsep.join([commands[0], os.environ.get("PATH", "")])
        return env


def build_fact_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth-agent fact",
        description="Read and write the facts of this server's stack (docs/facts.md).",
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get(BOOTSTRAP_ENV) or DEFAULT_BOOTSTRAP,
        metavar="FILE",
        help=f"the agent's bootstrap document (default: ${BOOTSTRAP_ENV}, else %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    put = commands.add_parser("set", help="set a fact under this server's own prefix")
    put.add_argument(
        "key", help="the key under servers/<this server's name>/ (a key with that prefix is kept as it is)"
    )
    put.add_argument("value", help="the value: text, or JSON with --json")
    put.add_argument("--json", action="store_true", help="read VALUE as JSON (a number, a list, an object)")
    put.add_argument("--bound", action="store_true", help="delete the fact when this server's agent is gone")
    put.add_argument(
        "--cas",
        type=int,
        default=None,
        metavar="INDEX",
        help="only if the fact's modify_index is INDEX (0: only if absent)",
    )
    get = commands.add_parser("get", help="print one fact's value as JSON (any key of the stack)")
    get.add_argument("key")
    listing = commands.add_parser("list", help="print the stack's facts as one JSON object of key to value")
    listing.add_argument("--prefix", default="", help="only the keys that start with it")
    remove = commands.add_parser("delete", help="delete a fact under this server's own prefix")
    remove.add_argument("key")
    remove.add_argument("--cas", type=int, default=None, metavar="INDEX")
    return parser


def fact_command(argv: list[str], session: requests.Session | None = None) -> int:
    """`hearth-agent fact ...`: 0 when done, 1 when the server refused (the reason on stderr)."""
    parser = build_fact_parser()
    args = parser.parse_args(argv)
    try:
        bootstrap = load_bootstrap(Path(args.bootstrap))
    except ConfigError as exc:
        parser.error(str(exc))
    if not bootstrap.server_id:
        parser.error(f"{args.bootstrap}: server_id: required for facts")
    value: Any = args.value if args.command == "set" else None
    if args.command == "set" and args.json:
        try:
            value = json.loads(args.value)
        except ValueError as exc:
            parser.error(f"--json: VALUE is not JSON: {exc}")
    with session or requests.Session() as http:
        client = FactsClient(http, Replicas(bootstrap.base_urls), bootstrap.server_id, bootstrap.credential)
        try:
            if args.command == "list":
                listing = client.listing(args.prefix)
                print(json.dumps({f["key"]: f["value"] for f in listing.get("facts") or []}, indent=2, sort_keys=True))
            elif args.command == "get":
                found = {f["key"]: f["value"] for f in client.listing(args.key).get("facts") or []}
                if args.key not in found:
                    print(f"hearth-agent fact: no fact '{args.key}' in this stack's facts", file=sys.stderr)
                    return 1
                print(json.dumps(found[args.key]))
            else:
                key = _own_key(client, args.key)
                if args.command == "set":
                    answer = client.put(key, value, bound=args.bound, cas=args.cas)
                else:
                    answer = client.delete(key, cas=args.cas)
                print(f"{args.command} {key} (index {answer.get('index')})")
        except FactsError as exc:
            print(f"hearth-agent fact {args.command}: {exc}", file=sys.stderr)
            return 1
    return 0


def _own_key(client: FactsClient, key: str) -> str:
    """`key` under the server's own prefix ($HEARTH_FACTS_PREFIX, else asked of the server)."""
    own = os.environ.get(FACTS_PREFIX_ENV) or str(client.listing("servers/").get("own_prefix") or "")
    return key if key.startswith(own) else own + key
