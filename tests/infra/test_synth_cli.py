"""`python app.py` synthesizes in a bare environment: no AWS credentials, no Docker, no CDK CLI.

The environment holds PATH, HOME and jsii switches only. PATH is a folder with `node` (jsii needs
it) and a `docker` tripwire that records any call; HOME is empty, so no ~/.aws can help. The
jsii package cache is pointed at the user's existing one when there is one: extracting
aws-cdk-lib afresh into an empty HOME costs 10-20 s and proves nothing more.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import JSII_QUIET, ROOT

STACK_TEMPLATE = "VideoFlow.template.json"
JSII_CACHE = Path.home() / ".cache" / "aws" / "jsii" / "package-cache"


@pytest.fixture(scope="module")
def cli_synth(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    bin_dir, home, outdir = base / "bin", base / "home", base / "cdk.out"
    bin_dir.mkdir()
    home.mkdir()
    node = shutil.which("node")
    assert node, "jsii needs node on PATH"
    (bin_dir / "node").symlink_to(node)
    tripwire = base / "docker-was-called"
    docker = bin_dir / "docker"
    docker.write_text(f"#!/bin/sh\necho \"$@\" >> '{tripwire}'\nexit 1\n")
    docker.chmod(0o755)

    env = {"PATH": str(bin_dir), "HOME": str(home), "CDK_OUTDIR": str(outdir), **JSII_QUIET}
    if JSII_CACHE.is_dir():
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(JSII_CACHE)
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return result, outdir, tripwire


def test_given_a_bare_environment_when_app_py_runs_then_it_exits_cleanly(cli_synth):
    result, _, _ = cli_synth
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr


def test_given_a_bare_environment_when_app_py_runs_then_it_writes_the_videoflow_template(cli_synth):
    _, outdir, _ = cli_synth
    template = json.loads((outdir / STACK_TEMPLATE).read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert {"AWS::StepFunctions::StateMachine", "AWS::Lambda::Function", "AWS::S3::Bucket"} <= types


def test_given_a_bare_environment_when_app_py_runs_then_docker_is_never_called(cli_synth):
    _, _, tripwire = cli_synth
    assert not tripwire.exists(), tripwire.read_text()


def test_given_no_cdk_json_when_app_py_runs_then_it_declares_the_same_resources_as_the_deployed_app(
    cli_synth, template_dict
):
    _, outdir, _ = cli_synth
    template = json.loads((outdir / STACK_TEMPLATE).read_text())
    assert set(template["Resources"]) == set(template_dict["Resources"])
