"""The one-way import rules of docs/architecture.md §2, read from the source: modules are parsed, not imported.

- engine/ never imports Flask, Werkzeug or metadata_server (it is a library and a CLI);
- engine/cli/ talks HTTP only: no Flask, no SQLAlchemy, no engine.store;
- agent/ imports the standard library, requests, PyYAML and watchdog, and itself;
- hooks/ import the standard library and hookcommon (an import guarded by
  ``except ImportError``, such as PyYAML for a structured config, is optional and allowed);
- metadata_server/ reaches the engine through engine.service, engine.errors and engine.config,
  and never imports SQLAlchemy.

A rule that the code breaks today lists its exceptions, file by file, in an allow-list that
may only shrink: a new exception fails, and so does a listed one that is gone (trim the list).
Every Python hook must also be named in the lint configuration (it has no .py suffix, so ruff
and mypy find it only by name).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STDLIB = frozenset(sys.stdlib_module_names)

# metadata_server -> engine modules other than engine.service, engine.errors and engine.config,
# as of the commit that added this test. Each is a view reaching past the facade; move the call
# behind engine.service and delete the line.
SERVER_ENGINE_IMPORTS_TODAY: dict[str, frozenset[str]] = {
    # The `hearth` command is one click group: engine.cli defines it and its client commands,
    # metadata_server.cli adds `server` to it. These two stay until the client leaves engine/
    # (architecture review 3.1); they reach the command line, not the engine's internals.
    "metadata_server/cli.py": frozenset({"engine.cli"}),
    "metadata_server/server_command.py": frozenset({"engine.cli.groups"}),
}
SERVER_MAY_IMPORT = ("engine.service", "engine.errors", "engine.config")

# engine/cli -> what it should not import, as of the commit that added this test: `hearth keys`
# acts on the local installation's key file and database, not through the API.
CLI_FORBIDDEN_TODAY: dict[str, frozenset[str]] = {
    "engine/cli/keys.py": frozenset({"engine.store.crypto", "engine.store.db"}),
}

# What a rule refuses.
Rule = Callable[["Import"], bool]

AGENT_MAY_IMPORT = frozenset({"agent", "requests", "yaml", "watchdog"})
HOOKS_MAY_IMPORT = frozenset({"hookcommon"})


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name: for `from a import b`, a.b when b is a module here
    line: int
    optional: bool  # inside a `try` whose handlers catch ImportError

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {kind.id for kind in kinds if isinstance(kind, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def imports_of(path: Path) -> list[Import]:
    """Every import statement in ``path``, at any depth (lazy imports in functions count)."""
    return imports_in(path.read_bytes(), path.relative_to(ROOT))


def imports_in(source: bytes, relative: Path) -> list[Import]:
    """The imports of ``source``, the text of the file at ``relative`` (from the repository
    root), which places its relative imports."""
    package = list(relative.parent.parts) if relative.suffix == ".py" else []
    found: list[Import] = []

    def visit(node: ast.AST, optional: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, optional) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{module}.{alias.name}" if module else alias.name
                found.append(Import(submodule if _is_module(submodule) else module, node.lineno, optional))
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for statement in node.body:
                visit(statement, True)
            for rest in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(rest, optional)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    visit(ast.parse(source, str(relative)), False)
    return found


def modules_in(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def python_hooks() -> list[Path]:
    """hooks/*.py and every file in hooks/ whose shebang runs Python (a hook may be a shell
    script: those are not Python and are left alone)."""
    hooks = []
    for path in sorted((ROOT / "hooks").iterdir()):
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            first = handle.readline()
        if path.suffix == ".py" or (first.startswith(b"#!") and b"python" in first):
            hooks.append(path)
    return hooks


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def within(module: str, packages: tuple[str, ...] | frozenset[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def broken(paths: list[Path], forbidden: Rule) -> dict[str, frozenset[str]]:
    """file -> the modules it imports that ``forbidden(import)`` refuses."""
    found = {}
    for path in paths:
        bad = frozenset(i.module for i in imports_of(path) if forbidden(i))
        if bad:
            found[name(path)] = bad
    return found


def lines(paths: list[Path], forbidden: Rule) -> list[str]:
    return [f"{name(path)}:{i.line}: imports {i.module}" for path in paths for i in imports_of(path) if forbidden(i)]


def shrink_only(found: dict[str, frozenset[str]], allowed: dict[str, frozenset[str]], rule: str) -> None:
    new = {f: sorted(m - allowed.get(f, frozenset())) for f, m in found.items()}
    new = {f: m for f, m in new.items() if m}
    gone = {f: sorted(m - found.get(f, frozenset())) for f, m in allowed.items()}
    gone = {f: m for f, m in gone.items() if m}
    assert not new, f"{rule}; new imports that break it: {new}"
    assert not gone, (
        f"{rule}; these listed exceptions are gone, so delete them from the list (it may only shrink): {gone}"
    )


# -- the parser itself ---------------------------------------------------------------------------


def test_imports_are_resolved_to_modules_and_guarded_ones_are_optional() -> None:
    text = (
        b"import os, json\nfrom engine import errors, not_a_module\nfrom . import service\n"
        b"from .store import db\ndef f():\n    import flask\n"
        b"try:\n    import yaml\nexcept (ImportError, OSError):\n    yaml = None\n"
    )
    found = [(i.module, i.line, i.optional) for i in imports_in(text, Path("engine/probe.py"))]
    assert found == [
        ("os", 1, False),
        ("json", 1, False),
        ("engine.errors", 2, False),
        ("engine", 2, False),
        ("engine.service", 3, False),
        ("engine.store.db", 4, False),
        ("flask", 6, False),
        ("yaml", 8, True),
    ]


# -- the rules -----------------------------------------------------------------------------------


def test_engine_never_imports_flask_werkzeug_or_the_server() -> None:
    found = lines(modules_in("engine"), lambda i: i.top in {"flask", "werkzeug", "metadata_server"})
    assert not found, "engine/ is a library: no Flask, no Werkzeug, no metadata_server\n" + "\n".join(found)


def test_only_the_server_and_tools_import_the_facade() -> None:
    """engine.service sits on top of the engine: a resource, the scheduler or the guest side
    importing it would reach back up through the layer that calls them."""
    below = [path for path in modules_in("engine") if not name(path).startswith("engine/service/")]
    found = lines(below, lambda i: within(i.module, ("engine.service",)))
    assert not found, (
        "engine modules below the facade never import engine.service; put what "
        "they share lower (engine.views, engine.software_formats, ...)\n" + "\n".join(found)
    )


def test_template_package_is_pure() -> None:
    """engine/template does no I/O and knows nothing above it: no store, no SQLAlchemy, no
    resources, scheduler, guest side or facade (its graph check borrows the pure graph)."""

    def forbidden(i: Import) -> bool:
        return i.top in {"sqlalchemy", "requests", "flask", "werkzeug", "metadata_server"} or (
            i.top == "engine"
            and not within(
                i.module, ("engine.template", "engine.errors", "engine.config", "engine.orchestration.graph")
            )
        )

    found = lines(modules_in("engine/template"), forbidden)
    assert not found, "engine/template is pure\n" + "\n".join(found)


def test_engine_cli_talks_http_only() -> None:
    def forbidden(i: Import) -> bool:
        return i.top in {"flask", "werkzeug", "sqlalchemy"} or within(i.module, ("engine.store",))

    shrink_only(
        broken(modules_in("engine/cli"), forbidden),
        CLI_FORBIDDEN_TODAY,
        "engine/cli/ imports no Flask, no SQLAlchemy and no engine.store",
    )


def test_agent_imports_the_stdlib_requests_yaml_and_watchdog_only() -> None:
    found = lines(modules_in("agent"), lambda i: i.top not in STDLIB | AGENT_MAY_IMPORT)
    assert not found, "agent/ installs into any image: stdlib, requests, PyYAML, watchdog\n" + "\n".join(found)


def test_hooks_import_the_stdlib_only() -> None:
    hooks = python_hooks()
    assert {h.name for h in hooks} >= {"script", "hookcommon.py"}  # the discovery works
    found = lines(hooks, lambda i: not i.optional and i.top not in STDLIB | HOOKS_MAY_IMPORT)
    assert not found, (
        "hooks run on the guest's python3: the standard library only (guard an "
        "optional module with `except ImportError`)\n" + "\n".join(found)
    )


def test_the_server_reaches_the_engine_through_service_errors_and_config() -> None:
    def forbidden(i: Import) -> bool:
        return i.top == "engine" and not within(i.module, SERVER_MAY_IMPORT)

    shrink_only(
        broken(modules_in("metadata_server"), forbidden),
        SERVER_ENGINE_IMPORTS_TODAY,
        "metadata_server/ imports from engine only engine.service, engine.errors and "
        "engine.config (docs/architecture.md §2)",
    )


def test_the_server_never_imports_sqlalchemy() -> None:
    found = lines(modules_in("metadata_server"), lambda i: i.top == "sqlalchemy")
    assert not found, (
        "metadata_server/ reaches the store through engine.service only: no "
        "SQLAlchemy, no sessions, no queries in views\n" + "\n".join(found)
    )


def test_every_python_hook_is_linted() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ruff = set(config["tool"]["ruff"]["extend-include"])
    mypy = set(config["tool"]["mypy"]["files"])
    scripts = {name(h) for h in python_hooks() if h.suffix != ".py"}
    assert scripts <= ruff, f"add to [tool.ruff] extend-include: {sorted(scripts - ruff)}"
    assert scripts <= mypy, f"add to [tool.mypy] files: {sorted(scripts - mypy)}"
