"""Build folders for the images: a container's own folder plus the code it shares with the repository.

Docker copies only what is inside the build folder, and the workers share containers/s3_errors.py (and the
Batch workers containers/batch_job.py).
So, like the Lambda code asset (functions.lambda_code), each folder is staged at synth: the
container's files with the shared modules beside them, flat, as the Dockerfile copies them into
/app. The local runner runs the same staged folder as the image's WORKDIR, and the asset hash
still changes only when a file the image holds changes.

The embedding image (the functions that embed, keyframe_inference and search_api, and publish_results,
which needs OpenTimelineIO) holds Python packages at their repository paths instead: the steps it
runs, lambdas/common, and the CPU encoder
(containers/inference/model.py, imported as containers.inference.model).
"""

import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The two Batch workers share their exit codes and S3 handling (batch_job.py); every worker, the S3 error sorting.
BATCH_WORKER_MODULES = ("containers/s3_errors.py", "containers/batch_job.py")
SHARED_IMAGE_MODULES = {"frames": BATCH_WORKER_MODULES, "render": ("containers/s3_errors.py",),
                        "transcribe": BATCH_WORKER_MODULES}
# Folders and files copied keeping their repository path (caches left out).
SHARED_IMAGE_PATHS = {"embedding": (
    "lambdas/__init__.py", "lambdas/common", "lambdas/keyframe_inference", "lambdas/search_api",
    "lambdas/publish_results",
    "containers/__init__.py", "containers/inference/__init__.py", "containers/inference/model.py",
)}
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")


def stage_image(name: str) -> Path:
    """containers/<name> and its shared modules in a fresh folder (synths side by side never collide)."""
    staging = Path(tempfile.mkdtemp(prefix=f"videoflow-image-{name}-"))
    shutil.copytree(ROOT / "containers" / name, staging, dirs_exist_ok=True, ignore=CACHES)
    for module in SHARED_IMAGE_MODULES.get(name, ()):
        shutil.copyfile(ROOT / module, staging / Path(module).name)
    for path in SHARED_IMAGE_PATHS.get(name, ()):
        source, target = ROOT / path, staging / path
        if source.is_dir():
            shutil.copytree(source, target, ignore=CACHES)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return staging
