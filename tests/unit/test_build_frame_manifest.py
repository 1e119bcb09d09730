"""build_frame_manifest: frames in time order, chunked for the vision workers, kept in S3 not in state."""

import json

import pytest
from moto.s3.models import s3_backends

from lambdas.build_frame_manifest.handler import handler
from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common import constants, storage
from lambdas.common.events import EventLog
from lambdas.common.settings import get_settings
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-frames-00000001"
OUTPUT_BUCKET = "videoflow-output"
FRAMES_PREFIX = f"derivatives/{JOB_ID}/frames/"
CONTEXT = LocalLambdaContext("build_frame_manifest")


def _put_frames(count: int) -> None:
    """MediaConvert-named JPEG stand-ins, written straight into moto's S3 (7,200 API puts would take ~10 s)."""
    backend = s3_backends["123456789012"]["aws"]
    for index in range(count):
        backend.put_object(OUTPUT_BUCKET, f"{FRAMES_PREFIX}frame.{index:07d}.jpg", b"\xff\xd8\xff",
                           disable_notification=True)


def _state(count: int, interval_s: float = constants.FRAME_INTERVAL_S) -> dict:
    """The workflow state as BuildFrameManifest receives it (the parts it reads, plus neighbours)."""
    return {
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/long talk.mp4", "version_id": "v1", "etag": "e",
                   "size_bytes": 9_000_000_000},
        "mediaconvert_job": {"id": "1731404490123-abcdef", "status": "COMPLETE"},
        "derivatives": {
            "proxy": {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/proxy/proxy.mp4", "width": 960,
                      "height": 540, "duration_s": count * interval_s},
            "audio": {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/audio/audio.wav"},
            "audio_absent_reason": None,
            "frames": {"bucket": OUTPUT_BUCKET, "prefix": FRAMES_PREFIX, "count": count, "interval_s": interval_s},
        },
    }


def _build(count: int, *, interval_s: float = constants.FRAME_INTERVAL_S, per_chunk: int = constants.FRAMES_PER_CHUNK):
    _put_frames(count)
    request = FrameManifestRequest.model_validate(_state(count, interval_s))
    ref = build_frame_manifest(request, per_chunk, EventLog("videoflow-events"))
    return ref, storage.get_json(OUTPUT_BUCKET, ref.key)


def test_given_130_frames_when_the_manifest_is_built_then_they_are_chunked_60_60_10(aws_state):
    _, manifest = _build(130)

    assert [len(chunk["frames"]) for chunk in manifest["chunks"]] == [60, 60, 10]
    assert [chunk["index"] for chunk in manifest["chunks"]] == [0, 1, 2]


def test_given_an_exact_multiple_of_the_chunk_size_when_built_then_there_is_no_empty_chunk(aws_state):
    ref, manifest = _build(120)

    assert ref.chunk_count == 2 and [len(chunk["frames"]) for chunk in manifest["chunks"]] == [60, 60]


def test_given_frames_every_2_s_when_the_manifest_is_built_then_frame_i_is_at_i_times_the_interval(aws_state):
    _, manifest = _build(70)

    frames = [frame for chunk in manifest["chunks"] for frame in chunk["frames"]]
    assert [(frame["index"], frame["t_s"]) for frame in frames] == [(i, i * 2) for i in range(70)]


def test_given_a_fractional_interval_when_the_manifest_is_built_then_timestamps_have_no_float_drift(aws_state):
    _, manifest = _build(40, interval_s=0.1)

    frames = [frame for chunk in manifest["chunks"] for frame in chunk["frames"]]
    assert frames[3]["t_s"] == 0.3 and frames[39]["t_s"] == 3.9


def test_given_frames_in_s3_when_the_manifest_is_built_then_each_frame_keeps_its_key_in_time_order(aws_state):
    _, manifest = _build(12)

    keys = [frame["key"] for chunk in manifest["chunks"] for frame in chunk["frames"]]
    assert keys == [f"{FRAMES_PREFIX}frame.{i:07d}.jpg" for i in range(12)]


def test_given_frames_when_the_manifest_is_built_then_it_is_stored_under_manifests_job_frames_json(aws_state):
    ref, manifest = _build(5)

    assert ref.key == f"manifests/{JOB_ID}/frames.json"
    assert {name: manifest[name] for name in ("job_id", "bucket", "interval_s", "frame_count")} == {
        "job_id": JOB_ID, "bucket": OUTPUT_BUCKET, "interval_s": 2, "frame_count": 5,
    }


def test_given_frames_when_the_manifest_is_built_then_the_reference_carries_the_counts(aws_state):
    ref, _ = _build(130)

    assert ref.model_dump() == {"bucket": OUTPUT_BUCKET, "key": f"manifests/{JOB_ID}/frames.json",
                                "frame_count": 130, "chunk_count": 3, "frames_per_chunk": 60, "array_size": 3}


def test_given_a_single_chunk_when_the_manifest_is_built_then_the_batch_array_still_has_two_children(aws_state):
    ref, _ = _build(20)

    assert (ref.chunk_count, ref.array_size) == (1, 2)  # AWS Batch arrays have 2 to 10,000 children


def test_given_frames_when_the_manifest_is_built_then_a_frames_manifest_built_event_is_logged(aws_state):
    _build(130)

    events = EventLog("videoflow-events").read(JOB_ID)
    assert [(event.type, event.detail) for event in events] == [
        ("frames.manifest_built", {"frames": 130, "chunks": 3, "manifest_key": f"manifests/{JOB_ID}/frames.json"})
    ]


def test_given_frames_per_chunk_configured_when_the_handler_runs_then_chunks_use_that_size(aws_state, monkeypatch):
    monkeypatch.setenv("FRAMES_PER_CHUNK", "25")
    get_settings.cache_clear()
    _put_frames(60)

    answer = handler(_state(60), CONTEXT)

    assert (answer["frames_per_chunk"], answer["chunk_count"]) == (25, 3)


def test_given_a_four_hour_video_of_7200_frames_when_the_handler_runs_then_the_result_is_a_few_hundred_bytes(
    aws_state,
):
    _put_frames(7200)

    answer = handler(_state(7200), CONTEXT)

    assert (answer["frame_count"], answer["chunk_count"]) == (7200, 120)
    assert len(json.dumps(answer).encode()) < 400
