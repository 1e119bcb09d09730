"""The local Probe adapter: ffprobe's findings in exactly MediaConvert's Probe response shape."""

import contextlib
import os
import subprocess
import tempfile

import boto3
import pytest

from lambdas.common.errors import MediaUnreadable
from lambdas.validate_upload.logic import SNIFF_BYTES, sniff_container
from tests.media import make_audio_only, make_not_a_video, make_truncated, make_video, put_source
from videoflow.local.ffprobe import FfprobeProber, input_guard

PROBE_OUTPUT = boto3.client("mediaconvert", region_name="us-east-1").meta.service_model.operation_model(
    "Probe"
).output_shape


def _probe(aws_state, path, key="uploads/clip.mp4") -> dict:
    return FfprobeProber().probe(put_source(aws_state, path, key))


def _video(response: dict) -> dict:
    tracks = response["ProbeResults"][0]["Container"]["Tracks"]
    return next(track for track in tracks if track["TrackType"] == "video")


def _shape_errors(value, shape, path="") -> list[str]:
    """Where `value` strays from the botocore shape: unknown members, wrong types, values off the enum."""
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errors = []
        for name, member in value.items():
            if name not in shape.members:
                errors.append(f"{path}.{name}: not in the Probe model")
            else:
                errors += _shape_errors(member, shape.members[name], f"{path}.{name}")
        return errors
    if shape.type_name == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            error for index, item in enumerate(value) for error in _shape_errors(item, shape.member, f"{path}[{index}]")
        ]
    if shape.type_name == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        return [f"{path}: {value!r} is not one of the enum"] if shape.enum and value not in shape.enum else []
    if shape.type_name in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    if shape.type_name == "double":
        return [] if isinstance(value, (int, float)) else [f"{path}: expected a number"]
    return []  # timestamps: a datetime, as boto3 returns them


def test_given_a_video_when_probed_then_the_response_fits_the_mediaconvert_probe_model(aws_state, media):
    response = _probe(aws_state, media("clip.mp4", make_video, seconds=2))

    assert _shape_errors(response, PROBE_OUTPUT) == []
    assert response["ProbeResults"][0]["TrackMappings"] == [
        {"VideoTrackIndexes": [1], "AudioTrackIndexes": [2], "DataTrackIndexes": []}
    ]


def test_given_a_video_when_probed_then_tracks_carry_size_rate_codecs_and_duration(aws_state, media):
    response = _probe(aws_state, media("clip.mp4", make_video, seconds=2))

    container = response["ProbeResults"][0]["Container"]
    video, audio = container["Tracks"]
    assert (container["Format"], container["Duration"]) == ("mp4", 2.0)
    assert (video["Codec"], video["Index"], video["VideoProperties"]["Width"], video["VideoProperties"]["Height"]) == (
        "AVC", 1, 640, 360
    )
    assert video["VideoProperties"]["FrameRate"] == {"Numerator": 25, "Denominator": 1}
    assert "Rotation" not in video["VideoProperties"]  # null when there is none, as in MediaConvert
    assert (audio["Codec"], audio["AudioProperties"]["SampleRate"]) == ("AAC", 48000)


def test_given_a_video_when_probed_then_metadata_describes_the_s3_object(aws_state, media):
    path = media("clip.mp4", make_video, seconds=2)
    source = put_source(aws_state, path, "uploads/meta.mp4")

    metadata = FfprobeProber().probe(source)["ProbeResults"][0]["Metadata"]

    assert (metadata["ETag"], metadata["FileSize"], metadata["MimeType"]) == (
        source.etag, path.stat().st_size, "video/mp4"
    )


@pytest.mark.parametrize(("container", "expected"), [
    ("mov", "quicktime"), ("mkv", "matroska"), ("webm", "webm"), ("avi", "avi"), ("ts", "mpegts"),
    ("mpeg", "mpegps"), ("wmv", "asf"), ("ogv", "ogg"), ("mxf", "mxf"),
])
def test_given_each_container_when_probed_then_format_uses_the_mediaconvert_name(
    aws_state, media, container, expected
):
    path = media(f"clip.{container}", make_video, seconds=1, width=160, height=90, container=container)

    response = _probe(aws_state, path, "uploads/clip.bin")

    assert response["ProbeResults"][0]["Container"]["Format"] == expected


def test_given_the_container_validate_upload_recognised_when_probed_with_only_its_demuxer_then_each_reads(media):
    # The same files as the format test above where it made them (one per container, once per module).
    for container in ("mp4", "mov", "mkv", "webm", "avi", "ts", "m2ts", "mpeg", "flv", "wmv", "ogv", "mxf", "h264"):
        path = media(f"clip.{container}", make_video, seconds=1, width=160, height=90, container=container)
        sniffed = sniff_container(path.read_bytes()[:SNIFF_BYTES])

        completed = subprocess.run(["ffprobe", "-v", "error", *input_guard(sniffed), "-show_entries",
                                    "stream=codec_type", "-of", "csv=p=0", str(path)], capture_output=True, text=True)

        assert completed.returncode == 0 and "video" in completed.stdout, (container, sniffed, completed.stderr)


