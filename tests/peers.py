"""Peers: other projects' real releases that tests run against Hearth, fetched from PyPI on demand.

Their code is never committed here. Each peer is pinned by version and by the sha256 of the
file PyPI serves; it is downloaded once with this venv's pip into a cache directory
(``$HEARTH_PEERS_DIR``, default ``<repo>/.venv/peers/``), checked, unpacked, and reused by
every later run. A peer that cannot be fetched fails the test under CI (where the network is
part of the contract) and skips it elsewhere, with the reason.

Two kinds exist: ``sdist``, the source tree as published (heat-agents ships nothing else),
and ``venv``, a virtualenv of the peer's own under the peers dir with the pinned release
installed from PyPI (os-collect-config: its real console scripts, run as a guest would). For a
venv peer the pin is the sha256 of the wheel PyPI serves; the release file is downloaded and
checked first, then installed from that very file with its dependencies. ``fetch`` returns the
venv's ``bin`` directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOWNLOAD_TIMEOUT = 300  # seconds for one pip download, build-metadata step included


@dataclass(frozen=True)
class Peer:
    """One pinned release: PyPI project, version, and the sha256 of its published file."""

    project: str
    version: str
    sha256: str
    kind: str = "sdist"
    # For a venv peer: pinned requirements installed beside it that its own metadata does not
    # declare (heat-cfntools imports boto without requiring it).
    extra: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def cache_name(self) -> str:
        return f"{self.project}-{self.version}-{self.kind}"


def known_peers() -> dict[str, Peer]:
    """Every peer a test may ask for, by project name."""
    return {
        "heat-agents": Peer(
            "heat-agents", "13.0.0", "346099c6e9f16bd5e68913b825013acdd97b6743a1764ebcfc08d6528cefa9d6"
        ),
        "os-collect-config": Peer(
            "os-collect-config",
            "14.1.0",
            "69e04cca65043f11f742b48828e886d23c84327d8316932c6e32131452bc9aed",
            kind="venv",
        ),
        # cfn-get-metadata, cfn-signal, cfn-init, cfn-hup: they import boto (2.x) undeclared.
        "heat-cfntools": Peer(
            "heat-cfntools",
            "2.0.0",
            "b3a48f4f51b0aa56db918578c8a62435ee16cc75e039cdd10ffe12b3dca397fe",
            kind="venv",
            extra=("boto==2.49.0",),
        ),
        # heat-agents' heat-config-notify posts a ZAQAR_SIGNAL through zaqarclient's `queues.v1`
        # module, which python-zaqarclient 4.0.0 removed (os-collect-config's venv gets 4.x, whose
        # v2 its `zaqar` collector uses): the last release with it, and the keystoneclient
        # heat-config-notify imports beside it.
        "python-zaqarclient": Peer(
            "python-zaqarclient",
            "3.0.1",
            "2fe5f7ff7bd7ec1e668c2aef747d5eb3bc036c018b6d77875ea45b104a193bf6",
            kind="venv",
            extra=("python-keystoneclient==6.0.0",),
        ),
        "python-heatclient": Peer(
            "python-heatclient",
            "5.3.0",
            "d548cea6f74a2371d5e6c87ffa389574d8e69ebed55de228c01fb801fbc86a14",
            kind="venv",
        ),
        # The `openstack` CLI with its heat plugin (python-heatclient provides `stack ...`).
        "python-openstackclient": Peer(
            "python-openstackclient",
            "10.5.0",
            "a31f7dfa25650bea045df42f3301677b344f2dd6cf9193d2531fe2725132685b",
            kind="venv",
            extra=("python-heatclient==5.3.0",),
        ),
    }


class PeerUnavailable(RuntimeError):
    """The peer could not be downloaded, did not match its pin, or could not be unpacked."""


def peers_dir() -> Path:
    """$HEARTH_PEERS_DIR, else ``.venv/peers`` in the repository (ignored by git with the venv)."""
    configured = os.environ.get("HEARTH_PEERS_DIR")
    return Path(configured) if configured else ROOT / ".venv" / "peers"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One preparer at a time per cache dir: parallel test processes would race on the unpack."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def download_sdist(peer: Peer, into: Path) -> Path:
    """The peer's sdist, fetched with this venv's pip into ``into`` and checked against its pin."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(into),
        peer.label,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"pip download {peer.label} took over {DOWNLOAD_TIMEOUT} s") from None
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-5:]
        raise PeerUnavailable(f"pip download {peer.label} failed (exit {result.returncode}): " + " | ".join(errors))
    archives = sorted(into.glob("*.tar.gz"))
    if len(archives) != 1:
        raise PeerUnavailable(
            f"pip download {peer.label} left {[a.name for a in archives]} in {into}, expected one .tar.gz"
        )
    actual = sha256_of(archives[0])
    if actual != peer.sha256:
        raise PeerUnavailable(
            f"{archives[0].name}: sha256 {actual} does not match the pin "
            f"{peer.sha256} in tests/peers.py (a changed release? check, then re-pin)"
        )
    return archives[0]


