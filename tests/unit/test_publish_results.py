"""publish_results: the job manifest in the output bucket, and the job record marked COMPLETED."""

import types

import pytest

from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common import storage
from lambdas.common.errors import DerivativeMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.timeline import read
from lambdas.publish_results.handler import handler
from lambdas.publish_results.logic import PublishRequest, publish_results
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-publish-00000001"
EARLIER_JOB_ID = "job-publish-earlier-01"
OUTPUT_BUCKET = "videoflow-output"
CONTEXT = LocalLambdaContext("publish_results")
MEDIA = {
    "container": "mp4", "duration_s": 9.5, "size_bytes": 4_200_000, "video_codec": "h264", "coded_width": 1920,
    "coded_height": 1080, "width": 1920, "height": 1080, "rotation_deg": 0, "frame_rate": 25.0, "has_audio": True,
    "audio_codec": "aac", "audio_channels": 2, "audio_sample_rate_hz": 48000,
}


def _derivatives(job_id: str, *, frames: int = 5, audio: bool = True) -> dict:
    prefix = f"derivatives/{job_id}/"
    return {
        "proxy": {"bucket": OUTPUT_BUCKET, "key": f"{prefix}proxy/proxy.mp4", "width": 960, "height": 540,
                  "duration_s": 9.5},
        "audio": {"bucket": OUTPUT_BUCKET, "key": f"{prefix}audio/audio.wav"} if audio else None,
        "audio_absent_reason": None if audio else "The source has no audio track, so there is no audio to transcribe.",
        "frames": {"bucket": OUTPUT_BUCKET, "prefix": f"{prefix}frames/", "count": frames, "interval_s": 2},
    }


def _state(job_id: str, **results) -> dict:
    """The workflow state as PublishResults receives it."""
    return {
        "job_id": job_id,
        "received_at": "2026-11-12T09:41:27+00:00",
        "source": {"bucket": "videoflow-ingest", "key": "uploads/beach day.mp4", "version_id": "v1",
                   "etag": "9b2cf535f27731c974343645a3985328", "size_bytes": 4_200_000},
        "upload": {"size_bytes": 4_200_000, "detected_format": "mp4", "content_sha256_prefix": "ab" * 32},
        "media": MEDIA,
        "limits": {"max_duration_s": 14400, "max_size_bytes": 21474836480},
        "job": {"job_id": job_id, "status": "RUNNING", "created_at": "2026-11-12T09:41:30+00:00", "fingerprint": "f"},
        **results,
    }


def _processed(s3, job_id: str, *, frames: int = 5, audio: bool = True) -> dict:
    """A job that went through the derivative steps: frames in S3, the frame manifest built."""
    derivatives = _derivatives(job_id, frames=frames, audio=audio)
    for index in range(frames):
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=f"{derivatives['frames']['prefix']}frame.{index:07d}.jpg", Body=b"j")
    ref = build_frame_manifest(
        FrameManifestRequest.model_validate(_state(job_id, derivatives=derivatives)), 60, EventLog("videoflow-events")
    )
    return _state(job_id, duplicate={"duplicate_of": None}, derivatives=derivatives,
                  mediaconvert_job={"id": "1731404490123-abcdef", "status": "COMPLETE"},
                  frame_manifest=ref.model_dump(mode="json"))


