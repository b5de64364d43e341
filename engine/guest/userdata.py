"""A server's boot user data, packaged as Heat packages it for `user_data_format`; reads software
configs from the store and its own scripts from the package, writes nothing.

RAW hands `user_data` over unchanged. SOFTWARE_CONFIG and HEAT_CFNTOOLS build Heat's
multipart MIME for cloud-init: a cloud-config part, a boothook, a part-handler for
`text/x-cfninitdata`, the user's own part(s), and `cfn-init-data` holding the server's
metadata JSON, so a stock image's os-collect-config finds its first metadata (and with it the
transport to poll) in /var/lib/heat-cfntools/cfn-init-data exactly as under Heat.
HEAT_CFNTOOLS adds `cfn-userdata`, `loguserdata.py`, `cfn-metadata-server` and `cfn-boto-cfg`
for heat-cfntools images. The helper scripts are files in engine/guest/scripts/ (so they are
linted and checked as what they are), Hearth's own, doing what Heat's do.
"""

from __future__ import annotations

import email
import json
import os
import re
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from engine import secrets, software_formats
from engine.store.models import SoftwareConfig as ConfigRow

FORMATS = ("HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG")
UUID_LIKE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# Nova refuses user data larger than this once base64-encoded.
NOVA_LIMIT_BASE64 = 65535


def script(name: str) -> str:
    """A guest-side helper script shipped beside this module (engine/guest/scripts/), as the
    text that goes into the user data: these are Hearth's own, doing what Heat's do."""
    return resources.files("engine.guest").joinpath("scripts", name).read_bytes().decode("utf-8")


# Read at import: a package that lacks one fails at once, not at a server's first boot.
CLOUD_CONFIG = script("cloud-config.yaml")
BOOTHOOK = script("boothook.sh")
PART_HANDLER = script("part-handler.py")
LOGUSERDATA = script("loguserdata.py")


class UserDataError(ValueError):
    """The template's user_data cannot be packaged as asked."""


def build(
    user_data_format: str,
    user_data: str | None,
    metadata: dict[str, Any] | None,
    server_name: str = "",
    cfn_metadata_url: str = "",
    instance_user: str = "",
) -> bytes:
    """The bytes a compute driver hands the server as user data.

    `metadata` is what goes into `cfn-init-data` (omitted when empty, as Heat does);
    `cfn_metadata_url` is the CFN API base URL HEAT_CFNTOOLS images are told about;
    `instance_user` is a user cloud-init creates (`ec2-user` for AWS::EC2::Instance, as Heat
    does: `user:` in the cloud-config, and `useradd` in the boothook for old cloud-init).
    """
    if user_data_format not in FORMATS:
        raise UserDataError(
            f"server {server_name}: user_data_format must be one of {', '.join(FORMATS)}, not {user_data_format!r}"
        )
    user_data = "" if user_data is None else user_data
    if user_data_format == "RAW":
        return user_data.encode("utf-8")
    cfntools = user_data_format == "HEAT_CFNTOOLS"
    cloud_config, boothook = CLOUD_CONFIG, BOOTHOOK
    if instance_user:
        cloud_config = CLOUD_CONFIG.replace("\n", f"\nuser: {instance_user}\n", 1)
        # A boothook runs at every boot: add the user (and its sudoers line) only once. printf,
        # not Heat's `echo -e`, which /bin/sh (dash) would print.
        boothook = BOOTHOOK.replace(
            "\n",
            (
                f"\nid -u {instance_user} >/dev/null 2>&1 || {{ useradd -m {instance_user} && "
                f"printf '%s\\tALL=(ALL)\\tNOPASSWD: ALL\\n' {instance_user} >> /etc/sudoers; }}\n"
            ),
            1,
        )
    parts = [
        _part(cloud_config, "cloud-config"),
        _part(boothook, "boothook.sh", "cloud-boothook"),
        _part(PART_HANDLER, "part-handler.py"),
    ]
    if cfntools:
        parts.append(_part(user_data, "cfn-userdata", "x-cfninitdata"))
        parts.append(_part(LOGUSERDATA, "loguserdata.py", "x-shellscript"))
    else:
        parts.extend(_user_parts(user_data))
    if metadata:
        parts.append(_part(json.dumps(metadata), "cfn-init-data", "x-cfninitdata"))
    if cfntools:
        parts.append(_part(cfn_metadata_url, "cfn-metadata-server", "x-cfninitdata"))
        parts.append(_part(_boto_config(cfn_metadata_url), "cfn-boto-cfg", "x-cfninitdata"))
    return MIMEMultipart(_subparts=parts).as_bytes()


