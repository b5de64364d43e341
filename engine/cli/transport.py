"""Transport: the CLI's HTTP/1.1 over the standard library's http.client, one keep-alive connection
per origin, redirects followed, TLS verified; every failure is one of the Transport* errors below.

`requests` is not used here: importing it (with urllib3, charset_normalizer and idna) cost about
half of `hearth stack list`'s start-up (bench/cli_startup.py). What it did for the CLI is kept:

- a connect timeout and a read timeout (the read one longer for a long-poll);
- redirects followed (the server answers `GET /stacks/NAME` with a 302), 303 and a POST's
  301/302 turned into a GET; X-Auth-Token is not sent to another origin;
- TLS verified against the system's CAs, or the bundle named by $REQUESTS_CA_BUNDLE or
  $CURL_CA_BUNDLE (as requests read them; OpenSSL's $SSL_CERT_FILE works too);
- $http_proxy, $https_proxy, $all_proxy and $no_proxy (lower case first, as curl), a proxy's
  user:password sent as Proxy-Authorization; https goes through a CONNECT tunnel.

The TLS context is made for an https URL only; nothing here does I/O before `send`.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

REDIRECTS = 10
IDEMPOTENT = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")


class TransportError(Exception):
    """A request that got no HTTP answer."""


class ConnectFailed(TransportError):
    """Nothing could be reached: refused, unknown host, the connect timed out, or the connection
    broke before an answer came."""


class TimedOut(TransportError):
    """Connected, but the answer did not come within the read timeout."""


class TlsFailed(TransportError):
    """The TLS handshake failed (most often: the certificate is not trusted)."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL the environment names for `url`, or None to connect directly (pure)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()

    def env(name: str) -> str:
        return environ.get(name) or environ.get(name.upper()) or ""

    for entry in (e.strip().lower() for e in env("no_proxy").split(",")):
        if not entry:
            continue
        if entry == "*":
            return None
        name, _, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and str(parts.port or (443 if parts.scheme == "https" else 80)) != port:
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return None
    return env(f"{parts.scheme}_proxy") or env("all_proxy") or None


class Transport:
    """Sends requests; keeps one connection per origin open between them. Not thread-safe: a
    command's requests are made one after another."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.connections: dict[tuple, http.client.HTTPConnection] = {}
        self._tls = None

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: tuple[float, float],
    ) -> Answer:
        """One request, its redirects followed; the final answer, whatever its status."""
        headers = dict(headers)
        origin = urlsplit(url)[:2]
        for _ in range(REDIRECTS + 1):
            answer, location = self._once(method, url, headers, body, timeout)
            if location is None:
                return answer
            url = urljoin(url, location)
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = ("GET" if method != "HEAD" else method), None
                headers.pop("Content-Type", None)
            if urlsplit(url)[:2] != origin:
                headers.pop("X-Auth-Token", None)
        raise TransportError(f"more than {REDIRECTS} redirects")

    def _once(self, method, url, headers, body, timeout) -> tuple[Answer, str | None]:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            raise TransportError(f"not a valid port in {url}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url}")
        proxy = proxy_for(url, self.environ)
        key = (parts.scheme, parts.hostname, parts.port, proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        sent = dict(headers)
        if proxy and parts.scheme == "http":
            target = url.split("#", 1)[0]  # a plain proxy is asked for the absolute URL
            sent.update(proxy_authorization(proxy))
        reused = key in self.connections
        connection = self._connection(key, parts, proxy, timeout[0])
        try:
            if connection.sock is None:
                connection.connect()
            connection.sock.settimeout(timeout[1])
            connection.request(method, target, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError:
            phase = "connect" if connection.sock is None else "read"
            self._drop(key)
            raise (ConnectFailed if phase == "connect" else TimedOut)(f"timed out ({phase})") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self._drop(key)
            if reused and method in IDEMPOTENT:  # the server closed an idle keep-alive connection
                return self._once(method, url, headers, body, timeout)
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            self._drop(key)
            if type(exc).__module__ == "ssl" or exc.__class__.__name__.startswith("SSL"):
                raise TlsFailed(str(exc)) from None
            raise ConnectFailed(str(exc)) from None
        except http.client.HTTPException as exc:
            self._drop(key)
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        if response.will_close:
            self._drop(key)
        location = response.getheader("Location") if response.status in (301, 302, 303, 307, 308) else None
        return Answer(response.status, response.reason, data), location

    def _connection(self, key, parts, proxy: str | None, connect_timeout: float) -> http.client.HTTPConnection:
        connection = self.connections.get(key)
        if connection is not None and connection.sock is not None and dropped(connection.sock):
            self._drop(key)
            connection = None
        if connection is None:
            host, port = parts.hostname, parts.port
            if proxy:
                proxied = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
                host, port = proxied.hostname, proxied.port or 80
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=self.tls())
                if proxy:
                    connection.set_tunnel(parts.hostname, parts.port or 443, headers=proxy_authorization(proxy))
            else:
                connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
            self.connections[key] = connection
        connection.timeout = connect_timeout
        return connection

    def _drop(self, key) -> None:
        connection = self.connections.pop(key, None)
        if connection is not None:
            connection.close()

    def tls(self):
        if self._tls is None:
            import ssl  # here: an http:// command never pays for it

            bundle = self.environ.get("REQUESTS_CA_BUNDLE") or self.environ.get("CURL_CA_BUNDLE") or None
            try:
                self._tls = ssl.create_default_context(cafile=bundle)
            except (OSError, ssl.SSLError) as exc:  # SSLError is an OSError; named for the reader
                raise TlsFailed(f"cannot load the CA bundle {bundle}: {exc}") from None
        return self._tls


def dropped(sock: socket.socket) -> bool:
    """Whether an idle keep-alive connection was closed by the server (readable = EOF or junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def proxy_authorization(proxy: str) -> dict[str, str]:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.username is None:
        return {}
    import base64

    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
