"""Local stand-in for `arn:aws:states:::mediaconvert:createJob.sync`: ffmpeg executes the job.

`create_job_sync(parameters)` takes what the Step Functions task passes to CreateJob
(`{"Role", "Settings", "UserMetadata"?}`), checks the request against the MediaConvert API
model in botocore, downloads the input from S3, runs ONE ffmpeg process that decodes the
input once and writes every output of every output group, uploads the files under
MediaConvert's names, and returns what the `.sync` integration returns: the finished job
(`{"Job": {..., "Status": "COMPLETE", "OutputGroupDetails": [...]}}`).

The settings are interpreted generically, not by output name: File groups; MP4 + H.264 and
AAC; RAW + WAV; RAW + FRAME_CAPTURE (JPEG); Width/Height with the ScalingBehavior; the
input's VideoSelector.Rotate (AUTO = ffmpeg's autorotation); RemixSettings (a `pan` matrix);
AudioNormalizationSettings (`loudnorm`, EBU R128 = ITU BS.1770); QVBR/CBR/VBR rate control;
GOP size in seconds or frames. A setting the stand-in cannot honour fails the job with
MediaConvert's "Settings Error" (1040) instead of being silently ignored.

`build_ffmpeg_command(settings, input_path, output_dir)` is the pure part (no S3, no
process): the argv and where each output lands. The benchmark in bench/derivatives.py runs
exactly that command.

Errors
------
Step Functions matches errors by name, and names contain dots, which Python class names
cannot. Each exception class here is named after the error the real integration raises and
carries the full name in `step_functions_error`; the local runner reports that attribute as
the task's error (the Lambda `errorType`) and `str(exc)` as its cause, so Retry and Catch in
the synthesized definition behave as in AWS:

- `TaskFailed` → `States.TaskFailed`: the job ended in ERROR. Run-a-job (`.sync`)
  integrations fail the task with States.TaskFailed and the job's describe output as the
  cause (recorded for Batch's submitJob.sync; the MediaConvert page of the Step Functions
  guide names no error, so this follows the same pattern: catch States.TaskFailed, or
  States.ALL). Here the cause is `{"Job": {...}}` with `Status` ERROR, `ErrorCode` (the
  MediaConvert code: 1010 input error, 1020 no video, 1021 no audio, 1040 settings, 1401
  access denied, 1404 input not found, 1999 unknown) and an `ErrorMessage` ending with
  ffmpeg's stderr.
- `BadRequestException`, `TooManyRequestsException`, `InternalServerErrorException`,
  `ForbiddenException`, `ConflictException`, `NotFoundException`,
  `ServiceQuotaExceededException`, `UnprocessableEntityException` → `MediaConvert.<Name>`:
  the CreateJob API call itself failed (service prefix + exception name, the convention of
  Step Functions service integrations; the eight are the error shapes of CreateJob in the
  botocore model). Only BadRequestException arises on its own (invalid settings); the
  others are what a fault-injecting wrapper raises in tests (tests/workflow/fakes.py).
"""

from __future__ import annotations

import json
import math
import mimetypes
import random
import re
import string
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import boto3
import botocore.session
from botocore.exceptions import ClientError

# x264 has no QVBR; its CRF is the closest thing. A production stand-in speed preset.
X264_PRESET = "veryfast"
ACCOUNT_ID = "123456789012"
_STDERR_TAIL_CHARS = 2000

ProgressCallback = Callable[[float], None]


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class MediaConvertError(Exception):
    """Base of the errors this stand-in raises; `step_functions_error` is the name Step Functions sees."""

    step_functions_error = "States.TaskFailed"


class TaskFailed(MediaConvertError):
    """The job ended in ERROR. `str(exc)` is the job JSON, as the `.sync` integration's cause."""

    step_functions_error = "States.TaskFailed"

    def __init__(self, job: dict):
        self.job = job
        super().__init__(json.dumps({"Job": job}, default=str))

    @property
    def error_code(self) -> int:
        return self.job["ErrorCode"]

    @property
    def error_message(self) -> str:
        return self.job["ErrorMessage"]


class _ApiError(MediaConvertError):
    def __init__(self, message: str):
        super().__init__(message)


class BadRequestException(_ApiError):
    step_functions_error = "MediaConvert.BadRequestException"


class ForbiddenException(_ApiError):
    step_functions_error = "MediaConvert.ForbiddenException"


class NotFoundException(_ApiError):
    step_functions_error = "MediaConvert.NotFoundException"


