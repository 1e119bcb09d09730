"""validate_upload: decide from the key and the first bytes whether an upload is worth probing.

Nothing here decodes media. The checks are cheap and deterministic, so a PDF renamed to
`.mp4`, an empty file or a key crafted to escape its prefix is rejected with a clear reason
before MediaConvert is paid to look at it. The original is only read (HeadObject and one
ranged GetObject, both pinned to the uploaded version), never written or copied.
"""

import codecs
import hashlib
import unicodedata

from botocore.exceptions import ClientError

from lambdas.common import constants
from lambdas.common.errors import EmptyUpload, NotAVideo, SourceMissing, UnsafeKey
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, SourceObject, UploadCheck

# Enough for every container signature below (an MXF run-in may be up to 64 KiB), small
# enough that validating a 20 GiB upload costs one small request.
SNIFF_BYTES = 64 * 1024

# S3 answers these for "no such object / version": a deleted upload, a delete marker (405),
# or an event that arrived for a version that is already gone.
_MISSING_CODES = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "405", "MethodNotAllowed"}


def validate_upload(request: JobRequest, s3, events: EventLog) -> UploadCheck:
    source = request.source
    check_key(source.key)
    size_bytes = _size_of(source, s3)
    if size_bytes == 0:
        raise EmptyUpload("The file is empty (0 bytes).")
    head = _first_bytes(source, s3)
    detected_format = sniff_container(head)
    check = UploadCheck(
        size_bytes=size_bytes,
        detected_format=detected_format,
        content_sha256_prefix=hashlib.sha256(head).hexdigest(),
    )
    events.append(request.job_id, "upload.validated", "ValidateUpload",
                  detected_format=detected_format, size_bytes=size_bytes)
    return check


