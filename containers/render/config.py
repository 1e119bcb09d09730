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
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.config import Config
from pydantic import ValidationError

if __package__:
    from containers.render import ffmpeg_plan
    from containers.render.errors import RenderError, s3_call
    from containers.render.spec import RenderSpec
else:  # run as a script inside the image: the modules sit beside this file
    import ffmpeg_plan  # type: ignore[no-redef]
    from errors import RenderError, s3_call  # type: ignore[no-redef]
    from spec import RenderSpec  # type: ignore[no-redef]

DEFAULT_HEARTBEAT_S = 30.0
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_ATTEMPT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class RenderConfig:
    spec_json: str | None
    spec_s3: tuple[str, str] | None
    task_token: str | None
    heartbeat_s: float
    attempt_id: str
    preset: str
    work_dir: str | None
    ffmpeg: str
    ffprobe: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RenderConfig:
        spec_json = environ.get("RENDER_SPEC", "").strip() or None
        spec_s3 = _parse_s3_uri(environ["RENDER_SPEC_S3"]) if environ.get("RENDER_SPEC_S3", "").strip() else None
        if spec_json is None and spec_s3 is None:
            raise RenderError("no render spec: set RENDER_SPEC (JSON) or RENDER_SPEC_S3 (s3://bucket/key)")
        raw_heartbeat = environ.get("HEARTBEAT_S", "").strip() or str(DEFAULT_HEARTBEAT_S)
        try:
            heartbeat_s = float(raw_heartbeat)
        except ValueError:
            raise RenderError(f"HEARTBEAT_S must be a number of seconds, not {raw_heartbeat!r}") from None
        if not 0 < heartbeat_s <= 3600:
            raise RenderError(f"HEARTBEAT_S must be within (0, 3600] seconds, not {heartbeat_s:g}")
        attempt_id = environ.get("RENDER_ATTEMPT_ID", "").strip() or uuid.uuid4().hex[:16]
        if not _ATTEMPT_ID.match(attempt_id):
            raise RenderError(f"RENDER_ATTEMPT_ID may hold only letters, digits, - and _ (1-64), not {attempt_id!r}")
        preset = environ.get("RENDER_PRESET", "").strip() or ffmpeg_plan.DEFAULT_PRESET
        if preset not in X264_PRESETS:
            raise RenderError(f"RENDER_PRESET must be one of {', '.join(X264_PRESETS)}, not {preset!r}")
        return cls(
            spec_json=spec_json,
            spec_s3=spec_s3,
            task_token=environ.get("TASK_TOKEN", "").strip() or None,
            heartbeat_s=heartbeat_s,
            attempt_id=attempt_id,
            preset=preset,
            work_dir=environ.get("RENDER_WORK_DIR", "").strip() or None,
            ffmpeg=environ.get("FFMPEG", "").strip() or shutil.which("ffmpeg") or "ffmpeg",
            ffprobe=environ.get("FFPROBE", "").strip() or shutil.which("ffprobe") or "ffprobe",
        )


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


def _parse_s3_uri(value: str) -> tuple[str, str]:
    text = value.strip().removeprefix("s3://")
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        raise RenderError(f"RENDER_SPEC_S3 must be s3://bucket/key, not {value!r}")
    return bucket, key
