"""What the local MediaConvert learns about its input before it plans the ffmpeg command.

MediaConvert reads these from the input itself: the colour space it follows (Color space
FOLLOW), whether frames are interlaced, the frame rate a "follow source" output keeps (and,
for a variable-rate input, the standard rate it rounds to), and each audio output's loudness
before it is corrected. Here ffprobe and one audio-only ffmpeg pass per normalized output
find the same facts; the command builder stays pure and takes them as arguments.

The input is an untrusted upload, so every ffmpeg and ffprobe run on it reads only a local
file (`-protocol_whitelist file`) with one of the demuxers of the containers MediaConvert
takes (`-format_whitelist`): never as a playlist or concat list that names other files.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from containers.render.ffmpeg_plan import SOURCE_GUARD

# An upload is opened as a local file of a media container only: the render's guard, the one list
# (the same as videoflow/local/ffprobe.py's SAFE_DEMUXERS; tests/unit/test_odd_media.py checks it).
INPUT_GUARD = SOURCE_GUARD

# "Follow source" on a variable-rate input: the average rate, rounded to the nearest of these
# (MediaConvert User Guide, "Using variable frame rate inputs").
STANDARD_FRAME_RATES = (1, 5, 10, 15, 24, 30, 50, 60)
# A stream whose average rate is this far from its base rate has frames of varying duration.
_VFR_TOLERANCE = 0.01
_TIMEOUT_S = 600


@dataclass(frozen=True)
class Loudness:
    """loudnorm's first-pass measurement of one audio output's input (LUFS, dBTP, LU)."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float
    threshold_lufs: float

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated_lufs)


@dataclass(frozen=True)
class SourceFacts:
    duration_s: float | None = None
    has_video: bool = False
    audio_streams: int = 0
    width: int | None = None
    height: int | None = None
    # ffprobe's names: color_transfer smpte2084 (PQ), arib-std-b67 (HLG), bt709...; None when untagged.
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    field_order: str | None = None  # progressive, tt, bb, tb, bt
    base_frame_rate: Fraction | None = None
    average_frame_rate: Fraction | None = None
    loudness: dict[str, Loudness] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0

    @property
    def variable_frame_rate(self) -> bool:
        base, average = self.base_frame_rate, self.average_frame_rate
        return bool(base and average and abs(float(average) / float(base) - 1) > _VFR_TOLERANCE)

    @property
    def follow_source_frame_rate(self) -> Fraction | None:
        """The constant rate a "follow source" output gets: the source's own, or for VFR a standard one."""
        if self.variable_frame_rate:
            average = float(self.average_frame_rate)
            # Nearest standard rate; a tie goes to the higher one.
            return Fraction(min(STANDARD_FRAME_RATES, key=lambda rate: (abs(rate - average), -rate)))
        return self.base_frame_rate or self.average_frame_rate


def describe(path: str | Path) -> SourceFacts | None:
    """The input's facts, or None when ffprobe cannot read it."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", *INPUT_GUARD, "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=False, timeout=_TIMEOUT_S,
    )
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None) or {}
    return SourceFacts(
        duration_s=_float((data.get("format") or {}).get("duration")),
        has_video=bool(video),
        audio_streams=sum(1 for s in streams if s.get("codec_type") == "audio"),
        width=video.get("width"),
        height=video.get("height"),
        color_transfer=_tag(video.get("color_transfer")),
        color_primaries=_tag(video.get("color_primaries")),
        color_space=_tag(video.get("color_space")),
        color_range=_tag(video.get("color_range")),
        field_order=_tag(video.get("field_order")),
        base_frame_rate=_fraction(video.get("r_frame_rate")),
        average_frame_rate=_fraction(video.get("avg_frame_rate")),
    )


def measure_loudness(argv: list[str]) -> Loudness | None:
    """Run one loudnorm measuring pass (argv from ffmpeg.loudness_commands) and read its report."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_TIMEOUT_S)
    if result.returncode != 0:
        return None
    reports = re.findall(r"\{[^{}]*\"input_i\"[^{}]*\}", result.stderr)
    if not reports:
        return None
    report = json.loads(reports[-1])
    return Loudness(
        integrated_lufs=_measure(report.get("input_i")),
        true_peak_dbtp=_measure(report.get("input_tp")),
        range_lu=_measure(report.get("input_lra")),
        threshold_lufs=_measure(report.get("input_thresh")),
    )


def _measure(value) -> float:
    """loudnorm writes "-inf" for silence."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return -math.inf


def _tag(value: str | None) -> str | None:
    return None if value in (None, "", "unknown", "unspecified", "reserved") else value


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _fraction(value: str | None) -> Fraction | None:
    if not value or "/" not in value:
        return None
    numerator, denominator = value.split("/", 1)
    try:
        fraction = Fraction(int(numerator), int(denominator))
    except (ValueError, ZeroDivisionError):
        return None
    return fraction if fraction > 0 else None
