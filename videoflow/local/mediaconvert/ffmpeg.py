"""The ffmpeg command that does a MediaConvert job's work: one process, the input decoded once.

Pure (no S3, no process), so the benchmark in bench/derivatives.py runs exactly the command the
local pipeline runs. The settings are read generically, not by output name; a setting the
stand-in cannot honour raises Settings Error (1040) rather than being silently ignored. What
MediaConvert would learn from the input itself (colour space, interlacing, frame rate, loudness)
comes in as `source` (source.SourceFacts); audio is in sound.py, picture preprocessing in
pictures.py. The upload is opened as a local file with a media demuxer only (source.INPUT_GUARD).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from videoflow.local.mediaconvert import pictures
from videoflow.local.mediaconvert.errors import JobError, unsupported
from videoflow.local.mediaconvert.sound import (
    audio_codec_args,
    audio_filters,
    corrects_loudness,
    selector_inputs,
    source_chain,
)
from videoflow.local.mediaconvert.source import INPUT_GUARD, SourceFacts

# x264 has no QVBR; its CRF is the closest thing. A production stand-in speed preset.
X264_PRESET = "veryfast"


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
                         *, x264_preset: str = X264_PRESET, source: SourceFacts | None = None) -> FfmpegPlan:
    """The one ffmpeg command that executes `settings` on a local copy of the input.

    Pure: no file is read or written. Raises JobError(1040) for settings it cannot honour.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    inputs = settings.get("Inputs") or []
    if len(inputs) != 1:
        raise unsupported(f"a job with {len(inputs)} inputs")
    job_input = inputs[0]
    for setting in ("InputClippings", "Crop", "Position", "ImageInserter", "VideoOverlays"):
        if setting in job_input:
            raise unsupported(f"Inputs[0].{setting}")

    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    video_selector = job_input.get("VideoSelector") or {}
    rotate = video_selector.get("Rotate", "DEGREE_0")
    rotation_filter = {"AUTO": None, "DEGREE_0": None, "DEGREES_90": "transpose=clock",
                       "DEGREES_180": "hflip,vflip", "DEGREES_270": "transpose=cclock"}[rotate]
    if rotate != "AUTO":
        argv.append("-noautorotate")
    argv += [*INPUT_GUARD, "-i", str(input_path)]

    context = _Context(selectors=job_input.get("AudioSelectors") or {}, video_selector=video_selector,
                       source=source, x264_preset=x264_preset)
    video_branches: list[list[str]] = []
    audio_branches: dict[tuple[str, ...], list[list[str]]] = {}
    output_args: list[list[str]] = []
    planned: list[PlannedOutput] = []
    input_stem = input_path.stem

    for g, group in enumerate(settings.get("OutputGroups") or []):
        group_settings = group.get("OutputGroupSettings") or {}
        if group_settings.get("Type") != "FILE_GROUP_SETTINGS":
            raise unsupported(f"output group type {group_settings.get('Type')}")
        destination = group_settings["FileGroupSettings"]["Destination"]
        base = destination + input_stem if destination.endswith("/") else destination
        for o, output in enumerate(group.get("Outputs") or []):
            plan, args = _plan_output(output, g, o, base, output_dir, context, video_branches, audio_branches)
            planned.append(plan)
            output_args.append(args)

    graph = _filter_graph(video_branches, audio_branches, rotation_filter)
    if graph:
        argv += ["-filter_complex", graph]
    for args in output_args:
        argv += args
    return FfmpegPlan(argv=argv, outputs=planned, reads_video=bool(video_branches), reads_audio=bool(audio_branches))


@dataclass(frozen=True)
class _Context:
    selectors: dict
    video_selector: dict
    source: SourceFacts | None
    x264_preset: str


