"""agent.config: the bootstrap document, CLI defaults and the state layout."""

import json
import stat

import pytest

from agent.config import ConfigError, StateLayout, build_parser, from_args, load_bootstrap


def write(tmp_path, document):
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_bootstrap_is_loaded_and_hides_the_credential(tmp_path):
    bootstrap = load_bootstrap(
        write(
            tmp_path,
            {
                "server_id": "s1",
                "base_url": "http://h:8004/",
                "credential": "hgc_secret",
                "metadata_url": "http://h:8004/guest/v1/servers/s1/metadata",
                "collectors": ["hearth"],
            },
        )
    )
    assert bootstrap.base_url == "http://h:8004"
    assert bootstrap.collectors == ("hearth",)
    assert "hgc_secret" not in repr(bootstrap)


def test_metadata_url_and_collectors_have_defaults(tmp_path):
    bootstrap = load_bootstrap(write(tmp_path, {"server_id": "s1", "base_url": "http://h", "credential": "c"}))
    assert bootstrap.metadata_url == "http://h/guest/v1/servers/s1/metadata"
    assert bootstrap.collectors == ("hearth",)


BASE = {"base_url": "http://h", "credential": "c"}


def test_base_urls_list_the_replicas_after_base_url_and_default_to_it(tmp_path):
    only = load_bootstrap(write(tmp_path, {**BASE, "server_id": "s1"}))
    assert only.base_urls == ("http://h",)
    listed = load_bootstrap(
        write(tmp_path, {**BASE, "server_id": "s1", "base_urls": ["http://h/", "http://b", "http://c/", "http://b"]})
    )
    assert listed.base_urls == ("http://h", "http://b", "http://c") and listed.base_url == "http://h"
    # base_url edited by hand and no longer in the list: it goes first.
    moved = load_bootstrap(write(tmp_path, {**BASE, "server_id": "s1", "base_urls": ["http://b"]}))
    assert moved.base_urls == ("http://h", "http://b")
    # A list alone is enough; its first entry is base_url, and the default metadata_url's base.
    alone = load_bootstrap(
        write(tmp_path, {"credential": "c", "server_id": "s1", "base_urls": ["http://b", "http://c"]})
    )
    assert alone.base_url == "http://b" and alone.metadata_url == "http://b/guest/v1/servers/s1/metadata"


@pytest.mark.parametrize("value", [[], "http://b", [""], ["http://b", 3]])
def test_base_urls_must_be_a_list_of_urls(tmp_path, value):
    with pytest.raises(ConfigError, match="base_urls: must be a non-empty list of URLs"):
        load_bootstrap(write(tmp_path, {**BASE, "server_id": "s1", "base_urls": value}))


def test_without_base_url_or_base_urls_the_error_names_base_url(tmp_path):
    with pytest.raises(ConfigError, match="base_url: required string is missing"):
        load_bootstrap(write(tmp_path, {"credential": "c", "server_id": "s1"}))


def test_sections_for_request_and_local(tmp_path):
    bootstrap = load_bootstrap(
        write(
            tmp_path,
            {
                **BASE,
                "collectors": ["request", "local"],
                "request": {"metadata_url": "http://h/collect?signature=sig", "polling_interval": 5},
                "local": {"path": ["/a", "/b"]},
            },
        )
    )
    assert bootstrap.collectors == ("request", "local")
    assert bootstrap.sections == {
        "request": {"metadata_url": "http://h/collect?signature=sig", "polling_interval": 5},
        "local": {"path": ["/a", "/b"]},
    }
    assert bootstrap.server_id == "" and bootstrap.metadata_url == ""
    assert "sig" not in repr(bootstrap)


@pytest.mark.parametrize(
    "document, message",
    [
        ("{", "cannot read"),
        ([], "JSON object"),
        (
            {"server_id": "s", "base_url": "http://h"},
            (
                "credential: required string is missing "
                r"\(signals are sent to base_url with the credential\)"
            ),
        ),
        ({"collectors": ["local"], "credential": "c"}, "base_url: required"),
        ({**BASE}, r"server_id: required string is missing \(the hearth collector builds"),
        ({**BASE, "server_id": "s", "collectors": "hearth"}, "collectors"),
        ({**BASE, "server_id": "s", "collectors": []}, "collectors: must be a non-empty list"),
        ({**BASE, "collectors": ["local"], "local": {"path": 3}}, "local.path: must be a directory"),
        ({**BASE, "collectors": ["local"], "local": {"path": ["/a", ""]}}, "local.path"),
        ({**BASE, "collectors": ["request"], "request": []}, "request: must be a JSON object"),
        (
            {**BASE, "collectors": ["request"], "request": {"polling_interval": 0}},
            "request.polling_interval: must be a number of seconds > 0",
        ),
        ({**BASE, "collectors": ["request"], "request": {"polling_interval": True}}, "request.polling_interval"),
        ({**BASE, "collectors": ["request"], "request": {"metdata_url": "x"}}, "request.metdata_url: unknown key"),
    ],
)
def test_bad_bootstrap(tmp_path, document, message):
    with pytest.raises(ConfigError, match=message):
        load_bootstrap(write(tmp_path, document))


def test_missing_bootstrap(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_bootstrap(tmp_path / "absent.json")


def test_cli_defaults_and_hooks_path(tmp_path):
    path = write(tmp_path, {"server_id": "s1", "base_url": "http://h", "credential": "c"})
    args = build_parser().parse_args(["--bootstrap", str(path), "--state-dir", "state", "--hooks-path", "/a:/b"])
    config = from_args(args)
    assert (config.poll_wait, config.once, config.log_level) == (55.0, False, "INFO")
    assert [str(p) for p in config.hooks_path] == ["/a", "/b"]
    assert config.state.root.is_absolute()


def test_layout_creates_private_directories(tmp_path):
    layout = StateLayout(tmp_path / "state")
    layout.create()
    for directory in (layout.root, layout.cache_dir, layout.deployed_dir, layout.runs_dir, layout.outbox_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert layout.run_dir("../x").parent == layout.runs_dir
