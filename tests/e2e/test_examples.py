"""End to end: each example in examples/templates creates, shows its expected outputs, deletes.

They run on one real server with real agents, each sent the way `hearth stack create` sends it.

An example is a template at the top of the folder (`name.yaml`, `name.template`) with its sidecar
`name.expect.yaml`, or a folder `name/` holding `name.yaml` (or `.template`), its sidecar, its
environments and its files. The sidecar says what to send and what to find:

    environment: [base.env.yaml, production.env.yaml]   # -e files, in order, beside the template
    parameters: {web_count: "3"}                         # --parameter values (strings, as typed)
    expect:                                              # output name -> expected value or matchers
      sizing: {web: {flavor: m1.small, count: 3}}        # a plain value must be equal, type and all
      token: {matches: "^[0-9a-f]{40}$"}                 # a map of matcher names applies each one
      token_ref: {equals_output: token}                  # the same value as another output

Every stack is created before the first test runs, so they all progress at once on the shared
server; each test then waits for its own, checks it and deletes it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from engine.cli.stack_request import stack_body
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "examples" / "templates"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".template", ".json")
SIDECAR_SUFFIX = ".expect.yaml"
ENVIRONMENT_SUFFIX = ".env.yaml"
# Every stack is launched at once; the slowest example (a few agents, a wait condition) settles
# well inside this, and a stack still in progress after it is a failure to report, not to wait on.
SETTLE_SECONDS = 120
STACK_TIMEOUT_MINUTES = 5


@dataclass(frozen=True)
class Example:
    name: str
    template: Path
    sidecar: Path
    environment: tuple[Path, ...] = ()
    parameters: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        return f"ex-{self.name}"


def _is_template(path: Path) -> bool:
    return (
        path.is_file()
        and path.name.endswith(TEMPLATE_SUFFIXES)
        and not path.name.endswith((SIDECAR_SUFFIX, ENVIRONMENT_SUFFIX))
    )


def _main_template(folder: Path) -> Path:
    for suffix in TEMPLATE_SUFFIXES:
        if (folder / f"{folder.name}{suffix}").is_file():
            return folder / f"{folder.name}{suffix}"
    raise AssertionError(f"{folder}: an example folder holds its main template as {folder.name}.yaml")


def _example(name: str, template: Path) -> Example:
    sidecar = template.parent / f"{name}{SIDECAR_SUFFIX}"
    data = yaml.safe_load(sidecar.read_text()) if sidecar.is_file() else None
    data = data or {}
    unknown = set(data) - {"environment", "parameters", "expect"}
    assert not unknown, f"{sidecar}: unknown keys {sorted(unknown)}"
    return Example(
        name=name,
        template=template,
        sidecar=sidecar,
        environment=tuple(template.parent / e for e in data.get("environment") or ()),
        parameters={k: str(v) for k, v in (data.get("parameters") or {}).items()},
        expect=data.get("expect") or {},
    )


def discover() -> list[Example]:
    examples = []
    for entry in sorted(EXAMPLES.iterdir()):
        if entry.is_dir():
            examples.append(_example(entry.name, _main_template(entry)))
        elif _is_template(entry):
            examples.append(_example(entry.name.rsplit(".", 1)[0], entry))
    return examples


ALL = discover()


# --- what an output must be -------------------------------------------------------------------


def _canonical(value) -> str:
    """JSON text that tells 1 from true and "3" from 3, and ignores key order."""
    return json.dumps(value, sort_keys=True)


def _all_strings(value) -> list[str]:
    return value if isinstance(value, list) else [value]


MATCHERS = {
    "equals": lambda want, got: _canonical(got) == _canonical(want),
    "matches": lambda want, got: isinstance(got, str) and re.search(want, got) is not None,
    "contains": lambda want, got: isinstance(got, (str, list)) and all(item in got for item in _all_strings(want)),
    "json": lambda want, got: isinstance(got, str) and _parses_to(got, want),
    "length": lambda want, got: hasattr(got, "__len__") and len(got) == want,
    "items_match": lambda want, got: (
        isinstance(got, list) and all(isinstance(i, str) and re.search(want, i) for i in got)
    ),
}


def _parses_to(text: str, want) -> bool:
    try:
        return _canonical(json.loads(text)) == _canonical(want)
    except ValueError:
        return False


def mismatch(want, got, outputs: dict) -> str | None:
    """Why `got` is not what `want` describes, or None when it is; `outputs` are all the values."""
    if isinstance(want, dict) and want and set(want) <= MATCHERS.keys() | {"equals_output"}:
        failed = [
            name
            for name, expected in want.items()
            if not (
                _canonical(got) == _canonical(outputs.get(expected))
                if name == "equals_output"
                else MATCHERS[name](expected, got)
            )
        ]
        return f"{failed} of {want!r} failed for {got!r}" if failed else None
    return None if _canonical(got) == _canonical(want) else f"expected {want!r}, got {got!r}"


# --- the shared run ---------------------------------------------------------------------------


@dataclass
class Launch:
    status: int
    message: str
    started: float


@pytest.fixture(scope="module")
def launched(shared_hearth, request) -> dict[str, Launch]:
    """POST the create of every selected example at once, as `hearth stack create -t -e
    --parameter` would."""
    selected = {
        item.callspec.params["example"].name
        for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
    }
    launches = {}
    for example in (e for e in ALL if e.name in selected):
        body = stack_body(
            example.stack_name,
            str(example.template),
            [str(e) for e in example.environment],
            example.parameters,
            timeout_mins=STACK_TIMEOUT_MINUTES,
        )
        response = shared_hearth.http.post(f"{shared_hearth.api}/stacks", json=body, timeout=60)
        message = "" if response.status_code == 201 else _error_message(response)
        launches[example.name] = Launch(response.status_code, message, time.monotonic())
    return launches


def _error_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text


def _unfinished_resources(hearth, name: str) -> list[str]:
    return [
        f"{r['resource_name']} ({r['resource_type']}) {r['resource_status']}: {r['resource_status_reason']}"
        for r in hearth.resources(name).values()
        if r["resource_status"].endswith(("FAILED", "IN_PROGRESS"))
    ]


def _settle(hearth, name: str, started: float) -> dict:
    deadline = max(started + SETTLE_SECONDS - time.monotonic(), 5)

    def settled():
        stack = hearth.stack(name)
        return stack if not stack["stack_status"].endswith("IN_PROGRESS") else None

    try:
        return wait_for(settled, deadline, 0.1, f"stack {name} to settle")
    except AssertionError:
        return hearth.stack(name)


def _delete(hearth, name: str) -> str:
    """Delete and wait; the final status, or why the delete could not be asked for."""
    stack = hearth.stack(name)
    response = hearth.http.delete(f"{hearth.api}/stacks/{name}/{stack['id']}", timeout=30)
    if response.status_code != 204:
        return f"delete refused ({response.status_code}): {_error_message(response)}"

    def gone():
        shown = hearth.stack(stack["id"])
        return shown if shown["stack_status"] in ("DELETE_COMPLETE", "DELETE_FAILED") else None

    try:
        final = wait_for(gone, 90, 0.1, f"stack {name} to be deleted")
    except AssertionError as error:
        return str(error)
    return final["stack_status"] + (
        "" if final["stack_status"] == "DELETE_COMPLETE" else f": {final['stack_status_reason']}"
    )


@pytest.mark.parametrize("example", ALL, ids=[e.name for e in ALL])
def test_example_creates_gives_its_outputs_and_deletes(example, launched, shared_hearth):
    hearth = shared_hearth
    assert example.sidecar.is_file(), f"{example.template}: no sidecar {example.sidecar.name}"
    assert example.expect, f"{example.sidecar}: expects no output, so it proves nothing"
    launch = launched[example.name]
    if launch.status != 201:
        pytest.fail(f"create refused ({launch.status}): {launch.message}", pytrace=False)
    problems = []
    try:
        stack = _settle(hearth, example.stack_name, launch.started)
        if stack["stack_status"] != "CREATE_COMPLETE":
            problems.append(f"{stack['stack_status']}: {stack['stack_status_reason']}")
            problems += _unfinished_resources(hearth, example.stack_name)
        else:
            outputs = {o["output_key"]: o for o in stack.get("outputs") or []}
            values = {key: o.get("output_value") for key, o in outputs.items()}
            for key, want in example.expect.items():
                output = outputs.get(key, {})
                if output.get("output_error"):
                    problems.append(f"output {key}: error: {output['output_error']}")
                    continue
                why = mismatch(want, output.get("output_value"), values)
                if why:
                    problems.append(f"output {key}: {why}")
    finally:
        deleted = _delete(hearth, example.stack_name)
    if deleted != "DELETE_COMPLETE":
        problems.append(f"delete: {deleted}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_every_example_says_which_feature_it_shows_and_is_listed():
    assert len(ALL) >= 30
    readme = (EXAMPLES / "README.md").read_text()
    for example in ALL:
        template = yaml.safe_load(example.template.read_text())
        description = template.get("description") or template.get("Description") or ""
        assert description.startswith("Feature:"), f"{example.template}: description must start 'Feature:'"
        assert f"| `{example.name}` |" in readme, f"{example.name} is not in examples/templates/README.md"
        for environment in example.environment:
            assert environment.is_file(), f"{example.sidecar}: no environment file {environment}"
