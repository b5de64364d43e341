"""Hostile requests for the no-5xx property tests: a route (method, path, the credential it
needs, a body that it would accept) and hypothesis strategies that spoil one part of it: a
query parameter set to a bad number, a body nested thousands of levels deep, a body whose
values have the wrong JSON types or are not JSON at all, a path segment, or a header that is
huge. `check` is the property: no 5xx, and every error is the JSON envelope with a message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from hypothesis import HealthCheck, settings, strategies as st

# Moderate and derandomised (the same cases in CI as here); each family runs in seconds.
EXAMPLES = 300
HOSTILE = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)

# Query parameters read as numbers somewhere in the server, tried on every route.
NUMBER_PARAMS = (
    "limit",
    "marker",
    "wait",
    "since",
    "nested_depth",
    "expires",
    "temp_url_expires",
    "timeout",
    "timeout_mins",
)
BAD_NUMBERS = [
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "1e400",
    "-1e400",
    "1e-400",
    "1e308",
    "-1",
    "-0",
    "0",
    "1.5",
    "0.5",
    "0x1F",
    "1_000",
    "1e3",
    "+5",
    "",
    " ",
    "-",
    ".",
    "\u0663",
    "\u00b2",
    "\uff11",
    "1e",
    "9" * 5000,
    "-" + "9" * 5000,
    "0." + "0" * 5000 + "1",
    "2147483648",
    "9223372036854775808",
    "1" * 31,
]
TIMES = [
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999Z",
    "2026-13-45T99:99:99",
    "now",
    "",
    "1" * 5000,
]
DEPTHS = [101, 1000, 5000]
# Texts that the server parses as YAML (templates, environments, files) or JSON (parameters).
DEEP_VALUE = (
    "heat_template_version: 2018-08-31\nresources:\n  v:\n    type: OS::Heat::Value\n    properties:\n      value: "
)
TEXTS = [
    "[" * 5000 + "]" * 5000,
    "{a: " * 400 + "1" + "}" * 400,
    DEEP_VALUE + "[" * 350 + "1" + "]" * 350,
    DEEP_VALUE + "[" * 99 + "1" + "]" * 99,
    "a: &a [" + "*a, " * 50 + "]",
    "x: &x [1, 1]\n" + "".join(f"x{i}: &x{i} [*x{i - 1 if i else ''}, *x{i - 1 if i else ''}]\n" for i in range(40)),
    "heat_template_version: 2018-08-31\nparameters:\n  p: {type: json, default: '" + "[" * 3000 + "]" * 3000 + "'}\n",
]
PLACEHOLDER = "\u0000hostile\u0000"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([2**63, -(2**63) - 1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(BAD_NUMBERS + TIMES + TEXTS)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
numbers = (
    st.sampled_from(BAD_NUMBERS) | st.integers(-(2**80), 2**80).map(str) | st.floats().map(repr) | st.text(max_size=16)
)


@dataclass(frozen=True)
class Route:
    """One request a route would accept: spoiled by the strategies below."""

    method: str
    path: str  # from the server's root, ids filled in; may carry a query (pre-signed URLs)
    body: Any = None  # JSON a valid request sends; None: the route reads no body
    params: tuple[str, ...] = ()  # query parameters the route reads
    headers: dict[str, str] = field(default_factory=dict, hash=False)  # its credential


@dataclass
class Hostile:
    route: Route
    spoiled: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def __repr__(self) -> str:  # what hypothesis prints for a failing case, kept short
        body = (self.body or b"")[:200]
        params = {k: v[:60] for k, v in self.params.items()}
        headers = {k: v[:60] for k, v in self.headers.items()}
        return (
            f"Hostile({self.route.method} {self.path[:120]}, spoiled={self.spoiled}, "
            f"params={params}, headers={headers}, body={body!r})"
        )


def deep_text(levels: int, kind: str) -> str:
    if kind == "array":
        return "[" * levels + "]" * levels
    return '{"a":' * levels + "0" + "}" * levels


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value a spoiled value can go (the root is ())."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, prefix + (index,))
    return found


def _put(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    holder = copy
    for segment in path[:-1]:
        holder = holder[segment]
    holder[path[-1]] = new
    return copy


def _drop(value: Any, path: tuple) -> Any:
    copy = json.loads(json.dumps(value))
    holder = copy
    for segment in path[:-1]:
        holder = holder[segment]
    del holder[path[-1]]
    return copy


def _with_text(body: Any, path: tuple, text: str) -> bytes:
    """`body` with raw JSON text (not valid as a Python value) at `path`."""
    if not path:
        return text.encode()
    marked = json.dumps(_put(body, path, PLACEHOLDER))
    return marked.replace(json.dumps(PLACEHOLDER), text, 1).encode()


@st.composite
def spoiled_body(draw, body: Any) -> tuple[str, bytes]:
    base = body if body is not None else {}
    where = draw(st.sampled_from(_paths(base)))
    kind = draw(st.sampled_from(["deep", "type", "drop", "extra", "not json", "numbers"]))
    if kind == "deep":
        levels, shape = draw(st.sampled_from(DEPTHS)), draw(st.sampled_from(["array", "object"]))
        return f"deep {shape} x{levels} at {where}", _with_text(base, where, deep_text(levels, shape))
    if kind == "type":
        return f"wrong type at {where}", json.dumps(_put(base, where, draw(json_values))).encode()
    if kind == "drop" and where:
        return f"missing {where}", json.dumps(_drop(base, where)).encode()
    if kind == "extra" and isinstance(base, dict):
        key = draw(st.text(min_size=1, max_size=12))
        return f"unknown key {key!r}", json.dumps({**base, key: draw(json_values)}).encode()
    if kind == "numbers":
        text = draw(
            st.sampled_from(
                [
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "1e400",
                    "-1e400",
                    "9" * 5000,
                    "-" + "9" * 5000,
                    "1" + "0" * 400 + ".5",
                ]
            )
        )
        return f"bad JSON number {text[:12]} at {where}", _with_text(base, where, text)
    raw = draw(
        st.sampled_from(
            [
                b"",
                b"null",
                b"{",
                b'{"a": }',
                b"\xff\xfe{}",
                json.dumps(base).encode("utf-16"),
                b"\xc3\x28",
                b"[" * 100000,
                b'"' + b"\\" * 3000,
                b"{'single': 'quotes'}",
                json.dumps(base).encode()[:-1],
            ]
        )
        | st.binary(max_size=64)
    )
    return "not JSON", raw


@st.composite
def spoiled_headers(draw, route: Route) -> tuple[str, dict[str, str]]:
    kind = draw(st.sampled_from(["huge", "many", "etag", "subject", "credential", "type"]))
    if kind == "huge":
        size = draw(st.sampled_from([8 * 1024, 70000]))
        return f"a {size}-byte header", {"X-Hostile": "a" * size}
    if kind == "many":
        return "120 headers", {f"X-Hostile-{i}": "1" for i in range(120)}
    if kind == "etag":
        return "If-None-Match", {
            "If-None-Match": draw(
                st.sampled_from(['"' + "9" * 5000 + '"', "9" * 5000, '"\u00b2"', '"-1"', 'W/"3"', "*", '"1e400"'])
            )
        }
    if kind == "subject":
        return "X-Subject-Token", {
            "X-Subject-Token": draw(
                st.sampled_from(["hgk_" + "a" * 5000, "hgk_", "x" * 300, "hat_"])
                | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
            )
        }
    if kind == "credential":
        token = draw(
            st.sampled_from(["hgk_" + "9" * 5000, "Bearer", "hat_\u00e9"])
            | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
        )
        return "a spoiled credential", {
            "X-Auth-Token": token.encode("utf-8").decode("latin-1"),
            "Authorization": "Bearer " + token.encode("utf-8").decode("latin-1"),
        }
    return "Content-Type", {
        "Content-Type": draw(
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "text/plain",
                    "application/json; charset=utf-16",
                    "",
                ]
            )
        )
    }


@st.composite
def hostile(draw, routes: list[Route]) -> Hostile:
    """One route's request with one part spoiled."""
    route = draw(st.sampled_from(routes))
    case = Hostile(
        route,
        "",
        headers={"Content-Type": "application/json", **route.headers},
        body=None if route.body is None else json.dumps(route.body).encode(),
        path=route.path,
    )
    kind = draw(st.sampled_from(["number", "number", "body", "body", "body", "body", "header", "path"]))
    if kind == "number":
        name = draw(st.sampled_from(route.params + NUMBER_PARAMS))
        value = draw(st.sampled_from(TIMES) if name == "since" and route.path.startswith("/admin") else numbers)
        case.spoiled, case.params = f"query {name}", {name: value}
    elif kind == "body":
        case.spoiled, case.body = draw(spoiled_body(route.body))
    elif kind == "header":
        case.spoiled, headers = draw(spoiled_headers(route))
        case.headers.update(headers)
    else:
        base, _, query = route.path.partition("?")
        head, _, _last = base.rstrip("/").rpartition("/")
        segment = draw(
            st.sampled_from(["9" * 5000, "%00", "%FF%FE", "..", "%2e%2e", "a" * 3000])
            | st.text(st.characters(min_codepoint=48, max_codepoint=0x2FFF), min_size=1, max_size=20)
        )
        case.spoiled, case.path = "the last path segment", f"{head}/{segment}" + (f"?{query}" if query else "")
    return case