class ConflictException(_ApiError):
    step_functions_error = "MediaConvert.ConflictException"


class TooManyRequestsException(_ApiError):
    step_functions_error = "MediaConvert.TooManyRequestsException"


class InternalServerErrorException(_ApiError):
    step_functions_error = "MediaConvert.InternalServerErrorException"


class ServiceQuotaExceededException(_ApiError):
    step_functions_error = "MediaConvert.ServiceQuotaExceededException"


class UnprocessableEntityException(_ApiError):
    step_functions_error = "MediaConvert.UnprocessableEntityException"


class _JobError(Exception):
    """Raised inside the run; becomes TaskFailed with the job's ids filled in."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_ERROR_TITLES = {
    1010: "Input Error",
    1020: "Video Error",
    1021: "Audio Error",
    1040: "Settings Error",
    1401: "Permissions Issue",
    1404: "File Open Error",
    1999: "Unknown Error",
}


def _unsupported(what: str) -> _JobError:
    return _JobError(1040, f"{what} is not implemented by the local ffmpeg stand-in for MediaConvert")


# ---------------------------------------------------------------------------------------
# Request validation against the MediaConvert API model
# ---------------------------------------------------------------------------------------


@cache
def _service_model():
    return botocore.session.get_session().get_service_model("mediaconvert")


def create_job_problems(parameters: dict) -> list[str]:
    """Everything a CreateJob request gets wrong against botocore's MediaConvert model.

    Checks every key against its shape (recursively), enum values, string patterns and
    lengths, number ranges and types, required members, and the model's "Required when
    you set Codec to the value X" rules (H264Settings with H_264, WavSettings with WAV, ...).
    """
    shape = _service_model().operation_model("CreateJob").input_shape
    return _problems(parameters, shape, "CreateJob")


def settings_problems(settings: dict) -> list[str]:
    shape = _service_model().operation_model("CreateJob").input_shape.members["Settings"]
    return _problems(settings, shape, "Settings")


_REQUIRED_WHEN = re.compile(r"Required when you set \(?Codec\)?.*?to the value (\w+)", re.IGNORECASE)
_GROUP_SETTINGS = {
    "FILE_GROUP_SETTINGS": "FileGroupSettings",
    "HLS_GROUP_SETTINGS": "HlsGroupSettings",
    "DASH_ISO_GROUP_SETTINGS": "DashIsoGroupSettings",
    "MS_SMOOTH_GROUP_SETTINGS": "MsSmoothGroupSettings",
    "CMAF_GROUP_SETTINGS": "CmafGroupSettings",
}


def _problems(value, shape, path: str) -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        found = [f"{path}: missing required {name}" for name in shape.required_members if name not in value]
        for key, item in value.items():
            if key not in shape.members:
                found.append(f"{path}: unknown key {key!r} (not in {shape.name})")
            else:
                found += _problems(item, shape.members[key], f"{path}.{key}")
        found += _conditional_problems(value, shape, path)
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        found = _bound_problems(len(value), shape, path, "length ")
        for index, item in enumerate(value):
            found += _problems(item, shape.member, f"{path}[{index}]")
        return found
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        found = []
        for key, item in value.items():
            found += _problems(key, shape.key, f"{path}<key {key!r}>")
            found += _problems(item, shape.value, f"{path}[{key!r}]")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        found = _bound_problems(len(value), shape, path, "length ")
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} is not one of {shape.name} {list(shape.enum)}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            found.append(f"{path}: {value!r} does not match {pattern}")
        return found
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer, got {value!r}"]
        return _bound_problems(value, shape, path)
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{path}: expected a number, got {value!r}"]
        return _bound_problems(value, shape, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    return []


def _bound_problems(value, shape, path: str, what: str = "") -> list[str]:
    """`value` (a number, or a length when `what` is "length ") against the shape's min and max."""
    found = []
    if "min" in shape.metadata and value < shape.metadata["min"]:
        found.append(f"{path}: {what}{value} below minimum {shape.metadata['min']}")
    if "max" in shape.metadata and value > shape.metadata["max"]:
        found.append(f"{path}: {what}{value} above maximum {shape.metadata['max']}")
    return found


