"""Settings: declared once with a default and help; the environment overrides with clear errors."""

from __future__ import annotations

import pytest

from engine.config import Config, describe


def test_every_setting_has_help_and_is_documented():
    from tests.support import ROOT

    operations = (ROOT / "docs" / "operations.md").read_text()
    for name, default, help_text in describe():
        assert help_text, name
        shown = '""' if default == "" else str(default)
        row = f"| `{name}` | `HEARTH_{name.upper()}` | `{shown}` | {help_text} |"
        assert row in operations, f"docs/operations.md does not have the current row for {name}"


def test_environment_overrides_with_types():
    config = Config.from_env({"HEARTH_PORT": "9000", "HEARTH_COMPUTE": "deployed"})
    assert config.port == 9000 and config.compute == "deployed"


def test_a_bad_value_names_the_variable():
    with pytest.raises(ValueError, match="HEARTH_ENGINE_WORKERS must be int, not 'many'"):
        Config.from_env({"HEARTH_ENGINE_WORKERS": "many"})


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("no", False),
        ("No", False),
        ("false", False),
        ("0", False),
        ("off", False),
        ("yes", True),
        ("true", True),
        ("1", True),
    ],
)
def test_a_boolean_setting_reads_words(raw, expected):
    """bool("no") is True: a boolean setting is read as a word, never through bool()."""
    assert Config.from_env({"HEARTH_GUEST_ON_MAIN": raw}).guest_on_main is expected


def test_a_boolean_setting_refuses_other_words():
    with pytest.raises(ValueError, match="HEARTH_GUEST_ON_MAIN must be bool, not 'maybe'"):
        Config.from_env({"HEARTH_GUEST_ON_MAIN": "maybe"})
