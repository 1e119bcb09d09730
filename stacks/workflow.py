"""Layer 02, orchestration: the Step Functions definition of one job.

Every task retries transient errors by name. An error that means the input is at fault is
caught into HandleFailure, which records REJECTED (never retried). Any other error fails the
execution at the step that failed, so a redrive resumes there; `compensate` records it
(stacks/orchestration.py: the execution's status change). State carries references only; each
step stores its small result under its own path.
"""

import aws_cdk as cdk
from aws_cdk import (
    aws_ecs as ecs,
    aws_iam as iam,
    aws_s3 as s3,
    aws_stepfunctions as sfn,
    aws_stepfunctions_tasks as tasks,
)
from constructs import Construct

from lambdas.common.constants import ANALYSIS_PREFIX, TRANSCRIPTS_PREFIX
from lambdas.common.errors import TransientError, rejection_error_names
from stacks.analysis import FrameWorkers
from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction
from stacks.render import Renderer
from stacks.steps import STEP

# Step Functions' default Lambda retry omits throttling; name it explicitly.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    TransientError.__name__,
]
TRANSCRIBE_TRANSIENT_ERRORS = ["Transcribe.LimitExceededException", "Transcribe.InternalFailureException"]
BATCH_TRANSIENT_ERRORS = ["Batch.ServerException"]
TRANSCRIBE_FIRST_WAIT_S = 1
TRANSCRIBE_MAX_WAIT_S = 30
SDK_CALL_TIMEOUT = sfn.Timeout.duration(cdk.Duration.seconds(60))
# A render task that stopped heart-beating (its worker died) or was stopped (Spot, SIGTERM) is run
# again; its output key only ever holds a whole, checked clip, so a retry never leaves two copies.
RENDER_LOST_ERRORS = ["States.HeartbeatTimeout", "States.Timeout", "RenderInterrupted"]
RENDER_ATTEMPTS = 2
MEDIACONVERT_TRANSIENT_ERRORS = [
    "MediaConvert.TooManyRequestsException",
    "MediaConvert.InternalServerErrorException",
    "MediaConvert.ServiceQuotaExceededException",
]


