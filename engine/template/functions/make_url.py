"""make_url (2017-09-01 on): a correctly escaped URL built from scheme, credentials, host, port, path, query and fragment."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlunsplit

from engine.errors import TemplateError
from engine.template.functions.args import is_call, type_name

KEYS = ("scheme", "username", "password", "host", "port", "path", "query", "fragment")


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TemplateError(f"make_url: port must be a number, not {type_name(value)}")
    try:
        port = int(value)
    except ValueError:
        raise TemplateError(f"make_url: port {value!r} is not a number") from None
    if not 0 < port <= 65535:
        raise TemplateError(f"make_url: port {port} is out of range (1 to 65535)")
    return port


def _check(args: dict, path: tuple, *, resolved: bool) -> None:
    for key, value in args.items():
        if not resolved and is_call(value) and key != "query":
            continue
        if key == "query":
            if not isinstance(value, dict):
                raise TemplateError(f"make_url: query must be a map, not {type_name(value)}",
                                    path=path)
        elif key == "port":
            try:
                _port(value)
            except TemplateError as error:
                raise TemplateError(error.reason, path=path) from None
        elif not isinstance(value, str):
            raise TemplateError(f"make_url: {key} must be a string, not {type_name(value)}",
                                path=path)
    if isinstance(args.get("scheme"), str) and ":" in args["scheme"]:
        raise TemplateError("make_url: scheme must not contain ':'", path=path)


def validate(args: Any, path: tuple) -> None:
    if not isinstance(args, dict):
        raise TemplateError(f"make_url: expected a map with some of: {', '.join(KEYS)}", path=path)
    unknown = [key for key in args if key not in KEYS]
    if unknown and not is_call(args):
        raise TemplateError(f"make_url: unknown key {unknown[0]!r} (allowed: {', '.join(KEYS)})",
                            path=path)
    if not unknown:
        _check(args, path, resolved=False)


def resolve(args: Any, evaluate, context) -> str:
    parts = evaluate(args) if any(key not in KEYS for key in args) else {
        key: evaluate(value, key) for key, value in args.items()}
    if not isinstance(parts, dict) or any(key not in KEYS for key in parts):
        raise TemplateError(f"make_url: expected a map with some of: {', '.join(KEYS)}")
    _check(parts, (), resolved=True)
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
    return urlunsplit((parts.get("scheme", ""), netloc, quote(parts.get("path", "")), query,
                       quote(parts.get("fragment", ""))))
