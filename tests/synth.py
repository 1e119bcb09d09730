"""The VideoFlow app, synthesized once per session, in-process, with the context `cdk deploy` uses.

The `synth` fixture is registered once, in tests/conftest.py, so tests/infra and tests/deploy
share one synthesis per session and pytest worker (about 11 s on 2 cores) instead of one per folder.

The context is cdk.json's, passed explicitly (build_app would fill it from cdk.json anyway): the
template under test is the one `cdk synth` writes and `cdk deploy` ships. Synth runs the cdk-nag AwsSolutions plugin; a finding
fails the fixture (and so every infra test) with the validation report in the message.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Node 20 is past end of life for jsii: the old DEPRECATED switch no longer silences the banner.
JSII_QUIET = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}
for _name, _value in JSII_QUIET.items():
    os.environ.setdefault(_name, _value)


def deploy_context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass(frozen=True)
class Synthesized:
    app: object  # aws_cdk.App
    stack: object  # stacks.app.VideoFlowStack
    template: object  # aws_cdk.assertions.Template
    template_dict: dict
    outdir: Path
    template_path: Path

    def logical_id(self, construct) -> str:
        """The logical id of an L2 construct's CloudFormation resource."""
        return self.stack.get_logical_id(construct.node.default_child)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synthesized:
    # Imported here so that a run of only the unit tests never starts the jsii kernel.
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.app import build_app
    from stacks.names import STACK_NAME

    outdir = tmp_path_factory.mktemp("cdk")
    app = build_app(cdk.App(context=deploy_context(), outdir=str(outdir)))
    assembly = app.synth()
    stack = app.node.find_child(STACK_NAME)
    artifact = assembly.get_stack_by_name(STACK_NAME)
    template_path = outdir / artifact.template_file
    return Synthesized(
        app=app,
        stack=stack,
        template=Template.from_stack(stack),
        template_dict=json.loads(template_path.read_text()),
        outdir=outdir,
        template_path=template_path,
    )
