"""Layer 03, compute: one construct per Lambda, each with its own role and log group.

Every function ships from one code asset (the `lambdas` package: all handlers and the
shared `lambdas.common` code, once) and the public Powertools layer for its dependencies.
"""

import shutil
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam, aws_lambda as lambda_, aws_logs as logs
from constructs import Construct

from stacks.config import VideoFlowConfig
from stacks.nag import acknowledge

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = lambda_.Runtime.PYTHON_3_13


def lambda_code() -> lambda_.Code:
    """Stage a clean copy of the lambdas package (no caches, no tests) as the one code asset."""
    staging = ROOT / "build" / "lambda"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(ROOT / "lambdas", staging / "lambdas", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return lambda_.Code.from_asset(str(staging))


class PipelineFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        name: str,
        *,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
        config: VideoFlowConfig,
        timeout: cdk.Duration = cdk.Duration.seconds(30),
        memory_mb: int = 256,
        description: str = "",
    ):
        super().__init__(scope, name)
        self.name = name
        self.timeout = timeout
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
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"lambdas.{name}.handler.handler",
            code=code,
            layers=[layer],
            role=self.role,
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": "videoflow",
                "POWERTOOLS_METRICS_NAMESPACE": "VideoFlow",
            },
            # The workflow retries with its own policy; asynchronous invokes do not retry blindly.
            retry_attempts=0,
            description=description or f"VideoFlow {name}",
        )
        self.log_group.grant_write(self.role)
        acknowledge(self.role, {
            "AwsSolutions-IAM5[Resource::*]":
                "X-Ray PutTraceSegments and PutTelemetryRecords have no resource-level permissions.",
        })
        acknowledge(self.function, {
            "AwsSolutions-L1": f"Pinned to {RUNTIME.name}, the newest runtime with a published Powertools layer "
                               "that this project has tested; moving up is a one-line change in stacks/functions.py.",
        })

    def allow(self, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
        self.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))

