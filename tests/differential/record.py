"""Record what real Heat answers for every differential case (`make record-heat`).

    python -m tests.differential.record [--url http://127.0.0.1:18104/v1/admin] [-k REGEX] [-j 4]

Without `--url` it starts the pinned reference Heat (tests/heat_reference/reference.py) on a free
port, records, and stops it; cases marked `identity: true` are recorded on a second reference
that has a stand-in Keystone (with `--url`, that Heat must have one for them). Each case's answer is written to expected/<case>.json. A case
marked `difference:` (Heat's behaviour is a defect we do not copy, see docs/heat-differences.md)
keeps Heat's answer under `heat` and Hearth's under `observations`, recorded with `--hearth`.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed

from tests.differential.harness import HEAT_VERSION, Endpoint, dump, load_cases, run_case


def record(cases, endpoint: Endpoint, jobs: int, side: str) -> int:
    failures = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_case, case, endpoint): case for case in cases}
        for future in as_completed(futures):
            case = futures[future]
            try:
                observations = future.result()
            except Exception:  # noqa: BLE001 - report the case and go on with the others
                failures += 1
                print(f"ERROR {case.name}\n{traceback.format_exc()}", file=sys.stderr)
                continue
            path = case.expected_path
            path.parent.mkdir(parents=True, exist_ok=True)
            existing = json.loads(path.read_text()) if path.exists() else {}
            if side == "heat":
                document = {"case": case.name, "recorded_from": HEAT_VERSION}
                if case.spec.get("difference"):
                    document["heat"] = observations
                    document["difference"] = case.spec["difference"]
                    document["observations"] = existing.get("observations", observations)
                else:
                    document["observations"] = observations
            else:
                if not case.spec.get("difference"):
                    print(f"skip {case.name}: not marked `difference`", file=sys.stderr)
                    continue
                document = {
                    **existing,
                    "case": case.name,
                    "difference": case.spec["difference"],
                    "observations": observations,
                }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(dump(document))
            tmp.replace(path)
            print(f"recorded {case.name}", flush=True)
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running Heat's /v1/{project} base")
    parser.add_argument("--token", default="reference")
    parser.add_argument("-k", dest="pattern", help="only cases whose name matches this regex")
    parser.add_argument("-j", dest="jobs", type=int, default=4)
    parser.add_argument(
        "--hearth", action="store_true", help="record Hearth's answer for the cases marked `difference`"
    )
    args = parser.parse_args(argv)
    cases = load_cases(args.pattern)
    if args.hearth:
        from tests.differential.hearth_side import running_hearth

        with running_hearth() as endpoint:
            return 1 if record([c for c in cases if c.spec.get("difference")], endpoint, args.jobs, "hearth") else 0
    if args.url:
        return 1 if record(cases, Endpoint(args.url, {"X-Auth-Token": args.token}), args.jobs, "heat") else 0
    from tests.heat_reference.reference import running_reference

    failures = 0
    for identity in (False, True):
        chosen = [c for c in cases if bool(c.spec.get("identity")) == identity]
        if chosen:
            with running_reference(identity=identity) as base:
                failures += record(chosen, Endpoint(base, {"X-Auth-Token": args.token}), args.jobs, "heat")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
