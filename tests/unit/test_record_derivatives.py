"""record_derivatives: the MediaConvert job's outputs are checked in S3 and recorded, or the job fails.

The proxy is a real MP4 (its length is read from its index); the source is a real upload in
moto's versioned ingest bucket (its current version is compared with the job's).
"""

import types

import pytest

from lambdas.build_mediaconvert_job.logic import MediaConvertJobRequest, plan_job
from lambdas.common import constants
from lambdas.common.errors import DerivativeMissing, DurationTooLong, MediaUnreadable, SourceMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import MediaInfo, SourceObject
from lambdas.common.settings import LimitSettings
from lambdas.record_derivatives.handler import handler
from lambdas.record_derivatives.logic import NO_AUDIO, RecordRequest, record_derivatives
from tests.media import make_video, put_source
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-derivatives-0001"
OUTPUT_BUCKET = "videoflow-output"
CONTEXT = LocalLambdaContext("record_derivatives")


LIMITS = LimitSettings()
SOURCE_KEY = "uploads/clip.mp4"


def _media(*, width=1920, height=1080, has_audio=True, duration_s=2.0) -> MediaInfo:
    return MediaInfo(
        container="mp4", duration_s=duration_s, size_bytes=50_000_000, video_codec="h264",
        coded_width=width, coded_height=height, width=width, height=height, frame_rate=29.97,
        has_audio=has_audio, audio_codec="aac" if has_audio else None, audio_channels=2 if has_audio else 0,
        audio_sample_rate_hz=48_000 if has_audio else 0,
    )


def _source() -> SourceObject:
    """Where the job's upload is, for planning (the stores fixture uploads it and knows its version)."""
    return SourceObject(bucket="videoflow-ingest", key=SOURCE_KEY, version_id="v1", etag="e", size_bytes=50_000_000)


def _spec(media: MediaInfo):
    return plan_job(MediaConvertJobRequest(job_id=JOB_ID, source=_source(), media=media),
                    output_bucket=OUTPUT_BUCKET, max_duration_s=constants.DEFAULT_MAX_DURATION_S)


@pytest.fixture(scope="module")
def proxy_of(tmp_path_factory):
    """proxy_of(seconds): the bytes of a real small MP4 that long, made once per length."""
    folder, made = tmp_path_factory.mktemp("proxies"), {}

    def get(seconds: float) -> bytes:
        if seconds not in made:
            made[seconds] = make_video(folder / f"proxy-{seconds}.mp4", seconds=seconds, width=160, height=90)
        return made[seconds].read_bytes()

    return get


def _write_outputs(s3, spec, *, proxy=True, audio=True, frames=32, proxy_bytes: bytes = b"") -> None:
    """What MediaConvert writes (a real proxy, stand-ins for the rest), under the keys the spec promises."""
    where = spec.destinations
    if proxy:
        s3.put_object(Bucket=where.bucket, Key=where.proxy_key, Body=proxy_bytes)
    if audio and where.audio_key:
        s3.put_object(Bucket=where.bucket, Key=where.audio_key, Body=b"RIFF\x24\x00\x00\x00WAVE")
    for index in range(frames):
        s3.put_object(Bucket=where.bucket, Key=f"{where.frames_prefix}frame.{index:07d}.jpg", Body=b"\xff\xd8\xff")


def _request(media: MediaInfo, spec, source: SourceObject) -> RecordRequest:
    return RecordRequest(job_id=JOB_ID, source=source, media=media, mediaconvert=spec)


@pytest.fixture
def stores(aws_state, proxy_of):
    source = put_source(aws_state, b"the uploaded bytes", SOURCE_KEY)
    return types.SimpleNamespace(s3=aws_state, jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"),
                                 source=source, proxy_of=proxy_of)


def _record(stores, media: MediaInfo, limits: LimitSettings = LIMITS, proxy_s: float | None = None, **outputs):
    spec = _spec(media)
    _write_outputs(stores.s3, spec, proxy_bytes=stores.proxy_of(proxy_s or media.duration_s), **outputs)
    return record_derivatives(_request(media, spec, stores.source), stores.s3, limits, stores.jobs, stores.events)


