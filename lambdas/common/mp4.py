"""Facts about an MP4 (ISO-BMFF) file from its index alone, with the standard library only.

A Lambda without ffmpeg checks a rendered clip in S3 with this (duration, codecs, size,
faststart) from box headers and the moov, a few ranged GETs: never the media data.
`read_mp4_extent` measures an upload the same way: its real length from the sample tables
(the header's duration is one editable field), and whether the file holds every byte its
index points at (a fast-start file cut short keeps its index; MediaConvert's Probe reads only that).
Every size is checked against its parent before anything is read, so a damaged or hostile
file ends in `Mp4Unreadable` with a one-line reason, never a loop or a read past the end.
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
# Top-level boxes that only a fragmented file has: its samples live in them, not in the moov.
_FRAGMENT_BOXES = frozenset({"moof", "sidx", "styp", "mfra"})


@dataclass(frozen=True)
class Mp4Facts:
    duration_s: float
    video_codec: str | None  # first sample entry of the first video track: 'avc1', 'avc3', 'hvc1', ...
    width: int | None  # displayed size (tkhd), else the sample entry's coded size
    height: int | None
    audio_codec: str | None  # 'mp4a' for AAC
    subtitle_codec: str | None  # 'tx3g' for mov_text
    faststart: bool  # moov precedes mdat (also True when there is no mdat)


@dataclass(frozen=True)
class Mp4Extent:
    stated_duration_s: float  # mvhd: what a prober reports (0 when unknown)
    duration_s: float | None  # measured from each track's samples (or edit list); None when fragmented
    media_end: int  # the byte just past the last sample any track points at (0 when none)
    fragmented: bool  # moof fragments hold the samples; the moov's tables are empty


def length_tolerance_s(stated_s: float) -> float:
    """How far a measured length may stray from a stated one and still be the same media (1 s or 1 %)."""
    return max(1.0, 0.01 * stated_s)


class Mp4Unreadable(Exception):
    """The file is not an MP4 this reader can index; the message is a one-line reason."""


class Mp4Truncated(Mp4Unreadable):
    """The file ends before the boxes or the media its own headers promise."""


def read_mp4_facts(read: Reader, size: int) -> Mp4Facts:
    """Facts from the moov box of the `size`-byte file that `read(offset, length)` returns."""
    moov, moov_at, mdat_at = _find_moov(read, size)
    return Mp4Facts(**_parse_moov(moov), faststart=mdat_at is None or moov_at < mdat_at)


def read_mp4_extent(read: Reader, size: int) -> Mp4Extent:
    """The measured length of the `size`-byte file and where its media ends; Mp4Truncated if past `size`.

    A fragmented file is recognised at its first fragment and not walked further (its samples are
    spread over thousands of moof boxes): it is reported with no measured duration.
    """
    extent = measure_moov(_find_moov(read, size, stop_at_fragment=True)[0])
    if extent.media_end > size:
        raise Mp4Truncated(
            f"the index points at media up to byte {extent.media_end:,} but the file ends at byte {size:,}"
        )
    return extent


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


def _find_moov(read: Reader, size: int, stop_at_fragment: bool = False) -> tuple[bytes, int, int | None]:
    """(the moov box, its offset, the first mdat's offset), every top-level box checked to fit the file."""
    if size <= 0:
        raise Mp4Unreadable("not an MP4: the file is empty")
    moov_at, moov_size, mdat_at = None, 0, None
    for box_type, offset, box_size in _top_level_boxes(read, size):
        if box_type == "moov" and moov_at is None:
            moov_at, moov_size = offset, box_size
        elif box_type == "mdat" and mdat_at is None:
            mdat_at = offset
        elif stop_at_fragment and box_type in _FRAGMENT_BOXES:
            break
    if moov_at is None:
        raise Mp4Unreadable("no moov box: the file has no index (an interrupted or still-running write?)")
    if moov_size > MAX_MOOV_BYTES:
        raise Mp4Unreadable(f"moov box is {moov_size} bytes, more than the {MAX_MOOV_BYTES} this reader accepts")
    return _read_exact(read, moov_at, moov_size, "moov box"), moov_at, mdat_at


def _top_level_boxes(read: Reader, size: int):
    """(type, offset, size) of each top-level box, each checked to fit the file before the next is read."""
    offset, count = 0, 0
    while offset < size:
        count += 1
        if count > MAX_TOP_LEVEL_BOXES:
            raise Mp4Unreadable(f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes; not a plain MP4")
        remaining = size - offset
        if remaining < 8:
            raise Mp4Truncated(f"truncated box header at byte {offset}: {remaining} bytes left, 8 needed")
        box_size, raw_type = struct.unpack(">I4s", _read_exact(read, offset, 8, "box header"))
        box_type = _fourcc(raw_type)
        if count == 1 and box_type not in _FIRST_BOXES:
            raise Mp4Unreadable(f"not an MP4: the file starts with {box_type!r}, not an ftyp box")
        if not _printable(raw_type):
            raise Mp4Unreadable(f"box at byte {offset} has an invalid type {box_type!r}: corrupt file")
        header = 8
        if box_size == 1:
            if remaining < 16:
                raise Mp4Truncated(f"truncated 64-bit box header of {box_type!r} at byte {offset}")
            (box_size,) = struct.unpack(">Q", _read_exact(read, offset + 8, 8, "64-bit box size"))
            header = 16
        elif box_size == 0:
            box_size = remaining  # the last box, to the end of the file
        if box_size < header:
            raise Mp4Unreadable(f"box {box_type!r} at byte {offset} declares {box_size} bytes, less than its header")
        if box_size > remaining:
            raise Mp4Truncated(
                f"box {box_type!r} at byte {offset} declares {box_size} bytes but only {remaining} remain"
                " (truncated file?)"
            )
        yield box_type, offset, box_size
        offset += box_size


def _read_exact(read: Reader, offset: int, length: int, what: str) -> bytes:
    data = read(offset, length)
    if len(data) < length:
        raise Mp4Unreadable(f"the file ended at byte {offset + len(data)} while reading the {what} at byte {offset}")
    return data[:length]


# ---- inside moov: an in-memory walk along fixed paths ---------------------------------------


def _movie(moov: bytes) -> tuple[list[tuple[str, int, int]], int, int]:
    """The moov's children, and its movie header's timescale and duration."""
    header = 16 if struct.unpack_from(">I", moov)[0] == 1 else 8
    children = _children(moov, header, len(moov), "moov")
    mvhd = _first(children, "mvhd")
    if mvhd is None:
        raise Mp4Unreadable("moov box has no mvhd (movie header)")
    return children, *_timescale_and_duration(moov, mvhd, "moov/mvhd")


def _parse_moov(moov: bytes) -> dict:
    children, timescale, duration = _movie(moov)
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


def measure_moov(moov: bytes) -> Mp4Extent:
    """The movie's length measured from each track's samples, and the end of the media they point at.

    A track lasts as long as its edit list says (what players and MediaConvert present), or, without
    one, as long as its samples' durations add up to; the movie lasts as long as its longest track.
    """
    children, movie_timescale, movie_duration = _movie(moov)
    stated_s = movie_duration / movie_timescale if movie_timescale else 0.0
    if _first(children, "mvex") is not None:
        return Mp4Extent(stated_duration_s=stated_s, duration_s=None, media_end=0, fragmented=True)
    tracks = [_measure_trak(moov, start, end, movie_timescale) for kind, start, end in children if kind == "trak"]
    return Mp4Extent(stated_duration_s=stated_s, duration_s=max((length for length, _ in tracks), default=0.0),
                     media_end=max((end for _, end in tracks), default=0), fragmented=False)


def _measure_trak(data: bytes, start: int, end: int, movie_timescale: int) -> tuple[float, int]:
    """(presented seconds, end of the track's last chunk) of one track."""
    trak = _children(data, start, end, "moov/trak")
    edited = _edit_list_units(data, trak)
    mdia = _first(trak, "mdia")
    if mdia is None:
        return (edited / movie_timescale if edited and movie_timescale else 0.0), 0
    mdia_children = _children(data, mdia[1], mdia[2], "moov/trak/mdia")
    mdhd = _first(mdia_children, "mdhd")
    timescale = _timescale_and_duration(data, mdhd, "moov/trak/mdia/mdhd")[0] if mdhd else 0
    stbl = _descend(data, mdia_children, ["minf", "stbl"], "moov/trak/mdia")
    tables = {} if stbl is None else {box[0]: box for box in _children(data, stbl[1], stbl[2], "moov/trak/mdia/minf/stbl")}
    if edited and movie_timescale:
        length_s = edited / movie_timescale
    else:
        length_s = _sample_units(data, tables.get("stts")) / timescale if timescale else 0.0
    return length_s, _media_end(data, tables)


def _edit_list_units(data: bytes, trak: list[tuple[str, int, int]]) -> int:
    """The total of the track's edit list segments, in the movie's timescale (0: no edit list)."""
    elst = _descend(data, trak, ["edts", "elst"], "moov/trak")
    if elst is None:
        return 0
    _, payload, end = elst
    step, entry_format = (20, ">Q") if _version(data, payload, end, "elst") else (12, ">I")
    count = _entry_count(data, payload, end, step, "elst")
    return sum(struct.unpack_from(entry_format, data, payload + 8 + index * step)[0] for index in range(count))


def _sample_units(data: bytes, stts: tuple[str, int, int] | None) -> int:
    """The sum of the samples' durations (time-to-sample table), in the media's timescale."""
    if stts is None:
        return 0
    _, payload, end = stts
    count = _entry_count(data, payload, end, 8, "stts")
    runs = struct.unpack_from(f">{2 * count}I", data, payload + 8)
    return sum(runs[index] * runs[index + 1] for index in range(0, len(runs), 2))


def _media_end(data: bytes, tables: dict[str, tuple[str, int, int]]) -> int:
    """The byte just past the track's last sample: each chunk's offset plus the sizes of its samples."""
    offsets_box = tables.get("stco") or tables.get("co64")
    if offsets_box is None or "stsz" not in tables or "stsc" not in tables:
        return 0
    kind, payload, end = offsets_box
    width = 8 if kind == "co64" else 4
    chunk_count = _entry_count(data, payload, end, width, kind)
    offsets = struct.unpack_from(f">{chunk_count}{'Q' if width == 8 else 'I'}", data, payload + 8)
    _, payload, end = tables["stsz"]
    _require(payload + 12, end, "stsz")
    uniform_size, sample_count = struct.unpack_from(">II", data, payload + 4)
    if uniform_size == 0:
        _require(payload + 12 + 4 * sample_count, end, "stsz")
        sizes = struct.unpack_from(f">{sample_count}I", data, payload + 12)
    _, payload, end = tables["stsc"]
    run_count = _entry_count(data, payload, end, 12, "stsc")
    runs = struct.unpack_from(f">{3 * run_count}I", data, payload + 8)
    media_end, sample = 0, 0
    for run in range(run_count):
        first_chunk, per_chunk = runs[3 * run], runs[3 * run + 1]
        last_chunk = runs[3 * (run + 1)] - 1 if run + 1 < run_count else chunk_count
        if first_chunk < 1 or last_chunk > chunk_count or first_chunk > last_chunk + 1:
            raise Mp4Unreadable(f"sample-to-chunk table names chunks {first_chunk}-{last_chunk} of {chunk_count}")
        for chunk in range(first_chunk - 1, last_chunk):
            taken = min(per_chunk, sample_count - sample)
            if taken <= 0:
                return media_end
            chunk_bytes = uniform_size * taken if uniform_size else sum(sizes[sample : sample + taken])
            media_end = max(media_end, offsets[chunk] + chunk_bytes)
            sample += taken
    return media_end


def _entry_count(data: bytes, payload: int, end: int, entry_size: int, path: str) -> int:
    """A full box's entry count, checked against the box: the entries must fit inside it."""
    _require(payload + 8, end, path)
    (count,) = struct.unpack_from(">I", data, payload + 4)
    _require(payload + 8 + count * entry_size, end, path)
    return count


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
