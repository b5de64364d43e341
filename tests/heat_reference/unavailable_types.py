"""Record which of Heat's resource types need a cloud service, and what Heat answers for them.

    python -m tests.heat_reference.unavailable_types [--url BASE]   # writes engine/resources/unavailable.json

Heat registers some 200 types; the reference (no Nova, Neutron, Cinder, ...) refuses those whose
service is missing with ResourceTypeUnavailable, at `resource_types/TYPE` and at stack create,
each with its own reason. Hearth implements a subset; for the rest of Heat's names it answers as
this reference does, so a template written for a cloud fails the same clear way. The type names
come from the reference venv's registry, the answers from the running reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import requests

from engine.resources import types as hearth_types
from tests.heat_reference.reference import running_reference, venv

TARGET = Path(__file__).resolve().parents[2] / "engine" / "resources" / "unavailable.json"
LIST_TYPES = (
    "from heat.engine import resources; import json; "
    "print(json.dumps(sorted(resources.global_env().registry._registry)))"
)


def heat_type_names() -> list[str]:
    out = subprocess.run(
        [str(venv() / "bin" / "python"), "-W", "ignore", "-c", LIST_TYPES], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def record(base: str) -> dict:
    http = requests.Session()
    http.headers["X-Auth-Token"] = "reference"
    found = {}
    for name in heat_type_names():
        if name in hearth_types():
            continue
        shown = http.get(f"{base}/resource_types/{name}", timeout=30)
        if shown.status_code != 400 or shown.json()["error"]["type"] != "ResourceTypeUnavailable":
            continue
        body = {
            "stack_name": "unavailable-probe",
            "template": json.dumps({"heat_template_version": "2018-08-31", "resources": {"r": {"type": name}}}),
        }
        created = http.post(f"{base}/stacks", json=body, timeout=30)
        if created.status_code == 201:  # not refused after all: clean up, leave it out
            http.delete(created.json()["stack"]["links"][0]["href"], timeout=30)
            continue
        error = created.json().get("error") or {}
        if error.get("type") != "ResourceTypeUnavailable":
            print(f"{name}: create answers {created.status_code} {error.get('type')}: left out", file=sys.stderr)
            continue
        found[name] = _parsed(name, shown.json()["error"]["message"], error["message"])
    return found


def _parsed(name: str, show: str, create: str) -> dict:
    """The service and its endpoint's words, which Heat's two messages are built from (and
    engine.resources.unavailable builds them again); the messages are checked to be that."""
    prefix = "HEAT-E99001 Service "
    service = create[len(prefix) :].split(" ", 1)[0]
    endpoint = create.split("reason: ", 1)[1].removesuffix(" endpoint is not in service catalog.")
    expected_show = (
        f"{prefix}{service} is not available for resource type {name}, reason: Service endpoint not in service catalog."
    )
    if not create.startswith(prefix) or show != expected_show:
        raise SystemExit(f"{name}: Heat's messages changed shape: {show!r} / {create!r}")
    return {"service": service, "endpoint": endpoint}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running reference's /v1/{project} base")
    args = parser.parse_args(argv)
    if args.url:
        found = record(args.url)
    else:
        with running_reference() as base:
            found = record(base)
    TARGET.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"{len(found)} types need a service the reference lacks; written to {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
