"""hooks/puppet as a process: against a recording stand-in for ``puppet``, and against real Puppet.

Also home to the tests of what every configuration-management hook shares (hooks/hookcommon.py):
a copied hooks directory works, a hook copied without its helper still answers JSON.
"""

import json
import os
import shutil
import stat
import sys

import pytest
import yaml

from tests.unit.hooks.standins import HOOKS, make_standin, run_hook

ENTRY_ID = "5d1e-42"
SECRET = "s3cret-pa55"
SIGNAL_URL = "http://127.0.0.1:8004/v1/signal/x?Signature=abcdef"


def deployment(config="notice('hi')\n", inputs=(), outputs=(), options=None):
    return {
        "id": ENTRY_ID,
        "name": "10_probe",
        "group": "puppet",
        "options": options or {},
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "inputs": list(inputs),
        "outputs": [{"name": n, "type": "String"} for n in outputs],
    }


INPUTS = [
    {"name": "greeting", "type": "String", "value": "hello world"},
    {"name": "number", "type": "Number", "value": 42},
    {"name": "mapping", "type": "Json", "value": {"a": [1, 2]}},
    {"name": "deploy_server_id", "type": "String", "value": "srv-1"},
    {"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"},
    {"name": "deploy_signal_id", "type": "String", "value": SIGNAL_URL},
    {"name": "deploy_password", "type": "String", "value": SECRET},
]


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work" / "heat-config-puppet", tmp_path / "out" / "heat-config-puppet"


def hook_env(dirs, **extra):
    working, outputs = dirs
    return dict(os.environ, HEAT_PUPPET_WORKING=str(working), HEAT_PUPPET_OUTPUTS=str(outputs), **extra)


def standin(tmp_path, **kwargs):
    return make_standin(tmp_path / "bin", "puppet", env_prefixes=("FACTER_",), **kwargs)


def test_command_line_hiera_data_and_facts(tmp_path, dirs):
    working, outputs = dirs
    puppet = standin(tmp_path, stdout="Notice: applied\n", stderr="Warning: w\n", exit_code=2)
    result, log = run_hook(
        "puppet", deployment("notice($facts['greeting'])\n", INPUTS), hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path))
    )
    assert result == {"deploy_stdout": "Notice: applied\n", "deploy_stderr": "Warning: w\n", "deploy_status_code": 0}
    call = puppet.call()
    manifest, hiera_config = working / f"{ENTRY_ID}.pp", working / f"{ENTRY_ID}.hiera.yaml"
    assert call["argv"] == [
        "apply",
        "--color",
        "false",
        "--detailed-exitcodes",
        "--logdest",
        "console",
        "--hiera_config",
        str(hiera_config),
        str(manifest),
    ]
    assert call["cwd"] == str(working)
    assert call["env"] == {
        "FACTER_greeting": "hello world",
        "FACTER_number": "42",
        "FACTER_mapping": '{"a": [1, 2]}',
        "FACTER_deploy_server_id": "srv-1",
        "FACTER_heat_outputs_path": str(outputs / ENTRY_ID),
        "FACTER_deploy_config_name": "10_probe",
    }
    assert call["files"][str(manifest)] == {"text": "notice($facts['greeting'])\n", "mode": 0o600}
    hiera = call["files"][str(hiera_config)]
    assert hiera["mode"] == 0o600
    assert yaml.safe_load(hiera["text"]) == {
        "version": 5,
        "defaults": {"datadir": str(working), "data_hash": "json_data"},
        "hierarchy": [{"name": f"Hearth deployment {ENTRY_ID} inputs", "path": f"{ENTRY_ID}.hieradata.json"}],
    }
    data_file = working / f"{ENTRY_ID}.hieradata.json"
    assert stat.S_IMODE(data_file.stat().st_mode) == 0o600
    assert json.loads(data_file.read_text()) == {
        "greeting": "hello world",
        "number": 42,
        "mapping": {"a": [1, 2]},
        "deploy_server_id": "srv-1",
        "heat_outputs_path": str(outputs / ENTRY_ID),
    }
    assert SECRET not in log and "Signature" not in log  # input values are never logged
    assert stat.S_IMODE(working.stat().st_mode) == stat.S_IMODE(outputs.stat().st_mode) == 0o700


def test_options_modulepath_tags_debug_and_verbose(tmp_path, dirs):
    working, _ = dirs
    puppet = standin(tmp_path)
    run_hook(
        "puppet",
        deployment(
            options={
                "modulepath": "/etc/puppet/modules:/opt/mods",
                "tags": ["web", "db"],
                "enable_debug": True,
                "enable_verbose": "true",
            }
        ),
        hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path)),
    )
    argv = puppet.call()["argv"]
    debug_log, verbose_log = working / f"{ENTRY_ID}.debug.log", working / f"{ENTRY_ID}.verbose.log"
    assert argv == [
        "apply",
        "--color",
        "false",
        "--detailed-exitcodes",
        "--logdest",
        "console",
        "--hiera_config",
        str(working / f"{ENTRY_ID}.hiera.yaml"),
        "--modulepath",
        "/etc/puppet/modules:/opt/mods",
        "--tags",
        "web,db",
        "--debug",
        "--logdest",
        str(debug_log),
        "--verbose",
        "--logdest",
        str(verbose_log),
        str(working / f"{ENTRY_ID}.pp"),
    ]
    assert stat.S_IMODE(debug_log.stat().st_mode) == 0o600