def _conditional_problems(value: dict, shape, path: str) -> list[str]:
    found = []
    codec = value.get("Codec")
    if codec is not None:
        for name, member in shape.members.items():
            match = _REQUIRED_WHEN.search(member.documentation or "")
            if match and match.group(1).upper() == str(codec).upper() and name not in value:
                found.append(f"{path}: {name} is required when Codec is {codec}")
    if shape.name == "OutputGroupSettings":
        needed = _GROUP_SETTINGS.get(value.get("Type", ""))
        if needed and needed not in value:
            found.append(f"{path}: {needed} is required when Type is {value['Type']}")
    if shape.name == "H264Settings":
        mode = value.get("RateControlMode")
        if mode == "QVBR" and "MaxBitrate" not in value:
            found.append(f"{path}: MaxBitrate is required when RateControlMode is QVBR")
        if mode in ("CBR", "VBR") and "Bitrate" not in value:
            found.append(f"{path}: Bitrate is required when RateControlMode is {mode}")
        if value.get("ParControl") == "SPECIFIED" and not {"ParNumerator", "ParDenominator"} <= value.keys():
            found.append(f"{path}: ParNumerator and ParDenominator are required when ParControl is SPECIFIED")
    return found


# ---------------------------------------------------------------------------------------
# The ffmpeg command (pure)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedOutput:
    """One output of the job: where ffmpeg writes it and where MediaConvert would put it."""

    group_index: int
    output_index: int
    kind: str  # "video" (a file with video), "audio" (audio only) or "frames" (a JPEG sequence)
    local_path: Path  # output.<ext>, or for "frames" the pattern capture.%07d.<ext>
    destination: str  # s3://bucket/key-without-extension: destination base + NameModifier
    extension: str
    frame_interval_s: float | None = None

    def produced_files(self) -> list[Path]:
        if self.kind != "frames":
            return [self.local_path] if self.local_path.exists() else []
        pattern = re.compile(r"capture\.\d{7}\." + re.escape(self.extension) + "$")
        return sorted(p for p in self.local_path.parent.iterdir() if pattern.match(p.name))

    def destination_url(self, produced: Path) -> str:
        """MediaConvert's name: base + NameModifier + .ext, frame captures base + .NNNNNNN.jpg."""
        if self.kind == "frames":
            return f"{self.destination}.{produced.name.rsplit('.', 2)[-2]}.{self.extension}"
        return f"{self.destination}.{self.extension}"


@dataclass(frozen=True)
class FfmpegPlan:
    argv: list[str]
    outputs: list[PlannedOutput] = field(default_factory=list)
    reads_video: bool = False
    reads_audio: bool = False


