"""Facts about an MP4 (ISO-BMFF) file from its index alone, with the standard library only.

A Lambda without ffmpeg checks a rendered clip in S3 with this: duration, codecs, displayed
size, and whether the index (moov) comes before the media (faststart). It reads the 8 or 16
byte header of each top-level box and then the moov box in one request, never the media
data, so a 100 MB clip costs a few ranged GETs and some kilobytes.

Every size in the file is checked against its parent (the file, or the enclosing box)
before anything is read, so a damaged or hostile file ends in `Mp4Unreadable` with a
one-line reason; it cannot make the reader loop, recurse deeply, or read past the end.
"""

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

Reader = Callable[[int, int], bytes]

MAX_MOOV_BYTES = 64 * 1024 * 1024
# A plain MP4 has four or five top-level boxes; a fragmented one two per fragment. Each header
# is one ranged GET in S3, so the walk stops long before it would cost real time.
MAX_TOP_LEVEL_BOXES = 4096

VIDEO_HANDLERS = frozenset({"vide"})
AUDIO_HANDLERS = frozenset({"soun"})
# ffmpeg's mp4 muxer labels mov_text 'sbtl', its mov muxer 'text'; ISO timed text uses 'subt'.
SUBTITLE_HANDLERS = frozenset({"sbtl", "text", "subt"})
# Boxes a file can start with: ISO files begin with ftyp (or styp for segments); older
# QuickTime files may begin with any of the others.
_FIRST_BOXES = frozenset({"ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot", "pdin", "uuid"})
_UNKNOWN_DURATION = {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}


@dataclass(frozen=True)
class Mp4Facts:
    duration_s: float
    video_codec: str | None  # first sample entry of the first video track: 'avc1', 'avc3', 'hvc1', ...
    width: int | None  # displayed size (tkhd), else the sample entry's coded size
    height: int | None
    audio_codec: str | None  # 'mp4a' for AAC
    subtitle_codec: str | None  # 'tx3g' for mov_text
    faststart: bool  # moov precedes mdat (also True when there is no mdat)


class Mp4Unreadable(Exception):
    """The file is not an MP4 this reader can index; the message is a one-line reason."""


def read_mp4_facts(read: Reader, size: int) -> Mp4Facts:
    """Facts from the moov box of the `size`-byte file that `read(offset, length)` returns."""
    if size <= 0:
        raise Mp4Unreadable("not an MP4: the file is empty")
    moov_at, moov_size, mdat_at = _walk_top_level(read, size)
    if moov_at is None:
        raise Mp4Unreadable("no moov box: the file has no index (an interrupted or still-running write?)")
    if moov_size > MAX_MOOV_BYTES:
        raise Mp4Unreadable(f"moov box is {moov_size} bytes, more than the {MAX_MOOV_BYTES} this reader accepts")
    moov = _read_exact(read, moov_at, moov_size, "moov box")
    facts = _parse_moov(moov)
    return Mp4Facts(**facts, faststart=mdat_at is None or moov_at < mdat_at)


def s3_reader(s3_client, bucket: str, key: str, version_id: str | None = None) -> tuple[Reader, int]:
    """A reader over one S3 object with ranged GETs, and its size.

    Without a version id every GET is conditional on the ETag seen by HeadObject, so an
    object overwritten mid-read fails (PreconditionFailed) instead of mixing two files.
    """
    pinned = {"VersionId": version_id} if version_id else {}
    head = s3_client.head_object(Bucket=bucket, Key=key, **pinned)
    size = head["ContentLength"]
    if not version_id and head.get("ETag"):
        pinned = {"IfMatch": head["ETag"]}

    def read(offset: int, length: int) -> bytes:
        end = min(offset + length, size) - 1
        if length <= 0 or offset >= size or end < offset:
            return b""
        response = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{end}", **pinned)
        return response["Body"].read()

    return read, size


def local_reader(path) -> tuple[Reader, int]:
    """A reader over a local file, and its size."""
    path = os.fspath(path)
    size = os.path.getsize(path)

    def read(offset: int, length: int) -> bytes:
        with open(path, "rb") as file:
            file.seek(offset)
            return file.read(max(length, 0))

    return read, size


# ---- top level: box headers only -------------------------------------------------------------


