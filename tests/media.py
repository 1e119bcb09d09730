"""Test media made on the spot with ffmpeg, so no binary media is committed to the repository.

Every function writes one file at `path` and returns it as a Path. Sizes are small and the
encoders fast (`-preset ultrafast`): a few seconds of 640x360 takes about 0.1 s.
"""

import random
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from bench.transcript_wer import SAMPLE_RATE_HZ, write_wav
from lambdas.common.models import SourceObject

# container -> (video codec options, audio codec options, muxer options)
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
_CONTAINERS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "mp4": (_X264, ["-c:a", "aac"], ["-f", "mp4"]),
    "mov": (_X264, ["-c:a", "aac"], ["-f", "mov"]),
    "mkv": (_X264, ["-c:a", "aac"], ["-f", "matroska"]),
    "webm": (["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"],
             ["-c:a", "libopus"], ["-f", "webm"]),
    "avi": (["-c:v", "mpeg4", "-q:v", "8"], ["-c:a", "libmp3lame"], ["-f", "avi"]),
    "ts": (_X264, ["-c:a", "aac"], ["-f", "mpegts"]),
    "m2ts": (_X264, ["-c:a", "aac"], ["-f", "mpegts", "-mpegts_m2ts_mode", "1"]),
    "mpeg": (["-c:v", "mpeg2video", "-q:v", "8"], ["-c:a", "mp2"], ["-f", "vob"]),
    "flv": (_X264, ["-c:a", "aac"], ["-f", "flv"]),
    "wmv": (["-c:v", "wmv2", "-q:v", "8"], ["-c:a", "wmav2"], ["-f", "asf"]),
    "ogv": (["-c:v", "libtheora", "-q:v", "5"], ["-c:a", "libvorbis"], ["-f", "ogg"]),
    "mxf": (["-c:v", "mpeg2video", "-q:v", "8"], ["-c:a", "pcm_s16le", "-ar", "48000"], ["-f", "mxf"]),
    "h264": (_X264, [], ["-f", "h264"]),
}
# Visibly different sources, so each cut is a hard cut a shot detector must find.
_SEGMENT_SOURCES = ["testsrc2", "smptebars", "color=c=navy", "rgbtestsrc", "color=c=darkred", "testsrc"]


def make_video(
    path,
    seconds: float = 4,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
    audio: bool = True,
    rotate: int | None = None,
    sar: str | tuple[int, int] | None = None,
    container: str = "mp4",
    cuts: list[float] | None = None,
) -> Path:
    """A test pattern video with a 440 Hz tone.

    width x height is the coded size. `rotate` (clockwise degrees, mp4/mov only) stores a
    display rotation in the container, as phones do. `sar` ("4:3" or (4, 3)) stores a
    pixel aspect ratio, as anamorphic cameras do. `cuts` (seconds) are hard cuts between
    visibly different sources.
    """
    path = Path(path)
    video_codec, audio_codec, muxer = _CONTAINERS[container]
    if rotate and container not in ("mp4", "mov"):
        raise ValueError("rotate is only written by the mp4 and mov muxers")
    boundaries = [0.0, *sorted(cuts or []), float(seconds)]
    inputs, labels = [], []
    for index, (start, end) in enumerate(zip(boundaries[:-1], boundaries[1:], strict=True)):
        source = _SEGMENT_SOURCES[index % len(_SEGMENT_SOURCES)] if cuts else "testsrc2"
        separator = ":" if "=" in source else "="
        inputs += ["-f", "lavfi", "-i", f"{source}{separator}size={width}x{height}:rate={fps}:duration={end - start}"]
        labels.append(f"[{index}:v]")
    # concat also normalises each source's pixel aspect, so setsar comes after it.
    video_filter = f"{''.join(labels)}concat=n={len(labels)}:v=1:a=0,format=yuv420p"
    if sar:
        numerator, denominator = sar.split(":") if isinstance(sar, str) else sar
        video_filter += f",setsar={numerator}/{denominator}"
    arguments = [*inputs]
    if audio and audio_codec:
        arguments += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    arguments += ["-filter_complex", video_filter + "[v]", "-map", "[v]"]
    if audio and audio_codec:
        arguments += ["-map", f"{len(labels)}:a", *audio_codec]
    # A keyframe every second, like a camera: seeking (and the prober's tail check) stays cheap.
    arguments += [*video_codec, "-g", str(fps), "-t", str(seconds), *muxer]
    if not rotate:
        _ffmpeg(*arguments, str(path))
        return path
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / f"plain.{container}"
        _ffmpeg(*arguments, str(plain))
        # ffmpeg 5.1 has no -display_rotation. Its muxer turns the legacy `rotate` tag into a
        # display matrix that turns the picture *counter-clockwise* by the tag's value
        # (checked by decoding with autorotate), so a clockwise turn r is written as 360 - r.
        _ffmpeg("-i", str(plain), "-map", "0", "-c", "copy",
                "-metadata:s:v:0", f"rotate={(360 - rotate) % 360}", *muxer, str(path))
    return path


