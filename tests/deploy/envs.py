"""Clean Python environments for the deployment checks, built with pip and cached under build/.

Each environment is keyed by a hash of what goes into it (the requirement lines, pip's flags,
the interpreter's version): a rerun with the same inputs reuses the folder and costs nothing,
a changed requirement builds a new one beside it. A folder is built under a temporary name and
renamed when pip succeeded, so an interrupted build is never mistaken for a finished one.

Two shapes:
- `target_dir`: `pip install --target`, the shape of a Lambda layer's python/ folder (/opt/python)
  and of the runtime's own /var/runtime. It is put on sys.path by the check itself.
- `venv`: a virtual environment without pip (`python -m venv --without-pip`), filled by this
  project's pip through `pip --python`: what a container image's `pip install -r` leaves in its
  interpreter. Processes started with its python see only those packages.

The interpreter is this machine's Python 3.11 (the Lambda runtime and the images run 3.13):
pip picks cp311 wheels of the same versions, which is what these checks need, whether the
declared packages are enough to import and run the code, not byte-identical binaries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "deploy-env"
PIP_TIMEOUT_S = 900


def _key(kind: str, lines: Sequence[str], flags: Sequence[str]) -> str:
    payload = json.dumps({"kind": kind, "python": sys.version_info[:2], "lines": list(lines), "flags": list(flags)})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _pip(*arguments: str, python: Path | None = None) -> None:
    """`pip install` with this project's pip; `python`: into that interpreter's environment instead."""
    command = [sys.executable, "-m", "pip", *(["--python", str(python)] if python else []), "install", "--quiet",
               "--disable-pip-version-check", "--no-warn-script-location", *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    if completed.returncode != 0:
        raise RuntimeError(f"pip failed ({completed.returncode}): {' '.join(command)}\n{completed.stderr[-4000:]}")


def _build(folder: Path, make) -> Path:
    if (folder / ".complete").exists():
        return folder
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        make(partial)
        (partial / ".complete").write_text("")
        if not (folder / ".complete").exists():  # another run may have finished the same folder meanwhile
            shutil.rmtree(folder, ignore_errors=True)  # a leftover without .complete
            try:
                partial.rename(folder)
            except OSError:
                if not (folder / ".complete").exists():
                    raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def target_dir(name: str, requirements: Sequence[str], *, no_deps: bool = False,
               remove: Sequence[str] = (), without: Sequence[str] = ()) -> Path:
    """`pip install --target` of `requirements`; then `remove` (glob patterns) deleted, as a layer build does,
    and the distributions named in `without` uninstalled (their RECORD's files), for another folder to supply."""
    flags = ["--no-deps"] if no_deps else []
    folder = CACHE / f"{name}-{_key('target', requirements, [*flags, *remove, *sorted(without)])}"

    def make(partial: Path) -> None:
        _pip("--target", str(partial), *flags, *requirements)
        for pattern in remove:
            for path in partial.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for info in partial.glob("*.dist-info"):
            if _name(info) in without:
                for line in (info / "RECORD").read_text().splitlines():
                    (partial / line.split(",")[0]).unlink(missing_ok=True)
                shutil.rmtree(info, ignore_errors=True)

    return _build(folder, make)


def venv(name: str, requirements: Sequence[str], hashed: Sequence[Path] = ()) -> Path:
    """A virtual environment holding exactly `requirements` (and what they depend on), then the requirements files
    `hashed` installed as an image installs them: `--no-deps --require-hashes -r`; returns its python."""
    hashed_lines = [line for path in hashed for line in path.read_text().splitlines()]
    folder = CACHE / f"{name}-{_key('venv', [*requirements, *hashed_lines], [])}"

    def make(partial: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(partial)], check=True,
                       capture_output=True, timeout=120)
        # The venv is built at its temporary path; its python is a symlink and its scripts are not
        # used (the checks run `python -m ...`), so moving the folder afterwards is safe.
        _pip(*requirements, python=partial / "bin" / "python")
        for path in hashed:
            _pip("--no-deps", "--require-hashes", "-r", str(path), python=partial / "bin" / "python")

    return _build(folder, make) / "bin" / "python"


def site_packages(python: Path) -> Path:
    """The site-packages folder of the venv whose interpreter is `python`."""
    found = sorted((python.parent.parent / "lib").glob("python3.*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def _name(info: Path) -> str | None:
    """The normalized distribution name of a .dist-info folder."""
    metadata = info / "METADATA"
    if metadata.exists():
        for line in metadata.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                return line.split(":", 1)[1].strip().lower().replace("_", "-").replace(".", "-")
    return None


def distributions(folder: Path) -> set[str]:
    """Normalized names of the distributions installed in `folder` (from their .dist-info)."""
    return {name for info in folder.glob("*.dist-info") if (name := _name(info))}
