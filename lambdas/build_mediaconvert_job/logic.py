"""build_mediaconvert_job: the settings of the one MediaConvert job that makes the derivatives.

One input, decoded once, three File groups:

- proxy: 540p H.264 + AAC stereo in MP4, for editing (square pixels, closed 2 s GOPs);
- audio: mono 16 kHz 16-bit WAV, loudness-normalized (ITU BS.1770), for transcription;
  omitted when the source has no audio;
- frames: a JPEG every FRAME_INTERVAL_S seconds at the proxy's size, for vision.

The input is rotated automatically (Rotate AUTO), so every output follows the display
orientation: `media.width`/`media.height` are already as displayed, and the output sizes
are computed from them. The job's Settings are the only thing returned; Role, Queue and
UserMetadata belong to the CreateJob call that the state machine makes.

Odd sources come out as ordinary SDR, progressive, constant-rate pictures: every picture
output converts to BT.709 (HDR10 and HLG are tone-mapped; MediaConvert leaves SDR input
alone) and deinterlaces what is flagged interlaced. A variable frame rate needs nothing:
MediaConvert always writes a constant rate ("follow source" takes the nearest standard rate).

Audio: the proxy carries the first audio track, the one MediaConvert selects by default (its
Probe names tracks but reports neither a default flag nor loudness). A source with several
tracks gets one transcription WAV per track (up to MAX_AUDIO_CANDIDATES), and
record_derivatives keeps the first that has sound, so a silent first track does not leave the
job without a transcript. Quiet audio (below CORRECTION_GATE_LKFS) is not amplified, so
silence and hiss stay silent rather than being raised to speech level.
"""

import math
from fractions import Fraction

from lambdas.common import constants
from lambdas.common.events import EventLog
from lambdas.common.models import (
    AudioCandidate,
    AudioTrack,
    DerivativeDestinations,
    JobRequest,
    MediaConvertJobSpec,
    MediaInfo,
)
from lambdas.common.settings import Settings

AUDIO_SELECTOR = "Audio Selector {track}"
# One transcription WAV per audio track, for this many tracks at most (each is an output MediaConvert bills).
MAX_AUDIO_CANDIDATES = 4

PROXY_QVBR_QUALITY_LEVEL = 7
PROXY_MAX_BITRATE_BPS = 2_500_000
PROXY_AAC_BITRATE_BPS = 128_000
PROXY_AAC_SAMPLE_RATE_HZ = 48_000
PROXY_GOP_S = 2.0
PROXY_B_FRAMES = 2
PROXY_MAX_LONG_SIDE_PX = 4096  # MediaConvert's H.264 maximum is 4096x2160 (or 2160x4096)

FRAME_JPEG_QUALITY = 80

# Loudness for speech recognition: EBU R128 programme loudness, with a true-peak ceiling.
AUDIO_TARGET_LKFS = -23.0
AUDIO_TRUE_PEAK_DBFS = -2.0
# Audio measuring below this is left as it is: silence and hiss are not raised to speech level.
CORRECTION_GATE_LKFS = -50

# Every picture output: HDR (PQ or HLG) tone-mapped to SDR BT.709; SDR input is converted to BT.709
# (MediaConvert: "HDR to SDR tone mapping has no effect when your input is SDR"). VIBRANT is what AWS
# recommends for HDR10 (MediaConvert applies PRESERVE_DETAILS to HLG whatever is set here).
COLOR_CORRECTOR = {"ColorSpaceConversion": "FORCE_709", "HdrToSdrToneMapper": "VIBRANT"}
# Interlaced input: deinterlaced; ADAPTIVE + NORMAL leaves progressive frames untouched.
DEINTERLACER = {"Mode": "ADAPTIVE", "Algorithm": "INTERPOLATE", "Control": "NORMAL"}

# Remix gains are whole dB from -60 (mute) to +6 (RemixSettings.ChannelMapping.InputChannels).
MUTE_DB = -60
# ITU-R BS.775 downmix coefficient for centre and surrounds (0.707 = -3 dB).
SIDE_DB = -3
# 5.1 in the usual order: L R C LFE Ls Rs.
_FIVE_ONE_TO_STEREO = [[0, MUTE_DB, SIDE_DB, MUTE_DB, SIDE_DB, MUTE_DB],
                       [MUTE_DB, 0, SIDE_DB, MUTE_DB, MUTE_DB, SIDE_DB]]