def silent_wav(path, seconds: float = 3.0) -> Path:
    """`seconds` of digital silence, 16 kHz mono (the transcript benchmark's WAV writer)."""
    return write_wav(Path(path), b"\x00\x00" * int(seconds * SAMPLE_RATE_HZ))


def make_audio_only(path, seconds: float = 3, container: str = "mp4") -> Path:
    """Audio and no video: an AAC-in-MP4 (.m4a-like) file by default, or "mp3" or "wav"."""
    path = Path(path)
    codec = {"mp4": ["-c:a", "aac", "-f", "mp4"], "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
             "wav": ["-c:a", "pcm_s16le", "-f", "wav"]}[container]
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", *codec, str(path))
    return path


def make_truncated(path, fraction: float = 0.4, faststart: bool = False, seconds: float = 4) -> Path:
    """The first `fraction` of a real MP4, as an interrupted upload leaves it.

    By default the moov index is at the end (ffmpeg's default, and most cameras'), so it is
    lost; with `faststart` the index survives at the front and promises media that is gone.
    """
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch:
        whole = make_video(Path(scratch) / "whole.mp4", seconds=seconds)
        if faststart:
            moved = Path(scratch) / "faststart.mp4"
            _ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(moved))
            whole = moved
        data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def make_not_a_video(path, kind: str = "text") -> Path:
    """A file that is not a video, whatever it is named: text, jpeg, png, pdf, zip or html."""
    path = Path(path)
    if kind in ("jpeg", "png"):
        codec = {"jpeg": ["-c:v", "mjpeg", "-f", "mjpeg"], "png": ["-c:v", "png", "-f", "image2pipe"]}[kind]
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90", "-frames:v", "1", *codec, str(path))
    elif kind == "pdf":
        path.write_bytes(_minimal_pdf())
    elif kind == "zip":
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "not a video\n")
    elif kind == "html":
        path.write_text("<!DOCTYPE html>\n<html><body>Access denied</body></html>\n")
    elif kind == "text":
        path.write_text("Meeting notes\n" + "This is plain text, not a video.\n" * 20)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path


def make_empty(path) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def make_duration_lie(path, seconds: float = 8, claimed_s: float = 2, container: str = "mp4") -> Path:
    """A real `seconds`-long video whose header claims it lasts `claimed_s`, as an edited header would.

    mp4: the mvhd, tkhd and mdhd durations are rewritten (the sample tables and the edit list still
    hold the real length, so players and transcoders play all of it). mkv: the segment's Duration
    element and each track's DURATION tag are rewritten. ffprobe then reports `claimed_s`.
    """
    path = Path(path)
    if container not in ("mp4", "mkv"):
        raise ValueError("the header is rewritten for mp4 and mkv only")
    data = bytearray(make_video(path, seconds=seconds, width=160, height=90, container=container).read_bytes())
    if container == "mp4":
        _rewrite_mp4_durations(data, claimed_s)
    else:
        _rewrite_matroska_durations(data, claimed_s)
    path.write_bytes(bytes(data))
    return path


