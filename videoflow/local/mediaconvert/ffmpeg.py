"""The ffmpeg command that does a MediaConvert job's work: one process, the input decoded once.

Pure (no S3, no process), so the benchmark in bench/derivatives.py runs exactly the command the
local pipeline runs. The settings are read generically, not by output name; a setting the
stand-in cannot honour raises Settings Error (1040) rather than being silently ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from videoflow.local.mediaconvert.errors import JobError, unsupported

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
                         *, x264_preset: str = X264_PRESET) -> FfmpegPlan:
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
            raise unsupported(f"output group type {group_settings.get('Type')}")
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
            raise unsupported(f"video codec {codec}")
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
            raise unsupported(f"AAC profile {aac['CodecProfile']}")
        return args
    if codec == "WAV":
        depth = (codec_settings.get("WavSettings") or {}).get("BitDepth", 16)
        return ["-c:a", {16: "pcm_s16le", 24: "pcm_s24le"}[depth]]
    if codec == "MP3":
        mp3 = codec_settings.get("Mp3Settings") or {}
        return ["-c:a", "libmp3lame", *(["-b:a", str(mp3["Bitrate"])] if "Bitrate" in mp3 else [])]
    if codec == "FLAC":
        return ["-c:a", "flac"]
    raise unsupported(f"audio codec {codec}")


def _audio_source(description: dict, selectors: dict) -> str:
    name = description.get("AudioSourceName")
    selector = selectors.get(name) if name else None
    if selector is None:
        defaults = [s for s in selectors.values() if s.get("DefaultSelection") == "DEFAULT"]
        if not defaults:
            raise JobError(1040, f"Settings Error: no audio selector {name!r} and no default selector")
        selector = defaults[0]
    for setting in ("ExternalAudioFileInput", "Pids", "RemixSettings", "Offset"):
        if selector.get(setting):
            raise unsupported(f"audio selector {setting}")
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
        raise JobError(1040, f"Settings Error: ChannelMapping has {len(mapping)} rows for {channels_out} channels")
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

