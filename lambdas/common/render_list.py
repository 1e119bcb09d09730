"""The render list: what build_render_specs hands the render Map and record_render checks.

RenderSettings are the aspects and frame size, captions and loudness both steps read from the
environment: the renders are checked against the settings they were made with. Each planned
clip is one item per aspect (lambdas/common/aspects.py), its frame size that aspect's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lambdas.common import aspects as aspect_ratios
from lambdas.common.aspects import Aspect
from lambdas.common.models import Model, ObjectRef

RenderTarget = Literal["lambda", "fargate"]


class RenderSettings(Model):
    aspects: tuple[Aspect, ...] = Field(aspect_ratios.DEFAULT_ASPECTS, alias="RENDER_ASPECTS")  # env: "9:16,1:1"
    short_side: int = Field(aspect_ratios.DEFAULT_SHORT_SIDE, alias="RENDER_SHORT_SIDE", ge=16,
                            le=aspect_ratios.MAX_SHORT_SIDE, multiple_of=2)
    captions: Literal["burn", "attach", "none"] = Field("burn", alias="RENDER_CAPTIONS")
    loudness_lufs: float = Field(-14, alias="RENDER_LOUDNESS_LUFS")
    lambda_max_clip_s: float = Field(60, alias="RENDER_LAMBDA_MAX_CLIP_S", ge=0)
    lambda_max_source_bytes: int = Field(9 * 1024**3, alias="RENDER_LAMBDA_MAX_SOURCE_BYTES", ge=0)

    @field_validator("aspects", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return aspect_ratios.parse_aspects(value)

    def frame_size(self, aspect: Aspect) -> tuple[int, int]:
        """(width, height) of this aspect's clips: 1080x1920 for 9:16 at the default short side."""
        return aspect_ratios.frame_size(aspect, self.short_side)


class RenderItem(Model):
    """One clip in one aspect to render: the Map state's item, the Lambda's event, the Fargate task's RENDER_SPEC_S3.
    `index` is the planned clip's; a clip rendered in three aspects is three items with the same index."""

    index: int = Field(ge=0)
    aspect: Aspect
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    target: RenderTarget
    target_reason: str
    spec_s3: str
    start_s: float
    end_s: float
    title: str
    output: ObjectRef
    thumbnail: ObjectRef

    @model_validator(mode="after")
    def _frame_has_the_aspect(self) -> RenderItem:
        if not aspect_ratios.matches(self.width, self.height, self.aspect):
            raise ValueError(f"a {self.width}x{self.height} frame is not {self.aspect}")
        return self


class RenderList(Model):
    clips: list[RenderItem]
