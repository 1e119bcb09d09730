"""Files over HTTP: content types for what a job exports, and single byte ranges so a <video> can seek."""

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

CONTENT_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
    ".wav": "audio/wav", ".m4a": "audio/mp4", ".mp3": "audio/mpeg",
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".vtt": "text/vtt; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json", ".jsonl": "application/x-ndjson",
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8", ".ico": "image/x-icon",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    pass


@dataclass(frozen=True)
class Slice:
    start: int
    end: int  # inclusive
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def byte_range(header: str | None, size: int) -> Slice:
    """The part of a `size`-byte file a Range header asks for (RFC 9110, one range).

    No header, a unit other than bytes, or several ranges: the whole file (a server may ignore
    a Range it does not support). A range that starts past the end: RangeNotSatisfiable.
    """
    whole = Slice(0, size - 1, partial=False)
    if not header:
        return whole
    found = _RANGE.match(header.strip().replace(" ", ""))
    if not found or (not found.group(1) and not found.group(2)):
        return whole
    first, last = found.group(1), found.group(2)
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return Slice(max(0, size - suffix), size - 1, partial=True)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(header)
    return Slice(start, end, partial=True)


def inside(root: Path, relative: str) -> Path | None:
    """`root/relative` when it is a file inside root (no `..`, no symlink out), else None."""
    if not relative or "\0" in relative:
        return None
    root = root.resolve()
    try:
        candidate = (root / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