def build_ffmpeg_command(settings: dict, input_path: str | Path, output_dir: str | Path,
                         *, x264_preset: str = X264_PRESET) -> FfmpegPlan:
    """The one ffmpeg command that executes `settings` on a local copy of the input.

    Pure: no file is read or written. Raises _JobError(1040) for settings it cannot honour.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    inputs = settings.get("Inputs") or []
    if len(inputs) != 1:
        raise _unsupported(f"a job with {len(inputs)} inputs")
    job_input = inputs[0]
    for unsupported in ("InputClippings", "Crop", "Position", "ImageInserter", "VideoOverlays"):
        if unsupported in job_input:
            raise _unsupported(f"Inputs[0].{unsupported}")

    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    rotate = (job_input.get("VideoSelector") or {}).get("Rotate", "DEGREE_0")
    rotation_filter = {"AUTO": None, "DEGREE_0": None, "DEGREES_90": "transpose=clock",
                       "DEGREES_180": "hflip,vflip", "DEGREES_270": "transpose=cclock"}[rotate]
    if rotate != "AUTO":
        argv.append("-noautorotate")
    argv += ["-i", str(input_path)]

    selectors = job_input.get("AudioSelectors") or {}
    video_branches: list[list[str]] = []
    audio_branches: dict[str, list[list[str]]] = {}
    output_args: list[list[str]] = []
    planned: list[PlannedOutput] = []
    input_stem = input_path.stem

    for g, group in enumerate(settings.get("OutputGroups") or []):
        group_settings = group.get("OutputGroupSettings") or {}
        if group_settings.get("Type") != "FILE_GROUP_SETTINGS":
            raise _unsupported(f"output group type {group_settings.get('Type')}")
        destination = group_settings["FileGroupSettings"]["Destination"]
        base = destination + input_stem if destination.endswith("/") else destination
        for o, output in enumerate(group.get("Outputs") or []):
            plan, args = _plan_output(output, g, o, base, output_dir, selectors, video_branches,
                                      audio_branches, rotation_filter, x264_preset)
            planned.append(plan)
            output_args.append(args)

    graph = _filter_graph(video_branches, audio_branches, rotation_filter)
    if graph:
        argv += ["-filter_complex", graph]
    for args in output_args:
        argv += args
    return FfmpegPlan(argv=argv, outputs=planned, reads_video=bool(video_branches), reads_audio=bool(audio_branches))


def _plan_output(output: dict, g: int, o: int, base: str, output_dir: Path, selectors: dict,
                 video_branches: list, audio_branches: dict, rotation_filter, x264_preset: str):
    for unsupported in ("CaptionDescriptions", "Preset"):
        if output.get(unsupported):
            raise _unsupported(f"Outputs[].{unsupported}")
    container = (output.get("ContainerSettings") or {}).get("Container")
    video = output.get("VideoDescription")
    audios = output.get("AudioDescriptions") or []
    codec = ((video or {}).get("CodecSettings") or {}).get("Codec")
    if container is None:
        container = "MP4" if video and codec != "FRAME_CAPTURE" else "RAW"
    destination = base + output.get("NameModifier", "")
    # Local names are fixed (the real names, which may hold any character, are only used in S3).
    workdir = output_dir / f"g{g}o{o}"
    args: list[str] = []

    if codec == "FRAME_CAPTURE":
        if container != "RAW" or audios:
            raise _unsupported(f"FRAME_CAPTURE in container {container} or with audio")
        capture = video["CodecSettings"].get("FrameCaptureSettings") or {}
        numerator = capture.get("FramerateNumerator", 1)
        denominator = capture.get("FramerateDenominator", 1)
        label = f"v{len(video_branches)}"
        # round=up: frame k is the picture at k x interval, as MediaConvert's frame capture takes it
        # (ffmpeg's default rounding would take the one up to half an interval earlier).
        video_branches.append([f"fps={numerator}/{denominator}:round=up", *_scale_filters(video), "setsar=1",
                               "format=yuvj420p", f"[{label}]"])
        extension = output.get("Extension", "jpg")
        local = workdir / f"capture.%07d.{extension}"
        args += ["-map", f"[{label}]", "-an", "-c:v", "mjpeg", "-q:v", str(_jpeg_qscale(capture.get("Quality", 80))),
                 "-fps_mode", "passthrough", "-start_number", "0"]
        if "MaxCaptures" in capture:
            args += ["-frames:v", str(capture["MaxCaptures"])]
        args += ["-f", "image2", str(local)]
        plan = PlannedOutput(g, o, "frames", local, destination, extension,
                             frame_interval_s=float(Fraction(denominator, numerator)))
        return plan, args

    if video:
        if codec != "H_264":
            raise _unsupported(f"video codec {codec}")
        h264 = video["CodecSettings"].get("H264Settings") or {}
        label = f"v{len(video_branches)}"
        filters = [*_scale_filters(video)]
        if h264.get("ParControl") == "SPECIFIED":
            filters.append(f"setsar={h264.get('ParNumerator', 1)}/{h264.get('ParDenominator', 1)}")
        if h264.get("FramerateControl") == "SPECIFIED":
            filters.append(f"fps={h264['FramerateNumerator']}/{h264['FramerateDenominator']}")
        video_branches.append([*filters, f"[{label}]"])
        args += ["-map", f"[{label}]", *video_codec_args(video, x264_preset=x264_preset)]
    for description in audios:
        label = f"a{sum(len(b) for b in audio_branches.values())}"
        source = _audio_source(description, selectors)
        audio_branches.setdefault(source, []).append([*_audio_filters(description), f"[{label}]"])
        args += ["-map", f"[{label}]", *audio_codec_args(description)]
    if not video and not audios:
        raise _JobError(1040, f"Settings Error: output {o} of group {g} has neither video nor audio")

    if container == "MP4":
        extension = output.get("Extension", "mp4")
        moov = ((output.get("ContainerSettings") or {}).get("Mp4Settings") or {}).get("MoovPlacement")
        args += ["-movflags", "+faststart"] if moov == "PROGRESSIVE_DOWNLOAD" else []
        args += ["-f", "mp4"]
    elif container == "RAW" and not video and len(audios) == 1:
        audio_codec = audios[0]["CodecSettings"]["Codec"]
        formats = {"WAV": ("wav", "wav"), "AAC": ("adts", "aac"), "MP3": ("mp3", "mp3"), "FLAC": ("flac", "flac")}
        if audio_codec not in formats:
            raise _unsupported(f"RAW audio output with codec {audio_codec}")
        muxer, default_extension = formats[audio_codec]
        extension = output.get("Extension", default_extension)
        wav = audios[0]["CodecSettings"].get("WavSettings") or {}
        if wav.get("Format") == "RF64":
            args += ["-rf64", "always"]
        args += ["-f", muxer]
    else:
        raise _unsupported(f"container {container} with this mix of streams")
    local = workdir / f"output.{extension}"
    args.append(str(local))
    return PlannedOutput(g, o, "video" if video else "audio", local, destination, extension), args


def _scale_filters(video: dict) -> list[str]:
    width, height = video.get("Width"), video.get("Height")
    if not width and not height:
        return []
    if not (width and height):
        return [f"scale={width or -2}:{height or -2}"]
    behavior = video.get("ScalingBehavior", "DEFAULT")
    if behavior == "STRETCH_TO_OUTPUT":
        return [f"scale={width}:{height}"]
    if behavior in ("DEFAULT", "FIT"):
        return [f"scale={width}:{height}:force_original_aspect_ratio=decrease",
                f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2"]
    if behavior == "FILL":
        return [f"scale={width}:{height}:force_original_aspect_ratio=increase", f"crop={width}:{height}"]
    raise _unsupported(f"ScalingBehavior {behavior}")


def video_codec_args(video: dict, *, x264_preset: str = X264_PRESET) -> list[str]:
    """ffmpeg encoder options for an H_264 VideoDescription (rate control, GOP, profile)."""
    h264 = video["CodecSettings"].get("H264Settings") or {}
    args = ["-c:v", "libx264", "-preset", x264_preset, "-pix_fmt", "yuv420p"]
    profile = {"BASELINE": "baseline", "MAIN": "main", "HIGH": "high"}.get(h264.get("CodecProfile", "MAIN"))
    if profile is None:
        raise _unsupported(f"H.264 profile {h264.get('CodecProfile')}")
    args += ["-profile:v", profile]
    level = h264.get("CodecLevel", "AUTO")
    if level != "AUTO":
        args += ["-level:v", level.removeprefix("LEVEL_").replace("_", ".")]
    if h264.get("InterlaceMode", "PROGRESSIVE") != "PROGRESSIVE":
        raise _unsupported(f"InterlaceMode {h264['InterlaceMode']}")
    mode = h264.get("RateControlMode", "CBR")
    if mode == "QVBR":
        level_q = (h264.get("QvbrSettings") or {}).get("QvbrQualityLevel", 7)
        max_bitrate = h264["MaxBitrate"]
        # QVBR 1..10 onto x264 CRF 35..17: level 7 (AWS's suggestion for HD on ordinary screens) is CRF 23.
        args += ["-crf", str(37 - 2 * level_q), "-maxrate", str(max_bitrate),
                 "-bufsize", str(h264.get("HrdBufferSize") or 2 * max_bitrate)]
    elif mode == "CBR":
        bitrate = h264["Bitrate"]
        args += ["-b:v", str(bitrate), "-minrate", str(bitrate), "-maxrate", str(bitrate),
                 "-bufsize", str(h264.get("HrdBufferSize") or 2 * bitrate)]
    elif mode == "VBR":
        bitrate = h264["Bitrate"]
        max_bitrate = h264.get("MaxBitrate", bitrate)
        args += ["-b:v", str(bitrate), "-maxrate", str(max_bitrate),
                 "-bufsize", str(h264.get("HrdBufferSize") or 2 * max_bitrate)]
    gop = h264.get("GopSize")
    units = h264.get("GopSizeUnits", "FRAMES")
    if gop and units in ("SECONDS", "AUTO"):
        args += ["-force_key_frames", f"expr:gte(t,n_forced*{gop:g})"]
    elif gop:
        args += ["-g", str(int(gop))]
    if h264.get("SceneChangeDetect") == "DISABLED":
        args += ["-sc_threshold", "0"]
    if "NumberBFramesBetweenReferenceFrames" in h264:
        args += ["-bf", str(h264["NumberBFramesBetweenReferenceFrames"])]
    if "NumberReferenceFrames" in h264:
        args += ["-refs", str(h264["NumberReferenceFrames"])]
    return args


def audio_codec_args(description: dict) -> list[str]:
    """ffmpeg encoder options for one AudioDescription (the mixing is in the filter graph)."""
    codec_settings = description["CodecSettings"]
    codec = codec_settings["Codec"]
    if codec == "AAC":
        aac = codec_settings.get("AacSettings") or {}
        args = ["-c:a", "aac"]
        if aac.get("RateControlMode", "CBR") == "CBR" and "Bitrate" in aac:
            args += ["-b:a", str(aac["Bitrate"])]
        elif aac.get("RateControlMode") == "VBR":
            quality = {"LOW": 0.5, "MEDIUM_LOW": 1, "MEDIUM_HIGH": 1.5, "HIGH": 2}[aac.get("VbrQuality", "MEDIUM_HIGH")]
            args += ["-q:a", str(quality)]
        if aac.get("CodecProfile", "LC") != "LC":
            raise _unsupported(f"AAC profile {aac['CodecProfile']}")
        return args
    if codec == "WAV":
        depth = (codec_settings.get("WavSettings") or {}).get("BitDepth", 16)
        return ["-c:a", {16: "pcm_s16le", 24: "pcm_s24le"}[depth]]
    if codec == "MP3":
        mp3 = codec_settings.get("Mp3Settings") or {}
        return ["-c:a", "libmp3lame", *(["-b:a", str(mp3["Bitrate"])] if "Bitrate" in mp3 else [])]
    if codec == "FLAC":
        return ["-c:a", "flac"]
    raise _unsupported(f"audio codec {codec}")


def _audio_source(description: dict, selectors: dict) -> str:
    name = description.get("AudioSourceName")
    selector = selectors.get(name) if name else None
    if selector is None:
        defaults = [s for s in selectors.values() if s.get("DefaultSelection") == "DEFAULT"]
        if not defaults:
            raise _JobError(1040, f"Settings Error: no audio selector {name!r} and no default selector")
        selector = defaults[0]
    for unsupported in ("ExternalAudioFileInput", "Pids", "RemixSettings", "Offset"):
        if selector.get(unsupported):
            raise _unsupported(f"audio selector {unsupported}")
    tracks = selector.get("Tracks") or selector.get("Streams") or [1]
    return f"0:a:{tracks[0] - 1}"


def _output_channels(codec_settings: dict) -> int | None:
    codec = codec_settings["Codec"]
    if codec == "AAC":
        mode = (codec_settings.get("AacSettings") or {}).get("CodingMode", "CODING_MODE_2_0")
        return {"CODING_MODE_1_0": 1, "CODING_MODE_2_0": 2, "CODING_MODE_5_1": 6}.get(mode)
    if codec == "WAV":
        channels = (codec_settings.get("WavSettings") or {}).get("Channels", 2)
        return channels or None
    return None


def _sample_rate(codec_settings: dict) -> int | None:
    for key in ("AacSettings", "WavSettings", "Mp3Settings", "FlacSettings"):
        if key in codec_settings and "SampleRate" in codec_settings[key]:
            return codec_settings[key]["SampleRate"]
    return 48_000 if codec_settings["Codec"] == "AAC" else None


def _audio_filters(description: dict) -> list[str]:
    filters = []
    codec_settings = description["CodecSettings"]
    remix = description.get("RemixSettings")
    channels = _output_channels(codec_settings)
    if remix:
        filters.append(_pan(remix))
        channels = remix.get("ChannelsOut", channels)
    normalization = description.get("AudioNormalizationSettings")
    rate = _sample_rate(codec_settings)
    if normalization and normalization.get("AlgorithmControl", "CORRECT_AUDIO") == "CORRECT_AUDIO":
        default_target = -24.0 if normalization.get("Algorithm") == "ITU_BS_1770_1" else -23.0
        target = normalization.get("TargetLkfs", default_target)
        peak = normalization.get("TruePeakLimiterThreshold", 0.0)
        filters.append(f"loudnorm=I={target:g}:TP={peak:g}")
        rate = rate or 48_000  # loudnorm works at 192 kHz; bring it back down
    if rate:
        filters.append(f"aresample={rate}")
    if channels:
        # Last, so the encoder's channel layout is negotiated explicitly (also after loudnorm).
        filters.append(f"aformat=channel_layouts={_layout(channels)}")
    return filters


def _pan(remix: dict) -> str:
    mapping = (remix.get("ChannelMapping") or {}).get("OutputChannels") or []
    channels_out = remix.get("ChannelsOut", len(mapping))
    if len(mapping) != channels_out:
        raise _JobError(1040, f"Settings Error: ChannelMapping has {len(mapping)} rows for {channels_out} channels")
    terms = []
    for index, row in enumerate(mapping):
        gains_db = row.get("InputChannels")
        if gains_db is None:
            gains_db = row.get("InputChannelsFineTune") or []
        parts = [f"{10 ** (db / 20):.4f}*c{i}" for i, db in enumerate(gains_db) if db > -60]
        terms.append(f"c{index}=" + ("+".join(parts) if parts else "0*c0"))
    return f"pan={_layout(channels_out)}|" + "|".join(terms)


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")


def _filter_graph(video_branches: list[list[str]], audio_branches: dict[str, list[list[str]]],
                  rotation_filter: str | None) -> str:
    chains = []
    if video_branches:
        head = "[0:v:0]" + (f"{rotation_filter}," if rotation_filter else "")
        chains += _branch(head, "split", "vs", video_branches)
    for n, (source, branches) in enumerate(audio_branches.items()):
        chains += _branch(f"[{source}]", "asplit", f"as{n}_", branches)
    return ";".join(chains)


def _branch(head: str, splitter: str, prefix: str, branches: list[list[str]]) -> list[str]:
    """`head` fanned out to every branch (a branch: its filters, then its output label)."""
    null = "null" if splitter == "split" else "anull"

    def chain(start: str, branch: list[str]) -> str:
        return start + (",".join(branch[:-1]) or null) + branch[-1]

    if len(branches) == 1:
        return [chain(head, branches[0])]
    labels = [f"[{prefix}{i}]" for i in range(len(branches))]
    return [f"{head}{splitter}={len(branches)}{''.join(labels)}",
            *(chain(label, branch) for label, branch in zip(labels, branches, strict=True))]


def _jpeg_qscale(quality: int) -> int:
    """MediaConvert's JPEG Quality (1-100, higher is better) onto ffmpeg's mjpeg qscale (2-31, lower is better)."""
    return max(2, min(31, round((100 - quality) / 5) + 1))


# ---------------------------------------------------------------------------------------
# Running the job
# ---------------------------------------------------------------------------------------


def create_job_sync(parameters: dict, on_progress: ProgressCallback | None = None, *,
                    s3=None, workdir: str | Path | None = None) -> dict:
    """Run a CreateJob request to completion with ffmpeg; return the `.sync` result shape."""
    problems = create_job_problems(parameters)
    if problems:
        raise BadRequestException("; ".join(problems[:10]))

    s3 = s3 or boto3.client("s3")
    region = s3.meta.region_name or "us-east-1"
    job_id = f"{int(time.time() * 1000)}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=6))}"
    submitted_ms = int(time.time() * 1000)
    job = {
        "Id": job_id,
        "Arn": f"arn:aws:mediaconvert:{region}:{ACCOUNT_ID}:jobs/{job_id}",
        "Role": parameters["Role"],
        "Settings": parameters["Settings"],
        "UserMetadata": parameters.get("UserMetadata", {}),
        "Queue": parameters.get("Queue", f"arn:aws:mediaconvert:{region}:{ACCOUNT_ID}:queues/Default"),
        "CreatedAt": submitted_ms,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="mediaconvert-", dir=workdir) as scratch:
            details = _run(parameters["Settings"], Path(scratch), s3, on_progress)
    except _JobError as error:
        title = _ERROR_TITLES.get(error.code, "Error")
        message = error.message if error.message.startswith(title) else f"{title}: {error.message}"
        raise TaskFailed({**job, "Status": "ERROR", "ErrorCode": error.code, "ErrorMessage": message,
                          "Timing": {"SubmitTime": submitted_ms, "FinishTime": int(time.time() * 1000)}}) from None
    job.update(Status="COMPLETE", JobPercentComplete=100, OutputGroupDetails=details,
               Timing={"SubmitTime": submitted_ms, "StartTime": submitted_ms, "FinishTime": int(time.time() * 1000)})
    return {"Job": job}


def _run(settings: dict, scratch: Path, s3, on_progress: ProgressCallback | None) -> list[dict]:
    file_input = (settings.get("Inputs") or [{}])[0].get("FileInput", "")
    bucket, key = _split_s3(file_input)
    input_path = scratch / "input" / (key.rsplit("/", 1)[-1] or "input")
    # Settings the stand-in cannot honour fail before anything is transferred.
    plan = build_ffmpeg_command(settings, input_path, scratch / "out")
    _download(bucket, key, input_path, s3)
    for output in plan.outputs:
        output.local_path.parent.mkdir(parents=True, exist_ok=True)

    probe = _probe(input_path)
    duration_s = probe.get("duration_s") if probe else None
    # In messages, name the input by its S3 URL rather than by the scratch copy.
    redactions = {str(input_path): file_input, f"{scratch}/": ""}
    _execute(plan, duration_s, scratch / "ffmpeg.stderr", on_progress, probe, redactions)

    groups: dict[int, list[dict]] = {}
    uploads: list[tuple[Path, str]] = []
    for output in plan.outputs:
        produced = output.produced_files()
        if not produced:
            raise _JobError(1999, f"ffmpeg produced nothing for output {output.output_index} "
                                  f"of group {output.group_index} ({output.local_path.name})")
        groups.setdefault(output.group_index, []).append(_output_detail(output, produced, duration_s))
        uploads += [(path, output.destination_url(path)) for path in produced]
    for path, url in uploads:
        _upload(path, url, s3)
    if on_progress:
        on_progress(1.0)
    return [{"OutputDetails": groups[index]} for index in sorted(groups)]


def _split_s3(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise _unsupported(f"input or destination {url!r} (only s3:// is)")
    return parsed.netloc, parsed.path.lstrip("/")


def _download(bucket: str, key: str, path: Path, s3) -> None:
    url = f"s3://{bucket}/{key}"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(path))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise _JobError(1404, f"File Open Error: {url} does not exist") from None
        if code in ("403", "AccessDenied"):
            raise _JobError(1401, f"Permissions Issue: access to {url} was denied") from None
        raise


def _upload(path: Path, url: str, s3) -> None:
    bucket, key = _split_s3(url)
    content_type = {".mp4": "video/mp4", ".wav": "audio/wav", ".jpg": "image/jpeg"}.get(
        path.suffix, mimetypes.guess_type(path.name)[0] or "application/octet-stream")
    s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})


def _probe(path: Path) -> dict | None:
    """Duration and streams of a local file, or None when ffprobe cannot read it."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,width,height",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        return None
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    try:
        duration_s = float(data.get("format", {}).get("duration"))
    except (TypeError, ValueError):
        duration_s = None
    return {
        "duration_s": duration_s,
        "has_video": video is not None,
        "has_audio": any(s.get("codec_type") == "audio" for s in streams),
        "width": (video or {}).get("width"),
        "height": (video or {}).get("height"),
    }


