"""What the configuration-management hooks (puppet, ansible, chef, salt) share: creates their
working and outputs dirs, writes private files, runs the tool and clears ``<id>.*`` outputs.

It is the heat-agents hook contract: one entry on stdin, one JSON answer on stdout.

Not a hook: it has no execute bit and no group is named after it. Each hook puts its own
directory first on ``sys.path`` and imports this module, so the hooks directory must be
installed (or copied) whole. Standard library only (PyYAML just for a structured config):
heat-agents' dispatcher runs hooks with the system ``python3``.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile

# Inputs Heat adds so that the agent can signal back (docs/guest-api.md, "Signal transports"). They hold
# credentials or pre-signed URLs, and a tool run has no use for them, so no hook writes them to
# a file or hands them to a tool; the descriptive deploy_* inputs (server id, action, stack id,
# resource name) stay available to manifests and playbooks.
SIGNALLING_INPUTS = frozenset(
    (
        "deploy_signal_transport",
        "deploy_signal_id",
        "deploy_signal_verb",
        "deploy_auth_url",
        "deploy_username",
        "deploy_user_id",
        "deploy_password",
        "deploy_project_id",
        "deploy_region_name",
        "deploy_queue_id",
    )
)
TOOL_MISSING = 127  # the shell's "command not found"


class HookError(Exception):
    """A deployment that cannot run; the message says what to fix and becomes deploy_stderr."""

    status = 1


class ToolMissing(HookError):
    """The tool is not installed (or not where its HEAT_<TOOL>_CMD says)."""

    status = TOOL_MISSING


class ToolUnusable(HookError):
    """The tool's file exists but cannot be executed (permissions, format)."""

    status = 126


def setup_logging(tool):
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format=f"%(asctime)s %(levelname)s heat-config-{tool}: %(message)s"
    )
    return logging.getLogger(f"heat-config-{tool}")


def read_entry(stream):
    """The deployment entry from stdin, checked for what every hook relies on."""
    entry = json.load(stream)
    if not isinstance(entry, dict) or "id" not in entry:
        raise HookError("stdin must be one deployment entry (a JSON object with an id)")
    entry_id = str(entry["id"])
    if not entry_id or "/" in entry_id or "\0" in entry_id or entry_id in (".", ".."):
        raise HookError(f"unusable deployment id {entry_id!r}: it names files in the working directory")
    options = entry.get("options")
    if options is not None and not isinstance(options, dict):
        raise HookError(f"options must be a mapping, not {type(options).__name__}")
    return entry


def options(entry):
    return entry.get("options") or {}


def option(entry, *names, default=None):
    """The first of ``names`` present in options (heat-agents' code and docs spell some differently)."""
    opts = options(entry)
    for name in names:
        if opts.get(name) is not None:
            return opts[name]
    return default


def flag(value):
    """An option that means yes or no; Heat templates may carry it as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def tool_dirs(tool):
    """Working and outputs directories (HEAT_<TOOL>_WORKING / _OUTPUTS, heat-agents' defaults), 0700."""
    prefix = "HEAT_" + tool.upper()
    working = os.environ.get(f"{prefix}_WORKING") or f"/var/lib/heat-config/heat-config-{tool}"
    outputs = os.environ.get(f"{prefix}_OUTPUTS") or f"/var/run/heat-config/heat-config-{tool}"
    for path in (working, outputs):
        os.makedirs(path, mode=0o700, exist_ok=True)
    return working, outputs


def inputs(entry, log, exclude=lambda name: name in SIGNALLING_INPUTS):
    """(name, value) for each usable input, in order, without the ones ``exclude`` rejects."""
    pairs = []
    for item in entry.get("inputs") or []:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            log.warning("skipping input with unusable name %r", name)
            continue
        if exclude(name):
            continue
        pairs.append((name, item.get("value")))
    return pairs


def as_text(value):
    """An input value as one string (facts, environment): JSON for structures, as the script hook."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def write_private(path, text, mode=0o600):
    """Write ``text`` atomically with ``mode``: a reader never sees a half-written or world-readable file."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def config_text(entry):
    """The config as text: a string as given; structured data (a StructuredConfig) as YAML."""
    config = entry.get("config")
    if config is None:
        return ""
    if isinstance(config, str):
        return config
    try:
        import yaml  # only structured configs need it
    except ImportError as exc:
        raise HookError(
            f"a structured config is written as YAML, and PyYAML cannot be imported ({exc}): "
            "install python3-yaml for the python3 that runs hooks, or give the config as text"
        ) from None
    return yaml.safe_dump(config, default_flow_style=False)


def find_tool(env_var, default, tool):
    """The tool's executable: ``$env_var`` (if given) or ``default``, searched on PATH; ToolMissing if absent."""
    command = (os.environ.get(env_var) if env_var else None) or default
    found = shutil.which(command)
    if found is None:
        where = command if os.sep in command else f"{command!r} on PATH ({os.environ.get('PATH', '')})"
        fix = f"install {tool}" + (f" or set {env_var} to its path" if env_var else "")
        raise ToolMissing(f"cannot run {tool}: {where} was not found or is not executable; {fix}")
    return found


def run_tool(cmd, env, cwd, log, shown=None):
    """Run the tool; its stdout, stderr and exit status, whatever it did.

    ``shown`` replaces ``cmd`` in the log when an argument may carry a credential.
    """
    log.info("running %s", " ".join(shown or cmd))
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, check=False
        )
    except OSError as exc:
        raise ToolUnusable(f"cannot execute {cmd[0]}: {exc}") from exc
    log.info("%s exited with status %s", os.path.basename(cmd[0]), proc.returncode)
    return (
        proc.stdout.decode("utf-8", errors="replace"),
        proc.stderr.decode("utf-8", errors="replace"),
        proc.returncode,
    )


def outputs_path(outputs_dir, entry):
    return os.path.join(outputs_dir, str(entry["id"]))


def clear_outputs(outputs_dir, entry, log):
    """Remove ``<id>.*`` output files, so an output the run did not write is absent, not stale."""
    prefix = str(entry["id"]) + "."
    for name in os.listdir(outputs_dir):
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join(outputs_dir, name))
            except OSError as exc:
                log.warning("cannot remove output file %s: %s", name, exc)


def collect_outputs(entry, base):
    """Each declared output whose file ``<base>.<name>`` exists, read whole (not stripped)."""
    values = {}
    for output in entry.get("outputs") or []:
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str) or not name or "/" in name:
            continue
        try:
            with open(f"{base}.{name}", encoding="utf-8", errors="replace") as handle:
                values[name] = handle.read()
        except OSError:
            pass
    return values


def answer(stdout, stderr, status, outputs=None):
    response = dict(outputs or {})
    response.update(deploy_stdout=stdout, deploy_stderr=stderr, deploy_status_code=status)
    return response


def main(tool, deploy, stdin=None, stdout=None):
    """Read the entry, call ``deploy(entry, log)`` and print its answer; a failure is an answer too."""
    log = setup_logging(tool)
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    try:
        response = deploy(read_entry(stdin), log)
    except HookError as exc:
        log.error("%s", exc)
        response = answer("", f"{tool} hook: {exc}", exc.status)
    except Exception as exc:  # noqa: BLE001 - a failed deployment is data: answer with JSON
        log.error("%s hook failed: %s: %s", tool, type(exc).__name__, exc)
        response = answer("", f"{tool} hook failed: {type(exc).__name__}: {exc}", 1)
    json.dump(response, stdout)
    stdout.write("\n")
    return 0
