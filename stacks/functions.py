"""Layer 03, compute: one construct per Lambda, each with its own role and log group.

Every function ships from one code asset (the `lambdas` package: all handlers and the
shared `lambdas.common` code, once) and the public Powertools layer for its dependencies,
except those whose step names a container image: keyframe_inference and search_api run in
the embedding image (containers/embedding), which holds the model they embed with on CPU.
`Functions` makes one per step of stacks/steps.py; `PipelineFunction` is one of them.
"""

import shutil
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import (
    aws_ecr_assets as ecr_assets,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_lambda_destinations as destinations,
    aws_logs as logs,
    aws_sqs as sqs,
)
from constructs import Construct

from stacks.config import VideoFlowConfig
from stacks.images import stage_image
from stacks.nag import acknowledge
from stacks.steps import STEPS, Step
from stacks.wiring import Wiring, unscoped_actions, wire

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_13
# Invoked by EventBridge, asynchronously: retried by Lambda, then parked with the dead letters.
ASYNC_FUNCTIONS = ("start_pipeline", "compensate")


# The render spec is the renderer's input contract; build_render_specs validates with the same module.
SHARED_CONTAINER_MODULES = ("containers/__init__.py", "containers/render/__init__.py", "containers/render/spec.py")


def lambda_code() -> lambda_.Code:
    """Stage a clean copy of the lambdas package (no caches) as the one code asset.

    The render spec module ships with it (the renderer's contract, one source file in the repo).

    A fresh temporary folder per synth, so synths running side by side never collide; CDK
    copies the asset into cdk.out by content hash, so the folder's name does not matter.
    """
    staging = Path(tempfile.mkdtemp(prefix="videoflow-lambda-"))
    shutil.copytree(ROOT / "lambdas", staging / "lambdas", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for module in SHARED_CONTAINER_MODULES:
        (staging / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / module, staging / module)
    return lambda_.Code.from_asset(str(staging))


class PipelineFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        name: str,
        *,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion | None,
        extra_layers: list[lambda_.ILayerVersion] | None = None,
        environment: dict[str, str] | None = None,
        config: VideoFlowConfig,
        timeout: cdk.Duration | None = None,
        memory_mb: int = 256,
        description: str = "",
        unscoped_actions: dict[str, str] | None = None,
        async_retry_attempts: int = 0,
        on_failure: lambda_.IDestination | None = None,
        image: bool = False,
        ephemeral_storage_mb: int | None = None,
        handler: str | None = None,
    ):
        """`unscoped_actions`: actions that AWS offers on Resource "*" only, each with the reason.

        `image`: `code` is a container image (lambda_.Code.from_asset_image); it brings its own runtime.
        """
        super().__init__(scope, name)
        self.name = name
        self.timeout = timeout = timeout or cdk.Duration.seconds(30)
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"VideoFlow {name}: only what this function does",
        )
        self.log_group = logs.LogGroup(
            self, "Logs",
            retention=logs.RetentionDays[config.log_retention],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.function = lambda_.Function(
            self, "Function",
            runtime=lambda_.Runtime.FROM_IMAGE if image else RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=lambda_.Handler.FROM_IMAGE if image else handler or f"lambdas.{name}.handler.handler",
            code=code,
            layers=None if image else [layer, *(extra_layers or [])],
            ephemeral_storage_size=cdk.Size.mebibytes(ephemeral_storage_mb) if ephemeral_storage_mb else None,
            role=self.role,
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                **(environment or {}),
                "POWERTOOLS_SERVICE_NAME": "videoflow",
                "POWERTOOLS_METRICS_NAMESPACE": "VideoFlow",
            },
            # Workflow steps are invoked synchronously and retried by the workflow's own policy;
            # an asynchronously invoked function (start_pipeline) sets retries and a destination.
            retry_attempts=async_retry_attempts,
            on_failure=on_failure,
            description=description or f"VideoFlow {name}",
        )
        self.log_group.grant_write(self.role)
        unscoped_actions = unscoped_actions or {}
        if unscoped_actions:
            self.allow(sorted(unscoped_actions), ["*"])
        reasons = ["X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.",
                   *(f"{action}: {why}" for action, why in sorted(unscoped_actions.items()))]
        acknowledge(self.role, {"AwsSolutions-IAM5[Resource::*]": " ".join(reasons)})
        acknowledge(self.function, {
            "AwsSolutions-L1": f"Pinned to {RUNTIME.name}, the newest runtime with a published Powertools layer "
                               "that this project has tested; moving up is a one-line change in stacks/functions.py.",
        })

    def allow(self, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
        self.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))


class Functions(Construct):
    """One function per entry of stacks/steps.py, on the Powertools layer, or in the image its step names.

    Each role and environment is wired later (`wire`), once everything they name exists. The
    functions EventBridge invokes (asynchronously) are retried twice by Lambda, then park the
    event with the dead letters (and their alarm): an upload whose start failed, or a failed job
    compensate could not record, is never lost."""

    def __init__(self, scope: Construct, construct_id: str, *, config: VideoFlowConfig, dead_letters: sqs.IQueue):
        super().__init__(scope, construct_id)
        code = lambda_code()
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-{RUNTIME.name.replace('.', '')}-x86_64:{config.powertools_layer_version}",
        )
        images: dict[str, str] = {}  # one staged folder per image, shared by its functions (one asset)

        def code_of(step: Step) -> lambda_.Code:
            if step.image is None:
                return code
            if step.image not in images:
                images[step.image] = str(stage_image(step.image))
            folder = images[step.image]
            return lambda_.Code.from_asset_image(folder, cmd=[f"lambdas.{step.function}.handler.handler"],
                                                 platform=ecr_assets.Platform.LINUX_AMD64)

        self.by_name = {
            step.function: PipelineFunction(
                self, step.function, code=code_of(step), layer=powertools, config=config,
                description=step.description, image=step.image is not None, unscoped_actions=unscoped_actions(step),
                timeout=cdk.Duration.seconds(step.timeout_s), memory_mb=step.memory_mb,
                **({"async_retry_attempts": 2, "on_failure": destinations.SqsDestination(dead_letters)}
                   if step.function in ASYNC_FUNCTIONS else {}),
            )
            for step in STEPS
        }

    def __getitem__(self, name: str) -> PipelineFunction:
        return self.by_name[name]

    def wire(self, wiring: Wiring) -> None:
        """Give each function the permissions and variables its declaration names (stacks/wiring.py)."""
        wire(self, self.by_name, wiring)
