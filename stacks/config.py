"""Deployment configuration, read from cdk.json context "videoflow" (override with -c)."""

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lambdas.common import aspects, constants
from lambdas.common.aspects import Aspect
from lambdas.common.owners import is_principal_arn

# Bounds of the steps that do not scale with the video (used to size the whole execution).
SHORT_STEPS_ALLOWANCE_S = 3600  # the Lambda steps, judgment included, with their retries
FRAME_ATTEMPTS = 3  # the frame job definition's attempts (stacks/analysis.py)
WHISPER_ATTEMPTS = 3  # the whisper job definition's attempts (stacks/transcriber.py)
# Its size. Whisper tiny.en int8 decodes with 2 threads at several times real time; 4 GB holds a 4-hour WAV
# decoded to float32 (0.9 GB) with the VAD's copy and the model (75 MB) beside it.
WHISPER_VCPU = 2
WHISPER_MEMORY_MB = 4096
# What the whisper transcriber's model (tiny.en) can transcribe: Amazon Transcribe's English codes.
WHISPER_LANGUAGES = ("en-US", "en-GB", "en-AU", "en-IN", "en-IE", "en-AB", "en-WL", "en-ZA", "en-NZ")
RENDER_RETRIES = 2  # a render task that died is run again this many times (stacks/workflow.py)
# Renders of one job (planned clips x aspects): each is an entry of four lists in the workflow state, and this many
# keep a 4-hour job's state within a quarter of Step Functions' 256 KB (tests/unit/test_state_payload.py).
MAX_RENDERS_PER_JOB = 60
KEYFRAME_TIMEOUT_S = 900  # keyframe_inference's timeout (stacks/steps.py): Lambda's ceiling
KEYFRAME_CPU_ALLOWANCE_S = 300  # of it, kept for embedding on CPU when no copy came within the wait
# Instance families with an NVIDIA GPU (what the cupy backend runs on); each copy then takes one.
GPU_INSTANCE_FAMILIES = ("ml.g", "ml.p")
# Families whose instances have local NVMe storage, encrypted by the instance's own hardware: SageMaker refuses
# an endpoint config's KmsKeyId for them (CreateEndpointConfig, KmsKeyId; ml.p4d, ml.g4dn and ml.g5 are named in
# the API reference). Also every "d" family (ml.m5d, ml.c5d, ml.r5d, ...).
LOCAL_STORAGE_FAMILIES = {"g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "p5e", "trn1", "trn1n"}


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
    # Who turns speech into words: Amazon Transcribe, or "whisper", the local mode's engine (Whisper tiny.en,
    # int8) as a Batch job on Fargate Spot: English only, less accurate, about a hundredth of the price.
    transcriber: Literal["transcribe", "whisper"] = "transcribe"
    # False: a job whose transcript cannot be had (Amazon Transcribe failing, throttled past its retries, timed
    # out) completes without one, and the transcript.unavailable event and the manifest say why. True: it FAILS.
    transcript_required: bool = True
    # Who spoke when: each word's speaker, from Amazon Transcribe's speaker partitioning (ShowSpeakerLabels, with
    # this as MaxSpeakerLabels: 2..30) or, with transcriber whisper, from the same local diarization as the local
    # mode (containers/transcribe/diarize.py), at most this many speakers. None: no speakers.
    max_speakers: int | None = Field(4, ge=2, le=30)
    # Inference: the embedding model, an inference component on a SageMaker endpoint that scales to zero
    # (README, "Inference endpoint and its idle cost"). At rest it keeps inference_min_instances instances
    # (0: none, nothing bills); warm_inference asks for inference_warm_copies copies while a job is in flight,
    # target tracking on invocations per copy adds copies up to inference_max_copies.
    inference_instance_type: str = "ml.g5.xlarge"
    inference_backend: Literal["cupy", "numpy"] = "cupy"  # numpy for a CPU instance type
    inference_min_instances: int = Field(0, ge=0)  # instances kept with no job
    inference_max_instances: int = Field(2, ge=1)
    inference_warm_copies: int = Field(1, ge=1)  # copies a job in flight holds
    inference_max_copies: int = Field(2, ge=1)
    inference_invocations_per_copy: float = Field(600, gt=0)  # the target-tracking target, per minute
    # How long keyframe_inference waits for a copy before it embeds on CPU itself; its timeout
    # (KEYFRAME_TIMEOUT_S) leaves the rest for that.
    inference_warm_wait_s: int = Field(300, ge=0, le=KEYFRAME_TIMEOUT_S - KEYFRAME_CPU_ALLOWANCE_S)
    # How long a copy takes to start from zero (an instance, the image, the model): warm_inference asks for a
    # long job's copy this long before the job is expected to embed (lambdas/common/job_timing.py), so the GPU
    # does not bill through MediaConvert and the transcription. AWS publishes no figure: measure it once deployed.
    inference_scale_up_s: int = Field(360, ge=0, le=3600)
    # What one copy reserves on its instance. The model is 90 MB; the rest is the server, numpy or CuPy.
    inference_copy_memory_mb: int = Field(2048, ge=128)
    inference_copy_cpu_cores: float = Field(1, ge=0.25)
    # Percent of endpoint requests and responses captured to S3; 0 (off) by default.
    inference_data_capture_percent: int = Field(0, ge=0, le=100)
    # Public Powertools layer (includes pydantic v2 and the X-Ray SDK) for the runtime below.
    powertools_layer_version: int = 27
    # Judgment: Amazon Bedrock (Converse) when a model id is set, the local planner otherwise.
    bedrock_model_id: str = ""
    plan_min_clip_s: float = Field(15, gt=0)
    plan_max_clip_s: float = Field(60, gt=0)
    plan_max_clips: int = Field(5, ge=1, le=50)
    judgment_max_tokens_per_job: int = Field(60_000, ge=1)
    judgment_max_model_calls: int = Field(4, ge=0)
    judgment_max_seconds: float = Field(180, gt=0)
    # Render: each planned clip once per aspect (9:16, 1:1, 16:9), every frame size from one short side (1080: 9:16
    # is 1080x1920, 1:1 1080x1080, 16:9 1920x1080); short renders in a Lambda, the rest as Fargate tasks that heartbeat.
    render_aspects: tuple[Aspect, ...] = aspects.DEFAULT_ASPECTS
    render_short_side: int = Field(aspects.DEFAULT_SHORT_SIDE, ge=16, le=aspects.MAX_SHORT_SIDE, multiple_of=2)
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

    @field_validator("render_aspects", mode="before")
    @classmethod
    def _aspects_listed(cls, value: object) -> object:
        return aspects.parse_aspects(value)

    @model_validator(mode="after")
    def _renders_fit_the_state(self) -> "VideoFlowConfig":
        if self.renders_per_job > MAX_RENDERS_PER_JOB:
            raise ValueError(
                f"plan_max_clips={self.plan_max_clips} in {len(self.render_aspects)} aspects is {self.renders_per_job} "
                f"renders a job, more than {MAX_RENDERS_PER_JOB} (the workflow state's room): lower plan_max_clips "
                "or name fewer render_aspects")
        return self

    @property
    def renders_per_job(self) -> int:
        """The most renders one job makes: every planned clip in every aspect."""
        return self.plan_max_clips * len(self.render_aspects)

    @model_validator(mode="after")
    def _inference_bounds_are_consistent(self) -> "VideoFlowConfig":
        if self.inference_backend == "cupy" and not self.inference_has_gpu:
            raise ValueError(
                f"inference_backend=cupy needs an instance type with an NVIDIA GPU (ml.g*, ml.p*), not "
                f"inference_instance_type={self.inference_instance_type!r}: set inference_backend=numpy for a CPU type")
        if self.inference_min_instances > self.inference_max_instances:
            raise ValueError(f"inference_min_instances={self.inference_min_instances} is more than "
                             f"inference_max_instances={self.inference_max_instances}")
        if self.inference_warm_copies > self.inference_max_copies:
            raise ValueError(f"inference_warm_copies={self.inference_warm_copies} is more than "
                             f"inference_max_copies={self.inference_max_copies}: a job could never get them")
        return self

    @property
    def inference_has_gpu(self) -> bool:
        return self.inference_instance_type.startswith(GPU_INSTANCE_FAMILIES)

    @property
    def inference_has_local_storage(self) -> bool:
        family = self.inference_instance_type.removeprefix("ml.").split(".")[0]
        return family in LOCAL_STORAGE_FAMILIES or family.endswith("d")

    @model_validator(mode="after")
    def _whisper_speaks_english(self) -> "VideoFlowConfig":
        if self.transcriber == "whisper" and self.transcribe_language not in WHISPER_LANGUAGES:
            raise ValueError(
                f"transcriber 'whisper' transcribes English only (its model is Whisper tiny.en), not "
                f"transcribe_language={self.transcribe_language!r}: set an English code "
                f"({', '.join(WHISPER_LANGUAGES)}) or use transcriber 'transcribe'")
        return self

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

    def transcript_branch_s(self, duration_s: float) -> int:
        """The transcript branch's bound: Transcribe's polling, or the whisper job waiting RUNNABLE and then
        each of its attempts bounded by transcribe_timeout_s (stacks/transcriber.py)."""
        if self.transcriber == "whisper":
            return self.frames_runnable_timeout_min * 60 + WHISPER_ATTEMPTS * self.transcribe_timeout_s(duration_s)
        return self.transcribe_timeout_s(duration_s)

    def transcribe_timeout_s(self, duration_s: float) -> int:
        """How long the transcript branch polls Amazon Transcribe for a video of this length."""
        return self.transcribe_timeout_base_s + self.transcribe_timeout_per_media_s * _round_half_up(duration_s)

    @property
    def needed_workflow_timeout_s(self) -> int:
        """The longest a job at max_duration_s may run with every step at its bound: two MediaConvert attempts,
        then the longer analysis branch, the renders (each clip in each aspect) in rounds of render_max_concurrency,
        and the short steps."""
        longest = self.max_duration_s
        vision_s = (self.frames_runnable_timeout_min + FRAME_ATTEMPTS * self.frames_attempt_timeout_min) * 60
        render_rounds = math.ceil(self.renders_per_job / self.render_max_concurrency)
        render_s = render_rounds * (1 + RENDER_RETRIES) * self.render_timeout_min * 60
        return (SHORT_STEPS_ALLOWANCE_S + 2 * self.mediaconvert_timeout_s(longest)
                + max(self.transcript_branch_s(longest), vision_s) + render_s)

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
        """What build_render_specs needs to write specs and choose where each clip renders, and record_render to check
        each render's frame (RenderSettings)."""
        return {
            "RENDER_ASPECTS": ",".join(self.render_aspects),
            "RENDER_SHORT_SIDE": str(self.render_short_side),
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
