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

from pydantic import BaseModel, Field, create_model

from lambdas.common import constants


class Settings(BaseModel):
    """What every workflow step opens: the job record, its event log, the output bucket."""

    jobs_table: str = Field(alias="JOBS_TABLE")
    events_table: str = Field(alias="EVENTS_TABLE")
    output_bucket: str = Field(alias="OUTPUT_BUCKET")


# Each function's environment is the variables of the models it declares (stacks/steps.py) and
# nothing else; its handler reads them with get_settings(the same models).
class IngestSettings(BaseModel):
    ingest_bucket: str = Field(alias="INGEST_BUCKET")


class LimitSettings(BaseModel):
    max_duration_s: float = Field(constants.DEFAULT_MAX_DURATION_S, alias="MAX_DURATION_S", gt=0)
    min_duration_s: float = Field(constants.DEFAULT_MIN_DURATION_S, alias="MIN_DURATION_S", ge=0)
    max_size_bytes: int = Field(constants.DEFAULT_MAX_SIZE_BYTES, alias="MAX_SIZE_BYTES", gt=0)


class FrameSettings(BaseModel):
    frames_per_chunk: int = Field(constants.FRAMES_PER_CHUNK, alias="FRAMES_PER_CHUNK", gt=0)


class WorkflowSettings(BaseModel):
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")


class EndpointSettings(BaseModel):
    """The embedding endpoint a function embeds with (lambdas.common.embedding reads it).

    The model is an inference component on the endpoint, which scales to zero copies at rest:
    a function that finds no copy waits at most `inference_warm_wait_s` for one (0: not at all),
    then embeds on CPU itself with the same model (lambdas.common.embedders.CpuEmbedder)."""

    inference_endpoint_name: str = Field("", alias="INFERENCE_ENDPOINT_NAME")  # unset: no endpoint to embed with
    inference_component_name: str = Field("", alias="INFERENCE_COMPONENT_NAME")
    inference_warm_wait_s: float = Field(300.0, alias="INFERENCE_WARM_WAIT_S", ge=0)


class InferenceSettings(EndpointSettings):
    """Who holds the endpoint's model, and how many copies a job in flight keeps warm."""

    inference_leases_table: str = Field(alias="INFERENCE_LEASES_TABLE")
    inference_warm_copies: int = Field(1, alias="INFERENCE_WARM_COPIES", ge=1)
    inference_max_copies: int = Field(2, alias="INFERENCE_MAX_COPIES", ge=1)
    # How long a copy takes to start from zero: warm_inference asks for it this long before the job embeds.
    inference_scale_up_s: float = Field(360.0, alias="INFERENCE_SCALE_UP_S", ge=0)
    transcriber: str = Field("transcribe", alias="TRANSCRIBER")  # the analysis' long pole (lambdas/common/job_timing.py)


class IdempotencySettings(BaseModel):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")


class ConnectionSettings(BaseModel):
    """Live push: who follows which job, and where to post to them."""

    connections_table: str = Field(alias="CONNECTIONS_TABLE")
    websocket_callback_url: str = Field("", alias="WEBSOCKET_CALLBACK_URL")


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


def get_settings(*models: type[BaseModel]):
    """The function's settings: one model made of `models` (the base Settings when none), validated
    from its environment once per cold start (once per environment, where functions share a process)."""
    # An empty variable is an unset one: its field takes its default (or is reported missing).
    return _settings(models or (Settings,), tuple(sorted((k, v) for k, v in function_environment().items() if v != "")))


@lru_cache(maxsize=128)
def _settings(models: tuple[type[BaseModel], ...], environment: tuple[tuple[str, str], ...]):
    return settings_model(*models).model_validate(dict(environment))


@lru_cache(maxsize=64)
def settings_model(*models: type[BaseModel]) -> type[BaseModel]:
    """One model whose fields are all of `models`' (each read by its own alias)."""
    if len(models) == 1:
        return models[0]
    return create_model("_".join(m.__name__ for m in models), __base__=models)


def variables(*models: type[BaseModel]) -> dict[str, bool]:
    """Environment variable -> required, for the fields of `models`."""
    found: dict[str, bool] = {}
    for model in models:
        for field in model.model_fields.values():
            found[field.alias] = found.get(field.alias, False) or field.is_required()
    return found


get_settings.cache_clear = _settings.cache_clear  # type: ignore[attr-defined]