@pytest.fixture
def stores(aws_state):
    return types.SimpleNamespace(s3=aws_state, jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"))


def _publish(stores, state: dict):
    return publish_results(PublishRequest.model_validate(state), OUTPUT_BUCKET, stores.jobs, stores.events)


def _manifest(job_id: str) -> dict:
    return storage.get_json(OUTPUT_BUCKET, f"outputs/{job_id}/manifest.json")


def test_given_a_processed_job_when_published_then_the_manifest_is_at_outputs_job_manifest_json(stores):
    published = _publish(stores, _processed(stores.s3, JOB_ID))

    assert published.model_dump() == {"status": "COMPLETED", "manifest_key": f"outputs/{JOB_ID}/manifest.json"}
    assert _manifest(JOB_ID)["status"] == "COMPLETED"


def test_given_a_processed_job_when_published_then_the_manifest_lists_the_derivative_keys(stores):
    _publish(stores, _processed(stores.s3, JOB_ID, frames=3))

    assert _manifest(JOB_ID)["derivatives"] == {
        "proxy": f"derivatives/{JOB_ID}/proxy/proxy.mp4",
        "audio": f"derivatives/{JOB_ID}/audio/audio.wav",
        "frames": [f"derivatives/{JOB_ID}/frames/frame.{i:07d}.jpg" for i in range(3)],
    }


def test_given_more_frames_than_one_chunk_when_published_then_the_manifest_lists_every_frame_in_order(stores):
    _publish(stores, _processed(stores.s3, JOB_ID, frames=130))

    frames = _manifest(JOB_ID)["derivatives"]["frames"]
    assert frames == [f"derivatives/{JOB_ID}/frames/frame.{i:07d}.jpg" for i in range(130)]


def test_given_a_source_without_audio_when_published_then_the_manifest_audio_is_null(stores):
    _publish(stores, _processed(stores.s3, JOB_ID, audio=False))

    assert _manifest(JOB_ID)["derivatives"]["audio"] is None


def test_given_a_processed_job_when_published_then_the_manifest_summarizes_the_source(stores):
    _publish(stores, _processed(stores.s3, JOB_ID))

    manifest = _manifest(JOB_ID)
    assert manifest["source"] == {"name": "beach day.mp4", "duration_s": 9.5, "width": 1920, "height": 1080,
                                  "has_audio": True}
    assert (manifest["job_id"], manifest["reason"], manifest["duplicate_of"]) == (JOB_ID, None, None)


def test_given_a_processed_job_when_published_then_the_job_record_is_completed_with_the_manifest_key(stores):
    state = _processed(stores.s3, JOB_ID)

    _publish(stores, state)

    record = stores.jobs.get(JOB_ID)
    assert (record["status"], record["manifest_key"]) == ("COMPLETED", f"outputs/{JOB_ID}/manifest.json")
    assert record["derivatives"] == state["derivatives"]


def test_given_a_processed_job_when_published_then_a_job_completed_event_is_logged(stores):
    _publish(stores, _processed(stores.s3, JOB_ID))

    last = stores.events.read(JOB_ID)[-1]
    assert (last.type, last.step, last.detail) == (
        "job.completed", "PublishResults",
        {"manifest_key": f"outputs/{JOB_ID}/manifest.json", "duplicate_of": None, "clips": 0},
    )


def test_given_no_recorded_derivatives_and_no_duplicate_when_published_then_derivative_missing(stores):
    with pytest.raises(DerivativeMissing, match="Nothing to publish"):
        _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": None}))


def _earlier_completed(stores, frames: int = 4) -> dict:
    """An earlier job with the same content, published COMPLETED."""
    state = _processed(stores.s3, EARLIER_JOB_ID, frames=frames)
    stores.jobs.upsert(EARLIER_JOB_ID, derivatives=state["derivatives"])
    _publish(stores, state)
    return state


def test_given_a_duplicate_of_a_completed_job_when_published_then_the_manifest_reuses_its_derivatives(stores):
    _earlier_completed(stores, frames=4)

    _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": EARLIER_JOB_ID}))

    manifest = _manifest(JOB_ID)
    assert manifest["derivatives"] == _manifest(EARLIER_JOB_ID)["derivatives"]
    assert manifest["derivatives"]["frames"][0] == f"derivatives/{EARLIER_JOB_ID}/frames/frame.0000000.jpg"
    assert (manifest["status"], manifest["duplicate_of"]) == ("COMPLETED", EARLIER_JOB_ID)


def test_given_a_duplicate_of_a_completed_job_when_published_then_its_record_points_at_the_earlier_job(stores):
    earlier = _earlier_completed(stores)

    _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": EARLIER_JOB_ID}))

    record = stores.jobs.get(JOB_ID)
    assert (record["status"], record["duplicate_of"]) == ("COMPLETED", EARLIER_JOB_ID)
    assert record["derivatives"] == earlier["derivatives"]


def test_given_a_duplicate_of_a_job_without_derivatives_when_published_then_derivative_missing(stores):
    stores.jobs.upsert(EARLIER_JOB_ID, status="COMPLETED")

    with pytest.raises(DerivativeMissing, match=EARLIER_JOB_ID):
        _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": EARLIER_JOB_ID}))


def test_given_a_duplicate_of_a_job_that_was_itself_a_duplicate_when_published_then_the_original_frames_are_listed(
    stores,
):
    _earlier_completed(stores, frames=4)
    _publish(stores, _state("job-publish-middle-01", duplicate={"duplicate_of": EARLIER_JOB_ID}))

    _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": "job-publish-middle-01"}))

    assert _manifest(JOB_ID)["derivatives"]["frames"] == _manifest(EARLIER_JOB_ID)["derivatives"]["frames"]


def test_given_the_duplicate_path_state_when_the_handler_runs_then_it_publishes_completed(stores):
    _earlier_completed(stores)

    answer = handler(_state(JOB_ID, duplicate={"duplicate_of": EARLIER_JOB_ID}), CONTEXT)

    assert answer == {"status": "COMPLETED", "manifest_key": f"outputs/{JOB_ID}/manifest.json"}


def test_given_the_processed_path_state_when_the_handler_runs_then_it_publishes_completed(stores):
    answer = handler(_processed(stores.s3, JOB_ID), CONTEXT)

    assert answer == {"status": "COMPLETED", "manifest_key": f"outputs/{JOB_ID}/manifest.json"}
    assert stores.jobs.get(JOB_ID)["status"] == "COMPLETED"


# --- the timeline beside the manifest, and the chapters -----------------------------------------------

CHAPTERS = [{"start_s": 0.0, "end_s": 4.2, "title": "Beach arrival", "summary": "The family reaches the beach."},
            {"start_s": 4.2, "end_s": 9.5, "title": "Sand castle", "summary": "They build a sand castle."}]
SRT = "1\n00:00:00,400 --> 00:00:02,000\nWe made it\n\n2\n00:00:04,300 --> 00:00:06,100\nA castle!\n"


def _analysed(s3, job_id: str) -> dict:
    """A processed job that went through analysis, summary (with chapters), plan and render."""
    state = _processed(s3, job_id)
    keys = {name: f"analysis/{job_id}/{name}.json" for name in ("shots", "timeline", "summary")}
    storage.put_json(OUTPUT_BUCKET, keys["shots"], {"shots": [{"start_s": 0.0, "end_s": 3.96},
                                                               {"start_s": 3.96, "end_s": 9.5}]})
    storage.put_json(OUTPUT_BUCKET, keys["summary"], {"job_id": job_id, "title": "Beach day", "summary": "A day out.",
                                                      "summarizer": "extractive", "chapters": CHAPTERS})
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=f"captions/{job_id}/captions.srt", Body=SRT.encode())
    clip_key = f"clips/{job_id}/clip-00-9x16.mp4"
    return {**state,
            "analysis": [{"transcript": {"bucket": OUTPUT_BUCKET, "key": f"transcripts/{job_id}/transcript.json"},
                          "captions": {"bucket": OUTPUT_BUCKET, "srt_key": f"captions/{job_id}/captions.srt",
                                       "vtt_key": f"captions/{job_id}/captions.vtt"}},
                         {"timeline": {"bucket": OUTPUT_BUCKET, "key": keys["timeline"]},
                          "shots": {"bucket": OUTPUT_BUCKET, "key": keys["shots"]}}],
            "summary": {"bucket": OUTPUT_BUCKET, "key": keys["summary"], "title": "Beach day", "summary": "A day out.",
                        "summarizer": "extractive", "chapter_count": 2},
            "plan": {"plan": {"planner": "local", "clips": [{"start_s": 1.0, "end_s": 8.52, "title": "The castle",
                                                             "score": 0.8, "rationale": "The whole build."}]}},
            "clips": {"clips": [{"path": clip_key, "aspect": "9:16", "start_s": 1.0, "end_s": 8.52, "width": 1080,
                                 "height": 1920, "title": "The castle"},
                                {"path": clip_key.replace("9x16", "1x1"), "aspect": "1:1", "start_s": 1.0,
                                 "end_s": 8.52, "width": 1080, "height": 1080, "title": "The castle"}]}}


