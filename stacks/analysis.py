"""Layer 03/04, analysis: the AWS Batch frame workers of the vision branch.

Frame work runs as ONE Batch array job over the chunks of the frame manifest (never one
workflow state per frame) on Fargate Spot, in the public subnets of the network
(stacks/network.py): a public IP, no inbound rule, S3 through the gateway endpoint.
"""

import aws_cdk as cdk
from aws_cdk import (
    aws_batch as batch,
    aws_ec2 as ec2,
    aws_ecs as ecs,
    aws_iam as iam,
    aws_logs as logs,
)
from constructs import Construct

from lambdas.common.constants import ANALYSIS_PREFIX, DERIVATIVES_PREFIX, MANIFESTS_PREFIX
from stacks.config import VideoFlowConfig
from stacks.images import stage_image
from stacks.nag import acknowledge, object_wildcard
from stacks.network import Network
from stacks.state import StateLayer

# Batch status reasons that mean the capacity went away, not that the worker failed. Batch
# matches these as prefixes (only a trailing * is allowed) and takes at most 5 rules in all.
FRAME_WORKER_VCPU = 1
FRAME_WORKER_MEMORY_MB = 2048
HOST_LOST_REASONS = ["Host EC2*", "Your Spot Task was interrupted*", "ResourceInitializationError*"]



def worker_retry_strategies() -> list[batch.RetryStrategy]:
    """A Batch worker's retries: capacity lost under it (a Spot reclaim, a lost host, an image pull) is retried,
    a worker that exits non-zero on its own is not (its exit code says the input or the role is wrong)."""
    return [
        *(batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.custom(on_status_reason=reason))
          for reason in HOST_LOST_REASONS),
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.NON_ZERO_EXIT_CODE),
    ]

def batch_worker(scope: Construct, image: str, role: iam.IRole, config: VideoFlowConfig, *, vcpu: float,
                 memory_mb: int, attempts: int, timeout: cdk.Duration, what: str, stream_prefix: str,
                 environment: dict[str, str] | None = None) -> tuple[logs.LogGroup, batch.EcsJobDefinition]:
    """A Batch worker's log group and its Fargate job definition, made from containers/<image> (staged at synth, no
    Docker needed; built and pushed by `cdk deploy`), retried as `worker_retry_strategies` says."""
    log_group = logs.LogGroup(
        scope, "Logs", retention=logs.RetentionDays[config.log_retention], removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    job_definition = batch.EcsJobDefinition(
        scope, "JobDefinition",
        container=batch.EcsFargateContainerDefinition(
            scope, "Container",
            image=ecs.ContainerImage.from_asset(str(stage_image(image))),
            cpu=vcpu,
            memory=cdk.Size.mebibytes(memory_mb),
            environment=environment,
            assign_public_ip=True,
            job_role=role,
            logging=ecs.LogDriver.aws_logs(stream_prefix=stream_prefix, log_group=log_group),
            fargate_cpu_architecture=ecs.CpuArchitecture.X86_64,
        ),
        retry_attempts=attempts,
        retry_strategies=worker_retry_strategies(),
        timeout=timeout,
    )
    acknowledge(job_definition.container.execution_role, {
        "AwsSolutions-IAM5[Resource::*]": f"ecr:GetAuthorizationToken, added by CDK to pull the {what} image, "
                                          "has no resource-level permissions.",
    })
    return log_group, job_definition


class FrameWorkers(Construct):
    """Fargate Spot compute, a queue and the job definition built from containers/frames."""

    def __init__(self, scope: Construct, construct_id: str, *, network: Network, state: StateLayer,
                 config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        self.compute = batch.FargateComputeEnvironment(
            self, "Compute",
            vpc=network.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[network.workers_security_group],
            spot=True,
            maxv_cpus=config.frames_max_vcpus,
        )
        # A job that can never be placed (no Spot capacity, a bad requirement) is cancelled with its reason
        # rather than waiting RUNNABLE for ever; the workflow's .sync task then fails with that reason.
        self.queue = batch.JobQueue(
            self, "Queue",
            compute_environments=[batch.OrderedComputeEnvironment(compute_environment=self.compute, order=1)],
            job_state_time_limit_actions=[
                batch.JobStateTimeLimitAction(max_time=cdk.Duration.minutes(config.frames_runnable_timeout_min),
                                              reason=reason, action=batch.JobStateTimeLimitActionsAction.CANCEL,
                                              state=batch.JobStateTimeLimitActionsState.RUNNABLE)
                for reason in (batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
                               batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
                               batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT)
            ],
        )
        self.job_role = iam.Role(
            self, "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="VideoFlow frame worker: read frames, the proxy and manifests, write chunk results",
        )
        output = state.output_bucket
        # The frames every 2 s and the proxy (its cuts at its own frame rate, ranged reads): not the audio.
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[output.arn_for_objects(f"{DERIVATIVES_PREFIX}*/frames/*"),
                       output.arn_for_objects(f"{DERIVATIVES_PREFIX}*/proxy/*"),
                       output.arn_for_objects(f"{MANIFESTS_PREFIX}*")],
        ))
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[output.arn_for_objects(f"{ANALYSIS_PREFIX}*")],
        ))
        acknowledge(self.job_role, {
            object_wildcard(output, f"{DERIVATIVES_PREFIX}*/frames/"): "Frames live under a per-job prefix decided at "
                                                                       "run time.",
            object_wildcard(output, f"{DERIVATIVES_PREFIX}*/proxy/"): "The proxy lives under a per-job prefix.",
            object_wildcard(output, MANIFESTS_PREFIX): "Frame manifests live under a per-job prefix.",
            object_wildcard(output, ANALYSIS_PREFIX): "Chunk results go under a per-job prefix.",
        })
        self.log_group, self.job_definition = batch_worker(
            self, "frames", self.job_role, config, vcpu=FRAME_WORKER_VCPU, memory_mb=FRAME_WORKER_MEMORY_MB,
            # Capacity lost under the worker is retried; a worker that fails on its own is not.
            attempts=3, timeout=cdk.Duration.minutes(config.frames_attempt_timeout_min), what="worker",
            stream_prefix="frames")
