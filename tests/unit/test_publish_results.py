"""publish_results: the job manifest in the output bucket, and the job record marked COMPLETED."""

import types

import pytest

from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common import storage
from lambdas.common.errors import DerivativeMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
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
