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
    # Kept when the stack is deleted unless set false (a test stack may want a clean teardown).
    retain_data: bool = True

    def function_environment(self) -> dict[str, str]:
        return {
            "MAX_DURATION_S": str(self.max_duration_s),
            "MIN_DURATION_S": str(self.min_duration_s),
            "MAX_SIZE_BYTES": str(self.max_size_bytes),
            "FRAMES_PER_CHUNK": str(self.frames_per_chunk),
        }


def load_config(context: dict | None) -> VideoFlowConfig:
    return VideoFlowConfig.model_validate(context or {})