class MediaConvertJobRequest(JobRequest):
    media: MediaInfo


def build_mediaconvert_job(
    request: MediaConvertJobRequest, settings: Settings, events: EventLog
) -> MediaConvertJobSpec:
    spec = plan_job(request, output_bucket=settings.output_bucket, max_duration_s=settings.max_duration_s)
    events.append(
        request.job_id, "derivatives.planned", "BuildMediaConvertJob",
        proxy=f"{spec.proxy_width_px}x{spec.proxy_height_px}",
        audio=spec.destinations.audio_key is not None,
        audio_tracks=[candidate.track for candidate in spec.destinations.audio_candidates],
        frame_interval_s=spec.frame_interval_s,
    )
    return spec


def plan_job(request: MediaConvertJobRequest, *, output_bucket: str, max_duration_s: float) -> MediaConvertJobSpec:
    """The pure part: the job settings and the keys they produce, from the probed media."""
    media = request.media
    width, height = proxy_size(media.width, media.height)
    prefix = f"{constants.DERIVATIVES_PREFIX}{request.job_id}/"
    interval_s = constants.FRAME_INTERVAL_S
    max_captures = math.ceil(max_duration_s / interval_s) + 1
    tracks = audio_candidates(media)

    output_groups = [_proxy_group(f"s3://{output_bucket}/{prefix}proxy/proxy", width, height,
                                  tracks[0] if tracks else None)]
    if tracks:
        output_groups.append(_audio_group(f"s3://{output_bucket}/{prefix}audio/audio", tracks))
    output_groups.append(_frames_group(f"s3://{output_bucket}/{prefix}frames/frame", width, height,
                                       interval_s, max_captures))

    job_input: dict = {
        "FileInput": request.source.url,
        "TimecodeSource": "ZEROBASED",
        "VideoSelector": {"Rotate": "AUTO", "ColorSpace": "FOLLOW"},
    }
    if tracks:
        # The first is the default: an output whose selector is missing from the input falls back to it.
        job_input["AudioSelectors"] = {
            AUDIO_SELECTOR.format(track=track.track): {
                "DefaultSelection": "DEFAULT" if index == 0 else "NOT_DEFAULT",
                "SelectorType": "TRACK",
                "Tracks": [track.track],
            }
            for index, track in enumerate(tracks)
        }
    candidates = [AudioCandidate(track=track.track, key=f"{prefix}audio/{_audio_name(index, track)}.wav")
                  for index, track in enumerate(tracks)]

    job_settings = {
        "TimecodeConfig": {"Source": "ZEROBASED"},
        "Inputs": [job_input],
        "OutputGroups": output_groups,
    }
    return MediaConvertJobSpec(
        settings=job_settings,
        destinations=DerivativeDestinations(
            bucket=output_bucket,
            proxy_key=f"{prefix}proxy/proxy.mp4",
            audio_key=candidates[0].key if candidates else None,
            audio_candidates=candidates if len(candidates) > 1 else [],
            frames_prefix=f"{prefix}frames/",
        ),
        proxy_width_px=width,
        proxy_height_px=height,
        frame_interval_s=interval_s,
        max_frame_captures=max_captures,
    )


def audio_candidates(media: MediaInfo) -> list[AudioTrack]:
    """The audio tracks to make transcription audio from, the default (first) one first."""
    if not media.has_audio:
        return []
    tracks = sorted(media.audio_tracks, key=lambda track: track.track) or [
        AudioTrack(track=1, channels=media.audio_channels, codec=media.audio_codec)]
    return tracks[:MAX_AUDIO_CANDIDATES]


def _audio_name(index: int, track: AudioTrack) -> str:
    """audio.wav for the default track; audio-track<N>.wav for the others (MediaConvert's NameModifier)."""
    return "audio" if index == 0 else f"audio{_track_modifier(track)}"


def _track_modifier(track: AudioTrack) -> str:
    return f"-track{track.track}"