def check_key(key: str) -> None:
    """Reject keys that could escape their prefix or break the tools that handle them later.

    Spaces, unicode, `+`, `%`, parentheses and the like are ordinary file names and pass:
    the key arrives already URL-decoded, so a literal `%` is part of the name.
    """
    if len(key) > constants.MAX_KEY_LENGTH:
        raise UnsafeKey(
            f"The file name is too long ({len(key)} characters; the limit is {constants.MAX_KEY_LENGTH})."
        )
    control = next((char for char in key if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise UnsafeKey(f"The file name contains a control character (U+{ord(control):04X}).")
    if key.startswith("/"):
        raise UnsafeKey("The file key starts with '/', which is not allowed.")
    # Backslash counts as a separator here too: a key written on Windows as `..\..\x` would
    # otherwise slip through and escape its folder when the local mode writes files.
    segments = key.replace("\\", "/").split("/")
    if any(segment in (".", "..") for segment in segments):
        raise UnsafeKey("The file key contains a '.' or '..' path segment, which is not allowed.")
    if not key.startswith(constants.INGEST_PREFIX):
        raise UnsafeKey(f"The file is not under the upload folder '{constants.INGEST_PREFIX}'.")
    if key.endswith("/"):
        raise UnsafeKey("The key names a folder, not a file.")


def _size_of(source: SourceObject, s3) -> int:
    try:
        head = s3.head_object(**source.get_args())
    except ClientError as error:
        _raise_if_missing(error, source)
        raise
    return int(head["ContentLength"])


def _first_bytes(source: SourceObject, s3) -> bytes:
    try:
        response = s3.get_object(**source.get_args(), Range=f"bytes=0-{SNIFF_BYTES - 1}")
    except ClientError as error:
        _raise_if_missing(error, source)
        raise
    with response["Body"] as body:
        return body.read(SNIFF_BYTES)


def _raise_if_missing(error: ClientError, source: SourceObject) -> None:
    code = error.response.get("Error", {}).get("Code", "")
    if code in _MISSING_CODES:
        raise SourceMissing(
            f"The uploaded file '{source.name}' is no longer there (it was deleted or replaced)."
        ) from error


# --- container sniffing ---------------------------------------------------------------

_ASF_GUID = bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C")
# SMPTE 377 partition pack key, up to the byte that varies with the partition kind.
_MXF_PARTITION_KEY = bytes.fromhex("060E2B34020501010D01020101")
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# ftyp brands of still images (HEIC/AVIF photos): ISO-BMFF, but not video.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}


def sniff_container(head: bytes) -> str:
    """The container the first bytes belong to, or NotAVideo saying what they look like.

    Names follow MediaConvert's Probe `Format` vocabulary where it has one (mp4, quicktime,
    matroska, webm, avi, mpegts, mpegps, asf, ogg, mxf, three_gp), so the two agree.

    Only content decides: the file name and extension are never consulted, because a user
    can name anything `.mp4`. A playlist is refused first, whatever else its bytes contain: it
    names other files and URLs, which a decoder would go and read.
    """
    playlist = _playlist_kind(head)
    if playlist:
        raise NotAVideo(
            f"The file is {playlist}: a list of other files or addresses, not a video. Upload the video file itself."
        )
    container = _video_container(head)
    if container:
        return container
    looks_like = _what_else(head)
    if looks_like:
        raise NotAVideo(f"The file looks like {looks_like}, not a video.")
    raise NotAVideo("The file is not in a video format this service recognises.")


def _video_container(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return None
        if brand == b"qt  ":
            return "quicktime"
        if brand[:3] == b"3gp":
            return "three_gp"
        if brand[:3] == b"3g2":
            return "three_g2"
        return "mp4"
    # Old QuickTime files start straight with an atom; its 32-bit size must be plausible.
    if head[4:8] in _QUICKTIME_ATOMS:
        size = int.from_bytes(head[:4], "big")
        if size in (0, 1) or size >= 8:  # 0: to end of file, 1: 64-bit size follows
            return "quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # The EBML header near the start names the DocType.
        return "webm" if b"webm" in head[:64] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    # M2TS (Blu-ray, AVCHD camcorders) prefixes each 188-byte packet with a 4-byte timestamp;
    # it is still MPEG-TS to every tool downstream.
    if _mpegts_synced(head, packet_size=188, offset=0) or _mpegts_synced(head, packet_size=192, offset=4):
        return "mpegts"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpegps"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(_ASF_GUID):
        return "asf"
    if head.startswith(b"OggS"):
        return "ogg"
    if _is_mxf(head):
        return "mxf"
    return _annex_b(head)


def _is_mxf(head: bytes) -> bool:
    """The header partition pack at the start, or after a run-in (binary, under 64 KiB, SMPTE 377).

    A run-in never contains the key (the spec forbids it), so the first occurrence is the header;
    text before it is not a run-in but a text file carrying the bytes, e.g. in a comment.
    """
    at = head.find(_MXF_PARTITION_KEY)
    return at == 0 or (at > 0 and _text_kind(head[:at]) is None)


_PLAYLISTS = [
    (b"#EXTM3U", "an HLS playlist (.m3u8)"),
    (b"ffconcat version", "an ffconcat playlist"),
    (b"[playlist]", "a PLS playlist"),
    (b"<MPD", "a DASH manifest (.mpd)"),
]


def _playlist_kind(head: bytes) -> str | None:
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    for magic, description in _PLAYLISTS:
        if start.startswith(magic):
            return description
    if start.startswith(b"<?xml") and b"<MPD" in head[:1024]:
        return "a DASH manifest (.mpd)"
    if start.startswith((b"v=0\r\n", b"v=0\n")):
        return "an SDP session description"
    return None


def _mpegts_synced(head: bytes, packet_size: int, offset: int) -> bool:
    """The 0x47 sync byte at the start of every packet: three in a row at least, five if present."""
    positions = [offset + packet_size * index for index in range(5)]
    present = [position for position in positions if position < len(head)]
    return len(present) >= 3 and all(head[position] == 0x47 for position in present)


def _annex_b(head: bytes) -> str | None:
    """A raw H.264 or HEVC elementary stream: a start code, then a parameter set or delimiter."""
    for start_code in (b"\x00\x00\x00\x01", b"\x00\x00\x01"):
        if head.startswith(start_code) and len(head) > len(start_code) + 1:
            nal = head[len(start_code)]
            if nal & 0x80:
                return None
            if nal & 0x1F in (7, 9):  # H.264 sequence parameter set, access unit delimiter
                return "h264"
            if (nal >> 1) & 0x3F in (32, 35) and head[len(start_code) + 1] == 0x01:  # HEVC VPS, AUD
                return "hevc"
    return None


def _what_else(head: bytes) -> str | None:
    """A short description of a common non-video file, for the rejection message."""
    signatures = [
        (b"%PDF-", "a PDF document"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"GIF87a", "a GIF image"),
        (b"GIF89a", "a GIF image"),
        (b"II*\x00", "a TIFF image"),
        (b"MM\x00*", "a TIFF image"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"Rar!\x1a\x07", "a RAR archive"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"ID3", "an MP3 audio file"),
        (b"fLaC", "a FLAC audio file"),
        (b"#!AMR", "an AMR audio file"),
        (b"\x7fELF", "a program"),
        (b"\xff\xfe", "a text file (UTF-16)"),
        (b"\xfe\xff", "a text file (UTF-16)"),
    ]
    for magic, description in signatures:
        if head.startswith(magic):
            return description
    if head[:4] == b"RIFF":
        return {b"WAVE": "a WAV audio file", b"WEBP": "a WebP image"}.get(head[8:12])
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "an AIFF audio file"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIC/AVIF image"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync; ADTS (raw AAC) sets layer bits 00.
        return "an AAC audio file" if head[1] & 0xF6 == 0xF0 else "an MP3 audio file"
    return _text_kind(head)


def _text_kind(head: bytes) -> str | None:
    try:
        # Not final: a multi-byte character cut at the chunk's end is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    printable = sum(char.isprintable() or char in "\r\n\t" for char in text)
    if not text or printable < 0.95 * len(text):
        return None
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return "a web page (HTML)"
    if start.startswith("<?xml"):
        return "an XML document"
    return "a text file"
