"""The proxy, read over a time range at reduced size: every frame, small, with its index.

The frame worker reads only the part of the proxy its chunk covers (plus the context the cut
detector needs): the file is opened through `S3RangeFile`, which reads it in RANGE_BYTES
pieces with ranged GetObject calls as the demuxer seeks, so a child of a four-hour video
fetches a few megabytes, not the whole proxy, and every read is an S3 call the job role
authorizes. Decoding is FFmpeg's, through PyAV (its wheel carries the libraries): one thread
(a Batch child has one vCPU), the H.264 loop filter skipped (it smooths block edges, invisible
at 128 px and a quarter of the decoding time), each picture scaled by swscale straight to
WORK_WIDTH_PX wide. A frame's index is its presentation time times the frame rate, so every
chunk numbers the frames of the video alike.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

RANGE_BYTES = 4 * 1024 * 1024
CACHED_RANGES = 4


class ProxyUnreadable(Exception):
    """The proxy is not a video PyAV can decode."""


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable file over one S3 object, fetched in ranges as it is read."""

    def __init__(self, get_range: Callable[[int, int], bytes], size: int, range_bytes: int = RANGE_BYTES):
        super().__init__()
        self._get_range = get_range  # (first byte, last byte inclusive) -> bytes
        self._size = size
        self._range_bytes = range_bytes
        self._position = 0
        self._ranges: OrderedDict[int, bytes] = OrderedDict()
        self.requests = 0

    @classmethod
    def for_object(cls, s3, bucket: str, key: str, call=lambda action, what: action()) -> S3RangeFile:
        """`call(action, what)` wraps each S3 call (the worker's error sorting)."""
        where = f"s3://{bucket}/{key}"
        head = call(lambda: s3.head_object(Bucket=bucket, Key=key), f"reading the proxy {where}")
        etag = head["ETag"]

        def get_range(first: int, last: int) -> bytes:
            return call(lambda: s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}",
                                              IfMatch=etag)["Body"].read(), f"reading the proxy {where}")
        return cls(get_range, int(head["ContentLength"]))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        written = 0
        while written < len(view) and self._position < self._size:
            number, within = divmod(self._position, self._range_bytes)
            piece = self._range(number)[within:within + len(view) - written]
            if not piece:
                break
            view[written:written + len(piece)] = piece
            written += len(piece)
            self._position += len(piece)
        return written

    def _range(self, number: int) -> bytes:
        if number in self._ranges:
            self._ranges.move_to_end(number)
            return self._ranges[number]
        first = number * self._range_bytes
        data = self._get_range(first, min(self._size, first + self._range_bytes) - 1)
        self.requests += 1
        self._ranges[number] = data
        while len(self._ranges) > CACHED_RANGES:
            self._ranges.popitem(last=False)
        return data


class FullSize(Protocol):
    """What wants some frames of a pass at the proxy's own size, besides the small pictures it yields."""

    def wants(self, index: int) -> bool: ...

    def take(self, index: int, picture: np.ndarray) -> None: ...


class Proxy:
    """An open video: its frame rate, and its frames over any time range (see `frames`)."""

    def __init__(self, source):
        """`source`: a path or a seekable binary file (an S3RangeFile)."""
        try:
            self._container = av.open(source, mode="r")
        except (av.error.FFmpegError, ValueError) as error:
            raise ProxyUnreadable(f"not a readable video: {error}") from None
        if not self._container.streams.video:
            self._container.close()
            raise ProxyUnreadable("it has no video stream")
        self._stream = self._container.streams.video[0]
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        if not rate:
            self._container.close()
            raise ProxyUnreadable("it states no frame rate")
        self.rate = Fraction(rate)
        self.fps = float(self.rate)
        context = self._stream.codec_context
        context.thread_count = 1
        context.options = {"skip_loop_filter": "all"}
        self.width, self.height = context.width, context.height

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def index_at(self, seconds: float) -> int:
        """The index of the frame shown at `seconds` (the first frame at or after it)."""
        return round(Fraction(seconds) * self.rate)

    def frames(self, start_s: float, end_s: float | None, width: int,
               full_size: FullSize | None = None) -> Iterator[tuple[int, bool, np.ndarray]]:
        """(frame index, is the video's last frame, BGR picture `width` wide) for each frame in [start_s, end_s).

        `end_s` None reads to the end. `full_size`, if given, is also handed the frames it wants at the
        proxy's own size, from the same decoding (the mouths are read in the cut detector's pass). Call
        once per open Proxy: decoding goes forward only.
        """
        stream, container = self._stream, self._container
        height = max(2, int(round(width * self.height / self.width / 2)) * 2)
        time_base = stream.time_base
        origin = stream.start_time or 0
        if start_s > 0:
            container.seek(origin + int(start_s / time_base), stream=stream, backward=True, any_frame=False)
        first_index = self.index_at(start_s)
        last_index = None if end_s is None else self.index_at(end_s)
        reformatter = VideoReformatter()  # one scaler for all frames: making one costs more than scaling
        full_reformatter = VideoReformatter()  # and one for the full size, so neither is remade frame by frame
        pending = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                index = round((frame.pts - origin) * time_base * self.rate)
                if index < first_index:
                    continue
                if last_index is not None and index >= last_index:
                    break
                if full_size is not None and full_size.wants(index):
                    full_size.take(index, full_reformatter.reformat(frame, format="bgr24").to_ndarray())
                picture = reformatter.reformat(frame, width=width, height=height, format="bgr24",
                                               interpolation="AREA").to_ndarray()
                if pending is not None:
                    yield pending[0], False, pending[1]
                pending = (index, picture)
            else:
                if pending is not None:
                    yield pending[0], True, pending[1]
                    pending = None
        except av.error.FFmpegError as error:
            raise ProxyUnreadable(f"decoding failed: {error}") from None
        if pending is not None:
            yield pending[0], False, pending[1]