def _channels_in(track: AudioTrack) -> int:
    return min(max(track.channels, 1), 64)  # RemixSettings.ChannelsIn is 1..64


def proxy_size(display_width: int, display_height: int) -> tuple[int, int]:
    """Output size whose shorter side is PROXY_SHORT_SIDE_PX, keeping the display aspect.

    The other side is rounded to an even number (4:2:0 chroma needs even dimensions). Only a
    panorama wider than 7.6:1 breaks the rule: its long side stops at H.264's 4096 px limit
    in MediaConvert, and the short side shrinks to keep the aspect.
    """
    short = constants.PROXY_SHORT_SIDE_PX
    portrait = display_width <= display_height
    long_px, short_px = (display_height, display_width) if portrait else (display_width, display_height)
    long_side = _even(long_px * short / short_px)
    if long_side > PROXY_MAX_LONG_SIDE_PX:
        long_side, short = PROXY_MAX_LONG_SIDE_PX, _even(short_px * PROXY_MAX_LONG_SIDE_PX / long_px)
    return (short, long_side) if portrait else (long_side, short)


def downmix_matrix(channels_in: int, channels_out: int) -> list[list[int]]:
    """Remix gains in dB, one row per output channel, one column per input channel."""
    if channels_in == channels_out:
        return [[0 if i == o else MUTE_DB for i in range(channels_in)] for o in range(channels_out)]
    if channels_out == 1 and channels_in == 6:
        # Through stereo: the centre (dialogue) keeps the most weight, the LFE is left out.
        return [[-6, -6, SIDE_DB, MUTE_DB, SIDE_DB - 6, SIDE_DB - 6]]
    if channels_out == 1:
        return [_equal_mix(list(range(channels_in)), channels_in)]
    if channels_out == 2 and channels_in == 1:
        return [[0], [0]]
    if channels_out == 2 and channels_in == 6:
        return [row[:] for row in _FIVE_ONE_TO_STEREO]
    if channels_out == 2:
        # Unknown layout: 1st, 3rd, ... channel to the left, 2nd, 4th, ... to the right.
        left = list(range(0, channels_in, 2))
        right = list(range(1, channels_in, 2))
        return [_equal_mix(left, channels_in), _equal_mix(right, channels_in)]
    raise ValueError(f"no downmix from {channels_in} to {channels_out} channels")


def _equal_mix(sources: list[int], channels_in: int) -> list[int]:
    """`sources` summed at equal gain, -20*log10(n) dB each, so n identical channels keep their level."""
    gain = round(-20 * math.log10(len(sources))) if len(sources) > 1 else 0
    return [gain if i in sources else MUTE_DB for i in range(channels_in)]


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _file_group(name: str, destination: str, outputs: list[dict]) -> dict:
    return {
        "Name": "File Group",
        "CustomName": name,
        "OutputGroupSettings": {
            "Type": "FILE_GROUP_SETTINGS",
            "FileGroupSettings": {"Destination": destination},
        },
        "Outputs": outputs,
    }


def _remix(channels_in: int, channels_out: int) -> dict:
    return {
        "ChannelsIn": channels_in,
        "ChannelsOut": channels_out,
        "ChannelMapping": {
            "OutputChannels": [{"InputChannels": row} for row in downmix_matrix(channels_in, channels_out)]
        },
    }


def _preprocessors() -> dict:
    return {"ColorCorrector": dict(COLOR_CORRECTOR), "Deinterlacer": dict(DEINTERLACER)}


