"""record_render: every rendered clip is read back from S3 and checked against its plan before it is recorded.

The clips are real MP4s made by ffmpeg (540x960 H.264 + AAC, 3 s; 960x540 for 16:9) uploaded
to moto, as a render leaves them; the bad ones are real too: the wrong length, the wrong size,
the wrong aspect, another codec, cut short. Nothing the renderer reports is trusted but its
byte count, which must agree.
"""

import subprocess
from pathlib import Path

import pytest

from lambdas.common.errors import RenderCheckFailed
from lambdas.common.events import EventLog
from lambdas.common.keys import clip_key, render_spec_key, thumbnail_key
from lambdas.common.models import ObjectRef, SourceObject
from lambdas.common.render_list import RenderItem, RenderList, RenderSettings
from lambdas.common.settings import get_settings
from lambdas.record_render.handler import handler
from lambdas.record_render.logic import FargateShape, RecordRenderRequest, record_render
from tests.media import make_not_a_video, make_truncated, make_video
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-record-render-01"
OUTPUT_BUCKET = "videoflow-output"
SOURCE = SourceObject(bucket="videoflow-ingest", key="uploads/talk.mp4", version_id="v1", size_bytes=40_000_000)
PORTRAIT = RenderSettings(RENDER_SHORT_SIDE=540)  # 9:16 540x960, 1:1 540x540, 16:9 960x540
FARGATE = FargateShape()  # 2 vCPU, 4096 MB


# --- media ---------------------------------------------------------------------------------------


def _portrait_clip(path):
    return make_video(path, seconds=3, width=540, height=960)


def _landscape_clip(path):
    return make_video(path, seconds=3, width=640, height=360)


def _wide_clip(path):
    return make_video(path, seconds=3, width=960, height=540)


def _small_portrait_clip(path):
    return make_video(path, seconds=3, width=270, height=480)


def _mpeg4_clip(path):
    """540x960 in MP4 but MPEG-4 Part 2 ('mp4v'), not H.264."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=540x960:rate=25:duration=3",
                    "-c:v", "mpeg4", "-q:v", "10", "-f", "mp4", str(path)], check=True, capture_output=True, timeout=60)
    return Path(path)


@pytest.fixture(scope="module")
def clips(media):
    return {
        "good": media("good.mp4", _portrait_clip),
        "landscape": media("landscape.mp4", _landscape_clip),
        "wide": media("wide.mp4", _wide_clip),
        "small portrait": media("small-portrait.mp4", _small_portrait_clip),
        "mpeg4": media("mpeg4.mp4", _mpeg4_clip),
        "truncated": media("truncated.mp4", make_truncated, fraction=0.5, seconds=3),
        "thumbnail": media("thumbnail.jpg", make_not_a_video, kind="jpeg"),
    }


@pytest.fixture
def events(aws_state):
    return EventLog("videoflow-events")


# --- helpers -------------------------------------------------------------------------------------


def _upload(s3, clips: dict, index: int, clip: str = "good", thumbnail: bool = True, aspect: str = "9:16") -> int:
    """Put clip `index` in `aspect` (and its thumbnail) where the renderer publishes it; returns the clip's bytes."""
    body = Path(clips[clip]).read_bytes()
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=clip_key(JOB_ID, index, aspect), Body=body)
    if thumbnail:
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=thumbnail_key(JOB_ID, index, aspect),
                      Body=Path(clips["thumbnail"]).read_bytes())
    return len(body)


def _item(index: int, start_s: float = 10.0, end_s: float = 13.0, target: str = "lambda",
          aspect: str = "9:16") -> RenderItem:
    width, height = PORTRAIT.frame_size(aspect)
    return RenderItem(index=index, aspect=aspect, width=width, height=height, target=target,
                      target_reason="chosen for the test",
                      spec_s3=f"s3://{OUTPUT_BUCKET}/{render_spec_key(JOB_ID, index, aspect)}",
                      start_s=start_s, end_s=end_s, title=f"Clip {index}",
                      output=ObjectRef(bucket=OUTPUT_BUCKET, key=clip_key(JOB_ID, index, aspect)),
                      thumbnail=ObjectRef(bucket=OUTPUT_BUCKET, key=thumbnail_key(JOB_ID, index, aspect)))


