"""hooks/chef as a process, against a recording stand-in for ``chef-client`` only.

Chef Infra Client is not installable here (no Debian package; the omnibus installer needs a
download and a licence acceptance), so no test runs the real tool: each one checks what the
hook hands to chef-client — command line, client.rb, node file, environment — and how it reads
back the result. The kitchen clone uses real git on a real local repository.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.unit.hooks.standins import make_standin, run_hook

ENTRY_ID = "c4e1-7"
SECRET = "s3cret-pa55"
SIGNAL_URL = "http://127.0.0.1:8000/v1/signal/x?Signature=abcdef"
# Every deploy_* input Heat adds, for each signal transport (heat-clients.md §2.1).
DEPLOY_INPUTS = {
    "deploy_server_id": "srv-1",
    "deploy_action": "CREATE",
    "deploy_stack_id": "st/1",
    "deploy_resource_name": "config",
    "deploy_signal_transport": "HEAT_SIGNAL",
    "deploy_signal_id": SIGNAL_URL,
    "deploy_signal_verb": "POST",
    "deploy_auth_url": "http://keystone:5000/v3",
    "deploy_username": "svc-user",
    "deploy_user_id": "u-1",
    "deploy_password": SECRET,
    "deploy_project_id": "p-1",
    "deploy_region_name": "r1",
    "deploy_queue_id": "q-1",
}


def deployment(config='["recipe[web]", "role[base]"]', inputs=(), outputs=(), options=None):
    return {
        "id": ENTRY_ID,
        "name": "30_chef",
        "group": "chef",
        "options": options or {},
        "creation_time": "2026-01-02T03:04:05Z",
        "config": config,
        "inputs": list(inputs),
        "outputs": [{"name": n, "type": "String"} for n in outputs],
    }


def with_deploy_inputs(*inputs):
    return list(inputs) + [{"name": k, "type": "String", "value": v} for k, v in DEPLOY_INPUTS.items()]


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work" / "heat-config-chef", tmp_path / "out" / "heat-config-chef"


def hook_env(dirs, **extra):
    working, outputs = dirs
    return dict(os.environ, HEAT_CHEF_WORKING=str(working), HEAT_CHEF_OUTPUTS=str(outputs), **extra)


def standin(tmp_path, **kwargs):
    return make_standin(tmp_path / "bin", "chef-client", env_names=("heat_outputs_path",), **kwargs)


def test_command_line_client_config_and_node_file(tmp_path, dirs):
    working, outputs = dirs
    chef = standin(tmp_path, stdout="Chef Infra Client finished\n", stderr="WARN: w\n")
    inputs = with_deploy_inputs(
        {"name": "apache", "type": "Json", "value": {"port": 8080}},
        {"name": "motd", "type": "String", "value": "hello"},
    )
    result, log = run_hook("chef", deployment(inputs=inputs), hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)))
    assert result == {
        "deploy_stdout": "Chef Infra Client finished\n",
        "deploy_stderr": "WARN: w\n",
        "deploy_status_code": 0,
    }
    call = chef.call()
    client_rb, node_file = working / f"{ENTRY_ID}.client.rb", working / f"{ENTRY_ID}.node.json"
    assert call["argv"] == ["-z", "--config", str(client_rb), "-j", str(node_file)]
    assert call["cwd"] == str(working)
    assert call["env"] == {"heat_outputs_path": str(outputs / ENTRY_ID)}
    kitchen = working / "kitchen"
    assert call["files"][str(client_rb)] == {
        "mode": 0o600,
        "text": (
            "log_level :info\nlog_location STDOUT\nlocal_mode true\nchef_zero.enabled true\n"
            f"cookbook_path '{kitchen}/cookbooks'\nrole_path '{kitchen}/roles'\n"
            f"environment_path '{kitchen}/environments'\nnode_path '{working}/node'\n"
        ),
    }
    node = call["files"][str(node_file)]
    assert node["mode"] == 0o600
    assert json.loads(node["text"]) == {
        "apache": {"port": 8080},
        "motd": "hello",
        "run_list": ["recipe[web]", "role[base]"],
    }
    assert SECRET not in log and "Signature" not in log


def test_no_deploy_input_or_credential_reaches_any_file(tmp_path, dirs):
    """The node file (and everything else the hook writes) holds no deploy_* name or value."""
    working, _ = dirs
    chef = standin(tmp_path)
    run_hook(
        "chef",
        deployment(inputs=with_deploy_inputs({"name": "app", "type": "String", "value": "x"})),
        hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)),
    )
    node_text = chef.call()["files"][str(working / f"{ENTRY_ID}.node.json")]["text"]
    assert "deploy_" not in node_text
    written = [p for p in working.rglob("*") if p.is_file()]
    assert len(written) == 2  # client.rb and the node file
    for path in written:
        text = path.read_text()
        for value in (SECRET, SIGNAL_URL, "svc-user", "keystone", "HEAT_SIGNAL", "srv-1"):
            assert value not in text, f"{value!r} written to {path.name}"


def test_environment_input_selects_the_chef_environment(tmp_path, dirs):
    working, _ = dirs
    chef = standin(tmp_path)
    run_hook(
        "chef",
        deployment(
            inputs=[
                {"name": "environment", "type": "String", "value": "prod's"},
                {"name": "x", "type": "String", "value": "1"},
            ],
            options={"kitchen_path": "/srv/kitchen"},
        ),
        hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)),
    )
    files = chef.call()["files"]
    client_rb = files[str(working / f"{ENTRY_ID}.client.rb")]["text"]
    assert "cookbook_path '/srv/kitchen/cookbooks'\n" in client_rb
    assert client_rb.endswith("environment 'prod\\'s'\n")  # quoted as a Ruby string
    assert json.loads(files[str(working / f"{ENTRY_ID}.node.json")]["text"]) == {
        "x": "1",
        "run_list": ["recipe[web]", "role[base]"],
    }


@pytest.mark.parametrize("config", ["recipe[web]", '{"run_list": []}', "[1, 2]", None])
def test_config_that_is_not_a_run_list_is_a_clear_failure(tmp_path, dirs, config):
    chef = standin(tmp_path)
    result, log = run_hook("chef", deployment(config=config), hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)))
    assert result["deploy_status_code"] == 1
    assert result["deploy_stderr"].startswith("chef hook: the config must be a run list")
    assert "Traceback" not in log
    assert chef.calls() == []


def test_exit_status_and_outputs(tmp_path, dirs):
    _, outputs = dirs
    base = outputs / ENTRY_ID
    chef = standin(
        tmp_path,
        exit_code=1,
        stderr="FATAL: boom\n",
        write_files={f"{base}.url": "http://web/\n", f"{base}.undeclared": "x"},
    )
    result, log = run_hook("chef", deployment(outputs=["url", "missing"]), hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)))
    assert result == {
        "url": "http://web/\n",
        "deploy_stdout": "",
        "deploy_stderr": "FATAL: boom\n",
        "deploy_status_code": 1,
    }
    assert "failed with exit status 1" in log
    assert list(outputs.iterdir()) == []


def test_missing_chef_client_is_a_clear_failure(tmp_path, dirs):
    python_only = tmp_path / "python-only"
    python_only.mkdir()
    (python_only / "python3").symlink_to(os.path.realpath(sys.executable))
    env = hook_env(dirs, PATH=str(python_only))
    env.pop("HEAT_CHEF_CMD", None)
    result, log = run_hook("chef", deployment(), env)
    assert result["deploy_status_code"] == 127
    assert result["deploy_stderr"] == (
        f"chef hook: cannot run chef-client: 'chef-client' on PATH ({python_only}) was not found "
        "or is not executable; install chef-client or set HEAT_CHEF_CMD to its path"
    )
    assert "Traceback" not in log


def git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env=dict(
            os.environ,
            GIT_AUTHOR_NAME="t",
            GIT_AUTHOR_EMAIL="t@example.org",
            GIT_COMMITTER_NAME="t",
            GIT_COMMITTER_EMAIL="t@example.org",
        ),
    )


@pytest.fixture
def kitchen_repo(tmp_path):
    repo = tmp_path / "kitchen-repo"
    (repo / "cookbooks" / "web").mkdir(parents=True)
    (repo / "cookbooks" / "web" / "version").write_text("1\n")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "v1", cwd=repo)
    return repo


def test_kitchen_is_cloned_once_and_afresh_on_update(tmp_path, dirs, kitchen_repo):
    working, _ = dirs
    chef = standin(tmp_path)
    env = hook_env(dirs, HEAT_CHEF_CMD=str(chef.path))
    version = working / "kitchen" / "cookbooks" / "web" / "version"

    def deploy(action):
        inputs = [{"name": "deploy_action", "type": "String", "value": action}]
        result, _ = run_hook("chef", deployment(inputs=inputs, options={"kitchen": str(kitchen_repo)}), env)
        assert result["deploy_status_code"] == 0, result
        return version.read_text()

    assert deploy("CREATE") == "1\n"
    (kitchen_repo / "cookbooks" / "web" / "version").write_text("2\n")
    git("commit", "-q", "-am", "v2", cwd=kitchen_repo)
    assert deploy("CREATE") == "1\n"  # present already: not cloned again
    assert deploy("UPDATE") == "2\n"
    assert len(chef.calls()) == 3


def test_kitchen_clone_failure_is_reported_without_running_chef(tmp_path, dirs):
    chef = standin(tmp_path)
    result, _ = run_hook(
        "chef",
        deployment(options={"kitchen": str(tmp_path / "no-such-repo")}),
        hook_env(dirs, HEAT_CHEF_CMD=str(chef.path)),
    )
    assert result["deploy_status_code"] != 0
    assert result["deploy_stderr"].startswith(f"chef hook: cloning the kitchen {tmp_path / 'no-such-repo'} failed")
    assert chef.calls() == []


def test_kitchen_url_credentials_are_not_logged_or_answered(tmp_path, dirs):
    chef = standin(tmp_path)
    url = "https://builder:t0ken-XYZ@127.0.0.1:9/kitchen.git"  # port 9 (discard): refused at once
    result, log = run_hook(
        "chef",
        deployment(options={"kitchen": url}),
        hook_env(dirs, HEAT_CHEF_CMD=str(chef.path), GIT_TERMINAL_PROMPT="0"),
    )
    assert result["deploy_status_code"] != 0
    assert "https://***@127.0.0.1:9/kitchen.git" in result["deploy_stderr"]
    assert "t0ken-XYZ" not in result["deploy_stderr"] + log
    assert chef.calls() == []