def _proxy_group(destination: str, width: int, height: int, track: AudioTrack | None) -> dict:
    output: dict = {
        "Extension": "mp4",
        "ContainerSettings": {
            "Container": "MP4",
            "Mp4Settings": {"MoovPlacement": "PROGRESSIVE_DOWNLOAD"},
        },
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "ScalingBehavior": "STRETCH_TO_OUTPUT",
            "ColorMetadata": "INSERT",
            "VideoPreprocessors": _preprocessors(),
            "CodecSettings": {
                "Codec": "H_264",
                "H264Settings": {
                    "RateControlMode": "QVBR",
                    "QvbrSettings": {"QvbrQualityLevel": PROXY_QVBR_QUALITY_LEVEL},
                    "MaxBitrate": PROXY_MAX_BITRATE_BPS,
                    "CodecProfile": "HIGH",
                    "CodecLevel": "AUTO",
                    "InterlaceMode": "PROGRESSIVE",
                    "GopSize": PROXY_GOP_S,
                    "GopSizeUnits": "SECONDS",
                    "GopClosedCadence": 1,
                    "NumberBFramesBetweenReferenceFrames": PROXY_B_FRAMES,
                    "SceneChangeDetect": "TRANSITION_DETECTION",
                    "FramerateControl": "INITIALIZE_FROM_SOURCE",
                    "ParControl": "SPECIFIED",
                    "ParNumerator": 1,
                    "ParDenominator": 1,
                    "QualityTuningLevel": "SINGLE_PASS_HQ",
                },
            },
        },
    }
    if track is not None:
        channels = _channels_in(track)
        description: dict = {
            "AudioSourceName": AUDIO_SELECTOR.format(track=track.track),
            "CodecSettings": {
                "Codec": "AAC",
                "AacSettings": {
                    "Bitrate": PROXY_AAC_BITRATE_BPS,
                    "CodingMode": "CODING_MODE_2_0",
                    "SampleRate": PROXY_AAC_SAMPLE_RATE_HZ,
                    "CodecProfile": "LC",
                    "RateControlMode": "CBR",
                },
            },
        }
        if channels != 2:
            description["RemixSettings"] = _remix(channels, 2)
        output["AudioDescriptions"] = [description]
    return _file_group("proxy", destination, [output])


def _audio_group(destination: str, tracks: list[AudioTrack]) -> dict:
    outputs = [_audio_output(track, None if index == 0 else _track_modifier(track))
               for index, track in enumerate(tracks)]
    return _file_group("audio", destination, outputs)


def _audio_output(track: AudioTrack, name_modifier: str | None) -> dict:
    output: dict = {
        "Extension": "wav",
        "ContainerSettings": {"Container": "RAW"},
        "AudioDescriptions": [{
            "AudioSourceName": AUDIO_SELECTOR.format(track=track.track),
            "CodecSettings": {
                "Codec": "WAV",
                "WavSettings": {
                    "BitDepth": 16,
                    "Channels": 1,
                    "SampleRate": constants.AUDIO_SAMPLE_RATE_HZ,
                    "Format": "RIFF",
                },
            },
            "RemixSettings": _remix(_channels_in(track), 1),
            "AudioNormalizationSettings": {
                "Algorithm": "ITU_BS_1770_2",
                "AlgorithmControl": "CORRECT_AUDIO",
                "CorrectionGateLevel": CORRECTION_GATE_LKFS,
                "TargetLkfs": AUDIO_TARGET_LKFS,
                "PeakCalculation": "TRUE_PEAK",
                "TruePeakLimiterThreshold": AUDIO_TRUE_PEAK_DBFS,
            },
        }],
    }
    if name_modifier:
        output["NameModifier"] = name_modifier
    return output


def _frames_group(destination: str, width: int, height: int, interval_s: float, max_captures: int) -> dict:
    numerator, denominator = _rate_of_interval(interval_s)
    output = {
        "Extension": "jpg",
        "ContainerSettings": {"Container": "RAW"},
        "VideoDescription": {
            "Width": width,
            "Height": height,
            "ScalingBehavior": "STRETCH_TO_OUTPUT",
            "VideoPreprocessors": _preprocessors(),
            "CodecSettings": {
                "Codec": "FRAME_CAPTURE",
                "FrameCaptureSettings": {
                    "FramerateNumerator": numerator,
                    "FramerateDenominator": denominator,
                    "MaxCaptures": max_captures,
                    "Quality": FRAME_JPEG_QUALITY,
                },
            },
        },
    }
    return _file_group("frames", destination, [output])


def _rate_of_interval(interval_s: float) -> tuple[int, int]:
    """One capture every `interval_s` seconds as an integer frame rate numerator/denominator."""
    rate = 1 / Fraction(interval_s).limit_denominator(1000)
    return rate.numerator, rate.denominator
