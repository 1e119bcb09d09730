"""Environment of every function, validated once per cold start.

Functions read their variables through `function_environment()`: `os.environ` in Lambda,
where each function has a process of its own. The local runner runs every function in one
process and scopes each invocation's own variables with `scoped_environment`.
"""

import contextvars
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


_SCOPED: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("environment", default=None)


def function_environment() -> Mapping[str, str]:
    scoped = _SCOPED.get()
    return os.environ if scoped is None else scoped


@contextmanager
def scoped_environment(variables: Mapping[str, str] | None) -> Iterator[None]:
    """Within the block, `function_environment()` is `variables` (None: this process's)."""
    token = _SCOPED.set(variables)
    try:
        yield
    finally:
        _SCOPED.reset(token)


def get_settings() -> Settings:
    return _settings(tuple(sorted(function_environment().items())))


@lru_cache(maxsize=64)
def _settings(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.model_validate(dict(environment))


get_settings.cache_clear = _settings.cache_clear  # type: ignore[attr-defined]
