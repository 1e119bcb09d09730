"""The render spec: everything one clip's render needs, and nothing it has to look up.

build_render_specs writes one per planned clip. The Fargate task reads it from the
RENDER_SPEC environment variable (JSON) or from S3 (RENDER_SPEC_S3); the Lambda path passes
the same JSON. Unknown fields are refused, so a misspelt field (`crop_centre_x`) fails the
render with its name instead of silently rendering a centred clip.

    {"job_id": "...", "clip_index": 0,
     "source": {"bucket": "...", "key": "uploads/talk.mp4", "version_id": "..."},
     "start_s": 12.0, "end_s": 41.5, "title": "...",
     "output": {"bucket": "...", "key": "clips/<job_id>/clip-00.mp4"},
     "target": {"width": 1080, "height": 1920},
     "crop_center_x": 0.5,
     "captions": {"mode": "burn", "vtt": {"bucket": "...", "key": "captions/<job_id>/captions.vtt"}},
     "loudness_lufs": -14,
     "thumbnail": {"bucket": "...", "key": "clips/<job_id>/clip-00.jpg"}, "thumbnail_at_s": 7.0}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_CLIP_S = 4 * 3600


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Location(_Model):
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class SourceLocation(S3Location):
    """The original upload. `version_id` is required (null only for an unversioned bucket): a render
    reads exactly the version that was analysed, never a newer upload under the same key."""

    version_id: str | None

    @property
    def uri(self) -> str:
        return super().uri + (f"?versionId={self.version_id}" if self.version_id else "")


class Target(_Model):
    """The output frame: 1080x1920 (9:16 portrait) by default. Both sides even, as H.264 4:2:0 needs."""

    width: int = Field(default=1080, ge=16, le=4096, multiple_of=2)
    height: int = Field(default=1920, ge=16, le=4096, multiple_of=2)


class Captions(_Model):
    """`burn` draws the captions into the picture; `attach` adds a mov_text subtitle track; `none`
    renders without. `vtt` is the job's whole WebVTT file: the renderer keeps the clip's cues and
    moves them to the clip's start."""

    mode: Literal["burn", "attach", "none"] = "none"
    vtt: S3Location | None = None

    @model_validator(mode="after")
    def _vtt_when_needed(self) -> Captions:
        if self.mode != "none" and self.vtt is None:
            raise ValueError(f"captions mode {self.mode!r} needs a vtt location")
        return self


class RenderSpec(_Model):
    job_id: str = Field(min_length=1, max_length=128)
    clip_index: int = Field(ge=0)
    source: SourceLocation
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    title: str = Field(default="", max_length=500)
    output: S3Location
    target: Target = Target()
    # Where the picture's centre of interest is across the width, 0 (left edge) to 1 (right edge),
    # in the orientation the video is displayed; from the faces, 0.5 when there are none.
    crop_center_x: float = Field(default=0.5, ge=0, le=1)
    captions: Captions = Captions()
    # Integrated loudness target (EBU R128 / ITU-R BS.1770), LUFS; -14 is what the big platforms play at.
    loudness_lufs: float = Field(default=-14, ge=-70, le=-5)
    # A JPEG of the rendered clip at thumbnail_at_s (seconds from the clip's start; the middle when unset).
    thumbnail: S3Location | None = None
    thumbnail_at_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _clip_is_a_span(self) -> RenderSpec:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        if self.end_s - self.start_s > MAX_CLIP_S:
            raise ValueError(f"a clip lasts at most {MAX_CLIP_S} s, this one {self.end_s - self.start_s:.1f} s")
        if self.output.bucket == self.source.bucket and self.output.key == self.source.key:
            raise ValueError("the output must not overwrite the source")
        return self

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