def test_given_a_video_rotated_90_clockwise_when_probed_then_rotation_is_90(aws_state, media):
    response = _probe(aws_state, media("rotated.mp4", make_video, seconds=1, rotate=90))

    assert _video(response)["VideoProperties"]["Rotation"] == 90


def test_given_the_rotated_test_video_when_a_player_autorotates_it_then_it_turns_clockwise(media):
    # Pins the meaning of "90": ffmpeg's autorotate (what players do) must show the coded
    # frame turned clockwise, i.e. displayed[y][x] == coded[H-1-x][y].
    path = media("rotated-small.mp4", make_video, seconds=1, width=64, height=36, rotate=90)
    displayed, coded = (
        subprocess.run(["ffmpeg", "-v", "error", *flag, "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                        "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
        for flag in ([], ["-noautorotate"])
    )
    width, height = 64, 36
    turned_clockwise = bytes(coded[(height - 1 - x) * width + y] for y in range(width) for x in range(height))

    assert displayed == turned_clockwise


def test_given_an_anamorphic_video_when_probed_then_the_sample_aspect_ratio_is_reported(aws_state, media):
    response = _probe(aws_state, media("anamorphic.mp4", make_video, seconds=1, width=480, sar="4:3"))

    properties = _video(response)["VideoProperties"]
    assert (properties["Width"], properties["SampleAspectRatio"]) == (480, {"Numerator": 4, "Denominator": 3})


def test_given_a_raw_h264_stream_when_probed_then_its_duration_is_counted_from_frames(aws_state, media):
    response = _probe(aws_state, media("raw.h264", make_video, seconds=2, container="h264"), "uploads/cam.h264")

    assert response["ProbeResults"][0]["Container"]["Duration"] == 2.0


def test_given_an_mp3_with_cover_art_when_probed_then_the_picture_is_not_a_video_track(aws_state, tmp_path):
    art = make_not_a_video(tmp_path / "cover.jpg", kind="jpeg")
    song = tmp_path / "song.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-i", str(art), "-map", "0",
                    "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic",
                    str(song)], check=True)

    response = _probe(aws_state, song, "uploads/song.mp3")

    assert [t["TrackType"] for t in response["ProbeResults"][0]["Container"]["Tracks"]] == ["audio"]


def test_given_an_audio_only_file_when_probed_then_it_has_only_an_audio_track(aws_state, media):
    response = _probe(aws_state, media("audio.m4a", make_audio_only), "uploads/audio.m4a")

    assert [t["TrackType"] for t in response["ProbeResults"][0]["Container"]["Tracks"]] == ["audio"]


def test_given_an_mp4_cut_before_its_moov_when_probed_then_ffprobe_reason_is_given(aws_state, media):
    with pytest.raises(MediaUnreadable, match=r"moov atom not found \(the file may be truncated\)"):
        _probe(aws_state, media("truncated.mp4", make_truncated))


def test_given_a_faststart_mp4_cut_in_half_when_probed_then_like_probe_it_reports_the_length_its_index_states(
    aws_state, media
):
    # MediaConvert's Probe reads the index, not the file's end; neither does its stand-in. The gap is
    # found by probe_media from the index and the size (tests/unit/test_probe_media.py), in both places.
    path = media("truncated-faststart.mp4", make_truncated, fraction=0.5, faststart=True)

    response = _probe(aws_state, path)

    assert response["ProbeResults"][0]["Container"]["Duration"] == 4.0


def test_given_a_text_file_when_probed_then_the_media_is_unreadable(aws_state, media):
    with pytest.raises(MediaUnreadable, match="ffprobe could not read the file"):
        _probe(aws_state, media("notes.txt", make_not_a_video, kind="text"))


def test_given_a_key_overwritten_after_upload_when_probed_then_the_uploaded_version_is_probed(aws_state, media):
    source = put_source(aws_state, media("clip.mp4", make_video, seconds=2), "uploads/replaced.mp4")
    put_source(aws_state, media("notes.txt", make_not_a_video, kind="text"), "uploads/replaced.mp4")

    response = FfprobeProber().probe(source)

    assert response["ProbeResults"][0]["Metadata"]["ETag"] == source.etag


@pytest.mark.parametrize(("name", "make", "options"), [
    ("clip.mp4", make_video, {"seconds": 2}),
    ("truncated.mp4", make_truncated, {}),
], ids=["readable", "unreadable"])
def test_given_any_outcome_when_probed_then_the_downloaded_copy_is_deleted(
    aws_state, media, monkeypatch, tmp_path, name, make, options
):
    path = media(name, make, **options)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    with contextlib.suppress(MediaUnreadable):
        _probe(aws_state, path)

    assert os.listdir(tmp_path) == []
