"""The local stand-in for MediaConvert's Probe API: ffprobe, answering in Probe's response shape.

probe_media runs the same code in AWS and here, so this adapter must speak MediaConvert's
vocabulary exactly: `Format` from its enum (mp4, quicktime, matroska...), `Codec` from its
enum (AVC, HEVC, AAC...), `Rotation` in clockwise degrees, track `Index` from 1. Where
MediaConvert would leave a field null (no rotation, an unknown container), so does this.
"""

import json
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction

from containers.render.ffmpeg_plan import clockwise_rotation
from lambdas.common import aws
from lambdas.common.errors import MediaUnreadable
from lambdas.common.models import SourceObject

_FFPROBE_TIMEOUT_S = 120
_DOWNLOAD_CHUNK_BYTES = 1024 * 1024
# The tail check reads packets from this far before the stated end...
_TAIL_WINDOW_S = 5.0
# ...and the file counts as complete if its packets reach this close to that end (less
# for a short file, where a second is a large part of it). A whole file's packets end
# within a frame or two of the stated duration.
_TAIL_TOLERANCE_S = 2.0
_TAIL_TOLERANCE_SHARE = 0.1

# ffprobe's demuxer names -> MediaConvert Container.Format (the mov demuxer is told apart by brand).
_FORMATS = {
    "matroska,webm": "matroska", "avi": "avi", "mpegts": "mpegts", "mpeg": "mpegps", "mxf": "mxf",
    "asf": "asf", "ogg": "ogg", "wav": "wave", "mp3": "mp3", "flac": "flac", "aac": "aac",
    "ac3": "ac3", "eac3": "eac3",
}
_MIME_TYPES = {
    "mp4": "video/mp4", "quicktime": "video/quicktime", "matroska": "video/x-matroska",
    "webm": "video/webm", "avi": "video/x-msvideo", "mpegts": "video/mp2t", "mpegps": "video/mpeg",
    "mxf": "application/mxf", "asf": "video/x-ms-asf", "ogg": "video/ogg", "three_gp": "video/3gpp",
    "three_g2": "video/3gpp2", "wave": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac",
    "aac": "audio/aac", "ac3": "audio/ac3", "eac3": "audio/eac3",
}
# ffprobe codec_name -> MediaConvert Codec; anything else is UNKNOWN, as MediaConvert says.
_CODECS = {
    "h264": "AVC", "hevc": "HEVC", "av1": "AV1", "vp8": "VP8", "vp9": "VP9", "mpeg2video": "MPEG2",
    "mpeg1video": "MPEG1", "mpeg4": "MP4V", "prores": "PRORES", "mjpeg": "MJPEG", "dvvideo": "DV",
    "h263": "H263", "jpeg2000": "JPEG2000", "qtrle": "QTRLE", "theora": "THEORA", "vc1": "VC1",
    "wmv3": "VC1", "dnxhd": "VC3", "rawvideo": "UNCOMPRESSED",
    "aac": "AAC", "ac3": "AC3", "eac3": "EAC3", "mp3": "MP3", "mp2": "MP2", "flac": "FLAC",
    "opus": "OPUS", "vorbis": "VORBIS", "wmav1": "WMA", "wmav2": "WMA2", "wmapro": "WMAPRO",
    "amr_nb": "AMR", "amr_wb": "AMR", "eia_608": "C608", "webvtt": "WEBVTT",
}
# Demuxers that read stills or text, which ffprobe happily reports as a one-frame "video".
_NOT_VIDEO_FORMATS = {"tty", "image2", "gif", "apng", "ico", "bmp_pipe"}


