"""Layer 03, compute for render: the clip renderer as a Fargate task and as a Lambda, from one image.

containers/render is staged at synth (no Docker needed) and built by `cdk deploy`. Long
clips run as Fargate tasks started by the workflow with `.waitForTaskToken`: the task
heartbeats to Step Functions and reports its own success or failure, so a task that dies
is noticed within the heartbeat timeout and retried. Short clips run in render_short_clip,
the same image behind the Lambda runtime interface client. Both roles may read exactly
the original's prefix, the render specs and captions, and write only under clips/.
"""

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2, aws_ecs as ecs, aws_iam as iam, aws_lambda as lambda_, aws_logs as logs
from constructs import Construct

from lambdas.common.constants import ANALYSIS_PREFIX, CAPTIONS_PREFIX, CLIPS_PREFIX, INGEST_PREFIX
from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction
from stacks.images import stage_image
from stacks.nag import acknowledge, object_wildcard
from stacks.network import Network
from stacks.state import StateLayer

SHORT_CLIP_TIMEOUT_S = 900  # Lambda's ceiling; choose_render_target keeps clips well inside it
WORKER_SECURITY_NOTE = "Renders reach S3 (gateway endpoint), ECR and Step Functions outbound only."


class Renderer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, network: Network, state: StateLayer,
                 config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        self.network = network
        image_folder = str(stage_image("render"))  # containers/render and the shared containers/s3_errors.py
        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays[config.log_retention], removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self, "Task",
            cpu=int(config.render_task_vcpu * 1024),
            memory_limit_mib=config.render_task_memory_mb,
            # The whole source is downloaded before the cut: room for a large original.
            ephemeral_storage_gib=config.render_task_storage_gib,
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.X86_64,
                                                 operating_system_family=ecs.OperatingSystemFamily.LINUX),
        )
        self.container = self.task_definition.add_container(
            "Render",
            image=ecs.ContainerImage.from_asset(image_folder),
            logging=ecs.LogDriver.aws_logs(stream_prefix="render", log_group=self.log_group),
            essential=True,
            readonly_root_filesystem=False,  # ffmpeg writes the source and the clip to the task's storage
        )
        self._allow_render_io(self.task_definition.task_role, state)
        # SendTask* have no resource-level permissions; the token itself names the one task.
        self.task_definition.add_to_task_role_policy(iam.PolicyStatement(
            actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
            resources=["*"],
        ))
        acknowledge(self.task_definition.task_role, {
            **self._render_io_reasons(state),
            "AwsSolutions-IAM5[Resource::*]": "states:SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat have no "
                                              "resource-level permissions; the task token names the one task.",
        })
        acknowledge(self.task_definition, {
            "AwsSolutions-ECS2": "No environment in the definition; the workflow passes the spec location, the "
                                 "task token and the heartbeat interval as per-run container overrides.",
        })
        execution_role = self.task_definition.execution_role
        if execution_role is not None:
            acknowledge(execution_role, {
                "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken, added by CDK to pull the render "
                                                  "image, has no resource-level permissions.",
            })
        self.security_groups = [network.workers_security_group]
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

        self.short_clip = PipelineFunction(
            self, "render_short_clip",
            code=lambda_.Code.from_asset_image(
                image_folder, entrypoint=["python", "-m", "awslambdaric"], cmd=["lambda_handler.handler"],
                working_directory="/app",
            ),
            layer=None, image=True, config=config,
            # The render spec names everything else; the function's only setting is where to work.
            environment={"RENDER_WORK_DIR": "/tmp"},
            timeout=cdk.Duration.seconds(SHORT_CLIP_TIMEOUT_S),
            memory_mb=config.render_lambda_memory_mb,
            ephemeral_storage_mb=config.render_lambda_storage_mb,
            description="Renders one short clip (cut, 9:16, captions, loudness, thumbnail) in the render image",
        )
        self._allow_render_io(self.short_clip.role, state)
        acknowledge(self.short_clip.role, self._render_io_reasons(state))

    @staticmethod
    def _allow_render_io(role: iam.IRole, state: StateLayer) -> None:
        output = state.output_bucket
        for actions, resources in (
            (["s3:GetObject", "s3:GetObjectVersion"], [state.ingest_bucket.arn_for_objects(f"{INGEST_PREFIX}*")]),
            (["s3:GetObject"], [output.arn_for_objects(f"{ANALYSIS_PREFIX}*"),
                                output.arn_for_objects(f"{CAPTIONS_PREFIX}*")]),
            (["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [output.arn_for_objects(f"{CLIPS_PREFIX}*")]),
        ):
            role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
        # Listing finds partials an earlier attempt left; without it a missing key answers 403.
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[output.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{CLIPS_PREFIX}*"]}},
        ))

    @staticmethod
    def _render_io_reasons(state: StateLayer) -> dict[str, str]:
        return {
            object_wildcard(state.ingest_bucket, INGEST_PREFIX): "Reads the one original named in the render spec; "
                                                                 "originals are named by uploaders.",
            object_wildcard(state.output_bucket, ANALYSIS_PREFIX): "Reads its render spec under a per-job prefix.",
            object_wildcard(state.output_bucket, CAPTIONS_PREFIX): "Reads the job's captions under a per-job prefix.",
            object_wildcard(state.output_bucket, CLIPS_PREFIX): "Writes its clip and thumbnail (and removes its "
                                                                "partials) under a per-job prefix.",
        }