def _timeline_file(s3, job_id: str, name: str) -> str:
    return s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"outputs/{job_id}/{name}")["Body"].read().decode()


def test_given_an_analysed_job_when_published_then_its_chapters_are_in_the_manifest_and_its_timeline_beside_it(
        stores):
    _publish(stores, _analysed(stores.s3, JOB_ID))

    manifest = _manifest(JOB_ID)
    assert manifest["chapters"] == CHAPTERS
    assert [(clip["aspect"], clip["path"]) for clip in manifest["clips"]] == [
        ("9:16", f"clips/{JOB_ID}/clip-00-9x16.mp4"), ("1:1", f"clips/{JOB_ID}/clip-00-1x1.mp4")]
    assert manifest["timeline"] == {"otio": "timeline.otio", "edl": "timeline.edl", "fcpxml": "timeline.xml"}
    for kind, name in manifest["timeline"].items():
        timeline = read(_timeline_file(stores.s3, JOB_ID, name), kind, 25.0)
        placed = {clip.name: (clip.range_in_parent().start_time.value, clip.range_in_parent().duration.value,
                              clip.media_reference.target_url) for clip in timeline.find_clips()}
        # 25 fps: the cut at 3.96 s is frame 99; the clip 1.0-8.52 s is frames 25-213; the 9.5 s video ends at frame 238.
        assert (placed["Shot 1"], placed["Shot 2"]) == ((0, 99, "proxy.mp4"), (99, 139, "proxy.mp4")), kind
        if kind != "edl":
            # One track per aspect, the same span: the 9:16 and the 1:1 render of the one planned clip.
            assert placed["Clip 1 (9:16): The castle"] == (25, 188, "clips/clip-00-9x16.mp4")
            assert placed["Clip 1 (1:1): The castle"] == (25, 188, "clips/clip-00-1x1.mp4")
            assert [m.name for m in timeline.tracks.markers] == [
                "Chapter 1: Beach arrival", "Chapter 2: Sand castle", "Clip 1: The castle"]
    otio_file = read(_timeline_file(stores.s3, JOB_ID, "timeline.otio"), "otio")
    assert otio_file.metadata["videoflow"]["original"]["s3"] == "s3://videoflow-ingest/uploads/beach day.mp4"
    captions = next(track for track in otio_file.tracks if track.name == "Captions")
    assert [marker.name for marker in captions.markers] == ["We made it", "A castle!"]