def _rendered(index: int, size: int | None, render_seconds: float = 4.2, aspect: str = "9:16") -> dict:
    """A render's output document, as render_clip returns it."""
    width, height = PORTRAIT.frame_size(aspect)
    return {"bucket": OUTPUT_BUCKET, "key": clip_key(JOB_ID, index, aspect), "duration_s": 3.0, "width": width,
            "height": height, "bytes": size, "job_id": JOB_ID, "clip_index": index, "captions": "none",
            "thumbnail": {"bucket": OUTPUT_BUCKET, "key": thumbnail_key(JOB_ID, index, aspect)},
            "render_seconds": render_seconds}


def _record(items: list[RenderItem], renders: list[dict], events: EventLog, fargate: FargateShape = FARGATE):
    request = RecordRenderRequest(job_id=JOB_ID, source=SOURCE, render=RenderList(clips=items), renders=renders)
    return record_render(request, PORTRAIT, fargate, events)


def _recorded(events: EventLog) -> list:
    return [event for event in events.read(JOB_ID) if event.type == "render.recorded"]


# --- what passes ---------------------------------------------------------------------------------


def test_given_a_good_clip_and_its_thumbnail_when_recorded_then_the_manifest_clip_holds_what_s3_holds(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    result = _record([_item(0)], [_rendered(0, size)], events)

    [clip] = result.clips
    assert clip.path == clip_key(JOB_ID, 0, "9:16") == f"clips/{JOB_ID}/clip-00-9x16.mp4"
    assert clip.thumbnail == thumbnail_key(JOB_ID, 0, "9:16")
    assert clip.aspect == "9:16"
    assert (clip.start_s, clip.end_s, clip.title) == (10.0, 13.0, "Clip 0")
    assert (clip.width, clip.height) == (540, 960)
    assert clip.duration_s == pytest.approx(3.0, abs=0.1)
    assert clip.bytes == size
    assert clip.rendered_on == "lambda"


def test_given_a_good_clip_when_recorded_then_one_render_recorded_event_carries_the_clip(aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    result = _record([_item(0)], [_rendered(0, size, render_seconds=4.2)], events)

    [event] = _recorded(events)
    assert event.step == "RecordRender"
    assert event.detail["clip"] == result.clips[0].model_dump(mode="json")
    assert event.detail["render_seconds"] == pytest.approx(4.2)
    assert "fargate_task" not in event.detail


def test_given_a_clip_rendered_on_fargate_when_recorded_then_its_event_carries_the_task_for_the_cost_ledger(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0)
    shape = FargateShape(RENDER_TASK_VCPU=4, RENDER_TASK_MEMORY_MB=8192)

    result = _record([_item(0, target="fargate")], [_rendered(0, size, render_seconds=42.5)], events, shape)

    assert result.clips[0].rendered_on == "fargate"
    [event] = _recorded(events)
    assert event.detail["fargate_task"] == {"purpose": "render", "seconds": pytest.approx(42.5), "vcpu": 4,
                                            "memory_gb": 8.0, "spot": False}


def test_given_a_clip_within_a_tenth_of_a_second_of_its_plan_when_recorded_then_it_passes(aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    result = _record([_item(0, start_s=10.0, end_s=13.07)], [_rendered(0, size)], events)

    assert len(result.clips) == 1


def test_given_a_renderer_that_did_not_report_bytes_when_recorded_then_the_size_in_s3_is_recorded(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    result = _record([_item(0)], [_rendered(0, None)], events)

    assert result.clips[0].bytes == size


def test_given_three_good_clips_when_recorded_then_they_are_recorded_in_plan_order(aws_state, clips, events):
    sizes = [_upload(aws_state, clips, index) for index in range(3)]
    items = [_item(index, start_s=10.0 * index, end_s=10.0 * index + 3) for index in range(3)]

    result = _record(items, [_rendered(index, sizes[index]) for index in range(3)], events)

    assert [clip.path for clip in result.clips] == [clip_key(JOB_ID, index, "9:16") for index in range(3)]
    assert [event.detail["clip"]["path"] for event in _recorded(events)] == [clip_key(JOB_ID, index, "9:16")
                                                                          for index in range(3)]


def test_given_a_clip_in_two_aspects_when_recorded_then_each_is_checked_at_its_own_size_and_carries_its_aspect(
        aws_state, clips, events):
    sizes = [_upload(aws_state, clips, 0, aspect="9:16"), _upload(aws_state, clips, 0, clip="wide", aspect="16:9")]

    result = _record([_item(0, aspect="9:16"), _item(0, aspect="16:9")],
                     [_rendered(0, sizes[0], aspect="9:16"), _rendered(0, sizes[1], aspect="16:9")], events)

    assert [(clip.aspect, clip.width, clip.height, clip.path) for clip in result.clips] == [
        ("9:16", 540, 960, f"clips/{JOB_ID}/clip-00-9x16.mp4"), ("16:9", 960, 540, f"clips/{JOB_ID}/clip-00-16x9.mp4")]
    assert [event.detail["clip"]["aspect"] for event in _recorded(events)] == ["9:16", "16:9"]


def test_given_the_render_size_in_the_environment_when_the_handler_runs_then_the_clip_is_checked_against_it(
        aws_state, clips, monkeypatch):
    monkeypatch.setenv("RENDER_ASPECTS", "9:16,16:9")
    monkeypatch.setenv("RENDER_SHORT_SIDE", "540")
    size = _upload(aws_state, clips, 0)
    state = {"job_id": JOB_ID, "source": SOURCE.model_dump(mode="json"),
             "render": {"clips": [_item(0).model_dump(mode="json")]}, "renders": [_rendered(0, size)]}

    result = handler(state, LocalLambdaContext("record_render"))

    assert (result["clips"][0]["aspect"], result["clips"][0]["width"]) == ("9:16", 540)


def test_given_the_fargate_task_shape_in_the_environment_when_settings_are_read_then_it_is_used(monkeypatch):
    monkeypatch.setenv("RENDER_TASK_VCPU", "1")
    monkeypatch.setenv("RENDER_TASK_MEMORY_MB", "3072")
    monkeypatch.setenv("RENDER_SHORT_SIDE", "720")
    monkeypatch.setenv("RENDER_ASPECTS", "1:1,9:16")

    settings = get_settings(*handler.settings_models)

    assert settings.aspects == ("1:1", "9:16")
    assert (settings.frame_size("9:16"), settings.frame_size("1:1")) == ((720, 1280), (720, 720))
    assert (settings.vcpu, settings.memory_mb) == (1, 3072)


# --- what fails ----------------------------------------------------------------------------------


def test_given_a_clip_longer_than_planned_when_recorded_then_the_check_fails_with_both_lengths(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    with pytest.raises(RenderCheckFailed) as failure:
        _record([_item(0, start_s=10.0, end_s=12.0)], [_rendered(0, size)], events)

    assert f"clip 0 ({clip_key(JOB_ID, 0, '9:16')})" in str(failure.value)
    assert "planned 2.000 s" in str(failure.value)
    assert "lasts 3.0" in str(failure.value)


def test_given_a_clip_of_the_wrong_frame_size_when_recorded_then_the_check_fails_naming_both_sizes(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0, clip="landscape")

    with pytest.raises(RenderCheckFailed, match=r"is 640x360, not 540x960 \(not 9:16\)"):
        _record([_item(0)], [_rendered(0, size)], events)


def test_given_a_clip_whose_frame_is_not_its_aspect_when_recorded_then_the_check_fails_naming_the_aspect(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0, aspect="1:1")  # a 540x960 portrait clip where the square one belongs

    with pytest.raises(RenderCheckFailed) as failure:
        _record([_item(0, aspect="1:1")], [_rendered(0, size, aspect="1:1")], events)

    assert f"clip 0 ({clip_key(JOB_ID, 0, '1:1')}): is 540x960, not 540x540 (not 1:1)" in str(failure.value)
    assert _recorded(events) == []


def test_given_a_clip_of_its_aspect_at_another_size_when_recorded_then_the_check_fails_naming_the_size(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0, clip="small portrait")

    with pytest.raises(RenderCheckFailed, match=r"is 270x480, not 540x960 \(9:16 at the wrong size\)"):
        _record([_item(0)], [_rendered(0, size)], events)


def test_given_a_render_item_whose_frame_size_is_not_its_aspect_then_the_item_is_refused():
    with pytest.raises(ValueError, match="a 540x960 frame is not 16:9"):
        RenderItem.model_validate({**_item(0).model_dump(mode="json"), "aspect": "16:9"})


def test_given_a_clip_that_is_not_h264_when_recorded_then_the_check_fails_naming_the_codec(aws_state, clips, events):
    size = _upload(aws_state, clips, 0, clip="mpeg4")

    with pytest.raises(RenderCheckFailed, match="video is mp4v, not H.264"):
        _record([_item(0)], [_rendered(0, size)], events)


def test_given_a_clip_cut_short_in_s3_when_recorded_then_the_check_fails_as_unreadable(aws_state, clips, events):
    size = _upload(aws_state, clips, 0, clip="truncated")

    with pytest.raises(RenderCheckFailed, match=r"clip 0 .*: unreadable: .*(moov|truncated)"):
        _record([_item(0)], [_rendered(0, size)], events)


def test_given_a_clip_that_was_never_published_when_recorded_then_the_check_fails_as_unreadable(
        aws_state, clips, events):
    with pytest.raises(RenderCheckFailed, match=r"clip 0 .*: unreadable: .*404"):
        _record([_item(0)], [_rendered(0, 1000)], events)


def test_given_a_clip_without_its_thumbnail_when_recorded_then_the_check_fails_naming_the_thumbnail(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0, thumbnail=False)

    with pytest.raises(RenderCheckFailed, match=f"its thumbnail {thumbnail_key(JOB_ID, 0, '9:16')} is missing"):
        _record([_item(0)], [_rendered(0, size)], events)


def test_given_a_clip_whose_bytes_differ_from_the_renderers_report_when_recorded_then_the_check_fails(
        aws_state, clips, events):
    size = _upload(aws_state, clips, 0)

    with pytest.raises(RenderCheckFailed, match=f"holds {size} bytes, the renderer wrote {size + 1}"):
        _record([_item(0)], [_rendered(0, size + 1)], events)


def test_given_fewer_renders_than_planned_clips_when_recorded_then_the_check_fails_with_both_counts(
        aws_state, clips, events):
    sizes = [_upload(aws_state, clips, index) for index in range(2)]

    with pytest.raises(RenderCheckFailed, match="2 clips were planned for rendering but 1 renders came back"):
        _record([_item(0), _item(1)], [_rendered(0, sizes[0])], events)

    assert _recorded(events) == []


def test_given_a_clip_wrong_in_two_ways_when_recorded_then_the_failure_names_both(aws_state, clips, events):
    size = _upload(aws_state, clips, 0, clip="landscape", thumbnail=False)

    with pytest.raises(RenderCheckFailed) as failure:
        _record([_item(0)], [_rendered(0, size)], events)

    assert "is 640x360, not 540x960" in str(failure.value)
    assert "is missing" in str(failure.value)


def test_given_several_failing_clips_when_recorded_then_the_failure_names_every_problem_and_records_none_of_them(
        aws_state, clips, events):
    size = {index: _upload(aws_state, clips, index, clip=clip, thumbnail=index != 3)
            for index, clip in enumerate(["good", "landscape", "truncated", "good", "good"])}
    items = [_item(index, start_s=10.0 * index, end_s=10.0 * index + 3) for index in range(5)]
    items[4] = _item(4, start_s=40.0, end_s=41.0)
    renders = [_rendered(index, size[index]) for index in range(5)]
    renders[0] = _rendered(0, size[0] + 7)

    with pytest.raises(RenderCheckFailed) as failure:
        _record(items, renders, events)

    message = str(failure.value)
    def key(index: int) -> str:
        return clip_key(JOB_ID, index, "9:16")

    def thumbnail(index: int) -> str:
        return thumbnail_key(JOB_ID, index, "9:16")

    assert f"clip 0 ({key(0)}): holds {size[0]} bytes, the renderer wrote {size[0] + 7}" in message
    assert f"clip 1 ({key(1)}): is 640x360, not 540x960" in message
    assert f"clip 2 ({key(2)}): unreadable" in message
    assert f"clip 3 ({key(3)}): its thumbnail {thumbnail(3)} is missing" in message
    assert f"clip 4 ({key(4)}): lasts" in message and "planned 1.000 s" in message
    assert _recorded(events) == []


def test_given_a_good_clip_beside_a_failing_one_when_recorded_then_the_failing_one_is_not_recorded(
        aws_state, clips, events):
    sizes = [_upload(aws_state, clips, 0), _upload(aws_state, clips, 1, clip="landscape")]

    with pytest.raises(RenderCheckFailed) as failure:
        _record([_item(0), _item(1, start_s=20.0, end_s=23.0)], [_rendered(0, sizes[0]), _rendered(1, sizes[1])],
                events)

    assert "clip 0" not in str(failure.value)
    assert clip_key(JOB_ID, 1, "9:16") not in [event.detail["clip"]["path"] for event in _recorded(events)]
