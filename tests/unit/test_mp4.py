"""mp4: facts about a rendered clip from its moov box, checked against ffprobe on real files.

Real files are made with ffmpeg once per module; malformed ones are cut or patched from
them, or built box by box where ffmpeg never writes the case (version 1 headers, 64-bit
sizes). A counting reader checks what the reader fetches and stops a runaway loop.
"""

import json
import random
import struct
import subprocess

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.common.mp4 import MAX_MOOV_BYTES, Mp4Facts, Mp4Unreadable, local_reader, read_mp4_facts, s3_reader
from tests.media import make_video

SUBTITLES = "1\n00:00:00,000 --> 00:00:01,500\nHello\n\n2\n00:00:01,500 --> 00:00:03,000\nWorld\n"


# ---- media -------------------------------------------------------------------------------------


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def _remux(source, path, *options: str):
    _run("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), *options, str(path))
    return path


def _portrait(path):
    return make_video(path, seconds=3, width=540, height=960)


def _faststart(path):
    return _remux(_portrait(path.with_name("faststart-source.mp4")), path, "-c", "copy", "-movflags", "+faststart")


def _subtitled(path):
    srt = path.with_name("subtitles.srt")
    srt.write_text(SUBTITLES)
    source = _portrait(path.with_name("subtitled-source.mp4"))
    return _remux(source, path, "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text")


def _video_only(path):
    return make_video(path, seconds=3, width=540, height=960, audio=False)


def _full_hd_portrait(path):
    return make_video(path, seconds=3, width=1080, height=1920)


MAKERS = {
    "faststart.mp4": _faststart,
    "plain.mp4": _portrait,
    "subtitled.mp4": _subtitled,
    "video_only.mp4": _video_only,
    "full_hd_portrait.mp4": _full_hd_portrait,
}


@pytest.fixture(scope="module")
def clip(media):
    return lambda name: media(name, MAKERS[name])


def _ffprobe(path) -> dict:
    probe = json.loads(_run("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)))

    def first(kind: str) -> dict:
        return next((stream for stream in probe["streams"] if stream["codec_type"] == kind), {})

    return {"duration_s": float(probe["format"]["duration"]), "video": first("video"),
            "audio": first("audio"), "subtitle": first("subtitle")}


class _CountingReader:
    """Serves bytes like S3 would, records every request, and stops a runaway walk."""

    def __init__(self, data: bytes, max_calls: int = 10_000):
        self.data, self.max_calls, self.calls = data, max_calls, []

    def __call__(self, offset: int, length: int) -> bytes:
        assert 0 <= offset and offset + length <= len(self.data), f"read({offset}, {length}) past {len(self.data)}"
        self.calls.append((offset, length))
        assert len(self.calls) <= self.max_calls, "the reader kept reading: a loop that does not advance?"
        return self.data[offset : offset + length]

    @property
    def bytes_read(self) -> int:
        return sum(length for _, length in self.calls)


def _facts(data: bytes) -> Mp4Facts:
    return read_mp4_facts(_CountingReader(data), len(data))


def _unreadable(data: bytes) -> str:
    with pytest.raises(Mp4Unreadable) as raised:
        _facts(data)
    message = str(raised.value)
    assert message and "\n" not in message and len(message) < 200
    return message


def _top_level(data: bytes) -> dict[str, tuple[int, int]]:
    """type -> (offset, size) of the top-level boxes of a well-formed file with 32-bit sizes."""
    boxes, offset = {}, 0
    while offset < len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        boxes.setdefault(kind.decode(), (offset, size))
        offset += size
    return boxes


# ---- boxes built by hand ---------------------------------------------------------------------


def _box(kind: str, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind.encode()) + body


def _full_box(kind: str, version: int, *payload: bytes) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]), *payload)


def _synthetic_v1_file() -> bytes:
    """Version 1 (64-bit) headers, mvhd duration 0, tkhd size 0, an avc3 entry, a 64-bit mdat."""
    mvhd = _full_box("mvhd", 1, struct.pack(">QQIQ", 0, 0, 1000, 0), bytes(80))
    tkhd = _full_box("tkhd", 1, struct.pack(">QQIIQ", 0, 0, 1, 0, 0), bytes(52), struct.pack(">II", 0, 0))
    mdhd = _full_box("mdhd", 1, struct.pack(">QQIQ", 0, 0, 90_000, 225_000), bytes(4))
    hdlr = _full_box("hdlr", 0, bytes(4), b"vide", bytes(12), b"\0")
    avc3 = _box("avc3", bytes(24), struct.pack(">HH", 640, 360), bytes(50))
    stsd = _full_box("stsd", 0, struct.pack(">I", 1), avc3)
    trak = _box("trak", tkhd, _box("mdia", mdhd, hdlr, _box("minf", _box("stbl", stsd))))
    media = bytes(1000)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(media)) + media
    return _box("ftyp", b"isom", bytes(4), b"isomavc1") + _box("moov", mvhd, trak) + mdat


