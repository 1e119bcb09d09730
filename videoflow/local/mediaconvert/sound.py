"""An audio output in ffmpeg terms: which input tracks feed it, how they are mixed, normalized and encoded.

- Audio selectors: `Tracks` counts audio tracks only (1 = the first audio track), `Streams`
  counts every track of the file, `Pids` names MPEG-TS packet ids; a selector of several tracks
  carries all their channels, in order (MediaConvert: "output track 2 contains the channels
  from input tracks 1 and 3"). A selector with none of these is the first audio track.
- RemixSettings: gains in dB per output channel (a pan filter), -60 dB being mute.
- AudioNormalizationSettings CORRECT_AUDIO: MediaConvert measures the whole output, then
  corrects it to the target. Here loudnorm measures in a first pass (source.measure_loudness)
  and corrects linearly in the second; audio measuring below CorrectionGateLevel (or silent) is
  left as it is. Without a measurement (a command built for a benchmark), loudnorm corrects in
  one pass, dynamically.
"""

from __future__ import annotations

import math

from videoflow.local.mediaconvert.errors import JobError, unsupported
from videoflow.local.mediaconvert.source import INPUT_GUARD, Loudness


def selector_inputs(description: dict, selectors: dict) -> list[str]:
    """ffmpeg stream specifiers of the input tracks an AudioDescription draws from."""
    name = description.get("AudioSourceName")
    selector = selectors.get(name) if name else None
    if selector is None:
        defaults = [s for s in selectors.values() if s.get("DefaultSelection") == "DEFAULT"]
        if not defaults:
            raise JobError(1040, f"Settings Error: no audio selector {name!r} and no default selector")
        selector = defaults[0]
    for setting in ("ExternalAudioFileInput", "RemixSettings", "Offset", "LanguageCode", "CustomLanguageCode"):
        if selector.get(setting):
            raise unsupported(f"audio selector {setting}")
    kind = selector.get("SelectorType", "TRACK")
    if selector.get("Pids") and kind in ("PID", "TRACK"):
        return [f"0:i:{pid}" for pid in selector["Pids"]]
    if selector.get("Streams"):
        return [f"0:{stream - 1}" for stream in selector["Streams"]]
    if kind not in ("TRACK", "STREAM"):
        raise unsupported(f"audio selector type {kind}")
    return [f"0:a:{track - 1}" for track in selector.get("Tracks") or [1]]


def source_chain(inputs: list[str], label: str) -> str | None:
    """A chain that joins several tracks' channels into one stream named `label` (None for one track)."""
    if len(inputs) == 1:
        return None
    return "".join(f"[{spec}]" for spec in inputs) + f"amerge=inputs={len(inputs)}[{label}]"


def audio_filters(description: dict, loudness: Loudness | None = None) -> list[str]:
    filters = []
    codec_settings = description["CodecSettings"]
    remix = description.get("RemixSettings")
    channels = _output_channels(codec_settings)
    if remix:
        filters.append(_pan(remix))
        channels = remix.get("ChannelsOut", channels)
    rate = _sample_rate(codec_settings)
    correction = _loudness_correction(description.get("AudioNormalizationSettings"), loudness)
    if correction:
        filters.append(correction)
        rate = rate or 48_000  # loudnorm works at 192 kHz; bring it back down
    if rate:
        filters.append(f"aresample={rate}")
    if channels:
        # Last, so the encoder's channel layout is negotiated explicitly (also after loudnorm).
        filters.append(f"aformat=channel_layouts={_layout(channels)}")
    return filters


def corrects_loudness(description: dict) -> bool:
    normalization = description.get("AudioNormalizationSettings")
    return bool(normalization) and normalization.get("AlgorithmControl", "CORRECT_AUDIO") == "CORRECT_AUDIO"


def loudness_command(description: dict, selectors: dict, input_path: str) -> list[str]:
    """The measuring pass of one normalized output: its input tracks and remix, through loudnorm, to nothing."""
    inputs = selector_inputs(description, selectors)
    chain = source_chain(inputs, "src")
    head = "[src]" if chain else f"[{inputs[0]}]"
    target, peak = _targets(description["AudioNormalizationSettings"])
    remix = description.get("RemixSettings")
    filters = [*([_pan(remix)] if remix else []), f"loudnorm=I={target:g}:TP={peak:g}:print_format=json"]
    graph = (f"{chain};" if chain else "") + head + ",".join(filters) + "[out]"
    return ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", *INPUT_GUARD,
            "-i", input_path, "-filter_complex", graph, "-map", "[out]", "-vn", "-f", "null", "-"]


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


def _targets(normalization: dict) -> tuple[float, float]:
    default_target = -24.0 if normalization.get("Algorithm") == "ITU_BS_1770_1" else -23.0
    return normalization.get("TargetLkfs", default_target), normalization.get("TruePeakLimiterThreshold", 0.0)


def _loudness_correction(normalization: dict | None, loudness: Loudness | None) -> str | None:
    if not normalization or normalization.get("AlgorithmControl", "CORRECT_AUDIO") != "CORRECT_AUDIO":
        return None
    target, peak = _targets(normalization)
    if loudness is None:
        return f"loudnorm=I={target:g}:TP={peak:g}"
    gate = normalization.get("CorrectionGateLevel")
    if loudness.silent or (gate is not None and loudness.integrated_lufs < gate):
        return None
    measured = [loudness.integrated_lufs, loudness.true_peak_dbtp, loudness.range_lu, loudness.threshold_lufs]
    if not all(math.isfinite(value) for value in measured):
        return f"loudnorm=I={target:g}:TP={peak:g}"
    return (f"loudnorm=I={target:g}:TP={peak:g}:measured_I={measured[0]:.2f}:measured_TP={measured[1]:.2f}"
            f":measured_LRA={measured[2]:.2f}:measured_thresh={measured[3]:.2f}:linear=true")


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
