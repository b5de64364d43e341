"""heatclient's TEMP_URL_SIGNAL against a real in-process server: the account's temp URL key, the
container and object writes heatclient makes, and a PUT to the temp URL it signs with that key,
which is the signal of the deployment naming the URL; forged, expired and foreign URLs are
refused. The signature is computed as python-swiftclient's generate_temp_url does."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

import requests

from tests.support import start_server, stop_server


def temp_url(base: str, key: str, path: str, expires: int | None = None, method: str = "PUT") -> str:
    expires = expires or int(time.time() + 3600)
    sig = hmac.new(key.encode(), f"{method}\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    return f"{base}{path}?temp_url_sig={sig}&temp_url_expires={expires}"


def deployment_with_signal_url(hearth, url: str, server: str = "nowhere-3") -> dict:
    """What `heat deployment-create` makes for TEMP_URL_SIGNAL: a derived config naming the URL
    and a deployment IN_PROGRESS (deployment_utils.build_derived_config_params)."""
    config = hearth.http.post(
        f"{hearth.api}/software_configs",
        timeout=10,
        json={
            "name": "dep",
            "group": "script",
            "config": "#!/bin/sh",
            "outputs": [{"name": "result"}],
            "inputs": [
                {"name": "deploy_signal_transport", "type": "String", "value": "TEMP_URL_SIGNAL"},
                {"name": "deploy_signal_id", "type": "String", "value": url},
                {"name": "deploy_signal_verb", "type": "String", "value": "PUT"},
            ],
        },
    ).json()["software_config"]
    return hearth.http.post(
        f"{hearth.api}/software_deployments",
        timeout=10,
        json={"config_id": config["id"], "server_id": server, "action": "UPDATE", "status": "IN_PROGRESS"},
    ).json()["software_deployment"]


def test_a_put_to_the_temp_url_signals_the_deployment_that_names_it(shared_hearth):
    hearth = shared_hearth
    account = f"{hearth.url}/v1/AUTH_admin"
    head = hearth.http.head(account, timeout=10)
    assert head.status_code == 204
    key = head.headers["X-Account-Meta-Temp-Url-Key"]
    assert hearth.http.head(account, timeout=10).headers["X-Account-Meta-Temp-Url-Key"] == key
    assert requests.head(account, timeout=10).status_code == 401  # no token
    assert hearth.http.post(account, headers={"X-Account-Meta-Temp-Url-Key": "mine"}, timeout=10).status_code == 204
    container = f"dep-{uuid.uuid4()}"
    assert hearth.http.put(f"{account}/{container}", timeout=10).status_code == 201
    path = f"/v1/AUTH_admin/{container}/{uuid.uuid4()}"
    assert hearth.http.put(f"{hearth.url}{path}", data="", timeout=10).status_code == 201
    url = temp_url(hearth.url, key, path)
    deployment = deployment_with_signal_url(hearth, url)

    signal = {"result": "via swift", "deploy_stdout": "out", "deploy_stderr": "", "deploy_status_code": 0}
    forged = url.replace("temp_url_sig=", "temp_url_sig=0")
    assert requests.put(forged, json=signal, timeout=10).status_code == 403
    expired = temp_url(hearth.url, key, path, expires=int(time.time()) - 5)
    assert requests.put(expired, json=signal, timeout=10).status_code == 403
    other_account = temp_url(hearth.url, key, path.replace("AUTH_admin", "AUTH_other"))
    assert requests.put(other_account, json=signal, timeout=10).status_code == 403
    shown = hearth.http.get(f"{hearth.api}/software_deployments/{deployment['id']}", timeout=10).json()
    assert shown["software_deployment"]["status"] == "IN_PROGRESS"

    # heat-config-notify's PUT: JSON with its Content-Type; Swift answers 201.
    answer = requests.put(url, json=signal, timeout=10)
    assert answer.status_code == 201, answer.text
    shown = hearth.http.get(f"{hearth.api}/software_deployments/{deployment['id']}", timeout=10).json()
    assert shown["software_deployment"]["status"] == "COMPLETE"
    assert shown["software_deployment"]["status_reason"] == "Outputs received"
    assert shown["software_deployment"]["output_values"] == signal

    # A valid URL that no deployment names is stored by Swift and read by nobody: 201, no effect.
    unused = temp_url(hearth.url, key, f"/v1/AUTH_admin/{container}/{uuid.uuid4()}")
    assert requests.put(unused, json={"deploy_status_code": 1}, timeout=10).status_code == 201


def test_a_guest_only_listener_takes_objects_through_temp_urls_only(tmp_path):
    from engine.config import Config
    from metadata_server import create_app

    main = start_server(tmp_path)
    try:
        config = Config.from_env({}, db_url=main.config.db_url, data_dir=main.config.data_dir)
        guest = create_app(config, main.service, orchestration=False).test_client()
        key = main.http.head(f"{main.url}/v1/AUTH_admin", timeout=10).headers["X-Account-Meta-Temp-Url-Key"]
        path = f"/v1/AUTH_admin/c-{uuid.uuid4()}/{uuid.uuid4()}"
        url = temp_url(main.url, key, path)
        deployment = deployment_with_signal_url(main, url)
        assert guest.put(path, headers={"X-Auth-Token": main.http.headers["X-Auth-Token"]}).status_code == 401
        assert guest.head("/v1/AUTH_admin").status_code == 404  # no account API for guests
        assert guest.put(url.removeprefix(main.url), json={"deploy_status_code": 0}).status_code == 201
        shown = main.http.get(f"{main.api}/software_deployments/{deployment['id']}", timeout=10).json()
        assert shown["software_deployment"]["status"] == "COMPLETE"
    finally:
        stop_server(main)
