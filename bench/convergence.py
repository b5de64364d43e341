#!/usr/bin/env python3
"""How long a change takes to reach every server: a real `hearth server` (SQLite, the local compute
driver: every server a real agent process with the script hook), a group of `--servers` servers
each with a deployment of one input; `--updates` updates change the input, and each one's
`hearth stack converge-report` is read (docs/convergence.md).

Prints, per update and over all of them, the time from each entry's commit to its delivery, to
its hook's start and to its signal (per server: first commit to last signal). Asserts nothing.

    .venv/bin/python bench/convergence.py --servers 10 --updates 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from local_server import hearth, local_server, until  # noqa: E402
from machine import describe, percentile  # noqa: E402

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  version: {type: string, default: "0"}
  count: {type: number}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs: [{name: version}]
      config: |
        #!/bin/sh
        echo "applying $version"
  servers:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: count}
      resource_def:
        type: OS::Nova::Server
        properties: {image: any, flavor: any, user_data_format: SOFTWARE_CONFIG}
  deploy:
    type: OS::Heat::SoftwareDeploymentGroup
    properties:
      config: {get_resource: config}
      servers: {get_attr: [servers, refs_map]}
      input_values: {version: {get_param: version}}
"""


def figures(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:>22}: -"
    ordered = sorted(values)
    return (
        f"{name:>22}: p50 {percentile(ordered, 0.5) * 1000:7.0f} ms  p90 {percentile(ordered, 0.9) * 1000:7.0f} ms"
        f"  max {ordered[-1] * 1000:7.0f} ms  (n={len(ordered)})"
    )


def collect(report: dict) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"delivered": [], "started": [], "finished": [], "server converged": []}
    for server in report["servers"]:
        if server["converge_seconds"] is not None:
            found["server converged"].append(server["converge_seconds"])
        for entry in server["deployments"]:
            for key, value in (
                ("delivered", entry["delivery_seconds"]),
                ("started", entry["started_seconds"]),
                ("finished", entry["converge_seconds"]),
            ):
                if value is not None:
                    found[key].append(value)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--updates", type=int, default=3)
    args = parser.parse_args()
    with local_server("hearth-bench-converge-") as (env, tmp, db):
        template = Path(tmp) / "fleet.yaml"
        template.write_text(TEMPLATE)
        for line in describe(db):
            print(line)
        print(f"{args.servers} servers (real agents, script hook), {args.updates} updates of one input")
        hearth(env, "stack", "create", "fleet", "-t", str(template), "--parameter", f"count={args.servers}", "--wait")
        overall: dict[str, list[float]] = {}
        for n in range(1, args.updates + 1):
            hearth(env, "stack", "update", "fleet", "--existing", "--parameter", f"version={n}", "--wait")

            def delivered() -> dict | None:
                report = json.loads(hearth(env, "stack", "converge-report", "fleet", "-f", "json"))
                return report if report["summary"]["delivered"] == report["summary"]["servers"] else None

            report = until(delivered, 30, "the deliveries to be recorded")
            spread = report["summary"]["time_to_converge"]
            print(
                f"update {n} ({report['operation']}): {report['summary']['complete']}/{report['summary']['servers']}"
                f" complete; time to converge p50 {spread['p50']} s, p90 {spread['p90']} s, max {spread['max']} s"
            )
            for key, values in collect(report).items():
                overall.setdefault(key, []).extend(values)
        print("from each entry's commit, over all updates:")
        for key, values in overall.items():
            print(figures(key, values))
        hearth(env, "stack", "delete", "fleet", "--wait")
    return 0


if __name__ == "__main__":
    sys.exit(main())
