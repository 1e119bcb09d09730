"""The VideoFlow app, synthesized once per session, in-process, with the context `cdk deploy` uses.

The `synth` fixture is registered once, in tests/conftest.py, so tests/infra and tests/deploy
share one synthesis per session and pytest worker (about 11 s on 2 cores) instead of one per folder.

The context is cdk.json's, passed explicitly (build_app would fill it from cdk.json anyway): the
template under test is the one `cdk synth` writes and `cdk deploy` ships. Synth runs the cdk-nag AwsSolutions plugin; a finding
fails the fixture (and so every infra test) with the validation report in the message.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from videoflow.local.synth import sources_hash, synthesize

ROOT = Path(__file__).resolve().parents[1]
# The app's sources as this test process found them when it loaded its conftest, before it built the app.
SOURCES_AT_START = sources_hash()
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


def local_outdir(request: pytest.FixtureRequest, overrides: dict | None = None) -> Path:
    """videoflow.local.synth.synthesize(overrides=overrides): the cloud assembly `videoflow run` runs, cached in
    build/cdk.out-<hash of the sources and overrides>. When it is not there yet it is made in this process: the
    default assembly is a copy of this session's `synth` (the same app.py, cdk.json context and sources give the
    same assembly), and one with overrides is built in this process's jsii kernel, in seconds once the kernel runs,
    instead of a fresh `python app.py` each. Sources edited since this process started are left to synthesize()."""
    from stacks.names import STACK_NAME

    target = ROOT / "build" / f"cdk.out-{sources_hash(overrides)}"
    if sources_hash() == SOURCES_AT_START and not (target / f"{STACK_NAME}.template.json").exists():
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")  # renamed into place when whole
        shutil.rmtree(partial, ignore_errors=True)
        if overrides:
            import aws_cdk as cdk

            from stacks.app import build_app

            context = deploy_context()
            context["videoflow"] = {**context.get("videoflow", {}), **overrides}
            build_app(cdk.App(context=context, outdir=str(partial))).synth()
        else:
            shutil.copytree(request.getfixturevalue("synth").outdir, partial, symlinks=True)
        try:
            partial.rename(target)
        except OSError:  # another test worker put it there first
            shutil.rmtree(partial, ignore_errors=True)
    return synthesize(overrides=overrides)
