"""The render's settings, read from the environment once and checked before any work starts.

A wrong setting fails the task in its first second with a cause naming the variable, not an
hour into a clip. The Fargate task gets these as container overrides; the render_short_clip
Lambda builds the same environment from its event.

    RENDER_SPEC        the render spec as JSON (spec.py), or
    RENDER_SPEC_S3     where it is instead: s3://bucket/key (or bucket/key); one of the two is needed
    TASK_TOKEN         the Step Functions task token ($$.Task.Token); absent: no Step Functions calls,
                       the output JSON goes to stdout
    HEARTBEAT_S        seconds between SendTaskHeartbeat calls, default 30; the first is sent at start
    RENDER_ATTEMPT_ID  names this attempt's temporary object; default: a random id per process
    RENDER_PRESET      the x264 preset, default veryfast
    RENDER_WORK_DIR    where the source and the clip are written locally (default: the temp folder);
                       it needs room for the whole source and the clip
    FFMPEG, FFPROBE    the programs, default from PATH
    AWS_ENDPOINT_URL   optional; boto3 honours it (the local runner points it at moto)

RenderConfig is a pydantic model of these variables, each field read by its alias, as the
functions' settings are (lambdas/common/settings.py); an empty variable is an unset one. The
image has pydantic and not pydantic-settings, so the environment is passed in as a mapping.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping
from typing import Any

from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

if __package__:
    from containers.render import ffmpeg_plan
    from containers.render.errors import RenderError, s3_call
    from containers.render.spec import RenderSpec
else:  # run as a script inside the image: the modules sit beside this file
    import ffmpeg_plan  # type: ignore[no-redef]
    from errors import RenderError, s3_call  # type: ignore[no-redef]
    from spec import RenderSpec  # type: ignore[no-redef]

DEFAULT_HEARTBEAT_S = 30.0
MAX_HEARTBEAT_S = 3600.0
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
ATTEMPT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NO_SPEC = "no render spec: set RENDER_SPEC (JSON) or RENDER_SPEC_S3 (s3://bucket/key)"


class RenderConfig(BaseModel):
    """The render's settings. A field's description says what its variable must be: a wrong value's
    cause reads "<VARIABLE> must be <description>, not <value>"."""

    model_config = ConfigDict(frozen=True)

    spec_json: str | None = Field(None, alias="RENDER_SPEC")
    spec_s3: tuple[str, str] | None = Field(None, alias="RENDER_SPEC_S3", description="s3://bucket/key")
    task_token: str | None = Field(None, alias="TASK_TOKEN", repr=False)
    heartbeat_s: float = Field(DEFAULT_HEARTBEAT_S, alias="HEARTBEAT_S", gt=0, le=MAX_HEARTBEAT_S,
                               allow_inf_nan=False,
                               description=f"a number of seconds within (0, {MAX_HEARTBEAT_S:g}]")
    attempt_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16], alias="RENDER_ATTEMPT_ID",
                            pattern=ATTEMPT_ID_PATTERN, description="1-64 letters, digits, - and _")
    preset: str = Field(ffmpeg_plan.DEFAULT_PRESET, alias="RENDER_PRESET",
                        description=f"one of {', '.join(X264_PRESETS)}")
    work_dir: str | None = Field(None, alias="RENDER_WORK_DIR")
    ffmpeg: str = Field(default_factory=lambda: shutil.which("ffmpeg") or "ffmpeg", alias="FFMPEG")
    ffprobe: str = Field(default_factory=lambda: shutil.which("ffprobe") or "ffprobe", alias="FFPROBE")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RenderConfig:
        """The settings in `environ` (os.environ, or the Lambda's copy of it); RenderError names what is wrong."""
        try:
            return cls.model_validate(environ)
        except ValidationError as error:
            raise RenderError(_cause(error)) from None

    @model_validator(mode="before")
    @classmethod
    def _set_variables(cls, environ: Any) -> Any:
        """This model's variables only, stripped; an empty one is left out, so its field takes its default."""
        if not isinstance(environ, Mapping):
            return environ
        found = {}
        for field in cls.model_fields.values():
            value = environ.get(field.alias)
            value = value.strip() if isinstance(value, str) else value
            if value is not None and value != "":
                found[field.alias] = value
        return found

    @field_validator("spec_s3", mode="before")
    @classmethod
    def _bucket_and_key(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise ValueError("not s3://bucket/key")
        return bucket, key

    @field_validator("preset")
    @classmethod
    def _x264_preset(cls, preset: str) -> str:
        if preset not in X264_PRESETS:
            raise ValueError("not an x264 preset")
        return preset

    @model_validator(mode="after")
    def _has_a_spec(self) -> RenderConfig:
        if self.spec_json is None and self.spec_s3 is None:
            raise PydanticCustomError("no_render_spec", NO_SPEC)
        return self


def _cause(error: ValidationError) -> str:
    """The validation errors as one readable line: each wrong variable, what it must be and what it was."""
    fields = {field.alias: field for field in RenderConfig.model_fields.values()}
    causes: dict[str, str] = {}
    for item in error.errors(include_url=False):
        variable = str(item["loc"][0]) if item["loc"] else ""
        field = fields.get(variable)
        if field is None:  # the model's own check: no spec at all
            causes.setdefault(item["msg"], item["msg"])
        elif field.description:
            causes.setdefault(variable, f"{variable} must be {field.description}, not {item['input']!r}")
        else:
            causes.setdefault(variable, f"{variable}: {item['msg']}, not {item['input']!r}")
    return "; ".join(causes.values())


def load_spec(config: RenderConfig, s3) -> RenderSpec:
    if config.spec_json is not None:
        text, where = config.spec_json, "RENDER_SPEC"
    else:
        bucket, key = config.spec_s3
        where = f"s3://{bucket}/{key}"
        text = s3_call(lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"),
                       f"reading the render spec {where}")
    try:
        return RenderSpec.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc']) or 'spec'}: {item['msg']}"
                             for item in error.errors())
        raise RenderError(f"the render spec in {where} is invalid: {problems}") from None


def client_config() -> Config:
    """The SDK's standard retries, a few more of them: a long render should not fail on one throttled call."""
    return Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)
