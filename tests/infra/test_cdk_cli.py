"""`cdk synth` with the real CDK CLI (the pinned one in tools/) is clean and writes the tested template.

The CLI runs app.py as cdk.json says, with cdk.json's context and its own defaults; the template
the other tests check comes from the same app synthesized in-process. Both must be the same
template, equal as JSON, or the tests prove something other than what `cdk deploy` sends.
"""

import json
import re
import subprocess

import pytest

from stacks.names import STACK_NAME
from tests.infra.tools import NODE_BIN, ROOT, node_env, tool


@pytest.fixture(scope="module")
def cli_synth(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk-cli") / "cdk.out"
    env = node_env(
        # No network: no telemetry, no version check; --no-notices skips fetching notices.
        CDK_DISABLE_CLI_TELEMETRY="true", CDK_DISABLE_VERSION_CHECK="true", NO_COLOR="1", FORCE_COLOR="0",
    )
    result = subprocess.run(
        [tool(NODE_BIN / "cdk"), "synth", "--quiet", "--no-notices", "--output", str(outdir)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return result, outdir


def _output(result) -> str:
    return result.stdout + result.stderr


def test_given_the_cdk_cli_when_it_synthesizes_then_it_exits_cleanly(cli_synth):
    result, _ = cli_synth
    assert result.returncode == 0, _output(result)[-6000:]


def test_given_the_cdk_cli_when_it_synthesizes_then_no_feature_flag_is_left_unconfigured(cli_synth):
    result, _ = cli_synth
    assert "feature flag" not in _output(result), _output(result)[-3000:]


def test_given_the_cdk_cli_when_it_synthesizes_then_no_tool_warns_about_its_node_version(cli_synth):
    # The CLI and jsii (under app.py) both print a banner when Node is past or near end of life, or untested.
    result, _ = cli_synth
    assert not re.search(r"end.of.life|untested|not supported anymore", _output(result), re.IGNORECASE), _output(result)


def test_given_the_cdk_cli_when_it_synthesizes_then_the_app_records_no_error_code(cli_synth):
    _, outdir = cli_synth
    error_file = outdir / "error.txt"
    assert not error_file.exists(), error_file.read_text()


def test_given_the_cdk_cli_when_it_synthesizes_then_its_template_is_the_tested_template(cli_synth, synth):
    _, outdir = cli_synth
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    assert set(template["Resources"]) == set(synth.template_dict["Resources"])
    differing = sorted(
        key for key in set(template["Resources"]) | set(synth.template_dict["Resources"])
        if template["Resources"].get(key) != synth.template_dict["Resources"].get(key)
    )
    assert not differing, differing
    assert template == synth.template_dict
