"""Install and run the pinned real Heat as a local reference (`make heat-reference`).

    python -m tests.heat_reference.reference install          # the virtualenv, once
    python -m tests.heat_reference.reference run [--port P] [--db URL]   # foreground until Ctrl-C

Settings (environment):
  HEARTH_HEAT_REF_HOME   where the venv and run directories live (default ~/.cache/hearth/heat-reference)
  HEARTH_HEAT_REF_VENV   an existing venv with exactly HEAT_SPEC installed, to reuse
  HEARTH_HEAT_REF_DB     a SQLAlchemy URL of an EMPTY database; default: a database of its own on
                         the PostgreSQL at HEARTH_HEAT_REF_PG (postgresql://postgres@127.0.0.1:5432),
                         dropped when the reference stops, else SQLite in the run dir. Heat on
                         SQLite fails some operations with "database is locked"; PostgreSQL does not.

The reference is stock Heat with noauth (any X-Auth-Token is accepted and maps to project
`admin` with roles admin, member and reader), an allow-all policy (noauth gives only "admin"
and some of Heat's new default rules want "reader"), the in-process `fake:/` message
transport, the legacy engine, and stack abandon/adopt switched on (off in stock Heat). Without
Keystone it serves every stack operation and OS::Heat::{None, Value, RandomString,
TestResource, ResourceChain, ResourceGroup, Delay, SoftwareConfig, StructuredConfig,
MultipartMime, CloudConfig, SoftwareDeployment (NO_SIGNAL)}, nested and provider templates,
environments and the software_configs / software_deployments API; it fails anything that needs
a stack domain user, EC2 keys, Swift, Zaqar, Nova or Neutron.

`identity=True` (`run --identity`; the differential cases marked `identity: true`) adds a
stand-in for the little of Keystone, Glance and Nova that scaling needs (keystone_stub.py):
stack users, EC2 key pairs and trusts, one image and one flavor for a launch configuration,
and `identity`, `cloudformation`, `image` and `compute` entries in the catalog. Heat then
defers auth by trusts (noauth's stored password credentials name no usable auth URL), so a
scaling policy can be created and signalled. The catalog's extra services make types that
check for them available, so only the cases that need it run on this variant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAT_SPEC = ["openstack-heat==27.0.1", "psycopg2-binary==2.9.13"]
HERE = Path(__file__).resolve().parent


def home() -> Path:
    return Path(os.environ.get("HEARTH_HEAT_REF_HOME") or Path.home() / ".cache/hearth/heat-reference")


def venv() -> Path:
    return Path(os.environ.get("HEARTH_HEAT_REF_VENV") or home() / "venv")


def install() -> Path:
    """The reference virtualenv, created when missing; checks that Heat imports."""
    target = venv()
    python = target / "bin" / "python"
    if not python.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *HEAT_SPEC], check=True)
    subprocess.run([str(python), "-c", "import heat.engine.service, heat.api.openstack.v1"], check=True)
    return target


def _heat_prefix(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix)"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def write_config(
    run_dir: Path, port: int, db_url: str | None, identity_port: int | None = None, extra_config: str = ""
) -> Path:
    python = venv() / "bin" / "python"
    paste = _heat_prefix(python) / "etc" / "heat" / "api-paste.ini"
    if not paste.exists():
        raise SystemExit(f"{paste} is missing: the reference venv is incomplete, run `install`")
    (run_dir / "locks").mkdir(parents=True, exist_ok=True)
    # Every rule Heat knows, allowed to everyone.
    rules = subprocess.run(
        [
            str(python),
            "-W",
            "ignore",
            "-c",
            ("import json; from heat import policies; print(json.dumps({r.name: '' for r in policies.list_rules()}))"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (run_dir / "policy.json").write_text(rules)

    # noauth's token answer: a catalog so resources that ask "is orchestration offered" find it.
    def endpoints(url):
        return [
            {"id": f"{i}-endpoint", "interface": i, "region": "RegionOne", "region_id": "RegionOne", "url": url}
            for i in ("public", "internal", "admin")
        ]

    catalog = [
        {
            "id": "heat",
            "type": "orchestration",
            "name": "heat",
            "endpoints": endpoints(f"http://127.0.0.1:{port}/v1/admin"),
        }
    ]
    if identity_port:
        # The stand-in Keystone (keystone_stub.py) for stack users, and the CFN endpoint Heat
        # builds a SignalResponder's EC2-signed alarm_url on (nothing serves it: only its shape
        # is recorded).
        catalog.append(
            {
                "id": "keystone",
                "type": "identity",
                "name": "keystone",
                "endpoints": endpoints(f"http://127.0.0.1:{identity_port}/v3"),
            }
        )
        catalog.append(
            {
                "id": "heat-cfn",
                "type": "cloudformation",
                "name": "heat-cfn",
                "endpoints": endpoints(f"http://127.0.0.1:{port}/v1"),
            }
        )
        # The image and flavor look-ups of AWS::AutoScaling::LaunchConfiguration (same stand-in).
        for service, kind, path in (("glance", "image", "image"), ("nova", "compute", "compute/v2.1")):
            catalog.append(
                {
                    "id": service,
                    "type": kind,
                    "name": service,
                    "endpoints": endpoints(f"http://127.0.0.1:{identity_port}/{path}"),
                }
            )
    token = {
        "token": {
            "methods": ["token"],
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "user": {"id": "admin", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "admin", "name": "admin", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": r, "name": r} for r in ("admin", "member", "reader")],
            "catalog": catalog,
        }
    }
    (run_dir / "token.json").write_text(json.dumps(token))
    database = db_url or f"sqlite:///{run_dir}/heat.sqlite"
    config = run_dir / "heat.conf"
    config.write_text(f"""[DEFAULT]
