"""Environment of every function, validated once per cold start."""

import os
from functools import lru_cache

from pydantic import BaseModel, Field

from lambdas.common import constants


class Settings(BaseModel):
    jobs_table: str = Field(alias="JOBS_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    ingest_bucket: str = Field(alias="INGEST_BUCKET")
    output_bucket: str = Field(alias="OUTPUT_BUCKET")
    state_machine_arn: str = Field("", alias="STATE_MACHINE_ARN")
    mediaconvert_role_arn: str = Field("", alias="MEDIACONVERT_ROLE_ARN")
    # "mediaconvert" in AWS; the local runner registers its ffprobe adapter instead.
    max_duration_s: float = Field(constants.DEFAULT_MAX_DURATION_S, alias="MAX_DURATION_S", gt=0)
    min_duration_s: float = Field(constants.DEFAULT_MIN_DURATION_S, alias="MIN_DURATION_S", ge=0)
    max_size_bytes: int = Field(constants.DEFAULT_MAX_SIZE_BYTES, alias="MAX_SIZE_BYTES", gt=0)
    frames_per_chunk: int = Field(constants.FRAMES_PER_CHUNK, alias="FRAMES_PER_CHUNK", gt=0)
    inference_endpoint_name: str = Field("", alias="INFERENCE_ENDPOINT_NAME")
    inference_variant: str = Field("AllTraffic", alias="INFERENCE_VARIANT")
    inference_leases_table: str = Field("", alias="INFERENCE_LEASES_TABLE")
    inference_idle_instances: int = Field(1, alias="INFERENCE_IDLE_INSTANCES", ge=1)
    inference_warm_instances: int = Field(1, alias="INFERENCE_WARM_INSTANCES", ge=1)
    inference_max_instances: int = Field(2, alias="INFERENCE_MAX_INSTANCES", ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
