"""The local stand-in for MediaConvert's Probe API: ffprobe, answering in Probe's response shape.

probe_media runs the same code in AWS and here, so this adapter must speak MediaConvert's
vocabulary exactly: `Format` from its enum (mp4, quicktime, matroska...), `Codec` from its
enum (AVC, HEVC, AAC...), `Rotation` in clockwise degrees, track `Index` from 1. Where
MediaConvert would leave a field null (no rotation, an unknown container), so does this.

It reads only what Probe reads: the headers and the index, never the file's end. A file whose
index promises more than its bytes hold is found by probe_media (the MP4 index against the
size) and by record_derivatives (the decoded length against the stated one), in AWS as here.

The upload is untrusted, so ffprobe opens it as a local file only (`-protocol_whitelist
file`) with the demuxer of the container validate_upload recognised, or at least one from a
list of media containers (`-format_whitelist`): never as a playlist (HLS, ffconcat, DASH) whose
entries would make it read other files or fetch URLs.
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

# validate_upload's container (MediaConvert's Format names, plus flv and raw streams) -> ffmpeg demuxer.
DEMUXERS = {
    "mp4": "mov", "quicktime": "mov", "three_gp": "mov", "three_g2": "mov", "matroska": "matroska",
    "webm": "matroska", "avi": "avi", "mpegts": "mpegts", "mpegps": "mpeg", "flv": "flv", "asf": "asf",
    "ogg": "ogg", "mxf": "mxf", "h264": "h264", "hevc": "hevc",
}
# The only demuxers an upload may be opened with when no container is named: media containers and
# plain audio (refused later, by name, for having no video). Not hls, concat, dash, image2, tty...
SAFE_DEMUXERS = ",".join(sorted({*DEMUXERS.values(), "mp3", "wav", "flac", "aac", "ac3", "eac3"}))


def input_guard(container: str | None = None) -> list[str]:
    """ffmpeg/ffprobe options to put before `-i` (or the path) of an untrusted upload."""
    forced = DEMUXERS.get(container or "")
    return ["-protocol_whitelist", "file", "-format_whitelist", SAFE_DEMUXERS, *(["-f", forced] if forced else [])]


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


class FfprobeProber:
    """MediaProber for local mode: downloads the pinned version and runs ffprobe on it."""

    def __init__(self, s3=None, ffprobe: str = "ffprobe"):
        self._s3 = s3
        self._ffprobe = ffprobe

    def probe(self, source: SourceObject, container: str | None = None) -> dict:
        s3 = self._s3 or aws.client("s3")
        response = s3.get_object(**source.get_args())
        # No suffix on purpose: ffprobe must recognise the content, not trust the name.
        handle, path = tempfile.mkstemp(prefix="videoflow-probe-")
        try:
            with os.fdopen(handle, "wb") as file, response["Body"] as body:
                shutil.copyfileobj(body, file, _DOWNLOAD_CHUNK_BYTES)
            report = self._describe(path, input_guard(container))
        finally:
            os.unlink(path)
        return {"ProbeResults": [_probe_result(report, response)]}

    def _describe(self, path: str, guard: list[str]) -> dict:
        completed = self._run([*guard, "-print_format", "json", "-show_format", "-show_streams", path])
        report = json.loads(completed.stdout or "{}")
        if _float((report.get("format") or {}).get("duration")) is None:
            _add_counted_duration(report, self._count_video_packets(path, guard))
        return report

    def _count_video_packets(self, path: str, guard: list[str]) -> int | None:
        """Raw elementary streams (a CCTV export's .h264) state no duration: count their frames.

        This demuxes the whole file (no decoding); only files without a stated duration pay it.
        """
        completed = self._run([
            *guard, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets",
            "-print_format", "json", path,
        ])
        streams = json.loads(completed.stdout or "{}").get("streams") or [{}]
        return _int(streams[0].get("nb_read_packets"))

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
    if "Format not on whitelist" in text:
        return "it is not in a media container this service reads (a playlist, an image or text?)"
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