def test_given_every_output_written_when_recorded_then_the_proxy_is_the_spec_size_and_its_decoded_length(stores):
    media = _media()
    spec = _spec(media)

    derivatives = _record(stores, media)

    assert derivatives.proxy.model_dump() == {
        "bucket": OUTPUT_BUCKET, "key": spec.destinations.proxy_key, "width": 960, "height": 540, "duration_s": 2.0,
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
        {"proxy": "720x540", "proxy_duration_s": 2.0, "audio": False, "audio_absent_reason": NO_AUDIO, "frames": 5},
    )]


def test_given_the_workflow_state_after_the_mediaconvert_job_when_the_handler_runs_then_it_returns_the_derivatives(
    stores,
):
    media = _media(width=1080, height=1920)
    spec = _spec(media)
    _write_outputs(stores.s3, spec, frames=3, proxy_bytes=stores.proxy_of(2.0))
    state = {
        "job_id": JOB_ID,
        "source": stores.source.model_dump(mode="json"),
        "media": media.model_dump(mode="json"),
        "job": {"job_id": JOB_ID, "status": "RUNNING", "created_at": "2026-11-12T09:41:30+00:00", "fingerprint": "f"},
        "duplicate": {"duplicate_of": None},
        "mediaconvert": spec.model_dump(mode="json"),
        "mediaconvert_job": {"id": "1731404490123-abcdef", "status": "COMPLETE"},
    }

    answer = handler(state, CONTEXT)

    assert (answer["proxy"]["width"], answer["proxy"]["height"]) == (540, 960)
    assert answer["audio"]["key"] == spec.destinations.audio_key and answer["frames"]["count"] == 3


# --- what is only known once MediaConvert has decoded the file --------------------------------------------


def test_given_the_upload_was_overwritten_during_the_transcode_when_recorded_then_it_is_rejected_as_replaced(stores):
    put_source(stores.s3, b"a newer upload under the same key", SOURCE_KEY)

    with pytest.raises(SourceMissing, match="replaced by a newer upload while it was being processed"):
        _record(stores, _media())

    assert stores.jobs.get(JOB_ID) is None


def test_given_the_upload_was_deleted_during_the_transcode_when_recorded_then_it_is_rejected_as_missing(stores):
    stores.s3.delete_object(Bucket=stores.source.bucket, Key=SOURCE_KEY)

    with pytest.raises(SourceMissing, match="deleted while it was being processed"):
        _record(stores, _media())


def test_given_a_decoded_video_longer_than_the_limit_when_recorded_then_both_lengths_are_named(stores):
    limits = LimitSettings(MAX_DURATION_S=3)

    with pytest.raises(DurationTooLong) as rejected:
        _record(stores, _media(duration_s=2.0), limits=limits, proxy_s=5)

    assert str(rejected.value) == "The video lasts 5.0 s once decoded (the file stated 2.0 s); the limit is 3.0 s."


def test_given_a_decoded_video_within_a_second_of_the_limit_when_recorded_then_it_passes(stores):
    derivatives = _record(stores, _media(duration_s=2.0), limits=LimitSettings(MAX_DURATION_S=1.5))

    assert derivatives.proxy.duration_s == pytest.approx(2.0, abs=0.05)


def test_given_a_proxy_much_shorter_than_the_stated_length_when_recorded_then_the_media_is_unreadable(stores):
    with pytest.raises(MediaUnreadable, match=r"Only 2\.0 s of the stated 8\.0 s could be decoded"):
        _record(stores, _media(duration_s=8.0), proxy_s=2)


def test_given_a_proxy_that_is_not_an_mp4_when_recorded_then_the_derivative_is_reported_unreadable(stores):
    spec = _spec(_media())
    _write_outputs(stores.s3, spec, proxy_bytes=b"\x00\x00\x00\x18ftypmp42")

    with pytest.raises(DerivativeMissing, match="is not a readable MP4"):
        record_derivatives(_request(_media(), spec, stores.source), stores.s3, LIMITS, stores.jobs, stores.events)


def test_given_a_proxy_a_little_shorter_than_stated_when_recorded_then_it_passes_with_its_own_length(stores):
    # e.g. a source whose sound outlasts its picture by a second: MediaConvert's output follows the picture
    derivatives = _record(stores, _media(duration_s=3.0), proxy_s=2)

    assert derivatives.proxy.duration_s == pytest.approx(2.0, abs=0.05)
