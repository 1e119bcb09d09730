"""build_render_specs: one render spec per planned clip and aspect, where each renders, how it is framed.

The pure choices (render target, thumbnail moment) are tested on hand-made timelines (the crop
path in test_crop_path.py); the step itself runs against moto and its specs are read back and validated with
the renderer's own model (containers/render/spec.py).
"""

import os

import pytest

from containers.render.spec import RenderSpec
from lambdas.build_render_specs.handler import handler
from lambdas.build_render_specs.logic import (
    BuildRenderSpecsRequest,
    build_render_specs,
    choose_render_target,
    thumbnail_at_s,
)
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.keys import captions_keys, clip_key, render_spec_key, thumbnail_key, timeline_key
from lambdas.common.render_list import RenderSettings
from lambdas.detect_shots.tracks import link_tracks
from tests.media import put_source
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-render-specs-0001"
OUTPUT_BUCKET = "videoflow-output"
MiB, GiB = 1024**2, 1024**3
DEFAULTS = RenderSettings()  # 9:16 at 1080x1920, burned captions, -14 LUFS, Lambda up to 60 s and 9 GiB
MEDIA = {
    "container": "mp4", "duration_s": 120.0, "size_bytes": 40 * MiB, "video_codec": "h264", "coded_width": 1920,
    "coded_height": 1080, "width": 1920, "height": 1080, "rotation_deg": 0, "frame_rate": 25.0, "has_audio": True,
    "audio_codec": "aac", "audio_channels": 2, "audio_sample_rate_hz": 48000,
}


def _face(x: float, w: float, h: float | None = None) -> dict:
    """A face box in fractions of the displayed frame, as containers/frames writes it."""
    return {"x": x, "y": 0.2, "w": w, "h": w if h is None else h, "score": 0.9}


def _frame(t_s: float, faces: list[dict] | None = None, sharpness: float = 10.0) -> dict:
    return {"index": int(t_s), "t_s": t_s, "key": f"frames/frame.{int(t_s):07d}.jpg", "shot_change_score": 0.0,
            "sharpness": sharpness, "brightness": 0.5, "faces": faces or []}


def _clip(start_s: float, end_s: float, title: str) -> dict:
    return {"start_s": start_s, "end_s": end_s, "title": title, "score": 0.8, "rationale": "It stands out."}


# --- choose_render_target --------------------------------------------------------------------------


def test_given_a_short_clip_from_a_small_source_when_choosing_then_it_renders_in_the_lambda():
    target, reason = choose_render_target(30.0, 500 * MiB, DEFAULTS)

    assert target == "lambda"
    assert "30.0 s" in reason and "500 MiB" in reason


def test_given_a_clip_of_exactly_the_lambda_limit_when_choosing_then_it_still_renders_in_the_lambda():
    assert choose_render_target(60.0, 500 * MiB, DEFAULTS)[0] == "lambda"


def test_given_a_clip_longer_than_the_lambda_limit_when_choosing_then_it_goes_to_fargate_saying_why():
    target, reason = choose_render_target(75.0, 500 * MiB, DEFAULTS)

    assert target == "fargate"
    assert reason == "the clip lasts 75.0 s, over the Lambda path's 60 s"


def test_given_a_source_too_big_for_the_lambdas_storage_when_choosing_then_a_short_clip_goes_to_fargate():
    target, reason = choose_render_target(20.0, 12 * GiB, DEFAULTS)

    assert target == "fargate"
    assert "12.0 GiB" in reason and "9.0 GiB" in reason


def test_given_render_lambda_max_clip_s_0_in_the_environment_when_choosing_then_every_clip_goes_to_fargate(
        monkeypatch):
    monkeypatch.setenv("RENDER_LAMBDA_MAX_CLIP_S", "0")

    settings = RenderSettings.model_validate(dict(os.environ))

    assert [choose_render_target(seconds, 1 * MiB, settings)[0] for seconds in (0.5, 15.0, 59.0)] == ["fargate"] * 3


# --- thumbnail_at_s --------------------------------------------------------------------------------


def test_given_a_face_frame_and_a_sharper_faceless_one_when_choosing_the_thumbnail_then_the_face_wins():
    frames = [_frame(12.0, sharpness=90.0), _frame(16.0, [_face(x=0.4, w=0.2)], sharpness=20.0)]

    assert thumbnail_at_s(frames, 10.0, 20.0) == pytest.approx(6.0)