transport_url = fake:/
host = heat-reference
num_engine_workers = 1
convergence_engine = false
enable_stack_adopt = true
enable_stack_abandon = true
auth_encryption_key = {"0123456789abcdef" * 2}
deferred_auth_method = password
log_file = {run_dir}/heat.log
[database]
connection = {database}
[paste_deploy]
flavor = noauth
api_paste_config = {paste}
[oslo_concurrency]
lock_path = {run_dir}/locks
[oslo_policy]
policy_file = {run_dir}/policy.json
enforce_new_defaults = false
enforce_scope = false
[noauth]
token_response = {run_dir}/token.json
""")
    if identity_port:
        # Stored credentials are noauth's (auth_url "url"), which nothing can sign in with:
        # defer auth by trusts to the stand-in's trustee instead.
        text = config.read_text().replace("deferred_auth_method = password", "deferred_auth_method = trusts")
        config.write_text(
            text + f"[clients_keystone]\nauth_uri = http://127.0.0.1:{identity_port}\n"
            f"[trustee]\nauth_type = password\nauth_url = http://127.0.0.1:{identity_port}\n"
            "username = heat\npassword = reference\nuser_domain_id = default\n"
        )
    if extra_config:  # more sections, e.g. oslo.messaging notifications (tests/differential/notifications)
        config.write_text(config.read_text() + extra_config)
    subprocess.run(
        [str(venv() / "bin" / "heat-manage"), "--config-file", str(config), "db_sync"], check=True, capture_output=True
    )
    return config


def _own_postgres_database() -> tuple[str, str] | None:
    """A fresh database for the reference on the local PostgreSQL: (Heat's URL, its name)."""
    server = os.environ.get("HEARTH_HEAT_REF_PG", "postgresql://postgres@127.0.0.1:5432")
    try:
        import psycopg

        name = "heat_reference_" + os.urandom(6).hex()
        with psycopg.connect(server + "/postgres", autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except Exception:  # noqa: BLE001 - no PostgreSQL here: SQLite it is
        return None
    return server.replace("postgresql://", "postgresql+psycopg2://", 1) + "/" + name, name


def _drop_postgres_database(name: str) -> None:
    import psycopg

    server = os.environ.get("HEARTH_HEAT_REF_PG", "postgresql://postgres@127.0.0.1:5432")
    with psycopg.connect(server + "/postgres", autocommit=True, connect_timeout=3) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    port: int | None = None,
    db_url: str | None = None,
    run_dir: Path | None = None,
    identity: bool = False,
    extra_config: str = "",
):
    """Start the reference; (process, base URL, run dir). The caller stops it with `stop`.

    With `identity`, the process also serves keystone_stub.py on another port and the token's
    catalog names it (and a CFN endpoint), so resources that make stack users and EC2 key pairs
    (OS::Heat::ScalingPolicy, AWS::AutoScaling::ScalingPolicy) can be created."""
    install()
    port = port or _free_port()
    home().mkdir(parents=True, exist_ok=True)
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="run-", dir=home()))
    db_url = db_url or os.environ.get("HEARTH_HEAT_REF_DB")
    own = None if db_url else _own_postgres_database()
    if own is not None:
        db_url = own[0]
        (run_dir / "own-database").write_text(own[1])
    identity_port = _free_port() if identity else None
    config = write_config(run_dir, port, db_url, identity_port, extra_config)
    extra = [str(identity_port)] if identity_port else []
    with open(run_dir / "stdout.log", "w") as log:
        process = subprocess.Popen(
            [
                str(venv() / "bin" / "python"),
                "-W",
                "ignore",
                str(HERE / "heat_server.py"),
                str(config),
                str(port),
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.run_dir = run_dir
    base = f"http://127.0.0.1:{port}/v1/admin"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the reference exited: see {run_dir}/stdout.log and heat.log")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                stop(process)
                raise SystemExit("the reference did not listen within 120 s") from None
            time.sleep(0.2)
    return process, base, run_dir


def stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    own = Path(process.run_dir) / "own-database"
    if own.exists():
        _drop_postgres_database(own.read_text())


@contextlib.contextmanager
def running_reference(
    port: int | None = None, db_url: str | None = None, identity: bool = False, extra_config: str = ""
):
    process, base, run_dir = start(port, db_url, identity=identity, extra_config=extra_config)
    try:
        yield base
    finally:
        stop(process)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="the pinned real Heat, as a local reference")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install")
    run = sub.add_parser("run")
    run.add_argument("--port", type=int, default=18004)
    run.add_argument("--db", help="an empty database's SQLAlchemy URL (default SQLite)")
    run.add_argument("--identity", action="store_true", help="also serve the stand-in Keystone (keystone_stub.py)")
    args = parser.parse_args(argv)
    if args.command == "install":
        print(f"reference Heat ready in {install()}")
        return 0
    process, base, run_dir = start(args.port, args.db, identity=args.identity)
    print(f"real Heat on {base} (any X-Auth-Token); logs in {run_dir}; Ctrl-C stops it", flush=True)
    try:
        process.wait()
    except KeyboardInterrupt:
        stop(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
