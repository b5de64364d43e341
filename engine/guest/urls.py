"""Every URL a guest is handed or calls, one function per shape; pure: no I/O, no clock, no store.

The guest API's routes (metadata_server/guest/) answer these paths; the agent keeps its own
copy (agent/config.py, agent/outbox.py) because it may not import the engine. `base` is the
installation's public URL (Runtime.public_url), with no trailing slash.
"""

from __future__ import annotations

GUEST_ROOT = "/guest/v1"


def guest_bases(public_url: str, guest_urls: str) -> list[str]:
    """The base URLs an agent is given, in the order it tries them: `public_url` first (what
    `base_url` holds for agents that know no other), then each of `guest_urls` (comma-separated:
    the other replicas' guest APIs), without trailing slashes or repeats."""
    bases: list[str] = []
    for url in [public_url, *guest_urls.split(",")]:
        url = url.strip().rstrip("/")
        if url and url not in bases:
            bases.append(url)
    return bases


def guest_root(base: str) -> str:
    """The guest API's root."""
    return f"{base}{GUEST_ROOT}"


def metadata_path(server_id: str) -> str:
    """A server's metadata long-poll (Hearth's own `hearth` collector)."""
    return f"{GUEST_ROOT}/servers/{server_id}/metadata"


def metadata_url(base: str, server_id: str) -> str:
    return base + metadata_path(server_id)


def collect_path(server_id: str) -> str:
    """POLL_TEMP_URL: a server's metadata through a signed URL (os-collect-config's `request`)."""
    return f"{GUEST_ROOT}/servers/{server_id}/collect"


def deployment_signal_path(entry_id: str) -> str:
    """A deployment run's signal (native and pre-signed alike); `entry_id` is its derived config."""
    return f"{GUEST_ROOT}/deployments/{entry_id}/signal"


def deployment_progress_path(entry_id: str) -> str:
    return f"{GUEST_ROOT}/deployments/{entry_id}/progress"


def handle_signal_path(handle_id: str) -> str:
    """A wait condition handle's signal with its bearer token (the `endpoint` attribute)."""
    return f"{GUEST_ROOT}/handles/{handle_id}/signal"


def handle_signal_url(base: str, handle_id: str) -> str:
    return base + handle_signal_path(handle_id)


def presigned_handle_path(handle_id: str) -> str:
    """A wait condition handle's signal through a pre-signed URL (the `signal` attribute)."""
    return f"/signal/{handle_id}"


def rotate_path() -> str:
    """Where a guest rotates its own credential."""
    return f"{GUEST_ROOT}/credentials/rotate"


def cfn_url(base: str) -> str:
    """POLL_SERVER_CFN: Heat's CloudFormation API root, as the `cfn` section names it."""
    return f"{base}/v1/"


def keystone_auth_url(base: str) -> str:
    """POLL_SERVER_HEAT and HEAT_SIGNAL: the guest Keystone's `auth_url`."""
    return f"{base}/identity/v3"


def heat_endpoint(base: str, project: str) -> str:
    """The `orchestration` endpoint a guest token's catalog names."""
    return f"{base}/v1/{project}"


def messaging_endpoint(base: str) -> str:
    """ZAQAR_MESSAGE / ZAQAR_SIGNAL: the `messaging` endpoint a guest token's catalog names;
    zaqarclient appends `/v2/queues/...` (heat-config-notify: `/v1.1/queues/...`)."""
    return f"{base}/messaging"


def swift_endpoint(base: str, project: str) -> str:
    """TEMP_URL_SIGNAL: the `object-store` endpoint a Keystone catalog names for `project`."""
    return f"{base}/v1/AUTH_{project}"