def _walk_top_level(read: Reader, size: int) -> tuple[int | None, int, int | None]:
    """(moov offset, moov size, first mdat offset), checking every top-level box fits the file."""
    moov_at, moov_size, mdat_at = None, 0, None
    offset, count = 0, 0
    while offset < size:
        count += 1
        if count > MAX_TOP_LEVEL_BOXES:
            raise Mp4Unreadable(f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes; not a plain MP4")
        remaining = size - offset
        if remaining < 8:
            raise Mp4Unreadable(f"truncated box header at byte {offset}: {remaining} bytes left, 8 needed")
        box_size, raw_type = struct.unpack(">I4s", _read_exact(read, offset, 8, "box header"))
        box_type = _fourcc(raw_type)
        if count == 1 and box_type not in _FIRST_BOXES:
            raise Mp4Unreadable(f"not an MP4: the file starts with {box_type!r}, not an ftyp box")
        if not _printable(raw_type):
            raise Mp4Unreadable(f"box at byte {offset} has an invalid type {box_type!r}: corrupt file")
        header = 8
        if box_size == 1:
            if remaining < 16:
                raise Mp4Unreadable(f"truncated 64-bit box header of {box_type!r} at byte {offset}")
            (box_size,) = struct.unpack(">Q", _read_exact(read, offset + 8, 8, "64-bit box size"))
            header = 16
        elif box_size == 0:
            box_size = remaining  # the last box, to the end of the file
        if box_size < header:
            raise Mp4Unreadable(f"box {box_type!r} at byte {offset} declares {box_size} bytes, less than its header")
        if box_size > remaining:
            raise Mp4Unreadable(
                f"box {box_type!r} at byte {offset} declares {box_size} bytes but only {remaining} remain"
                " (truncated file?)"
            )
        if box_type == "moov" and moov_at is None:
            moov_at, moov_size = offset, box_size
        elif box_type == "mdat" and mdat_at is None:
            mdat_at = offset
        offset += box_size
    return moov_at, moov_size, mdat_at


def _read_exact(read: Reader, offset: int, length: int, what: str) -> bytes:
    data = read(offset, length)
    if len(data) < length:
        raise Mp4Unreadable(f"the file ended at byte {offset + len(data)} while reading the {what} at byte {offset}")
    return data[:length]


# ---- inside moov: an in-memory walk along fixed paths ---------------------------------------


def _parse_moov(moov: bytes) -> dict:
    header = 16 if struct.unpack_from(">I", moov)[0] == 1 else 8
    children = _children(moov, header, len(moov), "moov")
    mvhd = _first(children, "mvhd")
    if mvhd is None:
        raise Mp4Unreadable("moov box has no mvhd (movie header)")
    timescale, duration = _timescale_and_duration(moov, mvhd, "moov/mvhd")
    tracks = [_parse_trak(moov, start, end) for box_type, start, end in children if box_type == "trak"]

    duration_s = duration / timescale if timescale and duration else 0.0
    if duration_s == 0.0:
        duration_s = max((track["duration_s"] for track in tracks), default=0.0)

    def first(handlers: frozenset[str]) -> dict | None:
        return next((track for track in tracks if track["handler"] in handlers), None)

    video, audio, subtitle = first(VIDEO_HANDLERS), first(AUDIO_HANDLERS), first(SUBTITLE_HANDLERS)
    width = height = None
    if video:
        width, height = video["tkhd_size"]
        if not (width and height):
            width, height = video["entry_size"]
    return {
        "duration_s": duration_s,
        "video_codec": video["codec"] if video else None,
        "width": width or None,
        "height": height or None,
        "audio_codec": audio["codec"] if audio else None,
        "subtitle_codec": subtitle["codec"] if subtitle else None,
    }


def _parse_trak(data: bytes, start: int, end: int) -> dict:
    trak = _children(data, start, end, "moov/trak")
    track = {"handler": None, "codec": None, "duration_s": 0.0, "tkhd_size": (None, None), "entry_size": (None, None)}
    tkhd = _first(trak, "tkhd")
    if tkhd is not None:
        track["tkhd_size"] = _tkhd_size(data, tkhd)
    mdia = _first(trak, "mdia")
    if mdia is None:
        return track
    mdia_children = _children(data, mdia[1], mdia[2], "moov/trak/mdia")
    mdhd = _first(mdia_children, "mdhd")
    if mdhd is not None:
        timescale, duration = _timescale_and_duration(data, mdhd, "moov/trak/mdia/mdhd")
        track["duration_s"] = duration / timescale if timescale else 0.0
    hdlr = _first(mdia_children, "hdlr")
    if hdlr is not None:
        _, payload, box_end = hdlr
        _require(payload + 12, box_end, "moov/trak/mdia/hdlr")
        track["handler"] = _fourcc(data[payload + 8 : payload + 12])
    stsd = _descend(data, mdia_children, ["minf", "stbl", "stsd"], "moov/trak/mdia")
    if stsd is not None:
        track["codec"], track["entry_size"] = _first_sample_entry(data, stsd, track["handler"])
    return track


def _first_sample_entry(data: bytes, stsd: tuple[str, int, int], handler: str | None):
    _, payload, end = stsd
    _require(payload + 8, end, "moov/trak/mdia/minf/stbl/stsd")
    (entry_count,) = struct.unpack_from(">I", data, payload + 4)
    if entry_count == 0:
        return None, (None, None)
    entries = _children(data, payload + 8, end, "moov/trak/mdia/minf/stbl/stsd")
    if not entries:
        return None, (None, None)
    codec, entry, entry_end = entries[0]
    size = (None, None)
    # A visual sample entry: 6 reserved, data reference index, 16 pre-defined, then width and height.
    if handler in VIDEO_HANDLERS and entry + 28 <= entry_end:
        size = struct.unpack_from(">HH", data, entry + 24)
    return codec, size


def _tkhd_size(data: bytes, tkhd: tuple[str, int, int]) -> tuple[int, int]:
    _, payload, end = tkhd
    version = _version(data, payload, end, "moov/trak/tkhd")
    # After version/flags: times, track id, reserved, duration (20 or 32 bytes), then
    # 8 reserved, layer, alternate group, volume, 2 reserved, the 36-byte matrix: 52 bytes.
    at = payload + 4 + (20 if version == 0 else 32) + 52
    _require(at + 8, end, "moov/trak/tkhd")
    width, height = struct.unpack_from(">II", data, at)
    return round(width / 65536), round(height / 65536)  # 16.16 fixed point


def _timescale_and_duration(data: bytes, box: tuple[str, int, int], path: str) -> tuple[int, int]:
    """mvhd and mdhd share a layout: version/flags, two times, timescale, duration."""
    _, payload, end = box
    version = _version(data, payload, end, path)
    if version == 0:
        _require(payload + 20, end, path)
        timescale, duration = struct.unpack_from(">II", data, payload + 12)
    else:
        _require(payload + 32, end, path)
        timescale, duration = struct.unpack_from(">IQ", data, payload + 20)
    return timescale, 0 if duration in _UNKNOWN_DURATION else duration


def _version(data: bytes, payload: int, end: int, path: str) -> int:
    _require(payload + 4, end, path)
    version = data[payload]
    if version > 1:
        raise Mp4Unreadable(f"box {path!r} has version {version}; only 0 and 1 exist")
    return version


def _children(data: bytes, start: int, end: int, path: str) -> list[tuple[str, int, int]]:
    """(type, payload start, end) of each box in data[start:end], each checked to fit its parent."""
    boxes, offset = [], start
    while offset < end:
        if end - offset < 8:
            raise Mp4Unreadable(f"truncated box header inside {path!r} at moov byte {offset}")
        box_size, raw_type = struct.unpack_from(">I4s", data, offset)
        box_type, header = _fourcc(raw_type), 8
        if box_size == 1:
            if end - offset < 16:
                raise Mp4Unreadable(f"truncated 64-bit box header of {box_type!r} inside {path!r}")
            (box_size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif box_size == 0:
            raise Mp4Unreadable(f"box {box_type!r} inside {path!r} has size 0, which only a top-level box may have")
        if box_size < header:
            raise Mp4Unreadable(f"box {box_type!r} inside {path!r} declares {box_size} bytes, less than its header")
        if offset + box_size > end:
            raise Mp4Unreadable(
                f"box {box_type!r} inside {path!r} declares {box_size} bytes, past the end of {path!r}"
            )
        boxes.append((box_type, offset + header, offset + box_size))
        offset += box_size
    return boxes


def _descend(data: bytes, boxes: list[tuple[str, int, int]], names: list[str], path: str):
    box = None
    for name in names:
        box = _first(boxes, name)
        if box is None:
            return None
        path = f"{path}/{name}"
        if name != names[-1]:
            boxes = _children(data, box[1], box[2], path)
    return box


def _first(boxes: list[tuple[str, int, int]], name: str) -> tuple[str, int, int] | None:
    return next((box for box in boxes if box[0] == name), None)


def _require(needed_end: int, end: int, path: str) -> None:
    if needed_end > end:
        raise Mp4Unreadable(f"box {path!r} is too short for its fields")


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def _printable(raw: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in raw)