class FfprobeProber:
    """MediaProber for local mode: downloads the pinned version and runs ffprobe on it."""

    def __init__(self, s3=None, ffprobe: str = "ffprobe"):
        self._s3 = s3
        self._ffprobe = ffprobe

    def probe(self, source: SourceObject) -> dict:
        s3 = self._s3 or aws.client("s3")
        response = s3.get_object(**source.get_args())
        # No suffix on purpose: ffprobe must recognise the content, not trust the name.
        handle, path = tempfile.mkstemp(prefix="videoflow-probe-")
        try:
            with os.fdopen(handle, "wb") as file, response["Body"] as body:
                shutil.copyfileobj(body, file, _DOWNLOAD_CHUNK_BYTES)
            report = self._describe(path)
        finally:
            os.unlink(path)
        return {"ProbeResults": [_probe_result(report, response)]}

    def _describe(self, path: str) -> dict:
        completed = self._run(["-print_format", "json", "-show_format", "-show_streams", path])
        report = json.loads(completed.stdout or "{}")
        fmt = report.get("format") or {}
        format_name = fmt.get("format_name", "")
        if format_name in _NOT_VIDEO_FORMATS or format_name.endswith("_pipe"):
            raise MediaUnreadable(
                f"ffprobe read the file as '{format_name}', which is an image or text, not a video."
            )
        if _float(fmt.get("duration")) is None:
            _add_counted_duration(report, self._count_video_packets(path))
        else:
            self._check_complete(path, report)
        return report

    def _count_video_packets(self, path: str) -> int | None:
        """Raw elementary streams (a CCTV export's .h264) state no duration: count their frames.

        This demuxes the whole file (no decoding); only files without a stated duration pay it.
        """
        completed = self._run([
            "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets",
            "-print_format", "json", path,
        ])
        streams = json.loads(completed.stdout or "{}").get("streams") or [{}]
        return _int(streams[0].get("nb_read_packets"))

    def _check_complete(self, path: str, report: dict) -> None:
        """Reject a file whose index promises more media than its bytes hold.

        A truncated MP4 with its moov at the front (a "fast start" file cut short) still
        reports its full duration, so the headers alone look fine. Reading packets from
        the last few seconds shows it: ffprobe seeks through the index straight to the
        end and finds nothing there. This costs one seek and a few seconds of packets
        (no decoding), the same on a one-hour file as on a ten-second one.
        """
        fmt = report.get("format") or {}
        duration_s, start_s = _float(fmt.get("duration")) or 0.0, _float(fmt.get("start_time")) or 0.0
        end_s = start_s + duration_s
        # Never negative: ffprobe reads "-0.02%" as an offset, not a timestamp.
        window_start_s = max(0.0, start_s, end_s - _TAIL_WINDOW_S)
        completed = self._run([
            "-read_intervals", f"{window_start_s:.3f}%",
            "-show_entries", "packet=pts_time,dts_time,duration_time",
            "-print_format", "json", path,
        ])
        packets = json.loads(completed.stdout or "{}").get("packets") or []
        reached_s = max(
            ((_float(p.get("pts_time")) or _float(p.get("dts_time")) or 0.0) + (_float(p.get("duration_time")) or 0.0)
             for p in packets),
            default=None,
        )
        tolerance_s = max(0.25, min(_TAIL_TOLERANCE_S, _TAIL_TOLERANCE_SHARE * duration_s))
        if reached_s is None or reached_s < end_s - tolerance_s:
            stops = f"stops at {reached_s - start_s:.1f} s" if reached_s else "has no media data near the end"
            raise MediaUnreadable(
                f"ffprobe could not read the end of the file: it {stops} of a stated {duration_s:.1f} s "
                "(the file may be truncated)."
            )

    def _run(self, arguments: list[str]) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [self._ffprobe, "-v", "error", "-hide_banner", *arguments],
            capture_output=True, text=True, timeout=_FFPROBE_TIMEOUT_S,
        )
        if completed.returncode != 0:
            raise MediaUnreadable(f"ffprobe could not read the file: {_reason(completed.stderr)}.")
        return completed


def _add_counted_duration(report: dict, video_packets: int | None) -> None:
    video = next((s for s in report.get("streams") or [] if s.get("codec_type") == "video"), None)
    frame_rate = video and (_fraction(video.get("avg_frame_rate")) or _fraction(video.get("r_frame_rate")))
    if video_packets and frame_rate:
        duration_s = round(video_packets / float(frame_rate), 3)
        report.setdefault("format", {})["duration"] = str(duration_s)
        video["duration"] = str(duration_s)


def _reason(stderr: str) -> str:
    """ffprobe's own words, minus the temp path and log prefixes, with a hint when it has a known cause."""
    lines = [line.split("] ", 1)[-1].strip() for line in stderr.splitlines() if line.strip()]
    lines = [line.split(": ", 1)[-1] if line.startswith("/") else line for line in lines]
    text = "; ".join(dict.fromkeys(lines)) or "no reason given"
    if "moov atom not found" in text:
        return "moov atom not found (the file may be truncated)"
    if text == "Invalid data found when processing input":
        return "invalid data found when processing input (it is not a media file ffprobe knows, or it is corrupt)"
    return text[:300]


