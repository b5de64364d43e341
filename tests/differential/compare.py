"""Compare Hearth with what real Heat answered: `python -m tests.differential.compare [-k REGEX] [-v]`.

Runs the selected cases against a fresh Hearth server on 127.0.0.1 and prints, per case, MATCH
or DIFF (with a unified diff of the normalised observations under -v), then the counts. The
pytest suite (`test_differential.py`) makes the same comparison, one test per case.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.differential.harness import Case, Endpoint, canonical, dump, load_cases, run_case


def expected(case: Case) -> list | None:
    if not case.expected_path.exists():
        return None
    return json.loads(case.expected_path.read_text())["observations"]


def _messages_within(want: list, actual: list) -> list:
    """Hearth's error messages may say more than Heat's (the file and line a template error is
    on): an error whose message contains Heat's whole message counts as the same message, and
    where Heat said nothing (an error it raised without one) any message does."""
    actual = json.loads(json.dumps(actual))
    for heat, hearth in zip(want or [], actual, strict=False):
        wanted = (heat.get("answer") or {}).get("error") or {}
        got = (hearth.get("answer") or {}).get("error") or {}
        if "message" in wanted and wanted["message"] is None and got:
            got["message"] = None
        if (
            isinstance(wanted.get("message"), str)
            and isinstance(got.get("message"), str)
            and wanted["message"] in got["message"]
        ):
            got["message"] = wanted["message"]
    return actual


def diff(case: Case, actual: list) -> str:
    want = canonical(expected(case))
    actual = _messages_within(want, canonical(actual))
    if want == actual:
        return ""
    return "".join(
        difflib.unified_diff(
            dump(want).splitlines(True), dump(actual).splitlines(True), f"heat/{case.name}", f"hearth/{case.name}", n=4
        )
    )


def run_all(cases: list[Case], endpoint: Endpoint, jobs: int = 4) -> dict[str, list | BaseException]:
    def one(case):
        try:
            return case.name, run_case(case, endpoint)
        except Exception as error:  # noqa: BLE001 - reported per case
            return case.name, error

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, cases))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="pattern")
    parser.add_argument("-v", dest="verbose", action="store_true")
    parser.add_argument("-j", dest="jobs", type=int, default=4)
    args = parser.parse_args(argv)
    from tests.differential.hearth_side import running_hearth

    cases = load_cases(args.pattern)
    with running_hearth() as endpoint:
        results = run_all(cases, endpoint, args.jobs)
    matched = 0
    for case in cases:
        result = results[case.name]
        if isinstance(result, BaseException):
            print(f"ERROR {case.name}: {result!r}")
            continue
        text = diff(case, result)
        if not text:
            matched += 1
            print(f"MATCH {case.name}")
        else:
            print(f"DIFF  {case.name}")
            if args.verbose:
                print(text)
    print(f"{matched} of {len(cases)} cases match")
    return 0 if matched == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