def test_given_frames_without_faces_when_choosing_the_thumbnail_then_the_sharpest_is_taken_in_clip_time():
    frames = [_frame(11.0, sharpness=30.0), _frame(13.5, sharpness=80.0), _frame(17.0, sharpness=50.0)]

    assert thumbnail_at_s(frames, 10.0, 20.0) == pytest.approx(3.5)


def test_given_no_sampled_frame_inside_the_clip_when_choosing_the_thumbnail_then_it_is_the_middle():
    frames = [_frame(2.0, [_face(x=0.4, w=0.2)], sharpness=99.0), _frame(40.0, sharpness=99.0)]

    assert thumbnail_at_s(frames, 10.0, 17.0) == pytest.approx(3.5)


def test_given_a_face_only_in_a_frame_before_the_clip_when_choosing_the_thumbnail_then_it_is_not_taken():
    frames = [_frame(8.0, [_face(x=0.4, w=0.2)], sharpness=99.0), _frame(14.0, sharpness=10.0)]

    assert thumbnail_at_s(frames, 10.0, 20.0) == pytest.approx(4.0)


# --- the step, against moto ------------------------------------------------------------------------


@pytest.fixture
def events(aws_state):
    return EventLog("videoflow-events")


def _state(s3, clips: list[dict], *, frames: list[dict], vtt: bool = True, words: list[dict] | None = None) -> dict:
    """The workflow state as BuildRenderSpecs receives it, with the timeline, one shot with its face tracks, the
    transcript (and captions) in S3."""
    source = put_source(s3, b"not decoded by this step" * 10, "uploads/talk.mp4")
    storage.put_json(OUTPUT_BUCKET, timeline_key(JOB_ID), {"job_id": JOB_ID, "frame_count": len(frames),
                                                             "frames": frames})
    storage.put_json(OUTPUT_BUCKET, f"analysis/{JOB_ID}/shots.json", {"shots": [
        {"start_s": 0.0, "end_s": MEDIA["duration_s"], "tracks": link_tracks(0, frames)}]})
    storage.put_json(OUTPUT_BUCKET, f"transcripts/{JOB_ID}/transcript.json", {"job_id": JOB_ID, "words": words or []})
    vtt_key, srt_key = captions_keys(JOB_ID)
    if vtt:
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=vtt_key, Body=b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n")
    return {
        "job_id": JOB_ID,
        "source": source.model_dump(mode="json"),
        "media": MEDIA,
        "analysis": [
            {"transcript": {"bucket": OUTPUT_BUCKET, "key": f"transcripts/{JOB_ID}/transcript.json"},
             "captions": {"bucket": OUTPUT_BUCKET, "vtt_key": vtt_key if vtt else None,
                          "srt_key": srt_key if vtt else None}},
            {"timeline": {"bucket": OUTPUT_BUCKET, "key": timeline_key(JOB_ID)},
             "shots": {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/shots.json"}},
        ],
        "plan": {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/plan.json", "correction_count": 0,
                 "plan": {"planner": "local", "clips": clips}},
    }


def _build(state: dict, events: EventLog, settings: RenderSettings = DEFAULTS):
    return build_render_specs(BuildRenderSpecsRequest.model_validate(state), settings, OUTPUT_BUCKET, events)


def _spec(item) -> RenderSpec:
    bucket, _, key = item.spec_s3.removeprefix("s3://").partition("/")
    return RenderSpec.model_validate(storage.get_json(bucket, key))


def test_given_a_plan_of_three_clips_when_specs_are_built_then_each_is_a_valid_render_spec_in_order(aws_state, events):
    state = _state(aws_state, [_clip(5.0, 20.0, "Opening"), _clip(30.0, 50.0, "Middle"), _clip(60.0, 80.0, "End")],
                   frames=[_frame(float(t)) for t in range(0, 120, 2)])

    result = _build(state, events)

    assert [(item.index, item.aspect, item.width, item.height) for item in result.clips] == [
        (index, "9:16", 1080, 1920) for index in range(3)]
    assert [item.spec_s3 for item in result.clips] == [
        f"s3://{OUTPUT_BUCKET}/analysis/{JOB_ID}/render/clip-{index:02d}-9x16.json" for index in range(3)]
    specs = [_spec(item) for item in result.clips]
    assert [spec.clip_index for spec in specs] == [0, 1, 2]
    assert [(spec.start_s, spec.end_s, spec.title) for spec in specs] == [
        (5.0, 20.0, "Opening"), (30.0, 50.0, "Middle"), (60.0, 80.0, "End")]
    assert [spec.output.key for spec in specs] == [f"clips/{JOB_ID}/clip-{index:02d}-9x16.mp4" for index in range(3)]
    assert [spec.thumbnail.key for spec in specs] == [f"clips/{JOB_ID}/clip-{index:02d}-9x16.jpg" for index in range(3)]
    assert [item.output.key for item in result.clips] == [spec.output.key for spec in specs]
    assert [item.thumbnail.key for item in result.clips] == [spec.thumbnail.key for spec in specs]


def test_given_a_versioned_upload_when_specs_are_built_then_each_spec_reads_exactly_that_version(aws_state, events):
    state = _state(aws_state, [_clip(5.0, 20.0, "Opening")], frames=[])

    spec = _spec(_build(state, events).clips[0])

    assert spec.source.bucket == "videoflow-ingest" and spec.source.key == "uploads/talk.mp4"
    assert spec.source.version_id == state["source"]["version_id"] is not None


def test_given_the_render_settings_when_specs_are_built_then_size_loudness_and_captions_follow_them(
        aws_state, events):
    state = _state(aws_state, [_clip(5.0, 20.0, "Opening")], frames=[])
    settings = RenderSettings(RENDER_SHORT_SIDE=720, RENDER_LOUDNESS_LUFS=-16, RENDER_CAPTIONS="attach")

    spec = _spec(_build(state, events, settings).clips[0])

    assert (spec.target.width, spec.target.height) == (720, 1280)
    assert spec.loudness_lufs == -16
    assert spec.captions.mode == "attach"
    assert spec.captions.vtt.key == f"captions/{JOB_ID}/captions.vtt"


def test_given_a_video_without_speech_when_specs_are_built_then_captions_are_none(aws_state, events):
    state = _state(aws_state, [_clip(5.0, 20.0, "Opening")], frames=[], vtt=False)

    spec = _spec(_build(state, events).clips[0])

    assert spec.captions.mode == "none"
    assert spec.captions.vtt is None


def test_given_faces_in_the_timeline_when_specs_are_built_then_each_clip_is_framed_and_thumbnailed_on_its_own(
        aws_state, events):
    frames = [_frame(8.0, sharpness=50.0), _frame(12.0, [_face(x=0.1, w=0.2)], sharpness=5.0),
              _frame(34.0, sharpness=70.0), _frame(40.0, sharpness=20.0)]
    state = _state(aws_state, [_clip(5.0, 20.0, "Face"), _clip(30.0, 50.0, "No face")], frames=frames)

    first, second = (_spec(item) for item in _build(state, events).clips)

    # No face at 8 s: the middle; the face seen at 12 s (7 s into the clip): its centre, from then on.
    assert (first.crop_path[0].x, first.crop_path[0].y) == (0.5, 0.5)
    assert [(key.t_s, key.x, key.y) for key in first.crop_path if key.t_s >= 7.0][-1][1:] == (
        pytest.approx(0.2), pytest.approx(0.3))
    assert first.thumbnail_at_s == pytest.approx(7.0)
    assert [(key.t_s, key.x, key.y) for key in second.crop_path] == [(0.0, 0.5, 0.5)]
    assert second.thumbnail_at_s == pytest.approx(4.0)


def test_given_two_people_who_speak_in_turns_when_specs_are_built_then_the_crop_moves_to_whoever_speaks(
        aws_state, events):
    left, right = _face(x=0.1, w=0.2), _face(x=0.6, w=0.2)
    # Her mouth moves until 10 s, his after; the transcript says spk_0 then spk_1.
    frames = [_frame(float(t), [{**left, "speaking": 0.6 if t < 10 else 0.02},
                                {**right, "speaking": 0.02 if t < 10 else 0.6}]) for t in range(0, 24, 2)]
    words = [{"text": "word", "start_s": t / 2, "end_s": t / 2 + 0.4, "confidence": 0.9,
              "speaker": "spk_0" if t < 20 else "spk_1"} for t in range(0, 44)]
    state = _state(aws_state, [_clip(2.0, 20.0, "Both")], frames=frames, words=words)

    spec = _spec(_build(state, events).clips[0])

    xs = [(key.t_s, key.x) for key in spec.crop_path]
    assert xs[0] == (0.0, pytest.approx(0.2)) and xs[-1][1] == pytest.approx(0.7)
    assert 7.5 < min(t_s for t_s, x in xs if x > 0.21) < 8.5  # she stops at 10 s (8 s into the clip)


def test_given_a_long_and_a_short_clip_when_specs_are_built_then_each_goes_to_its_own_target(aws_state, events):
    state = _state(aws_state, [_clip(0.0, 20.0, "Short"), _clip(30.0, 110.0, "Long")], frames=[])

    result = _build(state, events)

    assert [item.target for item in result.clips] == ["lambda", "fargate"]
    assert "80.0 s" in result.clips[1].target_reason


def test_given_specs_built_when_the_log_is_read_then_one_render_planned_event_lists_targets_and_reasons(
        aws_state, events):
    state = _state(aws_state, [_clip(0.0, 20.0, "Short"), _clip(30.0, 110.0, "Long")], frames=[])

    result = _build(state, events)

    logged = [event for event in events.read(JOB_ID) if event.type == "render.planned"]
    assert len(logged) == 1
    assert logged[0].step == "BuildRenderSpecs"
    assert (logged[0].detail["clips"], logged[0].detail["aspects"], logged[0].detail["renders"]) == (2, ["9:16"], 2)
    assert logged[0].detail["targets"] == ["lambda", "fargate"]
    assert logged[0].detail["reasons"] == [item.target_reason for item in result.clips]


def test_given_the_workflow_state_when_the_handler_runs_then_it_reads_its_settings_from_the_environment(
        aws_state, monkeypatch):
    monkeypatch.setenv("RENDER_ASPECTS", "16:9,9:16")
    monkeypatch.setenv("RENDER_SHORT_SIDE", "540")
    monkeypatch.setenv("RENDER_LAMBDA_MAX_CLIP_S", "0")
    state = _state(aws_state, [_clip(5.0, 20.0, "Opening")], frames=[])

    result = handler(state, LocalLambdaContext("build_render_specs"))

    assert [(item["aspect"], item["target"]) for item in result["clips"]] == [("16:9", "fargate"), ("9:16", "fargate")]
    spec = RenderSpec.model_validate(storage.get_json(OUTPUT_BUCKET, f"analysis/{JOB_ID}/render/clip-00-9x16.json"))
    assert (spec.target.width, spec.target.height) == (540, 960)


# --- one render per aspect ------------------------------------------------------------------------


def test_given_three_aspects_when_specs_are_built_then_each_clip_is_an_item_per_aspect_at_that_aspects_size(
        aws_state, events):
    frames = [_frame(12.0, [_face(x=0.1, w=0.2)], sharpness=5.0), _frame(34.0, sharpness=70.0)]
    state = _state(aws_state, [_clip(5.0, 20.0, "Face"), _clip(30.0, 50.0, "No face")], frames=frames)
    settings = RenderSettings(RENDER_ASPECTS="9:16,1:1,16:9")

    result = _build(state, events, settings)

    sizes = {"9:16": (1080, 1920), "1:1": (1080, 1080), "16:9": (1920, 1080)}
    assert [(item.index, item.aspect, item.width, item.height) for item in result.clips] == [
        (index, aspect, *sizes[aspect]) for index in range(2) for aspect in ("9:16", "1:1", "16:9")]
    for item in result.clips:
        spec = _spec(item)
        assert item.spec_s3 == f"s3://{OUTPUT_BUCKET}/{render_spec_key(JOB_ID, item.index, item.aspect)}"
        assert (spec.target.width, spec.target.height) == (item.width, item.height)
        assert spec.output.key == item.output.key == clip_key(JOB_ID, item.index, item.aspect)
        assert spec.thumbnail.key == item.thumbnail.key == thumbnail_key(JOB_ID, item.index, item.aspect)
        assert (spec.clip_index, spec.start_s, spec.title) == (item.index, item.start_s, item.title)
    assert len({item.output.key for item in result.clips}) == 6
    [planned] = [event for event in events.read(JOB_ID) if event.type == "render.planned"]
    assert (planned.detail["clips"], planned.detail["aspects"], planned.detail["renders"]) == (
        2, ["9:16", "1:1", "16:9"], 6)