def for_server(
    runtime, properties: dict[str, Any], metadata: dict[str, Any], server_name: str, instance_user: str = ""
) -> bytes:
    """build() for a server resource: resolves a software-config id in `user_data` (RAW and
    SOFTWARE_CONFIG, as Heat does), gives HEAT_CFNTOOLS only the template metadata, and
    points cfntools at the CFN URL the metadata's os-collect-config section names, if any."""
    fmt = properties.get("user_data_format") or "HEAT_CFNTOOLS"
    user_data = properties.get("user_data") or ""
    if fmt in ("RAW", "SOFTWARE_CONFIG") and UUID_LIKE.match(user_data):
        loaded = _load_config(runtime, user_data)
        user_data = user_data if loaded is None else loaded
    metadata = secrets.open_document(runtime.keyring, metadata or {})
    if fmt == "HEAT_CFNTOOLS":
        metadata = {k: v for k, v in metadata.items() if k not in ("deployments", "os-collect-config")}
    occ = metadata.get("os-collect-config") or {}
    cfn_url = (occ.get("cfn") or {}).get("metadata_url") or runtime.public_url
    # Heat's `cfn-metadata-server` is the CFN server's root, without `/v1/`: cfntools takes the
    # port from after its last ':' and os-collect-config's cfn collector appends `/v1/` itself.
    cfn_root = re.sub(r"/v1/?$", "", cfn_url.rstrip("/"))
    return build(fmt, user_data, metadata, server_name, cfn_metadata_url=cfn_root, instance_user=instance_user)


def _load_config(runtime, config_id: str) -> str | None:
    """The text of software config `config_id` (opened if sealed); None if there is no such config."""
    with runtime.store.session() as session:
        row = session.get(ConfigRow, config_id)
        if row is None:
            return None
        config = software_formats.format_config(row, runtime.keyring)["config"]
    return config if isinstance(config, str) or config is None else json.dumps(config)


def _part(content: str | None, filename: str, subtype: str | None = None) -> MIMEText:
    """One attachment; the subtype defaults to the file name without its extension, and an
    empty subtype means text/plain (cloud-init then goes by the content's first line)."""
    content = "" if content is None else content if isinstance(content, str) else str(content)
    if subtype is None:
        subtype = os.path.splitext(filename)[0]
    charset = "us-ascii" if content.isascii() else "utf-8"
    part = MIMEText(content, subtype, charset) if subtype else MIMEText(content, _charset=charset)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _user_parts(user_data: str) -> list[MIMEText]:
    """A multipart user_data gives each of its parts; anything else is one text/plain part."""
    parsed = email.message_from_string(user_data) if user_data else None
    if parsed is None or not parsed.is_multipart():
        return [_part(user_data, "")]
    out = []
    for part in parsed.get_payload():
        raw = part.get_payload(decode=True) or b""
        text = raw.decode(part.get_content_charset() or "utf-8", errors="replace")
        out.append(_part(text, part.get_filename() or "", part.get_content_subtype()))
    return out


def _boto_config(cfn_metadata_url: str) -> str:
    """boto's settings for heat-cfntools: the CFN host and whether to use TLS."""
    url = urlsplit(cfn_metadata_url)
    secure = url.scheme == "https"
    return "\n".join(
        [
            "[Boto]",
            "debug = 0",
            f"is_secure = {secure}",
            "https_validate_certificates = True",
            "cfn_region_name = heat",
            f"cfn_region_endpoint = {url.hostname or ''}",
        ]
    )