def _plan_output(output: dict, g: int, o: int, base: str, output_dir: Path, context: _Context,
                 video_branches: list, audio_branches: dict):
    for setting in ("CaptionDescriptions", "Preset"):
        if output.get(setting):
            raise unsupported(f"Outputs[].{setting}")
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
            raise unsupported(f"FRAME_CAPTURE in container {container} or with audio")
        capture = video["CodecSettings"].get("FrameCaptureSettings") or {}
        numerator = capture.get("FramerateNumerator", 1)
        denominator = capture.get("FramerateDenominator", 1)
        label = f"v{len(video_branches)}"
        pictures.unsupported_preprocessors(video)
        # round=up: frame k is the picture at k x interval, as MediaConvert's frame capture takes it
        # (ffmpeg's default rounding would take the one up to half an interval earlier). start_time=0:
        # frame 0 is the first picture even when the video starts just after the audio (MPEG-TS
        # often does); otherwise the first capture would be the picture at one interval, or none.
        video_branches.append([*pictures.deinterlace_filters(video, context.source),
                               f"fps={numerator}/{denominator}:round=up:start_time=0", *_scale_filters(video),
                               *pictures.color_filters(video, context.video_selector, context.source,
                                                       frame_capture=True),
                               "setsar=1", "format=yuvj420p", f"[{label}]"])
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
            raise unsupported(f"video codec {codec}")
        h264 = video["CodecSettings"].get("H264Settings") or {}
        label = f"v{len(video_branches)}"
        pictures.unsupported_preprocessors(video)
        filters = [*pictures.deinterlace_filters(video, context.source)]
        if h264.get("FramerateControl") == "SPECIFIED":
            filters.append(f"fps={h264['FramerateNumerator']}/{h264['FramerateDenominator']}")
        else:
            filters += pictures.follow_source_rate(h264, context.source)
        filters += _scale_filters(video)
        filters += pictures.color_filters(video, context.video_selector, context.source, frame_capture=False)
        if h264.get("ParControl") == "SPECIFIED":
            filters.append(f"setsar={h264.get('ParNumerator', 1)}/{h264.get('ParDenominator', 1)}")
        video_branches.append([*filters, f"[{label}]"])
        args += ["-map", f"[{label}]", *video_codec_args(video, x264_preset=context.x264_preset)]
        if pictures.tags_bt709(video):
            args += pictures.BT709_TAGS
    for index, description in enumerate(audios):
        label = f"a{sum(len(b) for b in audio_branches.values())}"
        inputs = tuple(selector_inputs(description, context.selectors))
        loudness = (context.source.loudness.get(loudness_key(g, o, index))
                    if context.source and corrects_loudness(description) else None)
        audio_branches.setdefault(inputs, []).append([*audio_filters(description, loudness), f"[{label}]"])
        args += ["-map", f"[{label}]", *audio_codec_args(description)]
    if not video and not audios:
        raise JobError(1040, f"Settings Error: output {o} of group {g} has neither video nor audio")

    if container == "MP4":
        extension = output.get("Extension", "mp4")
        moov = ((output.get("ContainerSettings") or {}).get("Mp4Settings") or {}).get("MoovPlacement")
        args += ["-movflags", "+faststart"] if moov == "PROGRESSIVE_DOWNLOAD" else []
        args += ["-f", "mp4"]
    elif container == "RAW" and not video and len(audios) == 1:
        audio_codec = audios[0]["CodecSettings"]["Codec"]
        formats = {"WAV": ("wav", "wav"), "AAC": ("adts", "aac"), "MP3": ("mp3", "mp3"), "FLAC": ("flac", "flac")}
        if audio_codec not in formats:
            raise unsupported(f"RAW audio output with codec {audio_codec}")
        muxer, default_extension = formats[audio_codec]
        extension = output.get("Extension", default_extension)
        wav = audios[0]["CodecSettings"].get("WavSettings") or {}
        if wav.get("Format") == "RF64":
            args += ["-rf64", "always"]
        args += ["-f", muxer]
    else:
        raise unsupported(f"container {container} with this mix of streams")
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
    raise unsupported(f"ScalingBehavior {behavior}")


def video_codec_args(video: dict, *, x264_preset: str = X264_PRESET) -> list[str]:
    """ffmpeg encoder options for an H_264 VideoDescription (rate control, GOP, profile)."""
    h264 = video["CodecSettings"].get("H264Settings") or {}
    args = ["-c:v", "libx264", "-preset", x264_preset, "-pix_fmt", "yuv420p"]
    profile = {"BASELINE": "baseline", "MAIN": "main", "HIGH": "high"}.get(h264.get("CodecProfile", "MAIN"))
    if profile is None:
        raise unsupported(f"H.264 profile {h264.get('CodecProfile')}")
    args += ["-profile:v", profile]
    level = h264.get("CodecLevel", "AUTO")
    if level != "AUTO":
        args += ["-level:v", level.removeprefix("LEVEL_").replace("_", ".")]
    if h264.get("InterlaceMode", "PROGRESSIVE") != "PROGRESSIVE":
        raise unsupported(f"InterlaceMode {h264['InterlaceMode']}")
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


def loudness_key(group_index: int, output_index: int, description_index: int) -> str:
    """Names one AudioDescription in SourceFacts.loudness."""
    return f"g{group_index}o{output_index}a{description_index}"


def normalized_audio(settings: dict) -> dict[str, dict]:
    """The AudioDescriptions that correct loudness, by loudness_key: each needs a measuring pass first."""
    found = {}
    for g, group in enumerate(settings.get("OutputGroups") or []):
        for o, output in enumerate(group.get("Outputs") or []):
            for index, description in enumerate(output.get("AudioDescriptions") or []):
                if corrects_loudness(description):
                    found[loudness_key(g, o, index)] = description
    return found


def _filter_graph(video_branches: list[list[str]], audio_branches: dict[tuple[str, ...], list[list[str]]],
                  rotation_filter: str | None) -> str:
    chains = []
    if video_branches:
        head = "[0:v:0]" + (f"{rotation_filter}," if rotation_filter else "")
        chains += _branch(head, "split", "vs", video_branches)
    for n, (inputs, branches) in enumerate(audio_branches.items()):
        joined = source_chain(list(inputs), f"sel{n}")
        if joined:
            chains.append(joined)
        chains += _branch(f"[sel{n}]" if joined else f"[{inputs[0]}]", "asplit", f"as{n}_", branches)
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