def _probe_result(report: dict, s3_response: dict) -> dict:
    fmt = report.get("format") or {}
    streams = report.get("streams") or []
    container_format = _container_format(fmt, streams)
    tracks = [_track(stream, fmt) for stream in streams if _is_track(stream)]
    container = {"Tracks": tracks}
    if container_format:
        container["Format"] = container_format
    if (duration_s := _float(fmt.get("duration"))) is not None:
        container["Duration"] = duration_s
    if (bit_rate := _int(fmt.get("bit_rate"))) is not None:
        container["BitRate"] = bit_rate
    return {
        "Container": container,
        "Metadata": {
            "ETag": s3_response.get("ETag", "").strip('"'),
            "FileSize": s3_response.get("ContentLength", _int(fmt.get("size")) or 0),
            **_drop_none({"LastModified": s3_response.get("LastModified")}),
            "MimeType": _MIME_TYPES.get(container_format, "application/octet-stream"),
        },
        "TrackMappings": [{
            "VideoTrackIndexes": [t["Index"] for t in tracks if t["TrackType"] == "video"],
            "AudioTrackIndexes": [t["Index"] for t in tracks if t["TrackType"] == "audio"],
            "DataTrackIndexes": [t["Index"] for t in tracks if t["TrackType"] == "data"],
        }],
    }


def _is_track(stream: dict) -> bool:
    # Cover art is a one-frame "video" stream in ffprobe; it is not a video track.
    if (stream.get("disposition") or {}).get("attached_pic"):
        return False
    return stream.get("codec_type") in ("video", "audio", "subtitle", "data")


def _track(stream: dict, fmt: dict) -> dict:
    kind = {"video": "video", "audio": "audio"}.get(stream["codec_type"], "data")
    codec_name = stream.get("codec_name", "")
    track = {
        "Codec": "PCM" if codec_name.startswith("pcm_") else _CODECS.get(codec_name, "UNKNOWN"),
        "Index": stream["index"] + 1,
        "TrackType": kind,
    }
    duration_s = _float(stream.get("duration")) or _tag_duration(stream) or _float(fmt.get("duration"))
    if duration_s is not None:
        track["Duration"] = duration_s
    if kind == "video":
        track["VideoProperties"] = _video_properties(stream)
    elif kind == "audio":
        track["AudioProperties"] = _drop_none({
            "Channels": stream.get("channels"),
            "SampleRate": _int(stream.get("sample_rate")),
            "BitRate": _int(stream.get("bit_rate")),
            "BitDepth": _int(stream.get("bits_per_raw_sample")),
            "ChannelLayout": stream.get("channel_layout"),
            "LanguageCode": (stream.get("tags") or {}).get("language"),
        })
    return track


def _video_properties(stream: dict) -> dict:
    frame_rate = _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))
    sample_aspect = _fraction(stream.get("sample_aspect_ratio"), separator=":")
    display_aspect = _fraction(stream.get("display_aspect_ratio"), separator=":")
    return _drop_none({
        "Width": stream.get("width"),
        "Height": stream.get("height"),
        "BitRate": _int(stream.get("bit_rate")),
        "BitDepth": _int(stream.get("bits_per_raw_sample")),
        "FrameRate": _as_ratio(frame_rate),
        "SampleAspectRatio": _as_ratio(sample_aspect),
        "DisplayAspectRatio": _as_ratio(display_aspect),
        "Rotation": _clockwise_rotation(stream),
    })


def _clockwise_rotation(stream: dict) -> int | None:
    """The display rotation in clockwise degrees, or None when there is none (as MediaConvert, which
    also leaves a skewed matrix null); read as the renderer reads it."""
    return clockwise_rotation(stream) or None


def _container_format(fmt: dict, streams: list[dict]) -> str | None:
    name = fmt.get("format_name", "")
    if name.startswith("mov,mp4"):
        brand = ((fmt.get("tags") or {}).get("major_brand") or "").strip()
        if brand == "qt":
            return "quicktime"
        if brand.startswith("3gp"):
            return "three_gp"
        if brand.startswith("3g2"):
            return "three_g2"
        return "mp4"
    if name == "matroska,webm":
        webm_codecs = {"vp8", "vp9", "av1", "opus", "vorbis", "webvtt"}
        codecs = {stream.get("codec_name") for stream in streams}
        return "webm" if codecs and codecs <= webm_codecs else "matroska"
    return _FORMATS.get(name)  # None (left out) for what MediaConvert has no name for, e.g. flv


def _tag_duration(stream: dict) -> float | None:
    """Matroska keeps a stream's duration as a DURATION tag, "HH:MM:SS.nnnnnnnnn"."""
    value = (stream.get("tags") or {}).get("DURATION")
    if not value:
        return None
    try:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _fraction(value: str | None, separator: str = "/") -> Fraction | None:
    if not value or separator not in value:
        return None
    numerator, denominator = value.split(separator, 1)
    try:
        numerator, denominator = int(numerator), int(denominator)
    except ValueError:
        return None
    return Fraction(numerator, denominator) if numerator > 0 and denominator > 0 else None


def _as_ratio(fraction: Fraction | None) -> dict | None:
    return {"Numerator": fraction.numerator, "Denominator": fraction.denominator} if fraction else None


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _drop_none(values: dict) -> dict:
    return {name: value for name, value in values.items() if value is not None}