def _execute(plan: FfmpegPlan, duration_s: float | None, stderr_path: Path,
             on_progress: ProgressCallback | None, probe: dict | None, redactions: dict[str, str]) -> None:
    argv = [*plan.argv[:1], "-progress", "pipe:1", "-nostats", *plan.argv[1:]]
    with open(stderr_path, "w+b") as stderr:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        reported = -1.0
        for line in process.stdout:
            if on_progress and duration_s and line.startswith("out_time_us="):
                value = line.split("=", 1)[1].strip()
                if value.lstrip("-").isdigit():
                    # Below 1.0 until the outputs are uploaded.
                    fraction = max(0.0, min(0.99, int(value) / 1e6 / duration_s))
                    if fraction > reported:
                        reported = fraction
                        on_progress(fraction)
        returncode = process.wait()
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace").strip()
    for local, shown in redactions.items():
        tail = tail.replace(local, shown)
    tail = tail[-_STDERR_TAIL_CHARS:]
    if returncode == 0:
        return
    detail = f"ffmpeg exited with {returncode}: {tail or '(no output)'}"
    if probe is None:
        raise _JobError(1010, f"Input Error: the input could not be opened or decoded. {detail}")
    if not probe["has_video"] and plan.reads_video:
        raise _JobError(1020, f"Video Error: the input has no video stream. {detail}")
    if not probe["has_audio"] and plan.reads_audio:
        raise _JobError(1021, f"Audio Error: the input has no audio stream. {detail}")
    raise _JobError(1999, detail)


def _output_detail(output: PlannedOutput, produced: list[Path], input_duration_s: float | None) -> dict:
    probe = _probe(produced[0]) or {}
    if output.kind == "frames":
        duration_s = input_duration_s or 0.0
    else:
        duration_s = probe.get("duration_s") or 0.0
    detail: dict = {"DurationInMs": int(math.floor(duration_s * 1000))}
    if output.kind in ("video", "frames") and probe.get("width"):
        detail["VideoDetails"] = {"WidthInPx": probe["width"], "HeightInPx": probe["height"]}
    return detail
