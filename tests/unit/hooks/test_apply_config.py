"""hooks/apply-config as a process: templates rendered into files, os-apply-config style."""

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[3] / "hooks" / "apply-config"
SYSTEM_PYTHON = "/usr/bin/python3"


def run_hook(entry, env=None, raw=None, **kwargs):
    full_env = {k: v for k, v in os.environ.items() if k != "HEAT_APPLY_CONFIG_CMD"}
    full_env.update({"OS_CONFIG_FILES": ""}, **(env or {}))  # no machine metadata leaks in
    argv = kwargs.pop("argv", [str(HOOK)])
    proc = subprocess.run(
        argv,
        input=raw if raw is not None else json.dumps(entry),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        **kwargs,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), proc.stderr


def deployment(config, inputs=()):
    return {
        "id": "a9-77",
        "name": "apply_probe",
        "group": "apply-config",
        "options": None,
        "config": config,
        "outputs": [],
        "inputs": [{"name": name, "type": "String", "value": value} for name, value in inputs],
    }


def test_template_syntax(tmp_path):
    target = tmp_path / "etc" / "app.conf"
    template = (
        "name={{service.name}} port={{service.port}} debug={{debug}} opts={{service.opts}}\n"
        "first={{servers.0.host}} none=[{{nothing}}] missing=[{{no.such.key}}] "
        "raw={{{raw}}}{{&raw}}\n"
        "{{! a comment line disappears }}\n"
        "{{#servers}}\n"
        "server {{host}}:{{service.port}}\n"
        "{{/servers}}\n"
        "{{#tags}}[{{.}}]{{/tags}}\n"
        "{{^empty}}no entries{{/empty}}{{#empty}}never{{/empty}}\n"
        "{{#service}}in {{name}}{{/service}}\n"
    )
    config = {
        "files": {str(target): {"template": template, "mode": "0640"}},
        "service": {"name": "web", "port": 8080, "opts": {"a": [1]}},
        "servers": [{"host": "h1"}, {"host": "h2"}],
        "tags": ["x", "y"],
        "empty": [],
        "nothing": None,
        "raw": "<&>",
    }
    result, log = run_hook(deployment(config, inputs=[("debug", True)]))
    assert result == {"deploy_stdout": f"wrote {target}\n", "deploy_stderr": "", "deploy_status_code": 0}
    assert target.read_text() == (
        'name=web port=8080 debug=true opts={"a": [1]}\n'
        "first=h1 none=[] missing=[] raw=<&><&>\n"
        "server h1:8080\nserver h2:8080\n"
        "[x][y]\n"
        "no entries\n"
        "in web\n"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert "no.such.key" in log  # renders empty, as in os-apply-config, but is logged


def test_data_merges_metadata_then_config_then_inputs(tmp_path):
    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"db": {"host": "meta-host", "port": 1}, "only": "meta"}))
    target = tmp_path / "out.txt"
    config = {
        "files": {str(target): "{{db.host}}:{{db.port}} {{only}} {{level}}"},
        "db": {"port": 2},
        "level": "config",
    }
    run_hook(
        deployment(config, inputs=[("level", "input")]),
        env={"OS_CONFIG_FILES": f"{metadata}:{tmp_path / 'absent.json'}"},
    )
    assert target.read_text() == "meta-host:2 meta input"


def test_new_file_gets_0644_existing_keeps_its_mode_no_temp_files(tmp_path):
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    kept.write_text("old")
    kept.chmod(0o600)
    run_hook(deployment({"files": {str(fresh): "new", str(kept): "replaced"}}))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert kept.read_text() == "replaced"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "kept"]