def send(base_url: str, case: Hostile) -> requests.Response:
    with requests.Session() as session:  # no shared state: each case stands alone
        return session.request(
            case.route.method,
            base_url + case.path,
            params=case.params,
            data=case.body,
            headers=case.headers,
            timeout=60,
            allow_redirects=False,
        )


def check(response: requests.Response, case: Hostile) -> None:
    """The property: no answer is a 5xx, and every error answer is JSON that says what was
    wrong (the envelope's explanation, or Keystone's error.message under /identity)."""
    status = response.status_code
    assert status < 500, f"{status} for {case!r}: {response.text[:800]}"
    assert "Traceback" not in response.text, response.text[:800]
    if status < 400:
        return
    kind = response.headers.get("Content-Type", "")
    if urlsplit(response.url).path.startswith("/console/") and kind.startswith("text/html"):
        # The web console answers people's browsers with an HTML page that says what went wrong.
        assert case.route.method == "HEAD" or 'class="error"' in response.text, response.text[:300]
        return
    if urlsplit(response.url).path in ("/v1", "/v1/") and kind.startswith("application/xml"):
        # The CFN API answers CloudFormation's XML unless ContentType=JSON is asked for.
        assert "<ErrorResponse><Error>" in response.text and "<Message>" in response.text, response.text[:300]
        return
    assert kind.startswith("application/json"), f"{status} {kind} for {case!r}: {response.text[:300]}"
    if case.route.method == "HEAD":
        return  # the headers of the answer a GET would get, without its body
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.text[:300]
    message = body.get("explanation") or body["error"].get("message")
    assert isinstance(message, str) and message.strip(), response.text[:300]
    if "explanation" in body:
        assert body["code"] == status and body["error"].get("traceback") is None, response.text[:300]