def test_given_a_duplicate_of_an_analysed_job_when_published_then_it_has_the_earlier_chapters_and_its_own_timeline(
        stores):
    state = _analysed(stores.s3, EARLIER_JOB_ID)
    stores.jobs.upsert(EARLIER_JOB_ID, derivatives=state["derivatives"])
    _publish(stores, state)

    _publish(stores, _state(JOB_ID, duplicate={"duplicate_of": EARLIER_JOB_ID}))

    manifest = _manifest(JOB_ID)
    assert manifest["chapters"] == CHAPTERS and manifest["timeline"]["edl"] == "timeline.edl"
    assert "TITLE: beach day.mp4" in _timeline_file(stores.s3, JOB_ID, "timeline.edl")


def test_given_an_adapter_that_refuses_to_write_when_published_then_the_job_completes_without_a_timeline_and_says_why(
        stores, monkeypatch):
    import opentimelineio as otio

    import lambdas.publish_results.logic as publish

    def fake_refusing_render(source):  # the fault: OTIO's writer refusing, as NotSupportedError does
        raise otio.exceptions.NotSupportedError("Only a single video track is supported, got: 2")

    monkeypatch.setattr(publish, "render", fake_refusing_render)

    _publish(stores, _analysed(stores.s3, JOB_ID))

    manifest = _manifest(JOB_ID)
    assert (manifest["status"], manifest["timeline"], len(manifest["chapters"])) == ("COMPLETED", None, 2)
    skipped = [event for event in stores.events.read(JOB_ID) if event.type == "timeline.skipped"]
    assert skipped[0].detail["reason"] == "NotSupportedError: Only a single video track is supported, got: 2"
