"""engine.cli.transport against real sockets on 127.0.0.1: keep-alive, redirects, timeouts, a
server that closes an idle connection, proxies; and proxy_for's choice, with literals."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.cli.transport import ConnectFailed, TimedOut, TlsFailed, Transport, TransportError, proxy_for

TIMEOUT = (5.0, 5.0)


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with what it saw as JSON; `/moved` redirects, `/close` closes."""

    protocol_version = "HTTP/1.1"  # keep-alive unless a side says close

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, self.client_address[1], dict(self.headers), body))
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", self.server.moved_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps({"method": self.command, "path": self.path, "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    server.seen = []
    server.moved_to = "/target"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def origin():
    server, thread = serve()
    yield server, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def transport():
    made = Transport(environ={})
    yield made
    made.close()


def test_requests_share_one_keep_alive_connection(origin, transport):
    server, url = origin
    for _ in range(3):
        assert transport.send("GET", f"{url}/a?x=1", headers={}, timeout=TIMEOUT).status == 200
    assert len({port for _, _, port, _, _ in server.seen}) == 1


def test_a_connection_the_server_closed_is_replaced(origin, transport):
    server, url = origin
    assert transport.send("GET", f"{url}/close", headers={}, timeout=TIMEOUT).status == 200
    assert transport.send("GET", f"{url}/after", headers={}, timeout=TIMEOUT).status == 200
    assert [path for _, path, _, _, _ in server.seen] == ["/close", "/after"]
    assert len({port for _, _, port, _, _ in server.seen}) == 2


def test_a_302_is_followed_and_a_post_becomes_a_get(origin, transport):
    _server, url = origin
    answer = transport.send(
        "POST", f"{url}/moved", headers={"Content-Type": "application/json"}, body=b"{}", timeout=TIMEOUT
    )
    assert json.loads(answer.body) == {"method": "GET", "path": "/target", "body": ""}


def test_the_token_does_not_follow_a_redirect_to_another_origin(origin, transport):
    server, url = origin
    other, thread = serve()
    try:
        server.moved_to = f"http://127.0.0.1:{other.server_port}/elsewhere"
        transport.send("GET", f"{url}/moved", headers={"X-Auth-Token": "s3cret"}, timeout=TIMEOUT)
        assert server.seen[0][3].get("X-Auth-Token") == "s3cret"
        assert [(path, "X-Auth-Token" in headers) for _, path, _, headers, _ in other.seen] == [("/elsewhere", False)]
    finally:
        other.shutdown()
        other.server_close()
        thread.join()


def test_refused_is_connect_failed(transport):
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, never listening
        with pytest.raises(ConnectFailed):
            transport.send("GET", f"http://127.0.0.1:{bound.getsockname()[1]}/", headers={}, timeout=TIMEOUT)


def test_no_answer_within_the_read_timeout_is_timed_out(transport):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever answers
        with pytest.raises(TimedOut):
            transport.send("GET", f"http://127.0.0.1:{silent.getsockname()[1]}/", headers={}, timeout=(5.0, 0.2))


def test_a_plain_proxy_is_asked_for_the_absolute_url(origin):
    proxy, _url = origin
    transport = Transport(environ={"http_proxy": f"http://who:pw@127.0.0.1:{proxy.server_port}"})
    try:
        transport.send("GET", "http://hearth.example:8004/v1/admin/stacks?a=b", headers={}, timeout=TIMEOUT)
    finally:
        transport.close()
    (_, path, _, headers, _) = proxy.seen[0]
    assert path == "http://hearth.example:8004/v1/admin/stacks?a=b"
    assert headers["Proxy-Authorization"] == "Basic d2hvOnB3"


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        ("http://h:8004/", {}, None),
        ("http://h:8004/", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
        ("http://h:8004/", {"http_proxy": "http://low", "HTTP_PROXY": "http://up"}, "http://low"),
        ("https://h/", {"http_proxy": "http://p"}, None),
        ("https://h/", {"all_proxy": "http://any"}, "http://any"),
        ("http://api.example.org/", {"http_proxy": "http://p", "no_proxy": "example.org"}, None),
        ("http://api.example.org/", {"http_proxy": "http://p", "no_proxy": ".example.org"}, None),
        ("http://notexample.org/", {"http_proxy": "http://p", "no_proxy": "example.org"}, "http://p"),
        ("http://127.0.0.1:8004/", {"http_proxy": "http://p", "NO_PROXY": "localhost, 127.0.0.1"}, None),
        ("http://h:8004/", {"http_proxy": "http://p", "no_proxy": "h:9000"}, "http://p"),
        ("http://h:8004/", {"http_proxy": "http://p", "no_proxy": "h:8004"}, None),
        ("http://h/", {"http_proxy": "http://p", "no_proxy": "*"}, None),
    ],
)
def test_proxy_for(url, environ, expected):
    assert proxy_for(url, environ) == expected


@pytest.fixture
def tls_origin(tmp_path, origin):
    """`origin` behind TLS with a self-signed certificate for 127.0.0.1; the path of its PEM."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hearth test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem, key_pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server, url = origin
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem, key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return url.replace("http://", "https://"), str(pem)


def test_tls_is_verified_and_a_ca_bundle_can_be_named(tls_origin):
    url, pem = tls_origin
    untrusted = Transport(environ={})
    with pytest.raises(TlsFailed, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.send("GET", f"{url}/a", headers={}, timeout=TIMEOUT)
    trusted = Transport(environ={"REQUESTS_CA_BUNDLE": pem})
    try:
        assert trusted.send("GET", f"{url}/a", headers={}, timeout=TIMEOUT).status == 200
    finally:
        trusted.close()


def test_a_keep_alive_connection_the_server_dropped_while_idle_is_replaced(transport):
    """The server answers as if keeping the connection, then closes it (as an idle timeout does)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    closed = threading.Event()
    accepted = []

    def serve(listener):
        for _ in range(2):
            connection, _ = listener.accept()
            accepted.append(connection)
            connection.recv(65536)
            connection.sendall(answer)
            if len(accepted) == 1:
                connection.close()
                closed.set()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        assert transport.send("GET", url, headers={}, timeout=TIMEOUT).status == 200
        assert closed.wait(10)
        assert transport.send("POST", url, headers={}, body=b"{}", timeout=TIMEOUT).status == 200
        thread.join(10)
    assert len(accepted) == 2  # a new connection, and the POST was not lost on the dead one
    accepted[1].close()


def test_a_bad_port_or_ca_bundle_is_a_transport_error_not_a_traceback(tmp_path):
    with pytest.raises(TransportError, match="port"):
        Transport(environ={}).send("GET", "http://127.0.0.1:http/", headers={}, timeout=TIMEOUT)
    missing = Transport(environ={"REQUESTS_CA_BUNDLE": str(tmp_path / "none.pem")})
    with pytest.raises(TlsFailed, match="CA bundle"):
        missing.send("GET", "https://127.0.0.1:1/", headers={}, timeout=TIMEOUT)
