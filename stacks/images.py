"""Build folders for the frame and render images: a container's own folder plus the modules they share.

Docker copies only what is inside the build folder, and both workers use containers/s3_errors.py.
So, like the Lambda code asset (functions.lambda_code), each folder is staged at synth: the
container's files with the shared modules beside them, flat, as the Dockerfile copies them into
/app. The local runner runs the same staged folder as the image's WORKDIR, and the asset hash
still changes only when a file the image holds changes.
"""

import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_IMAGE_MODULES = {"frames": ("containers/s3_errors.py",), "render": ("containers/s3_errors.py",)}


def stage_image(name: str) -> Path:
    """containers/<name> and its shared modules in a fresh folder (synths side by side never collide)."""
    staging = Path(tempfile.mkdtemp(prefix=f"videoflow-image-{name}-"))
    shutil.copytree(ROOT / "containers" / name, staging, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for module in SHARED_IMAGE_MODULES[name]:
        shutil.copyfile(ROOT / module, staging / Path(module).name)
    return staging