def unpack_sdist(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into``; the one top-level directory it holds."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")  # no absolute paths, links out or device files
    except (tarfile.TarError, OSError) as exc:
        raise PeerUnavailable(f"cannot unpack {archive.name}: {exc}") from None
    tops = [p for p in into.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise PeerUnavailable(f"{archive.name} holds {len(tops)} top-level directories, expected one")
    return tops[0]


def prepare_sdist(peer: Peer, staging: Path) -> Path:
    """Download, verify and unpack into ``staging``; the source tree's path inside it."""
    archive = download_sdist(peer, staging / "download")
    return unpack_sdist(archive, staging / "tree")


def _run_pip(label: str, command: list[str]) -> None:
    """Run one pip (or venv) command; PeerUnavailable naming its error lines when it fails."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{label} took over {DOWNLOAD_TIMEOUT} s") from None
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-5:]
        raise PeerUnavailable(f"{label} failed (exit {result.returncode}): " + " | ".join(errors))


def download_release(peer: Peer, into: Path) -> Path:
    """The peer's one published file (a wheel, else an sdist), fetched and checked against its pin."""
    _run_pip(
        f"pip download {peer.label}",
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-d",
            str(into),
            peer.label,
        ],
    )
    files = sorted(p for p in into.iterdir() if p.is_file())
    if len(files) != 1:
        raise PeerUnavailable(f"pip download {peer.label} left {[f.name for f in files]} in {into}")
    actual = sha256_of(files[0])
    if actual != peer.sha256:
        raise PeerUnavailable(
            f"{files[0].name}: sha256 {actual} does not match the pin "
            f"{peer.sha256} in tests/peers.py (a changed release? check, then re-pin)"
        )
    return files[0]


def prepare_venv(peer: Peer, staging: Path) -> Path:
    """A virtualenv in ``staging/venv`` holding the checked release and its dependencies; its
    ``bin`` directory. The venv is built where it will not stay (staging is renamed into place),
    so its console scripts are run with the venv's python rather than through their shebangs."""
    release = download_release(peer, staging / "download")
    venv = staging / "venv"
    _run_pip(f"python -m venv for {peer.label}", [sys.executable, "-m", "venv", str(venv)])
    _run_pip(
        f"pip install {peer.label}",
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            str(release),
            *peer.extra,
        ],
    )
    return venv / "bin"


PREPARERS: dict[str, Callable[[Peer, Path], Path]] = {"sdist": prepare_sdist, "venv": prepare_venv}


def fetch(project: str) -> Path:
    """The prepared peer's path (for an sdist, its unpacked source tree), cached across runs.

    Preparation happens in a staging directory renamed into place only once complete, so an
    interrupted run leaves nothing that a later run would take for a good copy.
    """
    peer = known_peers()[project]
    cache = peers_dir()
    final = cache / peer.cache_name
    with _locked(cache):
        pointer = final / "path"
        if pointer.is_file():
            prepared = final / pointer.read_text().strip()
            if prepared.exists():
                return prepared
        if final.exists():  # not something this module renamed into place: prepare it again
            shutil.rmtree(final)
        staging = Path(tempfile.mkdtemp(prefix=f".{peer.cache_name}.", dir=cache))
        try:
            prepared = PREPARERS[peer.kind](peer, staging)
            (staging / "path").write_text(str(prepared.relative_to(staging)) + "\n")
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final / prepared.relative_to(staging)


def require(project: str) -> Path:
    """fetch(), as a test uses it: an unavailable peer fails under CI and skips otherwise."""
    import pytest

    try:
        return fetch(project)
    except PeerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"peer {project} is required in CI: {exc}")
        pytest.skip(f"peer {project} unavailable: {exc}")
