"""engine/guest/'s seams, with literals: the URL shapes, the transports registry and its contract,
the one presign, handle-signal numbering, and the user-data scripts shipped as files."""

from __future__ import annotations

import ast
import datetime as dt
import importlib.resources
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.guest import credentials, signals, urls, userdata
from engine.guest.transports import SECTIONS, TRANSPORTS, cfn, heat, native_section, temp_url, zaqar
from engine.resources.server import TRANSPORTS as SCHEMA_TRANSPORTS
from engine.store.crypto import Keyring

BASE = "http://127.0.0.1:8000"


def test_each_guest_url_has_one_shape():
    assert urls.metadata_url(BASE, "s1") == f"{BASE}/guest/v1/servers/s1/metadata"
    assert urls.collect_path("s1") == "/guest/v1/servers/s1/collect"
    assert urls.deployment_signal_path("e1") == "/guest/v1/deployments/e1/signal"
    assert urls.deployment_progress_path("e1") == "/guest/v1/deployments/e1/progress"
    assert urls.handle_signal_url(BASE, "h1") == f"{BASE}/guest/v1/handles/h1/signal"
    assert urls.presigned_handle_path("h1") == "/signal/h1"
    assert urls.rotate_path() == "/guest/v1/credentials/rotate"
    assert urls.guest_root(BASE) == f"{BASE}/guest/v1"
    assert urls.cfn_url(BASE) == f"{BASE}/v1/"
    assert urls.keystone_auth_url(BASE) == f"{BASE}/identity/v3"
    assert urls.heat_endpoint(BASE, "p") == f"{BASE}/v1/p"
    assert urls.swift_endpoint(BASE, "p") == f"{BASE}/v1/AUTH_p"


def test_the_guest_routes_answer_the_url_shapes():
    """What the engine hands out is what the server routes (metadata_server/guest/)."""
    from metadata_server.guest import native, temp_url as temp_url_views

    routes = {rule for module in (native, temp_url_views) for rule in _routes(module.__file__)}
    assert "/guest/v1/servers/<server_id>/metadata" in routes
    assert urls.metadata_path("<server_id>") in routes
    assert urls.collect_path("<server_id>") in routes
    assert urls.deployment_signal_path("<entry_id>") in routes
    assert urls.deployment_progress_path("<entry_id>") in routes
    assert urls.handle_signal_path("<handle_id>") in routes
    assert urls.presigned_handle_path("<handle_id>") in routes
    assert urls.rotate_path() in routes


def _routes(path: str) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "post", "put", "route")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def test_the_registry_names_the_served_transports_each_owning_its_own_section():
    assert set(TRANSPORTS) == {"POLL_SERVER_CFN", "POLL_SERVER_HEAT", "POLL_TEMP_URL", "ZAQAR_MESSAGE"}
    assert {name: module.OWNS for name, module in TRANSPORTS.items()} == {
        "POLL_SERVER_CFN": "cfn",
        "POLL_SERVER_HEAT": "heat",
        "POLL_TEMP_URL": "request",
        "ZAQAR_MESSAGE": "zaqar",
    }
    assert TRANSPORTS["POLL_SERVER_CFN"] is cfn and TRANSPORTS["POLL_SERVER_HEAT"] is heat
    assert TRANSPORTS["POLL_TEMP_URL"] is temp_url and TRANSPORTS["ZAQAR_MESSAGE"] is zaqar
    for module in TRANSPORTS.values():
        assert module.OWNS in SECTIONS and callable(module.section)
    # The property accepts exactly the served transports.
    assert set(TRANSPORTS) == set(SCHEMA_TRANSPORTS)


def test_the_native_section_points_hearth_at_the_metadata_url():
    assert native_section(BASE, "s1") == {
        "collectors": ["hearth"],
        "hearth": {"metadata_url": f"{BASE}/guest/v1/servers/s1/metadata"},
    }


def test_presign_computes_the_expiry_from_now_as_utc_and_after_a_floor():
    keyring = Keyring("installation-secret")
    now = dt.datetime(2026, 12, 6, 5, 30, 33)  # noqa: DTZ001 - naive UTC, as stored
    epoch = int(now.replace(tzinfo=dt.UTC).timestamp())

    def expiry(url: str) -> int:
        return int(parse_qs(urlsplit(url).query)["expires"][0])

    url = credentials.presign(keyring, BASE, "POST", "/signal/h", now, 600)
    assert expiry(url) == epoch + 600
    assert url == credentials.signed_url(keyring, BASE, "POST", "/signal/h", epoch + 600)
    assert expiry(credentials.presign(keyring, BASE, "GET", "/x", now, 600, after=epoch + 600)) == epoch + 601
    assert expiry(credentials.presign(keyring, BASE, "GET", "/x", now, 600, after=epoch)) == epoch + 600


def test_handle_signal_numbers_skip_ids_a_signal_chose():
    assert signals.next_signal_number(set(), 0) == 1
    assert signals.next_signal_number({"1", "2"}, 2) == 3
    assert signals.next_signal_number({"a", "2", "3"}, 1) == 4
    assert signals.next_signal_number({"5"}, 4) == 6


SCRIPTS = ("cloud-config.yaml", "boothook.sh", "part-handler.py", "loguserdata.py")


def test_the_user_data_scripts_are_the_shipped_files_byte_for_byte():
    folder = importlib.resources.files("engine.guest").joinpath("scripts")
    shipped = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    assert shipped == sorted(SCRIPTS)
    for name, text in zip(
        SCRIPTS, (userdata.CLOUD_CONFIG, userdata.BOOTHOOK, userdata.PART_HANDLER, userdata.LOGUSERDATA), strict=True
    ):
        assert folder.joinpath(name).read_bytes() == text.encode("utf-8")
    blob = userdata.build("HEAT_CFNTOOLS", "echo hi", {"a": 1}, "s", BASE)
    for text in (userdata.BOOTHOOK, userdata.PART_HANDLER, userdata.LOGUSERDATA):
        assert text.splitlines()[2].encode() in blob.replace(b"=\n", b"")


@pytest.mark.parametrize("name", ["part-handler.py", "loguserdata.py"])
def test_the_python_scripts_compile(name):
    source = importlib.resources.files("engine.guest").joinpath("scripts", name).read_text()
    compile(source, name, "exec")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_boothook_parses_as_shell(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    path = importlib.resources.files("engine.guest").joinpath("scripts", "boothook.sh")
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
