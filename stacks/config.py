"""Deployment configuration, read from cdk.json context "videoflow" (override with -c)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common import constants


class VideoFlowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_duration_s: float = Field(constants.DEFAULT_MAX_DURATION_S, gt=0)
    min_duration_s: float = Field(constants.DEFAULT_MIN_DURATION_S, ge=0)
    max_size_bytes: int = Field(constants.DEFAULT_MAX_SIZE_BYTES, gt=0)
    frames_per_chunk: int = Field(constants.FRAMES_PER_CHUNK, gt=0)
    workflow_timeout_h: float = Field(6, gt=0, le=24 * 365)
    mediaconvert_timeout_min: int = Field(240, gt=0)
    # A name of aws_logs.RetentionDays, e.g. ONE_MONTH, THREE_MONTHS, ONE_YEAR.
    log_retention: str = "ONE_MONTH"
    # Vision: the Batch array job's ceiling and each worker attempt's timeout.
    frames_max_vcpus: int = Field(16, gt=0)
    frames_attempt_timeout_min: int = Field(30, gt=0)
    # A frame job that cannot start (RUNNABLE: no capacity, a requirement no environment meets) is cancelled.
    frames_runnable_timeout_min: int = Field(30, ge=10, le=1440)
    # Transcript: how long the workflow waits for Amazon Transcribe, polling every 15 s.
    transcribe_timeout_min: int = Field(120, gt=0)
    transcribe_language: str = "en-US"
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
    # Kept when the stack is deleted unless set false (a test stack may want a clean teardown).
    retain_data: bool = True

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


def load_config(context: dict | None) -> VideoFlowConfig:
    return VideoFlowConfig.model_validate(context or {})
