"""The ffmpeg command for one clip, and the pieces it is made of. Pure: no I/O, no processes.

One ffmpeg run makes the whole clip:

- **cut**: `-ss START` before `-i` seeks the input to the keyframe before START, and because
  the video is re-encoded, ffmpeg decodes from there and drops the frames before START
  (accurate seek), so the clip starts on the exact frame; `-t` (an output option) ends it
  exactly DURATION later. Timestamps restart at 0.
- **reframe**: ffmpeg turns the picture upright first (autorotation, from the display matrix).
  The crop keeps the frame's full height (or full width, for a source taller than the target)
  and follows `crop_path`, clamped to the frame, then is scaled to the target with square
  pixels: a still path is a fixed crop, a moving one per-frame expressions of `t`
  (crop_path.py). Non-square source pixels are accounted for in the crop width.
- **captions**: `burn` draws them with the `subtitles` filter (libass) after the scale, inside the
  target's safe area at a size set for its shape (caption_layout.py); cues during a top span
  come from a second file drawn at the top. `attach` muxes them as a mov_text track. Either way
  the VTT is a copy shifted to the clip (`shift_vtt`): the filter and the muxer see clip time,
  which starts at 0.
- **sound**: `loudnorm` in one pass (dynamic mode, no measurement pass) to the spec's
  integrated loudness with a -1.5 dBTP ceiling, then 48 kHz stereo AAC.
- **encode**: H.264 High, yuv420p, CRF 20; `+faststart` puts the index first so a player
  starts before the whole file is down.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

if __package__:
    from containers.render import caption_layout, crop_path
    from containers.render.spec import CropKey, RenderSpec
else:  # run as a script inside the image: the modules sit beside this file
    import caption_layout  # type: ignore[no-redef]
    import crop_path  # type: ignore[no-redef]
    from spec import CropKey, RenderSpec  # type: ignore[no-redef]

VIDEO_CRF = 20
DEFAULT_PRESET = "veryfast"
AUDIO_BITRATE = "160k"
AUDIO_SAMPLE_RATE = 48000
TRUE_PEAK_DBTP = -1.5
LOUDNESS_RANGE_LU = 11


@dataclass(frozen=True)
class SourceVideo:
    """What the plan needs to know of the source, from ffprobe (`source_from_probe`)."""

    width: int  # coded size, as stored
    height: int
    rotation: int = 0  # display rotation, clockwise degrees: 0, 90, 180 or 270
    sample_aspect: float = 1.0  # pixel width / pixel height
    has_audio: bool = True
    duration_s: float | None = None

    @property
    def _turned(self) -> bool:
        return self.rotation in (90, 270)

    @property
    def frame_width(self) -> int:
        """Width of the frames the filters see (after autorotation), in pixels."""
        return self.height if self._turned else self.width

    @property
    def frame_height(self) -> int:
        return self.width if self._turned else self.height

    @property
    def frame_sample_aspect(self) -> float:
        """Pixel aspect of the frames the filters see: turning a picture a quarter turns its pixels too."""
        return 1 / self.sample_aspect if self._turned else self.sample_aspect

    @property
    def display_width(self) -> int:
        return round(self.frame_width * self.frame_sample_aspect)

    @property
    def display_height(self) -> int:
        return self.frame_height


@dataclass(frozen=True)
class CropWindow:
    width: int
    height: int
    x: int
    y: int

    @property
    def filter(self) -> str:
        return f"crop={self.width}:{self.height}:{self.x}:{self.y}"


@dataclass(frozen=True)
class ShiftedCaptions:
    text: str
    cue_count: int


def crop_window(source: SourceVideo, target_width: int, target_height: int, center_x: float,
                center_y: float = 0.5) -> CropWindow:
    """The largest window of the target's shape, in the upright frame's pixels, around (center_x, center_y).

    A frame wider than the target keeps its full height and loses its sides: the window is
    centred on `center_x` (0..1 across the width) and moved back inside the frame when that
    would cross an edge. A frame taller than the target keeps its full width and loses top and
    bottom around `center_y` (0..1 down the height) the same way. Sizes and offsets are even
    (4:2:0 chroma).
    """
    if not (0 <= center_x <= 1 and 0 <= center_y <= 1):
        raise ValueError(f"the centre must be within 0..1, not ({center_x}, {center_y})")
    width, height, pixel_aspect = source.frame_width, source.frame_height, source.frame_sample_aspect
    wanted = target_width / target_height  # display aspect of the output
    have = width * pixel_aspect / height
    if math.isclose(have, wanted, rel_tol=1e-3):
        return CropWindow(_even_down(width), _even_down(height), 0, 0)
    if have > wanted:
        crop_width = min(_even(height * wanted / pixel_aspect), _even_down(width))
        crop_height = _even_down(height)
        left = round(center_x * width - crop_width / 2)
        left = min(max(left, 0), width - crop_width)
        return CropWindow(crop_width, crop_height, _even_down(left), 0)
    crop_width = _even_down(width)
    crop_height = min(_even(width * pixel_aspect / wanted), _even_down(height))
    top = round(center_y * height - crop_height / 2)
    top = min(max(top, 0), height - crop_height)
    return CropWindow(crop_width, crop_height, 0, _even_down(top))


def crop_filter(source: SourceVideo, target_width: int, target_height: int, path: list[CropKey]) -> str:
    """The crop that follows `path` (spec.crop_path): fixed numbers when it stands still, else x/y expressions
    of the frame time (crop_path.py) that the crop filter evaluates on every frame."""
    first = path[0]
    window = crop_window(source, target_width, target_height, first.x, first.y)
    if all((key.x, key.y) == (first.x, first.y) for key in path):
        return window.filter
    offsets = []
    for along_x, frame_size, window_size in ((True, source.frame_width, window.width),
                                             (False, source.frame_height, window.height)):
        keys = crop_path.axis_keys(path, along_x, frame_size, window_size)
        offsets.append(_escape_graph(crop_path.offset_expression(keys, frame_size - window_size)))
    return f"crop={window.width}:{window.height}:{offsets[0]}:{offsets[1]}"


def video_filter(spec: RenderSpec, source: SourceVideo, captions_path: Path | str | None = None,
                 top_captions_path: Path | str | None = None) -> str:
    """crop -> scale to the target (square pixels) -> [burn captions] -> yuv420p, as one -vf chain.

    Burned captions come from `captions_path` (drawn at the bottom of the safe area) and
    `top_captions_path` (the cues of the spec's top spans, drawn at its top); either may be None."""
    width, height = spec.target.width, spec.target.height
    chain = [crop_filter(source, width, height, spec.crop_path), f"scale={width}:{height}:flags=lanczos", "setsar=1"]
    if spec.captions.mode == "burn":
        if captions_path is None and top_captions_path is None:
            raise ValueError("burned captions need the shifted VTT file")
        for path, at_top in ((captions_path, False), (top_captions_path, True)):
            if path is not None:
                chain.append(subtitles_filter(path, width, height, caption_layout.caption_style(width, height, at_top)))
    chain.append("format=yuv420p")
    return ",".join(chain)


def subtitles_filter(path: Path | str, width: int, height: int, style: str | None = None) -> str:
    """The `subtitles` filter for `path`, escaped for both levels ffmpeg parses (option value, then graph);
    the style defaults to captions at the bottom of the frame's safe area."""
    style = style or caption_layout.caption_style(width, height)
    arguments = (f"filename={_escape_option(str(path))}:original_size={width}x{height}"
                 f":force_style={_escape_option(style)}")
    return "subtitles=" + _escape_graph(arguments)


def audio_filter(loudness_lufs: float, measured: dict | None = None) -> str:
    """loudnorm, then back to 48 kHz (loudnorm works at 192 kHz) stereo float for AAC.

    With `measured` (the first pass, `parse_loudness`) it is the second pass of two: a linear gain
    that lands on the target. Speech with pauses comes out about 2 LU short in a single pass.
    """
    target = f"I={_number(loudness_lufs)}:TP={_number(TRUE_PEAK_DBTP)}:LRA={_number(LOUDNESS_RANGE_LU)}"
    if measured:
        target += (f":measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
                   f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
                   f":offset={measured['target_offset']}:linear=true")
    return f"loudnorm={target},aresample={AUDIO_SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"


# The source is an untrusted upload: ffmpeg opens it as a local file of a media container only, so
# a playlist or concat list can never make it read another file or the network (the same demuxers
# the local probe allows; the local MediaConvert uses this guard: tests/unit/test_odd_media.py).
SAFE_DEMUXERS = "aac,ac3,asf,avi,eac3,flac,flv,h264,hevc,matroska,mov,mp3,mpeg,mpegts,mxf,ogg,wav"
SOURCE_GUARD = ["-protocol_whitelist", "file", "-format_whitelist", SAFE_DEMUXERS]


def measure_loudness_argv(spec: RenderSpec, source_path: Path | str, ffmpeg: str = "ffmpeg") -> list[str]:
    """The first loudnorm pass: the clip's span of the source's audio, measured, nothing written."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", *SOURCE_GUARD, "-ss", _seconds(spec.start_s),
            "-i", str(source_path),
            "-t", _seconds(spec.duration_s), "-map", "0:a:0", "-vn",
            "-af", f"loudnorm=I={_number(spec.loudness_lufs)}:TP={_number(TRUE_PEAK_DBTP)}"
                   f":LRA={_number(LOUDNESS_RANGE_LU)}:print_format=json", "-f", "null", "-"]


_MEASURED = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")


def parse_loudness(stderr: str) -> dict | None:
    """The first pass's measurements from ffmpeg's stderr, or None when there are none usable
    (silence measures -inf: a linear gain cannot lift it, the single pass handles it)."""
    start, end = stderr.rfind("{"), stderr.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        found = json.loads(stderr[start:end + 1])
        values = {name: float(found[name]) for name in _MEASURED}
    except (ValueError, KeyError, TypeError):
        return None
    if not all(math.isfinite(value) for value in values.values()) or values["input_i"] < -70:
        return None
    return {name: f"{value:.2f}" for name, value in values.items()}


def plan(
    spec: RenderSpec,
    source: SourceVideo,
    source_path: Path | str,
    output_path: Path | str,
    captions_path: Path | str | None = None,
    preset: str = DEFAULT_PRESET,
    ffmpeg: str = "ffmpeg",
    progress: bool = True,
    measured_loudness: dict | None = None,
    top_captions_path: Path | str | None = None,
) -> list[str]:
    """ffmpeg's argv for the clip `spec` describes, read from `source_path`, written to `output_path` (MP4).

    `captions_path` is the clip's shifted VTT (`shift_vtt`); it is needed unless the spec's
    captions mode is "none". To burn, it may be split first (`split_captions`): the cues under
    the spec's top spans in `top_captions_path`, the rest (if any) in `captions_path`. With
    `progress`, ffmpeg writes key=value progress to stdout.
    """
    mode = spec.captions.mode
    if mode != "none" and captions_path is None and not (mode == "burn" and top_captions_path is not None):
        raise ValueError(f"captions mode {mode!r} needs the shifted VTT file")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    if progress:
        argv += ["-progress", "pipe:1", "-nostats"]
    # Input options: an accurate seek on the source; the VTT (attach) is already in clip time.
    argv += [*SOURCE_GUARD, "-ss", _seconds(spec.start_s), "-i", str(source_path)]
    if mode == "attach":
        argv += ["-i", str(captions_path)]
    argv += ["-t", _seconds(spec.duration_s), "-map", "0:v:0"]
    if source.has_audio:
        argv += ["-map", "0:a:0"]
    if mode == "attach":
        argv += ["-map", "1:s:0"]
    burn = mode == "burn"
    argv += ["-vf", video_filter(spec, source, captions_path if burn else None, top_captions_path if burn else None)]
    argv += ["-c:v", "libx264", "-profile:v", "high", "-preset", preset, "-crf", str(VIDEO_CRF),
             "-pix_fmt", "yuv420p"]
    if source.has_audio:
        argv += ["-af", audio_filter(spec.loudness_lufs, measured_loudness), "-c:a", "aac", "-b:a", AUDIO_BITRATE,
                 "-ar", str(AUDIO_SAMPLE_RATE)]
    if mode == "attach":
        argv += ["-c:s", "mov_text", "-metadata:s:s:0", "handler_name=Captions",
                 "-max_muxing_queue_size", "4096"]
    # Nothing of the source's metadata (camera, GPS, rotation) is carried over; the picture is upright.
    argv += ["-map_metadata", "-1", "-map_chapters", "-1"]
    if spec.title:
        argv += ["-metadata", f"title={spec.title}"]
    argv += ["-movflags", "+faststart", "-f", "mp4", str(output_path)]
    return argv


# ---------------------------------------------------------------------------------------------
# WebVTT
# ---------------------------------------------------------------------------------------------

_TIME = r"(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s+-->\s+{_TIME}(.*)$")


def shift_vtt(text: str, start_s: float, end_s: float) -> ShiftedCaptions:
    """The cues of a WebVTT file that show between start_s and end_s, moved so start_s is 0.

    A cue that starts before the clip is cut to start at 0, one that runs past its end is cut
    at the clip's length, and cues wholly outside are dropped. Cue identifiers, cue settings
    (position, line, align) and STYLE/REGION blocks are kept; NOTE blocks are dropped.
    """
    if end_s <= start_s:
        raise ValueError(f"end_s ({end_s}) must be after start_s ({start_s})")
    blocks = re.split(r"\n[ \t]*\n", text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").strip())
    header = blocks[0].split("\n")
    if not header[0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT file: it does not start with WEBVTT")
    clip_start_ms, clip_end_ms = round(start_s * 1000), round(end_s * 1000)
    kept = ["\n".join(header)]
    cue_count = 0
    for block in blocks[1:]:
        lines = block.split("\n")
        first = lines[0].strip()
        if first.startswith("NOTE"):
            continue
        if first.startswith(("STYLE", "REGION")) and "-->" not in block:
            if cue_count == 0:  # only allowed before the first cue
                kept.append(block)
            continue
        timing_at = next((index for index, line in enumerate(lines[:2]) if "-->" in line), None)
        if timing_at is None:
            continue
        match = _TIMING.match(lines[timing_at])
        if match is None:
            raise ValueError(f"unreadable WebVTT cue timing: {lines[timing_at].strip()!r}")
        cue_start_ms, cue_end_ms = _ms(*match.groups()[0:4]), _ms(*match.groups()[4:8])
        if cue_end_ms <= clip_start_ms or cue_start_ms >= clip_end_ms or cue_end_ms <= cue_start_ms:
            continue
        new_start = max(cue_start_ms, clip_start_ms) - clip_start_ms
        new_end = min(cue_end_ms, clip_end_ms) - clip_start_ms
        settings = match.group(9).rstrip()
        timing = f"{format_vtt_time(new_start)} --> {format_vtt_time(new_end)}{settings}"
        kept.append("\n".join([*lines[:timing_at], timing, *lines[timing_at + 1:]]))
        cue_count += 1
    return ShiftedCaptions(text="\n\n".join(kept) + "\n", cue_count=cue_count)


def split_captions(shifted: ShiftedCaptions, top_spans: list[tuple[float, float]]
                   ) -> tuple[ShiftedCaptions, ShiftedCaptions]:
    """(bottom, top): the shifted cues that overlap a top span (clip time) apart from the others."""
    bottom_text, bottom_count, top_text, top_count = caption_layout.split_top(shifted.text, top_spans)
    return ShiftedCaptions(bottom_text, bottom_count), ShiftedCaptions(top_text, top_count)


def format_vtt_time(milliseconds: int) -> str:
    hours, rest = divmod(int(milliseconds), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _ms(hours: str | None, minutes: str, seconds: str, millis: str) -> int:
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


# ---------------------------------------------------------------------------------------------
# ffprobe
# ---------------------------------------------------------------------------------------------


def source_from_probe(probe: dict) -> SourceVideo:
    """A SourceVideo from `ffprobe -show_streams -show_format -of json`; ValueError when there is no video."""
    streams = probe.get("streams") or []
    video = next((stream for stream in streams if stream.get("codec_type") == "video"
                  and not (stream.get("disposition") or {}).get("attached_pic")), None)
    if video is None or not video.get("width") or not video.get("height"):
        raise ValueError("the source has no video stream")
    duration = _float((probe.get("format") or {}).get("duration")) or _float(video.get("duration"))
    return SourceVideo(
        width=int(video["width"]),
        height=int(video["height"]),
        rotation=clockwise_rotation(video),
        sample_aspect=_ratio(video.get("sample_aspect_ratio")) or 1.0,
        has_audio=any(stream.get("codec_type") == "audio" for stream in streams),
        duration_s=duration,
    )


def clockwise_rotation(stream: dict) -> int:
    """The display rotation in clockwise degrees (0, 90, 180, 270); the local probe reads it here too.

    ffprobe reports the display matrix counter-clockwise (a phone held upright: -90); the
    legacy `rotate` tag counts clockwise.
    """
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            degrees = round(-float(side_data["rotation"])) % 360
            break
    else:
        tag = (stream.get("tags") or {}).get("rotate")
        degrees = round(float(tag)) % 360 if tag else 0
    return degrees if degrees in (90, 180, 270) else 0


# ---------------------------------------------------------------------------------------------


def _even(value: float) -> int:
    """Rounded to the nearest even number, at least 2."""
    return max(2, int(round(value / 2)) * 2)


def _even_down(value: float) -> int:
    return max(0, int(value) // 2 * 2)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _number(value: float) -> str:
    return f"{value:g}"


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _ratio(value: str | None) -> float | None:
    if not value or ":" not in value:
        return None
    numerator, denominator = value.split(":", 1)
    try:
        numerator_f, denominator_f = float(numerator), float(denominator)
    except ValueError:
        return None
    return numerator_f / denominator_f if numerator_f > 0 and denominator_f > 0 else None


def _escape_option(value: str) -> str:
    """Escape a filter option's value: \\ ' and : would end or split it."""
    return re.sub(r"([\\':])", r"\\\1", value)


def _escape_graph(value: str) -> str:
    """Escape a filter's arguments for the filtergraph parser: \\ ' [ ] , ; would end the filter."""
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)
