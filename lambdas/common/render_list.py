"""The render list: what build_render_specs hands the render Map and record_render checks.

RenderSettings are the frame size, captions and loudness both steps read from the
environment: the renders are checked against the settings they were made with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lambdas.common.models import Model, ObjectRef

RenderTarget = Literal["lambda", "fargate"]


class RenderSettings(Model):
    width: int = Field(1080, alias="RENDER_WIDTH")
    height: int = Field(1920, alias="RENDER_HEIGHT")
    captions: Literal["burn", "attach", "none"] = Field("burn", alias="RENDER_CAPTIONS")
    loudness_lufs: float = Field(-14, alias="RENDER_LOUDNESS_LUFS")
    lambda_max_clip_s: float = Field(60, alias="RENDER_LAMBDA_MAX_CLIP_S", ge=0)
    lambda_max_source_bytes: int = Field(9 * 1024**3, alias="RENDER_LAMBDA_MAX_SOURCE_BYTES", ge=0)


class RenderItem(Model):
    """One clip to render: the Map state's item, the Lambda's event, the Fargate task's RENDER_SPEC_S3."""

    index: int = Field(ge=0)
    target: RenderTarget
    target_reason: str
    spec_s3: str
    start_s: float
    end_s: float
    title: str
    output: ObjectRef
    thumbnail: ObjectRef


class RenderList(Model):
    clips: list[RenderItem]
