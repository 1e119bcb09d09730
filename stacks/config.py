"""Deployment configuration, read from cdk.json context "videoflow" (override with -c)."""

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lambdas.common import constants
from lambdas.common.owners import is_principal_arn

# Bounds of the steps that do not scale with the video (used to size the whole execution).
SHORT_STEPS_ALLOWANCE_S = 3600  # the Lambda steps, judgment included, with their retries
FRAME_ATTEMPTS = 3  # the frame job definition's attempts (stacks/analysis.py)
RENDER_RETRIES = 2  # a render task that died is run again this many times (stacks/workflow.py)


class VideoFlowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_duration_s: float = Field(constants.DEFAULT_MAX_DURATION_S, gt=0)
    min_duration_s: float = Field(constants.DEFAULT_MIN_DURATION_S, ge=0)
    max_size_bytes: int = Field(constants.DEFAULT_MAX_SIZE_BYTES, gt=0)
    frames_per_chunk: int = Field(constants.FRAMES_PER_CHUNK, gt=0)
    # Each long wait is bounded from the video's measured length: an allowance for queueing plus whole
    # seconds per second of video (the workflow computes it per job: stacks/workflow.py, SizeTimeouts).
    mediaconvert_timeout_base_s: int = Field(1800, ge=1)
    mediaconvert_timeout_per_media_s: int = Field(1, ge=1, le=8)
    transcribe_timeout_base_s: int = Field(1800, ge=1)
    transcribe_timeout_per_media_s: int = Field(1, ge=1, le=8)
    # The whole execution, a backstop behind those bounds. None: sized for a video at max_duration_s
    # (needed_workflow_timeout_s); a value shorter than that is refused at synth.
    workflow_timeout_h: float | None = Field(None, gt=0, le=24 * 365)
    # A name of aws_logs.RetentionDays, e.g. ONE_MONTH, THREE_MONTHS, ONE_YEAR.
    log_retention: str = "ONE_MONTH"
    # Vision: the Batch array job's ceiling and each worker attempt's timeout.
    frames_max_vcpus: int = Field(16, gt=0)
    frames_attempt_timeout_min: int = Field(30, gt=0)
    # A frame job that cannot start (RUNNABLE: no capacity, a requirement no environment meets) is cancelled.
    frames_runnable_timeout_min: int = Field(30, ge=10, le=1440)
    transcribe_language: str = "en-US"
    # False: a job whose transcript cannot be had (Amazon Transcribe failing, throttled past its retries, timed
    # out) completes without one, and the transcript.unavailable event and the manifest say why. True: it FAILS.
    transcript_required: bool = True
    # Inference: the embedding endpoint (README, "Inference", has the idle cost of each choice).
    inference_instance_type: str = "ml.g5.xlarge"
    inference_backend: Literal["cupy", "numpy"] = "cupy"  # numpy for a CPU instance type
    inference_idle_instances: int = Field(1, ge=1)  # a real-time endpoint cannot go below 1
    inference_warm_instances: int = Field(1, ge=1)
    inference_max_instances: int = Field(2, ge=1)
    inference_invocations_per_instance: float = Field(600, gt=0)
    # Percent of endpoint requests and responses captured to S3; 0 (off) by default.
    inference_data_capture_percent: int = Field(0, ge=0, le=100)
    # Public Powertools layer (includes pydantic v2 and the X-Ray SDK) for the runtime below.
    powertools_layer_version: int = 27
    # Public "AWS SDK for pandas" layer (numpy) for the functions that embed or search.
    pandas_layer_version: int = 11
    # Judgment: Amazon Bedrock (Converse) when a model id is set, the local planner otherwise.
    bedrock_model_id: str = ""
    plan_min_clip_s: float = Field(15, gt=0)
    plan_max_clip_s: float = Field(60, gt=0)
    plan_max_clips: int = Field(5, ge=1, le=50)
    judgment_max_tokens_per_job: int = Field(60_000, ge=1)
    judgment_max_model_calls: int = Field(4, ge=0)
    judgment_max_seconds: float = Field(180, gt=0)
    # Render: 9:16 clips; short ones in a Lambda, the rest as Fargate tasks that heartbeat.
    render_width: int = Field(1080, ge=16, le=4096, multiple_of=2)
    render_height: int = Field(1920, ge=16, le=4096, multiple_of=2)
    render_captions: Literal["burn", "attach", "none"] = "burn"
    render_loudness_lufs: float = Field(-14, ge=-70, le=-5)
    render_lambda_max_clip_s: float = Field(60, ge=0)  # 0: every clip on Fargate
    render_lambda_memory_mb: int = Field(4096, ge=1024, le=10240)
    render_lambda_storage_mb: int = Field(10240, ge=512, le=10240)
    render_heartbeat_s: int = Field(120, ge=4, le=3600)
    render_timeout_min: int = Field(60, gt=0)
    render_task_vcpu: float = 2
    render_task_memory_mb: int = 4096
    render_task_storage_gib: int = Field(100, ge=21, le=200)
    render_max_concurrency: int = Field(4, ge=1, le=40)
    # Interface: a RUNNING job whose event log is quiet this long gets `job.stalled` and an alarm.
    # Long MediaConvert and Transcribe steps write nothing while they run: raise it for long videos.
    stall_after_min: float = Field(60, gt=0)
    # Web origins allowed to PUT presigned upload parts into the ingest bucket (CORS); none by default.
    upload_allowed_origins: tuple[str, ...] = ()
    # Administrators of the jobs, search and WebSocket APIs (IAM user, role or role session ARNs): they see
    # every job; everyone else sees only the jobs they uploaded (lambdas/common/owners.py). None by default.
    admin_principal_arns: tuple[str, ...] = ()
    # Kept when the stack is deleted unless set false (a test stack may want a clean teardown).
    retain_data: bool = True

    @field_validator("admin_principal_arns")
    @classmethod
    def _principal_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [arn for arn in arns if not is_principal_arn(arn) or "," in arn]
        if wrong:
            raise ValueError(f"not an IAM user, role or role session ARN: {wrong[0]!r}")
        return arns

    @model_validator(mode="after")
    def _workflow_timeout_covers_the_longest_video(self) -> "VideoFlowConfig":
        if self.workflow_timeout_h is not None and self.workflow_timeout_h * 3600 < self.needed_workflow_timeout_s:
            raise ValueError(
                f"workflow_timeout_h={self.workflow_timeout_h:g} is shorter than a video of max_duration_s="
                f"{self.max_duration_s:g} may need ({self.needed_workflow_timeout_s / 3600:.1f} h): leave it unset "
                "to size it, or lower max_duration_s")
        return self

    # -- timeouts sized from a video's length (stacks/workflow.py computes the same per job) -------------------

    def mediaconvert_timeout_s(self, duration_s: float) -> int:
        """The Derivatives task's bound for a video of this length (one MediaConvert attempt)."""
        return self.mediaconvert_timeout_base_s + self.mediaconvert_timeout_per_media_s * _round_half_up(duration_s)

    def transcribe_timeout_s(self, duration_s: float) -> int:
        """How long the transcript branch polls Amazon Transcribe for a video of this length."""
        return self.transcribe_timeout_base_s + self.transcribe_timeout_per_media_s * _round_half_up(duration_s)

    @property
    def needed_workflow_timeout_s(self) -> int:
        """The longest a job at max_duration_s may run with every step at its bound: two MediaConvert attempts,
        then the longer analysis branch, the renders in rounds of render_max_concurrency, and the short steps."""
        longest = self.max_duration_s
        vision_s = (self.frames_runnable_timeout_min + FRAME_ATTEMPTS * self.frames_attempt_timeout_min) * 60
        render_rounds = math.ceil(self.plan_max_clips / self.render_max_concurrency)
        render_s = render_rounds * (1 + RENDER_RETRIES) * self.render_timeout_min * 60
        return (SHORT_STEPS_ALLOWANCE_S + 2 * self.mediaconvert_timeout_s(longest)
                + max(self.transcribe_timeout_s(longest), vision_s) + render_s)

    @property
    def workflow_timeout_s(self) -> int:
        return int(self.workflow_timeout_h * 3600) if self.workflow_timeout_h is not None \
            else self.needed_workflow_timeout_s

    def function_environment(self) -> dict[str, str]:
        return {
            "MAX_DURATION_S": str(self.max_duration_s),
            "MIN_DURATION_S": str(self.min_duration_s),
            "MAX_SIZE_BYTES": str(self.max_size_bytes),
            "FRAMES_PER_CHUNK": str(self.frames_per_chunk),
            "PLAN_MIN_CLIP_S": str(self.plan_min_clip_s),
            "PLAN_MAX_CLIP_S": str(self.plan_max_clip_s),
            "PLAN_MAX_CLIPS": str(self.plan_max_clips),
            "JUDGMENT_MAX_TOKENS_PER_JOB": str(self.judgment_max_tokens_per_job),
            "JUDGMENT_MAX_MODEL_CALLS": str(self.judgment_max_model_calls),
            "JUDGMENT_MAX_SECONDS": str(self.judgment_max_seconds),
        }

    def render_environment(self) -> dict[str, str]:
        """What build_render_specs needs to write specs and choose where each clip renders."""
        return {
            "RENDER_WIDTH": str(self.render_width),
            "RENDER_HEIGHT": str(self.render_height),
            "RENDER_CAPTIONS": self.render_captions,
            "RENDER_LOUDNESS_LUFS": str(self.render_loudness_lufs),
            "RENDER_LAMBDA_MAX_CLIP_S": str(self.render_lambda_max_clip_s),
            # The source and the clip must both fit the function's /tmp, with room to spare.
            "RENDER_LAMBDA_MAX_SOURCE_BYTES": str((self.render_lambda_storage_mb - 1024) * 1024 * 1024),
        }


def _round_half_up(seconds: float) -> int:
    """Whole seconds as Step Functions' States.MathAdd rounds a non-integer argument (half up, as Java does)."""
    return math.floor(seconds + 0.5)


def load_config(context: dict | None) -> VideoFlowConfig:
    return VideoFlowConfig.model_validate(context or {})
