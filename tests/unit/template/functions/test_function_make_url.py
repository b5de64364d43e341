"""Tests for make_url (2017-09-01 on): escaping, IPv6 hosts, ports, queries and argument errors."""

from __future__ import annotations

import pytest

from engine.errors import TemplateError
from engine.template.functions import make_url


def literal(snippet, *segments):
    return snippet


@pytest.mark.parametrize(
    "args, url",
    [
        (
            {
                "scheme": "https",
                "host": "example.com",
                "port": 8443,
                "path": "/a b/c",
                "query": {"q": "x y", "p": "a/b"},
                "fragment": "top",
            },
            "https://example.com:8443/a%20b/c?q=x+y&p=a/b#top",
        ),
        ({"scheme": "http", "username": "u@x", "password": "p:w", "host": "h"}, "http://u%40x:p%3Aw@h"),
        ({"scheme": "http", "username": "u", "host": "h"}, "http://u@h"),
        ({"scheme": "http", "host": "fd00::1", "port": "80", "path": "x"}, "http://[fd00::1]:80/x"),
        ({"scheme": "http", "host": "[fd00::1]"}, "http://[fd00::1]"),
        ({"path": "/just/a/path"}, "/just/a/path"),
    ],
)
def test_builds_escaped_urls(args, url):
    assert make_url.resolve(args, literal, None) == url


def test_parts_may_come_from_calls():
    def evaluate(snippet, *segments):
        return "10.0.0.5" if segments == ("host",) else snippet

    assert (
        make_url.resolve({"scheme": "http", "host": {"get_attr": ["web", "ip"]}}, evaluate, None) == "http://10.0.0.5"
    )


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"host": "h", "port": 0}, "Invalid URL port 0, must be in range 1-65535"),
        (
            {"host": "h", "port": "http"},
            "Invalid URL port \"http\" for make_url called with {'host': 'h', 'port': 'http'}",
        ),
        ({"host": None}, 'The "host" argument to "make_url" must be a string'),
        ({"scheme": "http:", "host": "h"}, "URL \"scheme\" should not contain ':'"),
        ({"query": ["a"]}, 'The "query" argument to "make_url" must be a map'),
    ],
)
def test_resolve_errors(args, reason):
    with pytest.raises(TemplateError) as caught:
        make_url.resolve(args, literal, None)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "args, reason",
    [
        (["http://x"], 'The arguments to "make_url" must be a map'),
        ({"host": "h", "hots": "x"}, 'Invalid arguments to "make_url": hots'),
        ({"host": "h", "port": 70000}, "Invalid URL port 70000, must be in range 1-65535"),
        ({"host": ["h"], "path": "/"}, 'The "host" argument to "make_url" must be a string'),
    ],
)
def test_validate_refuses_bad_shapes(args, reason):
    with pytest.raises(TemplateError) as caught:
        make_url.validate(args, ("outputs", "o", "value"))
    assert (caught.value.reason, caught.value.path) == (reason, ("outputs", "o", "value"))


def test_validate_accepts_calls():
    make_url.validate(
        {"host": {"get_attr": ["web", "ip"]}, "port": {"get_param": "port"}, "query": {"get_param": "q"}}, ()
    )
    make_url.validate({"get_param": "parts"}, ())


def test_needs_2017_09_01(hot, fake_stack):
    body = """\
        parameters:
          port: {type: number}
        outputs:
          o: {value: {make_url: {scheme: http, host: example.com, port: {get_param: port}}}}
        """
    # A function of a later version is data before it, to Heat and Hearth alike.
    hot.parse("2017-02-24", body)
    template = hot.parse("2017-09-01", body)
    assert template.resolve(template.outputs["o"].value, fake_stack(params={"port": 8080})) == "http://example.com:8080"


def test_argument_errors_name_file_line_and_path(hot):
    assert (
        hot.error(
            "2017-09-01",
            """\
        resources:
          web:
            type: X
            properties:
              url:
                make_url: {scheme: http, host: h, port: 99999}
        """,
        )
        == "web.yaml:7: resources.web.properties.url.make_url: Invalid URL port 99999, must be in range 1-65535"
    )