class JobWorkflow(Construct):
    """Builds the chain of states; the caller wraps it in a state machine."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, PipelineFunction],
        mediaconvert_role: iam.IRole,
        frame_workers: FrameWorkers,
        renderer: Renderer,
        output_bucket: s3.IBucket,
        config: VideoFlowConfig,
    ):
        super().__init__(scope, construct_id)
        self._functions = functions
        self._config = config

        # The input's fault (REJECTED) is caught by name and recorded here; the job then ends without
        # error. Anything else fails the execution AT the failing step, so that RedriveExecution (the
        # jobs API's retry) resumes from that step; `compensate`, on the execution's status change,
        # records the failure, removes half-written renders and lets go of the endpoint.
        failed = sfn.Fail(self, "JobFailed", error="VideoFlow.JobFailed", cause="See the job's events for the reason.")
        handle_failure = self._step("handle_failure")
        handle_failure.add_catch(failed, errors=["States.ALL"], result_path="$.failure_error")
        handle_failure.next(
            sfn.Choice(self, "Rejected?")
            .when(sfn.Condition.string_equals("$.failure.status", "REJECTED"), sfn.Succeed(self, "Rejected"))
            .otherwise(failed)
        )
        self._on_rejection = handle_failure

        derivatives = tasks.MediaConvertCreateJob(
            self, "Derivatives",
            create_job_request={
                "Role": mediaconvert_role.role_arn,
                "Settings": sfn.JsonPath.object_at("$.mediaconvert.settings"),
                "UserMetadata": {"job_id": sfn.JsonPath.string_at("$.job_id")},
                "StatusUpdateInterval": "SECONDS_60",
            },
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_selector={
                "id": sfn.JsonPath.string_at("$.Job.Id"),
                "status": sfn.JsonPath.string_at("$.Job.Status"),
            },
            result_path="$.mediaconvert_job",
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(config.mediaconvert_timeout_min)),
        )
        self._retry(derivatives, MEDIACONVERT_TRANSIENT_ERRORS, interval_s=5)

        publish = self._step("publish_results")
        # The cost is counted just before publishing, so the manifest carries it.
        record_cost = self._best_effort(self._step("record_cost"))
        record_cost.next(publish)
        # The job is complete once published; a notification that fails for good does not undo that.
        publish.next(self._best_effort(self._step("notify"))).next(
            sfn.Succeed(self, "Completed"))
        process = (
            self._best_effort(self._step("warm_inference"))
            .next(self._step("build_mediaconvert_job"))
            .next(derivatives)
            .next(self._step("record_derivatives"))
            .next(self._step("build_frame_manifest"))
            .next(self._analysis(frame_workers, output_bucket))
            .next(self._retry_also(self._step("keyframe_inference"),
                                   # the endpoint may be scaling out or throttled: back off, try again
                                   ["EmbeddingFailed"], interval_s=10))
            # Nothing after this needs the endpoint: let it scale back while the job judges and renders.
            .next(self._best_effort(self._step("release_inference")))
            .next(self._step("check_budget"))
            .next(self._step("summarize_video"))
            .next(self._step("plan_clips"))
            .next(self._step("validate_plan"))
            .next(self._step("build_render_specs"))
            .next(self._render_clips(renderer))
            .next(self._step("record_render"))
            .next(record_cost)
        )
        self.chain = (
            self._step("validate_upload")
            .next(self._step("probe_media"))
            .next(self._step("enforce_limits"))
            .next(self._step("register_job"))
            .next(self._step("check_duplicate"))
            .next(
                sfn.Choice(self, "Duplicate?")
                # The same content was already processed: publish its results, pay for nothing.
                .when(sfn.Condition.is_string("$.duplicate.duplicate_of"), record_cost)
                .otherwise(process)
            )
        )

    def _analysis(self, frame_workers: FrameWorkers, output_bucket: s3.IBucket) -> sfn.Parallel:
        """Transcript and vision side by side; either failing fails the job with its reason."""
        # Each branch ends by keeping only its references; the result is the list of both.
        analysis = sfn.Parallel(self, "Analysis", result_path="$.analysis")
        analysis.branch(self._transcript_branch(output_bucket))
        analysis.branch(self._vision_branch(frame_workers))
        return analysis

    def _transcript_branch(self, output_bucket: s3.IBucket) -> sfn.IChainable:
        """Amazon Transcribe, awaited by a Wait loop (no Lambda waits), bounded by a poll count."""
        normalize = self._step("normalize_transcript")
        normalize.next(self._step("build_captions")).next(sfn.Pass(
            self, "TranscriptResults",
            parameters={"transcript": sfn.JsonPath.object_at("$.transcript"),
                        "captions": sfn.JsonPath.object_at("$.captions")},
        ))
        transcribe_jobs = cdk.Stack.of(self).format_arn(
            service="transcribe", resource="transcription-job", resource_name="*",
        )
        start = tasks.CallAwsService(
            self, "StartTranscription",
            service="transcribe",
            action="startTranscriptionJob",
            parameters={
                "TranscriptionJobName": sfn.JsonPath.format("vf-{}-{}", sfn.JsonPath.string_at("$.job_id"),
                                                            sfn.JsonPath.uuid()),
                "Media": {"MediaFileUri": sfn.JsonPath.format(
                    "s3://{}/{}", sfn.JsonPath.string_at("$.derivatives.audio.bucket"),
                    sfn.JsonPath.string_at("$.derivatives.audio.key"))},
                "MediaFormat": "wav",
                "LanguageCode": self._config.transcribe_language,
                "OutputBucketName": sfn.JsonPath.string_at("$.derivatives.audio.bucket"),
                "OutputKey": sfn.JsonPath.format(f"{TRANSCRIPTS_PREFIX}{{}}/transcribe.json",
                                                 sfn.JsonPath.string_at("$.job_id")),
            },
            iam_resources=[transcribe_jobs],
            result_selector={"name": sfn.JsonPath.string_at("$.TranscriptionJob.TranscriptionJobName"),
                             "polls": 0, "wait_s": TRANSCRIBE_FIRST_WAIT_S},
            result_path="$.transcription",
            task_timeout=SDK_CALL_TIMEOUT,
        )
        self._retry(start, TRANSCRIBE_TRANSIENT_ERRORS, interval_s=5)
        poll = tasks.CallAwsService(
            self, "GetTranscription",
            service="transcribe",
            action="getTranscriptionJob",
            parameters={"TranscriptionJobName": sfn.JsonPath.string_at("$.transcription.name")},
            iam_resources=[transcribe_jobs],
            result_selector={"job": sfn.JsonPath.object_at("$.TranscriptionJob")},
            result_path="$.transcription.status",
            task_timeout=SDK_CALL_TIMEOUT,
        )
        self._retry(poll, TRANSCRIBE_TRANSIENT_ERRORS, interval_s=5)
        # Poll after 1, 2, 4, 8, 16, then every 30 s: short clips are checked early, long ones cheaply.
        backoff = sfn.Pass(
            self, "BackOff",
            parameters={
                "name": sfn.JsonPath.string_at("$.transcription.name"),
                "polls": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.transcription.polls"), 1),
                "wait_s": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.transcription.wait_s"),
                                                sfn.JsonPath.number_at("$.transcription.wait_s")),
            },
            result_path="$.transcription",
        )
        cap = sfn.Pass(self, "CapWait", result=sfn.Result.from_number(TRANSCRIBE_MAX_WAIT_S),
                       result_path="$.transcription.wait_s")
        wait = sfn.Wait(self, "WaitForTranscript", time=sfn.WaitTime.seconds_path("$.transcription.wait_s"))
        max_polls = self._config.transcribe_timeout_min * 60 // TRANSCRIBE_MAX_WAIT_S + 5
        start.next(wait).next(poll).next(
            sfn.Choice(self, "Transcribed?")
            .when(sfn.Condition.and_(
                sfn.Condition.or_(
                    sfn.Condition.string_equals("$.transcription.status.job.TranscriptionJobStatus", "QUEUED"),
                    sfn.Condition.string_equals("$.transcription.status.job.TranscriptionJobStatus", "IN_PROGRESS"),
                ),
                sfn.Condition.number_less_than("$.transcription.polls", max_polls),
            ), backoff.next(
                sfn.Choice(self, "WaitTooLong?")
                .when(sfn.Condition.number_greater_than("$.transcription.wait_s", TRANSCRIBE_MAX_WAIT_S),
                      cap.next(wait))
                .otherwise(wait)
            ))
            # COMPLETED, FAILED or out of polls: normalize_transcript reads it or says why not.
            .otherwise(normalize)
        )
        # The service reads the audio and writes its output with the workflow's permissions.
        self.transcribe_s3_resources = [
            output_bucket.arn_for_objects("derivatives/*"),
            output_bucket.arn_for_objects(f"{TRANSCRIPTS_PREFIX}*"),
        ]
        return (
            sfn.Choice(self, "HasAudio?")
            .when(sfn.Condition.is_present("$.derivatives.audio.key"), start)
            .otherwise(normalize)
        )

    def _vision_branch(self, frame_workers: FrameWorkers) -> sfn.IChainable:
        """One Batch array job over the chunks of the frame manifest, then merge and cut into shots."""
        analyze = tasks.BatchSubmitJob(
            self, "AnalyzeFrames",
            job_name=sfn.JsonPath.format("frames-{}", sfn.JsonPath.string_at("$.job_id")),
            job_queue_arn=frame_workers.queue.job_queue_arn,
            job_definition_arn=frame_workers.job_definition.job_definition_arn,
            array_size=sfn.JsonPath.number_at("$.frame_manifest.array_size"),
            container_overrides=tasks.BatchContainerOverrides(environment={
                "FRAME_MANIFEST_BUCKET": sfn.JsonPath.string_at("$.frame_manifest.bucket"),
                "FRAME_MANIFEST_KEY": sfn.JsonPath.string_at("$.frame_manifest.key"),
                "RESULTS_PREFIX": sfn.JsonPath.format(f"{ANALYSIS_PREFIX}{{}}/frames/",
                                                      sfn.JsonPath.string_at("$.job_id")),
            }),
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_selector={"id": sfn.JsonPath.string_at("$.JobId"), "status": sfn.JsonPath.string_at("$.Status")},
            result_path="$.frames_job",
            # No task_timeout: CDK renders it as the job's attempt timeout, overriding the job
            # definition's. The job is bounded there instead: attempt timeout x retry attempts.
        )
        self._retry(analyze, BATCH_TRANSIENT_ERRORS, interval_s=5)
        return (
            analyze
            .next(self._step("aggregate_frames"))
            .next(self._step("detect_shots"))
            .next(sfn.Pass(
                self, "VisionResults",
                parameters={"timeline": sfn.JsonPath.object_at("$.frame_timeline"),
                            "shots": sfn.JsonPath.object_at("$.shots")},
            ))
        )

    def _render_clips(self, renderer: Renderer) -> sfn.Map:
        """Each clip where it fits: render_short_clip in-function, or a Fargate task that heartbeats."""
        config = self._config
        on_fargate = tasks.EcsRunTask(
            self, "RenderOnFargate",
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            cluster=renderer.cluster,
            task_definition=renderer.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(platform_version=ecs.FargatePlatformVersion.LATEST),
            assign_public_ip=True,
            subnets=renderer.subnets,
            security_groups=renderer.security_groups,
            container_overrides=[tasks.ContainerOverride(
                container_definition=renderer.container,
                environment=[
                    # Bracket notation: CDK's token parser takes only [A-Za-z0-9] in a dotted field name.
                    tasks.TaskEnvironmentVariable(name="RENDER_SPEC_S3", value=sfn.JsonPath.string_at("$['spec_s3']")),
                    tasks.TaskEnvironmentVariable(name="TASK_TOKEN", value=sfn.JsonPath.task_token),
                    # Four beats per timeout: one lost request never looks like a dead worker.
                    tasks.TaskEnvironmentVariable(name="HEARTBEAT_S",
                                                  value=str(max(1, config.render_heartbeat_s // 4))),
                ],
            )],
            heartbeat_timeout=sfn.Timeout.duration(cdk.Duration.seconds(config.render_heartbeat_s)),
            task_timeout=sfn.Timeout.duration(cdk.Duration.minutes(config.render_timeout_min)),
        )
        on_fargate.add_retry(errors=RENDER_LOST_ERRORS, interval=cdk.Duration.seconds(5),
                             max_attempts=RENDER_ATTEMPTS, backoff_rate=2)
        on_fargate.add_retry(errors=["ECS.AmazonECSException", "ECS.ServerException"],
                             interval=cdk.Duration.seconds(10), max_attempts=3, backoff_rate=2,
                             jitter_strategy=sfn.JitterType.FULL)
        in_lambda = tasks.LambdaInvoke(
            self, "RenderInLambda",
            lambda_function=self._functions["render_short_clip"].function,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(self._functions["render_short_clip"].timeout.plus(
                cdk.Duration.seconds(30))),
        )
        self._retry(in_lambda, LAMBDA_TRANSIENT_ERRORS, interval_s=2)
        in_lambda.add_retry(errors=["States.Timeout"], interval=cdk.Duration.seconds(5), max_attempts=1)
        render = sfn.Map(
            self, "RenderClips",
            items_path="$.render.clips",
            result_path="$.renders",
            max_concurrency=config.render_max_concurrency,
        )
        render.item_processor(
            sfn.Choice(self, "OnFargate?")
            .when(sfn.Condition.string_equals("$.target", "fargate"), on_fargate)
            .otherwise(in_lambda)
        )
        return render

    def _best_effort(self, task: tasks.LambdaInvoke) -> sfn.Chain:
        """A step that only tunes capacity: if it fails for good, the job goes on without it."""
        name = task.node.id
        joined = sfn.Pass(self, f"After{name}")
        skipped = sfn.Pass(self, f"{name}Skipped").next(joined)
        task.add_catch(skipped, errors=["States.ALL"], result_path=f"$.skipped_{name.lower()}")
        task.next(joined)
        return sfn.Chain.custom(task, [joined], joined)

    def _retry_also(self, task: tasks.LambdaInvoke, errors: list[str], interval_s: int) -> tasks.LambdaInvoke:
        self._retry(task, errors, interval_s)
        return task

    @staticmethod
    def _retry(task: sfn.TaskStateBase, errors: list[str], interval_s: int) -> None:
        task.add_retry(errors=errors, interval=cdk.Duration.seconds(interval_s), max_attempts=4, backoff_rate=2,
                       jitter_strategy=sfn.JitterType.FULL)

    def _step(self, function: str) -> tasks.LambdaInvoke:
        """The Lambda task of a step, as stacks/steps.py declares it: its state's name and result path;
        a step that may find the input at fault (`rejects`) ends the job REJECTED through HandleFailure."""
        step = STEP[function]
        task = tasks.LambdaInvoke(
            self, step.state,
            lambda_function=self._functions[function].function,
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=step.result_path,
            # The function's own timeout plus room for a cold start.
            task_timeout=sfn.Timeout.duration(self._functions[function].timeout.plus(cdk.Duration.seconds(30))),
        )
        self._retry(task, LAMBDA_TRANSIENT_ERRORS, interval_s=2)
        if step.rejects:
            task.add_catch(self._on_rejection, errors=rejection_error_names(), result_path="$.error")
        return task
