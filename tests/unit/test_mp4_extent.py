"""mp4.read_mp4_extent: an upload's length measured from its sample tables (not its header), and
whether every byte its index points at is in the file. Real files are made with ffmpeg, then
cut or patched; a counting reader checks what is fetched.
"""

import random
import struct
import subprocess

import pytest

from lambdas.common.mp4 import Mp4Truncated, Mp4Unreadable, read_mp4_extent
from tests.media import make_duration_lie, make_video


def _remux(source, path, *options: str):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), *options,
                    str(path)], check=True, capture_output=True, timeout=60)
    return path


def _plain(path):
    return make_video(path, seconds=3, width=160, height=90)


MAKERS = {
    "plain.mp4": _plain,
    "faststart.mp4": lambda path: _remux(_plain(path.with_name("fs-source.mp4")), path, "-c", "copy",
                                         "-movflags", "+faststart"),
    "video_only.mp4": lambda path: make_video(path, seconds=3, width=160, height=90, audio=False),
    "mov.mov": lambda path: make_video(path, seconds=3, width=160, height=90, container="mov"),
}


@pytest.fixture(scope="module")
def clip(media):
    return lambda name: media(name, MAKERS[name])


class _CountingReader:
    """Serves bytes like S3 would and records every request."""

    def __init__(self, data: bytes):
        self.data, self.calls = data, []

    def __call__(self, offset: int, length: int) -> bytes:
        assert 0 <= offset and offset + length <= len(self.data), f"read({offset}, {length}) past {len(self.data)}"
        self.calls.append((offset, length))
        return self.data[offset : offset + length]


def _top_level(data: bytes) -> dict[str, tuple[int, int]]:
    """type -> (offset, size) of the top-level boxes of a well-formed file with 32-bit sizes."""
    boxes, offset = {}, 0
    while offset < len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        boxes.setdefault(kind.decode(), (offset, size))
        offset += size
    return boxes



def test_an_mp4_whose_header_claims_2_s_but_holds_8_is_measured_at_8_s(media):
    # Given a real 8 s file whose mvhd, tkhd and mdhd durations were rewritten to 2 s (ffprobe says 2 s)
    data = media("lying.mp4", make_duration_lie, seconds=8, claimed_s=2).read_bytes()

    # When its extent is read, then the header's claim and the samples' length are both known
    extent = read_mp4_extent(_CountingReader(data), len(data))
    assert extent.stated_duration_s == pytest.approx(2.0)
    assert extent.duration_s == pytest.approx(8.0, abs=0.05)


def test_an_edit_list_that_presents_2_s_of_8_is_measured_at_2_s(media):
    # Given the same lie, with each track's edit list also cut to 2 s: players (and ffmpeg) present 2 s
    data = bytearray(media("lying.mp4", make_duration_lie, seconds=8, claimed_s=2).read_bytes())
    for elst in _find_all(data, b"elst"):  # size, type, version/flags, entry count, then the first segment
        struct.pack_into(">I", data, elst + 16, 2 * 1000)  # version 0, in the movie timescale (1000)

    # When measured, then what is presented counts, not the samples the edit list skips
    assert read_mp4_extent(_CountingReader(bytes(data)), len(data)).duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["plain.mp4", "faststart.mp4", "video_only.mp4", "mov.mov"])
def test_a_whole_file_is_measured_at_its_stated_length_and_its_media_ends_inside_it(clip, name):
    data = clip(name).read_bytes()

    extent = read_mp4_extent(_CountingReader(data), len(data))

    assert extent.duration_s == pytest.approx(extent.stated_duration_s, abs=0.05)
    assert 0 < extent.media_end <= len(data) and not extent.fragmented


def test_a_faststart_file_cut_in_half_is_truncated(clip):
    data = clip("faststart.mp4").read_bytes()
    half = data[: len(data) // 2]

    with pytest.raises(Mp4Truncated, match=r"box 'mdat' at byte \d+ declares \d+ bytes but only \d+ remain"):
        read_mp4_extent(_CountingReader(half), len(half))


def test_a_cut_file_whose_mdat_runs_to_the_end_is_found_by_its_sample_tables(clip):
    # Given a faststart file whose mdat says size 0 ("to the end of the file"), cut in half: every box fits
    data = bytearray(clip("faststart.mp4").read_bytes())
    struct.pack_into(">I", data, _top_level(bytes(data))["mdat"][0], 0)
    half = bytes(data[: len(data) // 2])

    # When measured, then the chunk offsets and sample sizes show the media past the end
    with pytest.raises(Mp4Truncated, match=rf"up to byte {len(data):,} but the file ends at byte {len(half):,}"):
        read_mp4_extent(_CountingReader(half), len(half))


def test_a_chunk_offset_past_the_end_is_truncated(clip):
    # Given a whole file whose first track's first chunk is said to be far past the end
    data = bytearray(clip("faststart.mp4").read_bytes())
    stco = data.index(b"stco")
    struct.pack_into(">I", data, stco + 12, len(data) + 1000)

    with pytest.raises(Mp4Truncated, match="the index points at media up to byte"):
        read_mp4_extent(_CountingReader(bytes(data)), len(data))


def test_a_fragmented_file_is_recognised_at_its_first_fragment_and_not_measured(clip, tmp_path):
    data = _remux(clip("plain.mp4"), tmp_path / "fragmented.mp4", "-c", "copy", "-movflags",
                  "frag_keyframe+empty_moov").read_bytes()
    reader = _CountingReader(data)

    extent = read_mp4_extent(reader, len(data))

    assert (extent.fragmented, extent.duration_s) == (True, None)
    assert len(reader.calls) <= 4  # ftyp, moov's header, the moov, the first moof's header


def test_corrupted_index_bytes_make_the_extent_raise_only_mp4_unreadable(clip):
    data = clip("faststart.mp4").read_bytes()
    moov_at, moov_size = _top_level(data)["moov"]
    generator = random.Random(12)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(generator.randint(1, 4)):
            damaged[generator.randrange(moov_at, moov_at + moov_size)] = generator.randrange(256)
        try:
            read_mp4_extent(_CountingReader(bytes(damaged)), len(damaged))
        except Mp4Unreadable:
            pass


def _find_all(data: bytes, kind: bytes) -> list[int]:
    """Offsets of every box of `kind` (its size field) inside the moov."""
    moov_at, moov_size = _top_level(bytes(data))["moov"]
    found, at = [], data.find(kind, moov_at, moov_at + moov_size)
    while at >= 0:
        found.append(at - 4)
        at = data.find(kind, at + 1, moov_at + moov_size)
    return found
