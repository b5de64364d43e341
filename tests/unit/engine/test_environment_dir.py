"""The global environment directory (HEARTH_ENVIRONMENT_DIR), read at start and merged under
every stack's own environment, on a real SQLite store."""

from __future__ import annotations

import pytest

from engine.config import Config
from engine.errors import InvalidRequest, TemplateError
from engine.service import build_service, load_environment_dir
from tests.support import wait_for

TEMPLATE = """heat_template_version: 2018-08-31
parameters:
  size: {type: number, default: 1}
resources:
  box: {type: Site::Box, properties: {value: {get_param: size}}}
outputs:
  size: {value: {get_attr: [box, value]}}
"""


def test_files_merge_in_name_order_under_the_stacks_own_environment(tmp_path):
    env_dir = tmp_path / "environment.d"
    env_dir.mkdir()
    (env_dir / "10-types.yaml").write_text("resource_registry:\n  Site::Box: OS::Heat::None\n")
    (env_dir / "20-override.yaml").write_text(
        "resource_registry:\n  Site::Box: OS::Heat::Value\nparameter_defaults:\n  size: 3\n"
    )
    (env_dir / "README").write_text("not an environment")
    service = build_service(
        Config.from_env(
            {},
            db_url=f"sqlite:///{tmp_path}/h.db",
            data_dir=str(tmp_path / "data"),
            compute="deployed",
            environment_dir=str(env_dir),
        )
    )
    service.start()
    try:
        first = service.stacks.create_stack("admin", {"stack_name": "a", "template": TEMPLATE})["id"]
        own = service.stacks.create_stack(
            "admin", {"stack_name": "b", "template": TEMPLATE, "environment": {"parameter_defaults": {"size": 7}}}
        )["id"]

        def output(stack_id):
            stack = service.stacks.show_stack("admin", stack_id)
            if stack["stack_status"].endswith("IN_PROGRESS"):
                return None
            assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
            return stack["outputs"][0]["output_value"]

        assert wait_for(lambda: output(first), 30) == 3  # the later file wins
        assert wait_for(lambda: output(own), 30) == 7  # the stack's own environment wins
    finally:
        service.stop()
        service.runtime.store.dispose()


def test_a_bad_file_or_directory_is_named(tmp_path):
    (tmp_path / "bad.yaml").write_text("resource_registry: [not, a, map]\n")
    with pytest.raises(TemplateError) as error:
        load_environment_dir(str(tmp_path))
    assert "bad.yaml" in str(error.value) and "resource_registry" in str(error.value)
    with pytest.raises(InvalidRequest) as missing:
        load_environment_dir(str(tmp_path / "nowhere"))
    assert "nowhere" in str(missing.value)
    assert load_environment_dir("") is None
