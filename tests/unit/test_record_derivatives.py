"""record_derivatives: the MediaConvert job's outputs are checked in S3 and recorded, or the job fails."""

import types

import pytest

from lambdas.build_mediaconvert_job.logic import MediaConvertJobRequest, plan_job
from lambdas.common import constants
from lambdas.common.errors import DerivativeMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import MediaInfo, SourceObject
from lambdas.record_derivatives.handler import handler
from lambdas.record_derivatives.logic import NO_AUDIO, RecordRequest, record_derivatives
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-derivatives-0001"
OUTPUT_BUCKET = "videoflow-output"
CONTEXT = LocalLambdaContext("record_derivatives")


def _media(*, width=1920, height=1080, has_audio=True, duration_s=62.5) -> MediaInfo:
    return MediaInfo(
        container="mp4", duration_s=duration_s, size_bytes=50_000_000, video_codec="h264",
        coded_width=width, coded_height=height, width=width, height=height, frame_rate=29.97,
        has_audio=has_audio, audio_codec="aac" if has_audio else None, audio_channels=2 if has_audio else 0,
        audio_sample_rate_hz=48_000 if has_audio else 0,
    )


def _source() -> SourceObject:
    return SourceObject(bucket="videoflow-ingest", key="uploads/clip.mp4", version_id="v1", etag="e",
                        size_bytes=50_000_000)


def _spec(media: MediaInfo):
    return plan_job(MediaConvertJobRequest(job_id=JOB_ID, source=_source(), media=media),
                    output_bucket=OUTPUT_BUCKET, max_duration_s=constants.DEFAULT_MAX_DURATION_S)


def _write_outputs(s3, spec, *, proxy=True, audio=True, frames=32) -> None:
    """Small stand-ins for what MediaConvert writes, under the keys the spec promises."""
    where = spec.destinations
    if proxy:
        s3.put_object(Bucket=where.bucket, Key=where.proxy_key, Body=b"\x00\x00\x00\x18ftypmp42")
    if audio and where.audio_key:
        s3.put_object(Bucket=where.bucket, Key=where.audio_key, Body=b"RIFF\x24\x00\x00\x00WAVE")
    for index in range(frames):
        s3.put_object(Bucket=where.bucket, Key=f"{where.frames_prefix}frame.{index:07d}.jpg", Body=b"\xff\xd8\xff")


def _request(media: MediaInfo, spec) -> RecordRequest:
    return RecordRequest(job_id=JOB_ID, source=_source(), media=media, mediaconvert=spec)


@pytest.fixture
def stores(aws_state):
    return types.SimpleNamespace(s3=aws_state, jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"))


def _record(stores, media: MediaInfo, **outputs):
    spec = _spec(media)
    _write_outputs(stores.s3, spec, **outputs)
    return record_derivatives(_request(media, spec), stores.jobs, stores.events)


def test_given_every_output_written_when_recorded_then_the_proxy_is_the_spec_size_and_the_source_duration(stores):
    media = _media()
    spec = _spec(media)

    derivatives = _record(stores, media)

    assert derivatives.proxy.model_dump() == {
        "bucket": OUTPUT_BUCKET, "key": spec.destinations.proxy_key, "width": 960, "height": 540, "duration_s": 62.5,
    }


def test_given_a_source_with_audio_when_recorded_then_the_audio_is_the_promised_wav(stores):
    derivatives = _record(stores, _media())

    assert derivatives.audio.model_dump() == {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/audio/audio.wav"}
    assert derivatives.audio_absent_reason is None


def test_given_a_source_without_audio_when_recorded_then_audio_is_none_with_a_reason(stores):
    derivatives = _record(stores, _media(has_audio=False))

    assert derivatives.audio is None
    assert derivatives.audio_absent_reason == NO_AUDIO


def test_given_frames_in_s3_when_recorded_then_the_frame_count_is_what_s3_holds(stores):
    derivatives = _record(stores, _media(), frames=37)

    assert derivatives.frames.model_dump() == {
        "bucket": OUTPUT_BUCKET, "prefix": f"derivatives/{JOB_ID}/frames/", "count": 37,
        "interval_s": constants.FRAME_INTERVAL_S,
    }


def test_given_more_frames_than_one_s3_listing_page_when_recorded_then_all_are_counted(stores):
    derivatives = _record(stores, _media(), frames=1001)

    assert derivatives.frames.count == 1001


def test_given_the_proxy_is_missing_when_recorded_then_derivative_missing_names_its_key(stores):
    with pytest.raises(DerivativeMissing, match=f"s3://{OUTPUT_BUCKET}/derivatives/{JOB_ID}/proxy/proxy.mp4"):
        _record(stores, _media(), proxy=False)


def test_given_the_audio_is_missing_for_a_source_with_audio_when_recorded_then_derivative_missing(stores):
    with pytest.raises(DerivativeMissing, match="audio"):
        _record(stores, _media(), audio=False)


def test_given_no_frames_were_written_when_recorded_then_derivative_missing(stores):
    with pytest.raises(DerivativeMissing, match="No frames"):
        _record(stores, _media(), frames=0)


def test_given_a_missing_output_when_recorded_then_nothing_is_recorded(stores):
    with pytest.raises(DerivativeMissing):
        _record(stores, _media(), proxy=False)

    assert stores.jobs.get(JOB_ID) is None and stores.events.read(JOB_ID) == []


def test_given_every_output_written_when_recorded_then_the_job_record_holds_the_derivatives(stores):
    derivatives = _record(stores, _media())

    assert stores.jobs.get(JOB_ID)["derivatives"] == derivatives.model_dump(mode="json")


def test_given_every_output_written_when_recorded_then_a_derivatives_recorded_event_is_logged(stores):
    _record(stores, _media(width=640, height=480, has_audio=False), frames=5)

    events = stores.events.read(JOB_ID)
    assert [(event.type, event.step, event.detail) for event in events] == [(
        "derivatives.recorded", "RecordDerivatives",
        {"proxy": "720x540", "audio": False, "audio_absent_reason": NO_AUDIO, "frames": 5},
    )]


def test_given_the_workflow_state_after_the_mediaconvert_job_when_the_handler_runs_then_it_returns_the_derivatives(
    stores,
):
    media = _media(width=1080, height=1920)
    spec = _spec(media)
    _write_outputs(stores.s3, spec, frames=3)
    state = {
        "job_id": JOB_ID,
        "source": _source().model_dump(mode="json"),
        "media": media.model_dump(mode="json"),
        "job": {"job_id": JOB_ID, "status": "RUNNING", "created_at": "2026-11-12T09:41:30+00:00", "fingerprint": "f"},
        "duplicate": {"duplicate_of": None},
        "mediaconvert": spec.model_dump(mode="json"),
        "mediaconvert_job": {"id": "1731404490123-abcdef", "status": "COMPLETE"},
    }

    answer = handler(state, CONTEXT)

    assert (answer["proxy"]["width"], answer["proxy"]["height"]) == (540, 960)
    assert answer["audio"]["key"] == spec.destinations.audio_key and answer["frames"]["count"] == 3