def test_owner_and_group_as_the_current_user_by_name_and_id(tmp_path):
    me, my_group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    by_name, by_id = tmp_path / "by_name", tmp_path / "by_id"
    result, _ = run_hook(
        deployment(
            {
                "files": {
                    str(by_name): {"template": "n", "owner": me, "group": my_group},
                    str(by_id): {"template": "i", "owner": os.geteuid(), "group": str(os.getegid())},
                }
            }
        )
    )
    assert result["deploy_status_code"] == 0
    for path in (by_name, by_id):
        assert (path.stat().st_uid, path.stat().st_gid) == (os.geteuid(), os.getegid())


def test_another_owner_is_set_only_by_root(tmp_path):
    target = tmp_path / "given-away"
    result, _ = run_hook(
        deployment({"files": {str(target): {"template": "x", "owner": "nobody", "group": 65534, "mode": 0o600}}})
    )
    if os.geteuid() == 0:
        assert result["deploy_status_code"] == 0
        assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    else:
        assert result["deploy_status_code"] == 1
        assert "only root can give a file to another user" in result["deploy_stderr"]
        assert not target.exists()


def test_non_root_asking_for_another_owner_fails_before_writing():
    """Run as nobody when the tests run as root (the system python3 is readable by nobody)."""
    if os.geteuid() == 0 and not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"running the hook as nobody needs {SYSTEM_PYTHON}")
    shared = Path(tempfile.mkdtemp(prefix="apply-config-"))
    try:
        shared.chmod(0o1777)
        first, second = shared / "mine", shared / "theirs"
        entry = deployment({"files": {str(first): "a", str(second): {"template": "b", "owner": "root"}}})
        drop = {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}
        argv = [SYSTEM_PYTHON, str(HOOK)] if drop else [str(HOOK)]
        result, _ = run_hook(entry, argv=argv, cwd=str(shared), **drop)
        assert result["deploy_status_code"] == 1
        uid = 65534 if drop else os.geteuid()
        assert f"owner uid 0 asked for, but this hook runs as uid {uid}" in result["deploy_stderr"]
        assert "only root can give a file to another user" in result["deploy_stderr"]
        assert list(shared.iterdir()) == []  # the valid first file was not written either
    finally:
        shutil.rmtree(shared)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"template": "x", "owner": "no-such-user-here"}, "owner 'no-such-user-here' is not a user"),
        ({"template": "x", "group": "no-such-group-here"}, "group 'no-such-group-here' is not a group"),
        ({"template": "x", "mode": 644}, "mode 644 is out of range"),
        ({"template": "x", "mode": "rw-r--r--"}, "must be octal digits in a string"),
        ({"template": "x", "colour": "blue"}, "unknown keys ['colour']"),
        ({"mode": "0644"}, "give a template string or a map with a 'template' key"),
        ({"template": "{{#open}}never closed\n"}, "line 1: {{#open}} is never closed"),
        ({"template": "a\n{{#a}}\n{{/b}}\n"}, "line 3: {{/b}} closes nothing (expected {{/a}})"),
        ({"template": "{{> partial}}"}, "partials are not supported"),
    ],
)
def test_bad_file_specs_fail_clearly_and_write_nothing(tmp_path, spec, message):
    good, bad = tmp_path / "good", tmp_path / "bad"
    result, _ = run_hook(deployment({"files": {str(good): "fine", str(bad): spec}}))
    assert result["deploy_status_code"] == 1
    assert message in result["deploy_stderr"]
    assert f"config.files['{bad}']" in result["deploy_stderr"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "config, message",
    [
        ({"files": {"etc/relative.conf": "x"}}, "'etc/relative.conf' must be an absolute file path"),
        ({"files": ["/etc/x"]}, "config.files must be a map"),
        (["not", "a", "map"], "config must be a map"),
    ],
)
def test_bad_config_shapes_fail_clearly(config, message):
    result, _ = run_hook(deployment(config))
    assert result["deploy_status_code"] == 1
    assert message in result["deploy_stderr"]


def test_stdin_that_is_not_json_is_answered_not_raised():
    result, _ = run_hook(None, raw="[1, 2")
    assert result["deploy_status_code"] == 1
    assert "stdin is not a JSON deployment entry" in result["deploy_stderr"]