def test_hiera_and_facter_can_be_turned_off(tmp_path, dirs):
    working, outputs = dirs
    puppet = standin(tmp_path)
    run_hook(
        "puppet",
        deployment(inputs=INPUTS, options={"enable_hiera": False, "use_facter": False}),
        hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path)),
    )
    call = puppet.call()
    assert "--hiera_config" not in call["argv"]
    assert call["env"] == {"FACTER_heat_outputs_path": str(outputs / ENTRY_ID), "FACTER_deploy_config_name": "10_probe"}
    assert sorted(p.name for p in working.iterdir()) == [f"{ENTRY_ID}.pp"]


@pytest.mark.parametrize("code, status", [(0, 0), (2, 0), (4, 4), (6, 6), (1, 1)])
def test_detailed_exit_codes_map_to_the_status(tmp_path, dirs, code, status):
    puppet = standin(tmp_path, exit_code=code, stderr="Error: boom\n" if status else "")
    result, log = run_hook("puppet", deployment(), hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path)))
    assert result["deploy_status_code"] == status
    assert ("failed with exit status" in log) == bool(status)


def test_outputs_are_read_from_files_and_removed(tmp_path, dirs):
    _, outputs = dirs
    base = outputs / ENTRY_ID
    puppet = standin(tmp_path, write_files={f"{base}.result": "line one\n\n", f"{base}.extra": "x"})
    result, _ = run_hook(
        "puppet", deployment(outputs=["result", "missing"]), hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path))
    )
    assert result == {"result": "line one\n\n", "deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}
    assert list(outputs.iterdir()) == []


def test_stale_output_of_an_earlier_run_is_not_returned(tmp_path, dirs):
    _, outputs = dirs
    outputs.mkdir(parents=True)
    (outputs / f"{ENTRY_ID}.result").write_text("stale")
    puppet = standin(tmp_path)
    result, _ = run_hook("puppet", deployment(outputs=["result"]), hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path)))
    assert "result" not in result


def test_missing_puppet_named_by_variable_is_a_clear_failure(tmp_path, dirs):
    missing = tmp_path / "nowhere" / "puppet"
    result, _ = run_hook("puppet", deployment(), hook_env(dirs, HEAT_PUPPET_CMD=str(missing)))
    assert result["deploy_status_code"] == 127
    assert result["deploy_stderr"] == (
        f"puppet hook: cannot run puppet: {missing} was not found or is not executable; "
        "install puppet or set HEAT_PUPPET_CMD to its path"
    )


def test_missing_puppet_on_path_is_a_clear_failure(tmp_path, dirs):
    python_only = tmp_path / "python-only"
    python_only.mkdir()
    (python_only / "python3").symlink_to(os.path.realpath(sys.executable))
    env = hook_env(dirs, PATH=str(python_only))
    env.pop("HEAT_PUPPET_CMD", None)
    result, log = run_hook("puppet", deployment(), env)
    assert result["deploy_status_code"] == 127
    assert f"'puppet' on PATH ({python_only}) was not found" in result["deploy_stderr"]
    assert "Traceback" not in log


@pytest.mark.parametrize("raw", ["not json", "[]", '{"config": "x"}', '{"id": "../x"}', '{"id": "a", "options": []}'])
def test_bad_input_answers_json(tmp_path, dirs, raw):
    puppet = standin(tmp_path)
    result, log = run_hook("puppet", None, hook_env(dirs, HEAT_PUPPET_CMD=str(puppet.path)), raw=raw)
    assert result["deploy_status_code"] == 1
    assert result["deploy_stderr"].startswith("puppet hook")
    assert "Traceback" not in log
    assert puppet.calls() == []


# What all four configuration-management hooks share through hooks/hookcommon.py.


@pytest.mark.parametrize("hook", ["puppet", "ansible", "chef", "salt"])
def test_a_copy_of_the_hooks_directory_works(tmp_path, hook):
    """The helper is found next to the hook, wherever the directory was copied (no source tree)."""
    copy = tmp_path / "installed-hooks"
    shutil.copytree(HOOKS, copy)
    tool = make_standin(tmp_path / "bin", hook, exit_code=3)
    env = dict(
        os.environ,
        **{
            f"HEAT_{hook.upper()}_WORKING": str(tmp_path / "w"),
            f"HEAT_{hook.upper()}_OUTPUTS": str(tmp_path / "o"),
            f"HEAT_{hook.upper()}_CMD": str(tool.path),
            "PYTHONSAFEPATH": "1",
        },
    )  # no script dir on sys.path: the hook adds it
    config = '["recipe[x]"]' if hook == "chef" else "- hosts: localhost\n"
    result, _ = run_hook(copy / hook, {"id": "c1", "config": config, "inputs": [], "options": {}}, env)
    assert result["deploy_status_code"] == 3
    assert len(tool.calls()) == 1
    assert not (copy / "__pycache__").exists()  # hooks leave their directory as installed


