"""make_url (2017-09-01 on): a correctly escaped URL built from scheme, credentials, host, port,
path, query and fragment. Pure, touches nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlunsplit

from engine.errors import TemplateError
from engine.template.functions.args import is_call
from engine.template.snippets import Evaluate, FunctionContext, Path, Snippet

KEYS = ("scheme", "username", "password", "host", "port", "path", "query", "fragment")


def _port(value: Any, args: Snippet = None) -> int:
    port = value
    if not isinstance(port, int) or isinstance(port, bool):
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise TemplateError(f'Invalid URL port "{value}" for make_url called with {args}') from None
    if not 0 < port <= 65535:
        raise TemplateError(f"Invalid URL port {port}, must be in range 1-65535")
    return port


def _check(args: dict[str, Snippet], path: Path, *, resolved: bool) -> None:
    """Heat's checks, in its order of keys (and, as in Heat, none after the query)."""
    for key in KEYS:
        if key not in args:
            continue
        value = args[key]
        if not resolved and is_call(value):
            if key == "query":
                return
            continue
        if key == "query":
            if not isinstance(value, dict):
                raise TemplateError('The "query" argument to "make_url" must be a map', path=path)
            return
        if key == "port":
            try:
                _port(value, args)
            except TemplateError as error:
                raise error.located(path=path) from None
        elif not isinstance(value, str):
            raise TemplateError(f'The "{key}" argument to "make_url" must be a string', path=path)


def validate(args: Snippet, path: Path) -> None:
    if not isinstance(args, dict):
        raise TemplateError('The arguments to "make_url" must be a map', path=path)
    unknown = [key for key in args if key not in KEYS]
    if unknown and not is_call(args):
        raise TemplateError(f'Invalid arguments to "make_url": {", ".join(unknown)}', path=path)
    if not unknown:
        _check(args, path, resolved=False)


def resolve(args: Snippet, evaluate: Evaluate, context: FunctionContext) -> str:
    parts = (
        evaluate(args)
        if any(key not in KEYS for key in args)
        else {key: evaluate(value, key) for key, value in args.items()}
    )
    if not isinstance(parts, dict):
        raise TemplateError('The arguments to "make_url" must be a map')
    _check(parts, (), resolved=True)
    if ":" in parts.get("scheme", ""):
        raise TemplateError("URL \"scheme\" should not contain ':'")
    netloc = ""
    username = quote(parts.get("username", ""), safe="")
    password = quote(parts.get("password", ""), safe="")
    if username or password:
        netloc = username + (":" + password if password else "") + "@"
    host = parts.get("host", "")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = quote(host, safe=":")
    # An IPv6 address goes in brackets, so that its colons are not read as a port.
    netloc += f"[{host}]" if ":" in host else host
    if "port" in parts:
        netloc += f":{_port(parts['port'])}"
    query = urlencode(parts.get("query", {})).replace("%2F", "/")
    # The parts are text (checked above), so the URL is; mypy sees them as Any.
    url: str = urlunsplit(
        (parts.get("scheme", ""), netloc, quote(parts.get("path", "")), query, quote(parts.get("fragment", "")))
    )
    return url
