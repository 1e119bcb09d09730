"""Layer 02, orchestration: the Step Functions definition of one job.

Every task retries transient errors by name, and waits out throttling and quotas for minutes
(stacks/retries.py). An error that means the input is at fault is caught into HandleFailure,
which records REJECTED (never retried); for MediaConvert that is read from the job's error code
(stacks/derivatives.py). Any other error fails the execution at the step that failed, so a redrive
resumes there; `compensate` records it (stacks/orchestration.py: the execution's status change).
The long waits are bounded per job from the measured duration (SizeTimeouts). State carries
references only; each step stores its small result under its own path.
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
from lambdas.common.errors import (
    TranscriptionFailed,
    TranscriptionTimedOut,
    TranscriptMissing,
    rejection_error_names,
)
from stacks.analysis import FrameWorkers
from stacks.config import RENDER_RETRIES, VideoFlowConfig
from stacks.derivatives import derivatives
from stacks.functions import PipelineFunction
from stacks.render import Renderer
from stacks.retries import (
    BATCH_THROTTLED_ERRORS,
    BATCH_TRANSIENT_ERRORS,
    TRANSCRIBE_THROTTLED_ERRORS,
    TRANSCRIBE_TRANSIENT_ERRORS,
    retry_lambda,
    retry_throttled,
    retry_transient,
)
from stacks.steps import STEP
from stacks.transcriber import WhisperTranscriber, submit_whisper_job

TRANSCRIBE_FIRST_WAIT_S = 1
TRANSCRIBE_MAX_WAIT_S = 30
SDK_CALL_TIMEOUT = sfn.Timeout.duration(cdk.Duration.seconds(60))
# A render task that stopped heart-beating (its worker died) or was stopped (Spot, SIGTERM) is run
# again; its output key only ever holds a whole, checked clip, so a retry never leaves two copies.
RENDER_LOST_ERRORS = ["States.HeartbeatTimeout", "States.Timeout", "RenderInterrupted"]
# What the transcript branch may fail with; with transcript_required false, each ends in an empty transcript.
TRANSCRIPT_UNAVAILABLE_ERRORS = [TranscriptionFailed.__name__, TranscriptionTimedOut.__name__,
                                 TranscriptMissing.__name__]


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
        transcriber: WhisperTranscriber | None = None,
    ):
        """`transcriber`: the whisper Batch job (config `transcriber: whisper`); None: Amazon Transcribe."""
        super().__init__(scope, construct_id)
        self._functions = functions
        self._config = config
        self._transcriber = transcriber

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

        publish = self._step("publish_results")
        # The cost is counted just before publishing, so the manifest carries it.
        record_cost = self._best_effort(self._step("record_cost"))
        record_cost.next(publish)
        # The job is complete once published; a notification that fails for good does not undo that.
        publish.next(self._best_effort(self._step("notify"))).next(
            sfn.Succeed(self, "Completed"))
        process = (
            self._best_effort(self._step("warm_inference"))
            .next(self._sized_timeouts())
            .next(self._step("build_mediaconvert_job"))
            .next(derivatives(self, role=mediaconvert_role, on_input_fault=handle_failure))
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

    def _sized_timeouts(self) -> sfn.Pass:
        """The bounds of this job's long waits, from its measured duration: an allowance for queueing plus
        whole seconds per second of video (VideoFlowConfig.mediaconvert_timeout_s and transcribe_timeout_s
        compute the same). A 10 s clip waits about 30 minutes at most, a 3-hour video hours."""
        config = self._config
        return sfn.Pass(
            self, "SizeTimeouts",
            parameters={
                "mediaconvert_s": _scaled_duration(config.mediaconvert_timeout_per_media_s,
                                                   config.mediaconvert_timeout_base_s),
                "transcribe_s": _scaled_duration(config.transcribe_timeout_per_media_s,
                                                 config.transcribe_timeout_base_s),
            },
            result_path="$.timeouts",
        )

    def _analysis(self, frame_workers: FrameWorkers, output_bucket: s3.IBucket) -> sfn.Parallel:
        """Transcript and vision side by side; either failing fails the job with its reason."""
        # Each branch ends by keeping only its references; the result is the list of both.
        analysis = sfn.Parallel(self, "Analysis", result_path="$.analysis")
        analysis.branch(self._transcript_branch(output_bucket))
        analysis.branch(self._vision_branch(frame_workers))
        return analysis

    def _transcript_branch(self, output_bucket: s3.IBucket) -> sfn.IChainable:
        """Amazon Transcribe, awaited by a Wait loop (no Lambda waits), bounded by the seconds waited (sized from the
        video's length); or, with `transcriber: whisper`, the whisper Batch job (_whisper). With transcript_required
        false, a transcript that cannot be had ends the branch in an empty one that says why (NormalizeTranscript,
        given $.transcript_unavailable)."""
        normalize = self._step("normalize_transcript")
        normalize.next(self._step("build_captions")).next(sfn.Pass(
            self, "TranscriptResults",
            parameters={"transcript": sfn.JsonPath.object_at("$.transcript"),
                        "captions": sfn.JsonPath.object_at("$.captions")},
        ))
        if self._transcriber is not None:
            return self._whisper(normalize)
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
                # Who spoke when: speaker_label on every word (config max_speakers; None: no speakers).
                **({"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": self._config.max_speakers}}
                   if self._config.max_speakers else {}),
            },
            iam_resources=[transcribe_jobs],
            result_selector={"name": sfn.JsonPath.string_at("$.TranscriptionJob.TranscriptionJobName"),
                             "polls": 0, "wait_s": TRANSCRIBE_FIRST_WAIT_S, "waited_s": 0},
            result_path="$.transcription",
            task_timeout=SDK_CALL_TIMEOUT,
        )
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
        for call in (start, poll):
            retry_throttled(call, TRANSCRIBE_THROTTLED_ERRORS)
            retry_transient(call, TRANSCRIBE_TRANSIENT_ERRORS, interval_s=5)
        if not self._config.transcript_required:
            for call in (start, poll):
                call.add_catch(normalize, errors=["States.ALL"], result_path="$.transcript_unavailable")
            normalize.add_catch(normalize, errors=TRANSCRIPT_UNAVAILABLE_ERRORS, result_path="$.transcript_unavailable")
        # Poll after 1, 2, 4, 8, 16, then every 30 s: short clips are checked early, long ones cheaply.
        backoff = sfn.Pass(
            self, "BackOff",
            parameters={
                "name": sfn.JsonPath.string_at("$.transcription.name"),
                "polls": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.transcription.polls"), 1),
                "wait_s": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.transcription.wait_s"),
                                                sfn.JsonPath.number_at("$.transcription.wait_s")),
                "waited_s": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.transcription.waited_s"),
                                                  sfn.JsonPath.number_at("$.transcription.wait_s")),
            },
            result_path="$.transcription",
        )
        cap = sfn.Pass(self, "CapWait", result=sfn.Result.from_number(TRANSCRIBE_MAX_WAIT_S),
                       result_path="$.transcription.wait_s")
        wait = sfn.Wait(self, "WaitForTranscript", time=sfn.WaitTime.seconds_path("$.transcription.wait_s"))
        start.next(wait).next(poll).next(
            sfn.Choice(self, "Transcribed?")
            .when(sfn.Condition.and_(
                sfn.Condition.or_(
                    sfn.Condition.string_equals("$.transcription.status.job.TranscriptionJobStatus", "QUEUED"),
                    sfn.Condition.string_equals("$.transcription.status.job.TranscriptionJobStatus", "IN_PROGRESS"),
                ),
                sfn.Condition.number_less_than_json_path("$.transcription.waited_s", "$.timeouts.transcribe_s"),
            ), backoff.next(
                sfn.Choice(self, "WaitTooLong?")
                .when(sfn.Condition.number_greater_than("$.transcription.wait_s", TRANSCRIBE_MAX_WAIT_S),
                      cap.next(wait))
                .otherwise(wait)
            ))
            # COMPLETED, FAILED or out of time: normalize_transcript reads it or says why not.
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

    def _whisper(self, normalize: tasks.LambdaInvoke) -> sfn.IChainable:
        """`transcriber: whisper`: one Batch job (stacks/transcriber.py) instead of the Transcribe loop, retried and
        caught like it; it writes the same document to the same key, so NormalizeTranscript is the same step."""
        submit, located = submit_whisper_job(self, self._transcriber, self._config)
        retry_throttled(submit, BATCH_THROTTLED_ERRORS)
        retry_transient(submit, BATCH_TRANSIENT_ERRORS, interval_s=5)
        if not self._config.transcript_required:
            submit.add_catch(normalize, errors=["States.ALL"], result_path="$.transcript_unavailable")
            normalize.add_catch(normalize, errors=TRANSCRIPT_UNAVAILABLE_ERRORS, result_path="$.transcript_unavailable")
        located.next(normalize)
        self.transcribe_s3_resources = []  # the job role reads and writes, not the workflow
        return (
            sfn.Choice(self, "HasAudio?")
            .when(sfn.Condition.is_present("$.derivatives.audio.key"), submit)
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
        retry_throttled(analyze, BATCH_THROTTLED_ERRORS)
        retry_transient(analyze, BATCH_TRANSIENT_ERRORS, interval_s=5)
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
                             max_attempts=RENDER_RETRIES, backoff_rate=2)
        # RunTask refused (capacity), or answered with Failures and no task: AmazonECS.Unknown (Step
        # Functions' ECS integration); a task that starts and then fails is the heartbeat's to notice.
        on_fargate.add_retry(errors=["ECS.AmazonECSException", "ECS.ServerException", "AmazonECS.Unknown"],
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
        retry_lambda(in_lambda)
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

    @staticmethod
    def _retry_also(task: tasks.LambdaInvoke, errors: list[str], interval_s: int) -> tasks.LambdaInvoke:
        retry_transient(task, errors, interval_s)
        return task

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
        retry_lambda(task)
        if step.rejects:
            task.add_catch(self._on_rejection, errors=rejection_error_names(), result_path="$.error")
        return task


def _scaled_duration(per_media_s: int, base_s: int) -> str:
    """States.MathAdd over `per_media_s` copies of the measured duration, plus base_s: whole seconds, as
    JSONPath has no multiplication (Step Functions rounds each argument half up to an integer)."""
    def times(n: int) -> float:
        if n == 1:
            return sfn.JsonPath.number_at("$.media.duration_s")
        return cdk.Token.as_number(sfn.JsonPath.math_add(times(n // 2), times(n - n // 2)))
    return sfn.JsonPath.math_add(times(per_media_s), base_s)
