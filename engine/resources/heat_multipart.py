"""OS::Heat::CloudConfig and OS::Heat::MultipartMime: boot-time configs for cloud-init user data,
stored as config rows by SoftwareConfig; a MultipartMime part may read another stored config."""

from __future__ import annotations

import email
import os
import re
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import yaml

from engine import secrets as sealing
from engine.resources.heat_software import SoftwareConfig
from engine.resources.schema import Prop
from engine.store.models import SoftwareConfig as ConfigRow

UUID_LIKE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_PART = Prop(
    "map",
    fields={
        "config": Prop("string", "the part's content, or the id of a software config to take it from", required=True),
        "filename": Prop("string", "file name given to the part"),
        "type": Prop(
            "string",
            "text: one part; multipart: splice in the parts of that MIME message",
            default="text",
            allowed=("text", "multipart"),
        ),
        "subtype": Prop("string", "MIME subtype (default: the file name without its extension)"),
    },
)


class CloudConfig(SoftwareConfig):
    """Stores `cloud_config` (a map) as the text `#cloud-config` followed by its YAML, group
    Heat::Ungrouped, for a server's `user_data` or a MultipartMime part. Boot-only: a change
    replaces it, and with it what uses it."""

    type_name = "OS::Heat::CloudConfig"
    properties_schema = {
        "cloud_config": Prop("map", "the cloud-config data structure, written out as YAML"),
    }

    def config_value(self, session):
        return "#cloud-config\n" + yaml.safe_dump(self.properties.get("cloud_config"), default_flow_style=False)


class MultipartMime(SoftwareConfig):
    """Assembles `parts` into one multipart MIME message (the config text, group `group`).

    A part's `config` is inline text, or the id of another software config whose config is
    used (an id that matches no config is kept as text). `type: multipart` splices in the
    parts of that MIME message instead. A part's subtype defaults to its file name without the
    extension; its charset is us-ascii, or utf-8 when the text needs it. Boot-only: a change
    replaces it, and with it what uses it."""

    type_name = "OS::Heat::MultipartMime"
    properties_schema = {
        "parts": Prop("list", "the parts of the message", default=[], item=_PART),
        "group": Prop("string", "the group stored with the message", default="Heat::Ungrouped"),
    }

    def config_value(self, session):
        parts: list[MIMEText] = []
        for item in self.properties.get("parts") or []:
            content = item["config"]
            if UUID_LIKE.match(content):
                row = session.get(ConfigRow, content)
                if row is not None:
                    content = sealing.open_value(self.runtime.keyring, row.body.get("config"))
            if (item.get("type") or "text") == "multipart":
                parts.extend(_split(content))
            else:
                parts.append(_part(content, item.get("subtype"), item.get("filename")))
        return MIMEMultipart(_subparts=parts).as_string()


def _part(content, subtype: str | None, filename: str | None) -> MIMEText:
    content = content if isinstance(content, str) else "" if content is None else str(content)
    if not subtype and filename:
        subtype = os.path.splitext(filename)[0]
    charset = "us-ascii" if content.isascii() else "utf-8"
    part = MIMEText(content, subtype, charset) if subtype else MIMEText(content, _charset=charset)
    if filename:
        part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _split(message) -> list[MIMEText]:
    """The parts of a multipart MIME text; nothing when it is not one (as in Heat)."""
    parsed = email.message_from_string(message) if isinstance(message, str) else None
    if parsed is None or not parsed.is_multipart():
        return []
    return [
        _part(
            p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8"),
            p.get_content_subtype(),
            p.get_filename(),
        )
        for p in parsed.get_payload()
    ]