# ---- real files against ffprobe ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "faststart", "audio", "subtitle"),
    [
        ("faststart.mp4", True, "mp4a", None),
        ("plain.mp4", False, "mp4a", None),
        ("subtitled.mp4", False, "mp4a", "tx3g"),
        ("video_only.mp4", False, None, None),
        ("full_hd_portrait.mp4", False, "mp4a", None),
    ],
)
def test_facts_of_a_real_file_match_ffprobe(clip, name, faststart, audio, subtitle):
    # Given a file ffmpeg wrote, and what ffprobe says about it
    path = clip(name)
    expected = _ffprobe(path)

    # When the reader indexes it
    facts = read_mp4_facts(*local_reader(path))

    # Then every fact agrees with ffprobe
    assert facts.duration_s == pytest.approx(expected["duration_s"], abs=0.02)
    assert facts.duration_s == pytest.approx(3.0, abs=0.1)
    assert facts.video_codec == expected["video"]["codec_tag_string"] == "avc1"
    assert (facts.width, facts.height) == (expected["video"]["width"], expected["video"]["height"])
    assert facts.audio_codec == expected["audio"].get("codec_tag_string") == audio
    assert facts.subtitle_codec == expected["subtitle"].get("codec_tag_string") == subtitle
    assert facts.faststart is faststart


@pytest.mark.parametrize("name", ["faststart.mp4", "plain.mp4"])
def test_reading_facts_fetches_box_headers_and_the_moov_but_not_the_media(clip, name):
    # Given a real file behind a reader that counts what it serves
    data = clip(name).read_bytes()
    reader = _CountingReader(data)

    # When the reader indexes it
    read_mp4_facts(reader, len(data))

    # Then it made a handful of requests for a small fraction of the bytes
    moov_size = _top_level(data)["moov"][1]
    assert len(reader.calls) <= 6
    assert reader.bytes_read <= moov_size + 64
    assert reader.bytes_read < len(data) / 20


def test_version_1_headers_and_a_zero_movie_duration_fall_back_to_the_track_and_sample_entry():
    # Given a hand-built file: 64-bit headers, mvhd duration 0, tkhd size 0, an avc3 entry
    data = _synthetic_v1_file()

    # When the reader indexes it
    facts = _facts(data)

    # Then the duration comes from mdhd, the size from the sample entry, and the 64-bit mdat is walked
    assert facts == Mp4Facts(duration_s=2.5, video_codec="avc3", width=640, height=360,
                             audio_codec=None, subtitle_codec=None, faststart=True)


def test_a_size_0_last_box_extends_to_the_end_of_the_file(clip):
    # Given a faststart file whose last box, the mdat, says size 0 ("to the end of the file")
    data = bytearray(clip("faststart.mp4").read_bytes())
    offset, _ = _top_level(bytes(data))["mdat"]
    struct.pack_into(">I", data, offset, 0)

    # When the reader indexes it
    facts = _facts(bytes(data))

    # Then it reads the same facts as from the original
    assert facts == read_mp4_facts(*local_reader(clip("faststart.mp4")))


def test_facts_are_read_from_s3_with_ranged_gets(clip):
    # Given a rendered clip in S3
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="videoflow-output")
        s3.put_object(Bucket="videoflow-output", Key="outputs/clip-1.mp4", Body=clip("subtitled.mp4").read_bytes())

        # When the reader indexes it through S3
        facts = read_mp4_facts(*s3_reader(s3, "videoflow-output", "outputs/clip-1.mp4"))

    # Then the facts are the ones read from the local file
    assert facts == read_mp4_facts(*local_reader(clip("subtitled.mp4")))


def test_s3_reader_reads_the_version_it_was_given(clip):
    # Given a versioned key overwritten with a different clip
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="videoflow-output")
        s3.put_bucket_versioning(Bucket="videoflow-output", VersioningConfiguration={"Status": "Enabled"})
        put = {"Bucket": "videoflow-output", "Key": "outputs/clip.mp4"}
        first = s3.put_object(**put, Body=clip("faststart.mp4").read_bytes())
        s3.put_object(**put, Body=clip("video_only.mp4").read_bytes())

        # When the reader is pinned to the first version
        facts = read_mp4_facts(*s3_reader(s3, "videoflow-output", "outputs/clip.mp4", first["VersionId"]))

    # Then it reads the first clip
    assert (facts.faststart, facts.audio_codec) == (True, "mp4a")


def test_s3_reader_refuses_to_mix_an_object_overwritten_mid_read(clip):
    # Given a reader opened on one object, which is then overwritten
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="videoflow-output")
        s3.put_object(Bucket="videoflow-output", Key="outputs/clip.mp4", Body=clip("faststart.mp4").read_bytes())
        read, _ = s3_reader(s3, "videoflow-output", "outputs/clip.mp4")
        s3.put_object(Bucket="videoflow-output", Key="outputs/clip.mp4", Body=clip("plain.mp4").read_bytes())

        # When it reads, then S3 refuses the ETag-conditional GET
        with pytest.raises(ClientError, match="PreconditionFailed"):
            read(0, 8)