def make_corrupted_middle(path, seconds: float = 3, share: float = 0.2, seed: int = 29) -> Path:
    """A real MP4 whose media data has its middle `share` overwritten with random bytes (index intact)."""
    path = Path(path)
    data = bytearray(make_video(path, seconds=seconds).read_bytes())
    start, end = next((payload, box_end) for kind, _, payload, box_end in _mp4_boxes(data, 0, len(data))
                      if kind == "mdat")
    middle, half = (start + end) // 2, int((end - start) * share) // 2
    generator = random.Random(seed)
    data[middle - half : middle + half] = bytes(generator.randrange(256) for _ in range(2 * half))
    path.write_bytes(bytes(data))
    return path


def make_playlist(path, entries: list[str], kind: str = "hls", comment: bytes = b"") -> Path:
    """A playlist naming other files or URLs: an HLS .m3u8 or an ffconcat list, with `comment` in a comment line."""
    path = Path(path)
    if kind == "hls":
        lines = [b"#EXTM3U", b"#EXT-X-VERSION:3", b"#EXT-X-TARGETDURATION:2", b"# " + comment]
        for entry in entries:
            lines += [b"#EXTINF:2.0,", entry.encode()]
        lines.append(b"#EXT-X-ENDLIST")
    elif kind == "ffconcat":
        lines = [b"ffconcat version 1.0", b"# " + comment, *(b"file '" + entry.encode() + b"'" for entry in entries)]
    else:
        raise ValueError(f"unknown kind {kind!r}")
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


# The key of an MXF header partition pack (SMPTE 377), as validate_upload looks for it.
MXF_PARTITION_KEY = bytes.fromhex("060E2B34020501010D01020101020400")


def put_source(s3, path_or_bytes, key: str, bucket: str = "videoflow-ingest") -> SourceObject:
    """Upload to the (moto) ingest bucket and describe the new version as start_pipeline would."""
    body = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return SourceObject(
        bucket=bucket, key=key, version_id=put.get("VersionId"), etag=put["ETag"].strip('"'), size_bytes=len(body)
    )


def _mp4_boxes(data, start: int, end: int):
    """(type, offset, payload offset, end) of each box in data[start:end]."""
    offset = start
    while offset < end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:
            size = end - offset
        yield kind.decode("latin-1"), offset, offset + header, offset + size
        offset += size


def _rewrite_mp4_durations(data: bytearray, claimed_s: float) -> None:
    """Version-0 mvhd, tkhd and mdhd (what ffmpeg writes) made to state `claimed_s`."""
    moov = next(box for box in _mp4_boxes(data, 0, len(data)) if box[0] == "moov")
    movie_timescale = 0
    for kind, _, payload, end in _mp4_boxes(data, moov[2], moov[3]):
        if kind == "mvhd":
            movie_timescale = struct.unpack_from(">I", data, payload + 12)[0]
            struct.pack_into(">I", data, payload + 16, round(claimed_s * movie_timescale))
        elif kind == "trak":
            for inner, _, inner_payload, inner_end in _mp4_boxes(data, payload, end):
                if inner == "tkhd":  # version/flags, two times, track id, reserved, then the duration
                    struct.pack_into(">I", data, inner_payload + 20, round(claimed_s * movie_timescale))
                elif inner == "mdia":
                    for leaf, _, leaf_payload, _ in _mp4_boxes(data, inner_payload, inner_end):
                        if leaf == "mdhd":
                            timescale = struct.unpack_from(">I", data, leaf_payload + 12)[0]
                            struct.pack_into(">I", data, leaf_payload + 16, round(claimed_s * timescale))


def _rewrite_matroska_durations(data: bytearray, claimed_s: float) -> None:
    """The Info Duration element (an 8-byte float in milliseconds, as ffmpeg writes it) and the DURATION tags."""
    at = data.find(b"\x44\x89\x88")
    if at < 0:
        raise RuntimeError("no 8-byte Duration element in the Matroska header")
    struct.pack_into(">d", data, at + 3, claimed_s * 1000)
    whole = int(claimed_s)
    stated = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{claimed_s % 60:012.9f}".encode()
    for match in re.finditer(rb"\d\d:\d\d:\d\d\.\d{9}", bytes(data)):
        data[match.start() : match.end()] = stated


def _minimal_pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Not a video) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _ffmpeg(*arguments: str) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed; the media tests need it")
    completed = subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *arguments],
        capture_output=True, text=True, timeout=120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {completed.stderr.strip()}")