def test_a_symlinked_hook_finds_the_helper_beside_its_target(tmp_path):
    """heat-agents' hook dirs may hold links to the installed hooks rather than copies."""
    links = tmp_path / "heat-config-hooks"
    links.mkdir()
    (links / "puppet").symlink_to(HOOKS / "puppet")
    tool = make_standin(tmp_path / "bin", "puppet", exit_code=4)
    env = dict(
        os.environ,
        HEAT_PUPPET_WORKING=str(tmp_path / "w"),
        HEAT_PUPPET_OUTPUTS=str(tmp_path / "o"),
        HEAT_PUPPET_CMD=str(tool.path),
    )
    result, _ = run_hook(links / "puppet", deployment(), env)
    assert result["deploy_status_code"] == 4


@pytest.mark.parametrize("hook", ["puppet", "ansible", "chef", "salt"])
def test_a_hook_without_its_helper_answers_json(tmp_path, hook):
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy2(HOOKS / hook, lonely / hook)
    result, _ = run_hook(lonely / hook, {"id": "c1", "config": "", "inputs": [], "options": {}}, dict(os.environ))
    assert result["deploy_status_code"] == 1
    assert "cannot load hookcommon.py" in result["deploy_stderr"]
    assert "install the hooks directory whole" in result["deploy_stderr"]


@pytest.mark.parametrize("hook", ["puppet", "ansible", "chef", "salt"])
def test_a_text_config_needs_no_pyyaml(tmp_path, hook):
    """The system python3 may lack PyYAML: only a structured config needs it."""
    no_yaml = tmp_path / "no-yaml" / "yaml"
    no_yaml.mkdir(parents=True)
    (no_yaml / "__init__.py").write_text("raise ImportError('PyYAML is not installed')\n")
    tool = make_standin(tmp_path / "bin", hook)
    env = dict(
        os.environ,
        **{
            f"HEAT_{hook.upper()}_WORKING": str(tmp_path / "w"),
            f"HEAT_{hook.upper()}_OUTPUTS": str(tmp_path / "o"),
            f"HEAT_{hook.upper()}_CMD": str(tool.path),
            "PYTHONPATH": str(no_yaml.parent),
        },
    )
    config = '["recipe[x]"]' if hook == "chef" else "- hosts: localhost\n"
    entry = {"id": "c1", "config": config, "inputs": [{"name": "a", "value": 1}], "options": {}}
    result, _ = run_hook(hook, entry, env)
    assert result["deploy_status_code"] == 0, result
    structured, _ = run_hook(hook, dict(entry, config=[{"hosts": "localhost"}]), env)
    if hook != "chef":  # for chef a list is the run list itself
        assert structured["deploy_stderr"] == (
            f"{hook} hook: a structured config is written as YAML, and PyYAML cannot be imported "
            "(PyYAML is not installed): install python3-yaml for the python3 that runs hooks, "
            "or give the config as text"
        )


def test_the_helper_is_not_a_hook():
    assert not os.access(HOOKS / "hookcommon.py", os.X_OK)


# Real Puppet.


def real_puppet():
    found = shutil.which("puppet")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("puppet is required in CI (apt-get install puppet) but is not on PATH")
        pytest.skip("puppet is not installed (apt-get install puppet)")
    return found


# Facts are top-scope variables: a manifest cannot assign $greeting when an input is named so.
MANIFEST = """\
$from_hiera = lookup('greeting')
file { $facts['target']:
  content => "${from_hiera}, ${facts['who']}; ${lookup('settings')['port']}\\n",
}
file { "${facts['heat_outputs_path']}.result":
  content => "wrote ${facts['target']}",
}
"""


def test_real_puppet_applies_hiera_data_facts_and_outputs(tmp_path, dirs):
    real_puppet()
    target = tmp_path / "greeting.txt"
    entry = deployment(
        MANIFEST,
        inputs=[
            {"name": "greeting", "type": "String", "value": "hello"},
            {"name": "who", "type": "String", "value": "world"},
            {"name": "settings", "type": "Json", "value": {"port": 8080}},
            {"name": "target", "type": "String", "value": str(target)},
            {"name": "deploy_password", "type": "String", "value": SECRET},
        ],
        outputs=["result"],
    )
    result, log = run_hook("puppet", entry, hook_env(dirs), timeout=120)
    assert result["deploy_status_code"] == 0, result  # puppet exited 2: changes applied
    assert target.read_text() == "hello, world; 8080\n"
    assert result["result"] == f"wrote {target}"
    assert SECRET not in log


def test_real_puppet_failure_is_a_non_zero_status(tmp_path, dirs):
    real_puppet()
    result, _ = run_hook("puppet", deployment("fail('deliberate failure')\n"), hook_env(dirs), timeout=120)
    assert result["deploy_status_code"] not in (0, 2)
    assert "deliberate failure" in result["deploy_stderr"] + result["deploy_stdout"]
