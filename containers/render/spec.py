"""The render spec: everything one clip's render needs, and nothing it has to look up.

build_render_specs writes one per planned clip. The Fargate task reads it from the
RENDER_SPEC environment variable (JSON) or from S3 (RENDER_SPEC_S3); the Lambda path passes
the same JSON. Unknown fields are refused, so a misspelt or retired field (`crop_center_x`, now
`crop_path`) fails the render with its name instead of silently rendering a centred clip.

    {"job_id": "...", "clip_index": 0,
     "source": {"bucket": "...", "key": "uploads/talk.mp4", "version_id": "..."},
     "start_s": 12.0, "end_s": 41.5, "title": "...",
     "output": {"bucket": "...", "key": "clips/<job_id>/clip-00.mp4"},
     "target": {"width": 1080, "height": 1920},
     "crop_path": [{"t_s": 0.0, "x": 0.5, "y": 0.5}, {"t_s": 4.0, "x": 0.62, "y": 0.5}],
     "captions": {"mode": "burn", "vtt": {"bucket": "...", "key": "captions/<job_id>/captions.vtt"},
                  "top_spans": [[3.0, 6.5]]},
     "loudness_lufs": -14,
     "thumbnail": {"bucket": "...", "key": "clips/<job_id>/clip-00.jpg"}, "thumbnail_at_s": 7.0}
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_CLIP_S = 4 * 3600
# Generous bounds on a spec's lists (one key a frame for an hour at 25 fps); the renderer simplifies long paths.
MAX_CROP_KEYS = 100_000
MAX_TOP_SPANS = 10_000
NonNegative = Annotated[float, Field(ge=0)]


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
    # [start_s, end_s] spans in clip time (0 is the clip's start) during which burned captions go in the
    # upper third instead of the lower, so they do not cover a face; a cue overlapping a span goes up whole.
    # `attach` ignores them: a player places a subtitle track itself.
    top_spans: list[tuple[NonNegative, NonNegative]] = Field(default_factory=list, max_length=MAX_TOP_SPANS)

    @model_validator(mode="after")
    def _vtt_when_needed(self) -> Captions:
        if self.mode != "none" and self.vtt is None:
            raise ValueError(f"captions mode {self.mode!r} needs a vtt location")
        for start_s, end_s in self.top_spans:
            if end_s <= start_s:
                raise ValueError(f"a top span must end after it starts, not [{start_s}, {end_s}]")
        return self


class CropKey(_Model):
    """Where the centre of interest is `t_s` seconds into the clip: `x` 0 (left edge) to 1 (right edge) across the
    upright frame's width, `y` 0 (top) to 1 (bottom) across its height, in the orientation the video is displayed."""

    t_s: float = Field(ge=0)
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class RenderSpec(_Model):
    job_id: str = Field(min_length=1, max_length=128)
    clip_index: int = Field(ge=0)
    source: SourceLocation
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    title: str = Field(default="", max_length=500)
    output: S3Location
    target: Target = Target()
    # The reframing window's path: keys in time order (t_s never decreasing). The window keeps its size and its
    # centre moves in a straight line from key to key; two keys at the same t_s are a jump (a shot cut: the window
    # moves on that frame); before the first key and after the last it stays put. x moves it across a source wider
    # than the target, y across a taller one; it is kept inside the frame.
    crop_path: list[CropKey] = Field(default_factory=lambda: [CropKey(t_s=0, x=0.5, y=0.5)], min_length=1,
                                     max_length=MAX_CROP_KEYS)
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
        for before, after in pairwise(self.crop_path):
            if after.t_s < before.t_s:
                raise ValueError(f"crop_path keys must be in time order: t_s {after.t_s} comes after {before.t_s}")
        return self

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