# ---- malformed input ----------------------------------------------------------------------


def test_an_empty_file_is_not_an_mp4():
    assert _unreadable(b"") == "not an MP4: the file is empty"


def test_random_bytes_are_not_an_mp4():
    assert _unreadable(random.Random(7).randbytes(64 * 1024)).startswith("not an MP4")


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_after_an_ftyp_box_are_unreadable(seed):
    # Given a valid ftyp box followed by garbage, when read, then Mp4Unreadable (never a hang)
    _unreadable(_box("ftyp", b"isom", bytes(4)) + random.Random(seed).randbytes(4096))


@pytest.mark.parametrize("name", ["plain.mp4", "faststart.mp4"])
def test_the_first_half_of_a_file_is_a_truncated_file(clip, name):
    # Given the first half of a real file (the mdat is cut; without faststart, the moov is lost too)
    data = clip(name).read_bytes()

    # When read, then the box that runs past the end is named
    assert "truncated file?" in _unreadable(data[: len(data) // 2])


def test_a_box_whose_size_points_past_the_end_is_named(clip):
    # Given a real file with a trailing box header that promises 1000 bytes
    data = clip("faststart.mp4").read_bytes() + struct.pack(">I4s", 1000, b"free")

    # When read, then the message names the box, where it is, and what is missing
    message = _unreadable(data)
    assert message == f"box 'free' at byte {len(data) - 8} declares 1000 bytes but only 8 remain (truncated file?)"


def test_a_size_0_box_that_swallows_the_moov_leaves_no_index(clip):
    # Given a file whose mdat comes before the moov and says size 0, so it runs to the end
    data = bytearray(clip("plain.mp4").read_bytes())
    struct.pack_into(">I", data, _top_level(bytes(data))["mdat"][0], 0)

    # When read, then there is no moov (and no endless loop on a zero size)
    assert _unreadable(bytes(data)).startswith("no moov box")


def test_a_box_inside_the_moov_that_runs_past_its_parent_is_named(clip):
    # Given a real file whose first trak declares far more bytes than the moov holds
    data = bytearray(clip("faststart.mp4").read_bytes())
    trak = data.index(b"trak", _top_level(bytes(data))["moov"][0]) - 4
    struct.pack_into(">I", data, trak, 0x7FFF_FFFF)

    # When read, then the message names the box and its parent
    assert _unreadable(bytes(data)) == "box 'trak' inside 'moov' declares 2147483647 bytes, past the end of 'moov'"


def test_a_moov_larger_than_the_limit_is_refused_without_reading_it():
    # Given a file whose moov box declares more than MAX_MOOV_BYTES (served lazily: nothing is allocated)
    moov_size = MAX_MOOV_BYTES + 8
    head = _box("ftyp", b"isom", bytes(4)) + struct.pack(">I4s", moov_size, b"moov")
    size = len(head) - 8 + moov_size
    calls = []

    def read(offset: int, length: int) -> bytes:
        calls.append(length)
        return (head[offset : offset + length]).ljust(min(length, size - offset), b"\0")

    # When read, then it is refused, and only box headers were fetched
    with pytest.raises(Mp4Unreadable, match="more than the 67108864 this reader accepts"):
        read_mp4_facts(read, size)
    assert max(calls) == 8


def test_a_file_that_shrinks_while_being_read_is_unreadable(clip):
    # Given a reader that serves fewer bytes than the size it was opened with
    data = clip("faststart.mp4").read_bytes()
    short = data[: _top_level(data)["moov"][0] + 100]

    # When read, then the short read is named
    with pytest.raises(Mp4Unreadable, match="the file ended at byte"):
        read_mp4_facts(lambda offset, length: short[offset : offset + length], len(data))


def test_thousands_of_tiny_top_level_boxes_stop_the_walk():
    # Given an ftyp followed by 5000 empty free boxes (each one a ranged GET in S3)
    data = _box("ftyp", b"isom", bytes(4)) + _box("free") * 5000

    # When read, then the walk stops with a reason instead of making 5000 requests
    assert _unreadable(data).startswith("more than 4096 top-level boxes")


def test_corrupted_index_bytes_raise_only_mp4_unreadable(clip):
    # Given a real file and 300 copies, each with a few moov bytes overwritten at random
    data = clip("faststart.mp4").read_bytes()
    moov_at, moov_size = _top_level(data)["moov"]
    generator = random.Random(11)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(generator.randint(1, 4)):
            damaged[generator.randrange(moov_at, moov_at + moov_size)] = generator.randrange(256)

        # When read, then the result is facts or Mp4Unreadable, never another exception or a hang
        try:
            _facts(bytes(damaged))
        except Mp4Unreadable:
            pass
