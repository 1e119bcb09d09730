"""Which audio track has sound: a cheap level check of the transcription WAVs MediaConvert wrote.

MediaConvert's Probe lists a file's audio tracks but says nothing of their loudness, so a
first track that is silent (a camera's unplugged second microphone, a screen recorder's
muted system audio) cannot be told apart before the job. build_mediaconvert_job therefore
asks for one mono 16-bit WAV per audio track, and this module reads a few short windows of
each (ranged GETs, no decoding: a 3-hour WAV costs the same 33 requests as a 3-second one)
and keeps the first track, in MediaConvert's order, whose loudest window is above
SILENCE_DBFS. The job's loudness correction leaves audio below its gate alone, so silence
and hiss are still silent here. If no track has sound, the first is kept, as before.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

from botocore.exceptions import ClientError

from lambdas.common.errors import DerivativeMissing
from lambdas.common.models import AudioCandidate

# Quieter than this everywhere is silence (AWS's silent-track detection uses the same -50 dB).
SILENCE_DBFS = -50.0
WINDOWS = 32
WINDOW_S = 0.25
_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class AudioChoice:
    track: int
    key: str
    levels_dbfs: dict[int, float]  # the loudest sampled window of each track

    @property
    def silent_tracks(self) -> list[int]:
        return [track for track, level in self.levels_dbfs.items() if level <= SILENCE_DBFS]


def choose_audio(s3, bucket: str, candidates: list[AudioCandidate]) -> AudioChoice:
    """The first candidate with sound (or the first of all, when none has)."""
    levels = {candidate.track: wav_level_dbfs(s3, bucket, candidate.key) for candidate in candidates}
    chosen = next((c for c in candidates if levels[c.track] > SILENCE_DBFS), candidates[0])
    return AudioChoice(track=chosen.track, key=chosen.key, levels_dbfs=levels)


def wav_level_dbfs(s3, bucket: str, key: str) -> float:
    """The RMS level of the loudest of WINDOWS evenly spaced windows of a 16-bit PCM WAV, in dBFS."""
    read, size = _reader(s3, bucket, key)
    data_offset, data_size, frame_bytes, rate = _pcm_layout(read(0, _HEADER_BYTES), key)
    data_size = min(data_size, size - data_offset)
    window_bytes = max(frame_bytes, int(rate * WINDOW_S) * frame_bytes)
    if data_size <= WINDOWS * window_bytes:
        spans = [(data_offset, data_size)]
    else:
        step = (data_size - window_bytes) // (WINDOWS - 1)
        spans = [(data_offset + (i * step) // frame_bytes * frame_bytes, window_bytes) for i in range(WINDOWS)]
    return max((_rms_dbfs(read(offset, length)) for offset, length in spans), default=-math.inf)


def _reader(s3, bucket: str, key: str):
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
            raise DerivativeMissing(f"The audio was not written (expected s3://{bucket}/{key}).") from error
        raise
    size = head["ContentLength"]

    def read(offset: int, length: int) -> bytes:
        end = min(offset + length, size) - 1
        if length <= 0 or end < offset:
            return b""
        return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{end}", IfMatch=head["ETag"])[
            "Body"].read()

    return read, size


def _pcm_layout(header: bytes, key: str) -> tuple[int, int, int, int]:
    """(data offset, data size, bytes per frame, sample rate) of a RIFF/WAVE file of 16-bit PCM."""
    if header[:4] not in (b"RIFF", b"RF64") or header[8:12] != b"WAVE":
        raise DerivativeMissing(f"The audio {key} is not a WAV file.")
    position, channels, rate, bits = 12, 0, 0, 0
    while position + 8 <= len(header):
        chunk, size = header[position:position + 4], struct.unpack_from("<I", header, position + 4)[0]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", header, position + 8)
        elif chunk == b"data":
            if bits != 16 or channels < 1:
                raise DerivativeMissing(f"The audio {key} is not 16-bit PCM.")
            # RF64 and streamed WAVs leave the size at its maximum: the data runs to the end of the file.
            return position + 8, size if size not in (0, 0xFFFFFFFF) else 2**62, 2 * channels, rate
        position += 8 + size + (size & 1)
    raise DerivativeMissing(f"The audio {key} has no data chunk in its first {_HEADER_BYTES} bytes.")


def _rms_dbfs(data: bytes) -> float:
    samples = array("h")
    samples.frombytes(data[: len(data) // 2 * 2])
    if not samples:
        return -math.inf
    if struct.pack("=h", 1) != struct.pack("<h", 1):
        samples.byteswap()
    mean_square = sum(sample * sample for sample in samples) / len(samples)
    return 10 * math.log10(mean_square / 32768**2) if mean_square else -math.inf