def test_empty_render_with_allow_empty_false_removes_the_file(tmp_path):
    target = tmp_path / "optional.conf"
    target.write_text("stale")
    result, _ = run_hook(
        deployment(
            {"files": {str(target): {"template": "{{#enabled}}on{{/enabled}}", "allow_empty": False}}, "enabled": False}
        )
    )
    assert result["deploy_stdout"] == f"removed {target}\n"
    assert not target.exists()


def test_os_apply_config_template_tree(tmp_path):
    """heat-agents' own case: no files map, templates mirror /, data from OS_CONFIG_FILES."""
    templates, root = tmp_path / "templates", tmp_path / "root"
    (templates / "etc" / "app").mkdir(parents=True)
    (templates / "etc" / "app" / "foo.conf").write_text("foo={{foo}} bar={{bar}}\n")
    (templates / "etc" / "app" / "foo.conf.oac").write_text("mode: 0600\nallow_empty: true\n")
    generated = templates / "etc" / "generated.json"
    generated.write_text("#!/bin/sh\ncat\n")  # an executable template gets the data on stdin
    generated.chmod(0o755)
    metadata = tmp_path / "meta.json"
    metadata.write_text(json.dumps({"foo": "bar"}))
    result, _ = run_hook(
        deployment({"bar": "baz"}),
        env={
            "OS_CONFIG_FILES": str(metadata),
            "OS_CONFIG_APPLIER_TEMPLATES": str(templates),
            "HEAT_APPLY_CONFIG_OUTPUT_ROOT": str(root),
        },
    )
    conf = root / "etc" / "app" / "foo.conf"
    assert result == {
        "deploy_stdout": f"wrote {root / 'etc' / 'generated.json'}\nwrote {conf}\n",
        "deploy_stderr": "",
        "deploy_status_code": 0,
    }
    assert conf.read_text() == "foo=bar bar=baz\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert json.loads((root / "etc" / "generated.json").read_text()) == {"foo": "bar", "bar": "baz"}
    assert not (root / "etc" / "app" / "foo.conf.oac").exists()


def test_template_tree_control_file_errors_are_clear(tmp_path):
    (tmp_path / "t.conf").write_text("x")
    (tmp_path / "t.conf.oac").write_text("owner: root\nperms: 0600\n")
    result, _ = run_hook(
        deployment(None),
        env={"OS_CONFIG_APPLIER_TEMPLATES": str(tmp_path), "HEAT_APPLY_CONFIG_OUTPUT_ROOT": str(tmp_path)},
    )
    assert result["deploy_status_code"] == 1
    assert "t.conf.oac: unknown keys ['perms']" in result["deploy_stderr"]


def test_no_files_map_and_no_template_tree_fails_clearly(tmp_path):
    result, _ = run_hook(deployment({"foo": "bar"}), env={"OS_CONFIG_APPLIER_TEMPLATES": str(tmp_path / "missing")})
    assert result["deploy_status_code"] == 1
    assert "config has no 'files' map" in result["deploy_stderr"]


def test_heat_apply_config_cmd_runs_a_real_os_apply_config_instead(tmp_path):
    """A recording stand-in plays os-apply-config: os-apply-config is not installed here."""
    record = tmp_path / "record"
    tool = tmp_path / "os-apply-config"
    tool.write_text(f'#!/bin/sh\necho "$0 $*" > {record}\necho rendered\necho warn >&2\nexit 3\n')
    tool.chmod(0o755)
    result, _ = run_hook(deployment({"foo": "bar"}), env={"HEAT_APPLY_CONFIG_CMD": str(tool)})
    assert result == {"deploy_stdout": "rendered\n", "deploy_stderr": "warn\n", "deploy_status_code": 3}
    assert record.read_text() == f"{tool} \n"
