"""The renderer's thumbnail (containers/render/thumbnail.py) and its Lambda path (containers/render/lambda_handler.py).

The thumbnail is taken by real ffmpeg from a real clip whose picture changes at a hard cut, so
the frame it shows can be told apart by time. The Lambda handler renders a tiny source (2 s,
to 180x320) from moto's S3 in-process, as render_short_clip does in a function.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from containers.render.lambda_handler import RenderFailed, handler
from containers.render.thumbnail import WIDTH_PX, make_thumbnail
from lambdas.common.mp4 import local_reader, read_mp4_facts
from tests.media import make_video, put_source
from videoflow.local.lambda_runtime import LocalLambdaContext

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
INGEST, OUTPUT = "videoflow-ingest", "videoflow-output"
JOB_ID = "job-render-lambda-01"
SPEC_KEY = f"analysis/{JOB_ID}/render/clip-00.json"
CLIP_KEY = f"clips/{JOB_ID}/clip-00.mp4"
THUMBNAIL_KEY = f"clips/{JOB_ID}/clip-00.jpg"
CONTEXT = LocalLambdaContext("render_short_clip")


# --- media and pictures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portrait(media):
    """A 2 s 720x1280 clip: a test pattern for the first second, colour bars after the cut at 1 s."""
    return media("portrait.mp4", make_video, seconds=2, width=720, height=1280, cuts=[1.0])


@pytest.fixture(scope="module")
def narrow(media):
    return media("narrow.mp4", make_video, seconds=1, width=180, height=320)


def _size(path: Path) -> tuple[int, int]:
    completed = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream=width,height,codec_name", "-of", "json", str(path)],
                               capture_output=True, text=True, check=True, timeout=30)
    stream = json.loads(completed.stdout)["streams"][0]
    assert stream["codec_name"] == "mjpeg"
    return stream["width"], stream["height"]


def _gray(path: Path, seek_s: float | None = None) -> bytes:
    """One frame (of a clip at `seek_s`, or a picture), scaled to 36x64, 8-bit gray."""
    seek = [] if seek_s is None else ["-ss", f"{seek_s}"]
    completed = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *seek, "-i", str(path), "-frames:v", "1",
                                "-vf", "scale=36:64,format=gray", "-f", "rawvideo", "-"],
                               capture_output=True, check=True, timeout=30)
    assert len(completed.stdout) == 36 * 64
    return completed.stdout


def _difference(first: bytes, second: bytes) -> float:
    return sum(abs(a - b) for a, b in zip(first, second, strict=True)) / len(first)


# --- make_thumbnail ------------------------------------------------------------------------------


def test_given_a_720_wide_clip_when_a_thumbnail_is_made_then_it_is_a_540_wide_jpeg_of_the_same_shape(
        portrait, tmp_path):
    out = make_thumbnail(FFMPEG, portrait, 0.5, tmp_path / "thumbnail.jpg")

    assert out.read_bytes()[:2] == b"\xff\xd8"
    assert _size(out) == (WIDTH_PX, 960)


def test_given_a_clip_narrower_than_540_when_a_thumbnail_is_made_then_it_is_not_enlarged(narrow, tmp_path):
    out = make_thumbnail(FFMPEG, narrow, 0.5, tmp_path / "thumbnail.jpg")

    assert _size(out) == (180, 320)


def test_given_a_time_after_the_cut_when_a_thumbnail_is_made_then_it_shows_the_picture_after_the_cut(
        portrait, tmp_path):
    out = make_thumbnail(FFMPEG, portrait, 1.5, tmp_path / "thumbnail.jpg")

    shown = _gray(out)
    assert _difference(shown, _gray(portrait, 1.5)) < 8
    assert _difference(shown, _gray(portrait, 0.5)) > 3 * _difference(shown, _gray(portrait, 1.5))


def test_given_a_time_before_the_cut_when_a_thumbnail_is_made_then_it_shows_the_picture_before_the_cut(
        portrait, tmp_path):
    out = make_thumbnail(FFMPEG, portrait, 0.5, tmp_path / "thumbnail.jpg")

    shown = _gray(out)
    assert _difference(shown, _gray(portrait, 1.5)) > 3 * _difference(shown, _gray(portrait, 0.5))


def test_given_a_time_beyond_the_clip_when_a_thumbnail_is_asked_for_then_it_fails_saying_no_frame_was_written(
        portrait, tmp_path):
    with pytest.raises(RuntimeError, match=r"could not take the frame at 5\.000 s: no frame written"):
        make_thumbnail(FFMPEG, portrait, 5.0, tmp_path / "thumbnail.jpg")


def test_given_an_old_thumbnail_at_the_output_when_the_time_is_beyond_the_clip_then_it_fails_not_returns_the_old(
        portrait, tmp_path):
    out = tmp_path / "thumbnail.jpg"
    out.write_bytes(b"\xff\xd8 a thumbnail from an earlier attempt")

    with pytest.raises(RuntimeError, match="no frame written"):
        make_thumbnail(FFMPEG, portrait, 5.0, out)


def test_given_a_missing_clip_when_a_thumbnail_is_asked_for_then_ffmpegs_reason_is_given(tmp_path):
    with pytest.raises(RuntimeError, match="could not take the frame at 1.000 s: .*No such file or directory"):
        make_thumbnail(FFMPEG, tmp_path / "missing.mp4", 1.0, tmp_path / "thumbnail.jpg")


def test_given_a_file_that_is_not_a_video_when_a_thumbnail_is_asked_for_then_ffmpegs_reason_is_given(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("Meeting notes, not a video.\n" * 20)

    with pytest.raises(RuntimeError, match="Invalid data found when processing input"):
        make_thumbnail(FFMPEG, text, 0.0, tmp_path / "thumbnail.jpg")


# --- the Lambda handler --------------------------------------------------------------------------


def test_given_an_event_without_spec_s3_when_the_handler_runs_then_render_failed_says_what_is_missing():
    with pytest.raises(RenderFailed, match="the event has no spec_s3"):
        handler({"index": 0, "target": "lambda"}, CONTEXT)


def test_given_an_event_that_is_not_an_object_when_the_handler_runs_then_render_failed_is_raised():
    with pytest.raises(RenderFailed, match="no spec_s3"):
        handler(["s3://videoflow-output/spec.json"], CONTEXT)


def test_given_a_spec_s3_that_is_not_an_s3_uri_when_the_handler_runs_then_render_failed_says_so():
    with pytest.raises(RenderFailed, match="RENDER_SPEC_S3 must be s3://bucket/key"):
        handler({"spec_s3": "s3://just-a-bucket"}, CONTEXT)


@pytest.fixture
def s3(aws_state, monkeypatch, tmp_path):
    monkeypatch.setenv("RENDER_PRESET", "ultrafast")
    monkeypatch.setenv("RENDER_WORK_DIR", str(tmp_path))
    return aws_state


@pytest.fixture(scope="module")
def tiny_source(media):
    return media("tiny-source.mp4", make_video, seconds=2, width=320, height=180)


def _put_spec(s3, source_key: str, version_id: str | None, **changes) -> str:
    spec = {
        "job_id": JOB_ID, "clip_index": 0,
        "source": {"bucket": INGEST, "key": source_key, "version_id": version_id},
        "start_s": 0.5, "end_s": 1.5, "title": "A tiny clip",
        "output": {"bucket": OUTPUT, "key": CLIP_KEY},
        "target": {"width": 180, "height": 320},
        "thumbnail": {"bucket": OUTPUT, "key": THUMBNAIL_KEY}, "thumbnail_at_s": 0.5,
        **changes,
    }
    s3.put_object(Bucket=OUTPUT, Key=SPEC_KEY, Body=json.dumps(spec).encode())
    return f"s3://{OUTPUT}/{SPEC_KEY}"


def _keys(s3) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=OUTPUT, Prefix="clips/").get("Contents", []))


def test_given_a_spec_in_s3_when_the_handler_runs_then_it_publishes_the_clip_and_thumbnail_and_returns_them(
        s3, tiny_source, tmp_path):
    source = put_source(s3, tiny_source, "uploads/tiny.mp4")
    spec_s3 = _put_spec(s3, source.key, source.version_id)

    document = handler({"spec_s3": spec_s3, "index": 0, "target": "lambda"}, CONTEXT)

    assert (document["bucket"], document["key"]) == (OUTPUT, CLIP_KEY)
    assert document["thumbnail"] == {"bucket": OUTPUT, "key": THUMBNAIL_KEY}
    assert (document["width"], document["height"]) == (180, 320)
    assert document["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert _keys(s3) == [THUMBNAIL_KEY, CLIP_KEY]  # no partial left behind
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(s3.get_object(Bucket=OUTPUT, Key=CLIP_KEY)["Body"].read())
    assert document["bytes"] == clip.stat().st_size
    facts = read_mp4_facts(*local_reader(clip))
    assert (facts.video_codec, facts.width, facts.height, facts.audio_codec) == ("avc1", 180, 320, "mp4a")
    thumbnail = s3.get_object(Bucket=OUTPUT, Key=THUMBNAIL_KEY)
    assert thumbnail["ContentType"] == "image/jpeg"
    assert thumbnail["Body"].read()[:2] == b"\xff\xd8"


def test_given_a_spec_whose_source_does_not_exist_when_the_handler_runs_then_render_failed_names_it(s3):
    spec_s3 = _put_spec(s3, "uploads/never-uploaded.mp4", None)

    with pytest.raises(RenderFailed) as failure:
        handler({"spec_s3": spec_s3}, CONTEXT)

    assert str(failure.value) == ("reading the source s3://videoflow-ingest/uploads/never-uploaded.mp4: "
                                  "it does not exist (404)")
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert _keys(s3) == []


def test_given_a_spec_s3_that_does_not_exist_when_the_handler_runs_then_render_failed_names_it(s3):
    with pytest.raises(RenderFailed, match=f"reading the render spec s3://{OUTPUT}/{SPEC_KEY}: it does not exist"):
        handler({"spec_s3": f"s3://{OUTPUT}/{SPEC_KEY}"}, CONTEXT)


def test_given_a_spec_with_a_misspelt_field_when_the_handler_runs_then_render_failed_names_the_field(
        s3, tiny_source):
    source = put_source(s3, tiny_source, "uploads/tiny.mp4")
    spec_s3 = _put_spec(s3, source.key, source.version_id, crop_centre_x=0.3)

    with pytest.raises(RenderFailed, match="is invalid: crop_centre_x: Extra inputs are not permitted"):
        handler({"spec_s3": spec_s3}, CONTEXT)
