"""What the cost ledger needs to know about the deployment: record_cost's settings.

A bad value must never cost the job its ledger: a variable that does not validate falls back
to its default and becomes a note (`problems`) in the report, instead of failing the step.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)


class CostConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    function_memory_mb: dict[str, PositiveInt] = Field(
        default_factory=dict, alias="FUNCTION_MEMORY_MB",
        description='JSON {"validate_upload": 256, ...}: every function\'s memory size')
    inference_instance_type: str | None = Field(None, alias="INFERENCE_INSTANCE_TYPE")
    # Instances the endpoint keeps with no job (0: it scales to zero); a job pays only for those above them.
    inference_idle_instances: int = Field(0, ge=0, alias="INFERENCE_MIN_INSTANCES")
    frame_worker_vcpu: float = Field(1.0, gt=0, alias="FRAME_WORKER_VCPU")
    frame_worker_memory_mb: int = Field(2048, gt=0, alias="FRAME_WORKER_MEMORY_MB")
    # Who transcribed: Amazon Transcribe (unset), or the whisper Batch job of this size (stacks/transcriber.py).
    transcriber: Literal["transcribe", "whisper"] = Field("transcribe", alias="TRANSCRIBER")
    transcriber_vcpu: float = Field(2.0, gt=0, alias="TRANSCRIBER_VCPU")
    transcriber_memory_mb: int = Field(4096, gt=0, alias="TRANSCRIBER_MEMORY_MB")
    _problems: list[str] = PrivateAttr(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The configuration that could not be read, one sentence each."""
        return self._problems

    @field_validator("function_memory_mb", mode="before")
    @classmethod
    def _json_object(cls, value):
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="wrap")
    @classmethod
    def _forgiving(cls, data, handler):
        """Validate; a variable of this model that does not validate is dropped (its default is used) and noted."""
        if not isinstance(data, dict):
            return handler(data)
        own = {field.alias or name: name for name, field in CostConfig.model_fields.items()}
        data = {key: value for key, value in data.items() if value != ""}  # an empty variable is an unset one
        problems = [] if data.get("FUNCTION_MEMORY_MB") or data.get("function_memory_mb") else [
            "FUNCTION_MEMORY_MB is not set."]
        while True:
            try:
                config = handler(data)
            except ValidationError as error:
                bad = {str(e["loc"][0]): e["msg"] for e in error.errors() if e["loc"] and str(e["loc"][0]) in own}
                if not set(bad) & set(data):
                    raise
                for key in sorted(set(bad) & set(data)):
                    default = CostConfig.model_fields[own[key]].get_default(call_default_factory=True)
                    problems.append(f"{key}={data.pop(key)!r} is not valid ({bad[key]}); {default!r} is used.")
                continue
            config._problems = problems
            return config
