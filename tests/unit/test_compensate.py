"""compensate: a job that fails after rendering started leaves no clip, thumbnail or partial behind.

Against moto: the job's clips/<job>/ prefix is filled as renders leave it (finished clips,
thumbnails, partial uploads of a killed attempt), beside another job's clips and the job's
own analysis, which must survive.
"""

import pytest

from lambdas.common.events import EventLog
from lambdas.common.keys import clip_key, clips_prefix, render_spec_key, thumbnail_key
from lambdas.common.models import SourceObject
from lambdas.compensate.handler import handler
from lambdas.compensate.logic import CompensateRequest, compensate
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-compensate-0001"
OTHER_JOB_ID = "job-compensate-0002"
OUTPUT_BUCKET = "videoflow-output"
SOURCE = SourceObject(bucket="videoflow-ingest", key="uploads/talk.mp4", version_id="v1", size_bytes=1_000)
REQUEST = CompensateRequest(job_id=JOB_ID, source=SOURCE)


def _put(s3, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=b"x")


def _keys(s3, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=OUTPUT_BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _rendered(job_id: str, clips: int = 2) -> list[str]:
    """What renders leave: clips and thumbnails, and the partial a killed attempt did not delete."""
    keys = [key for index in range(clips) for key in (clip_key(job_id, index), thumbnail_key(job_id, index))]
    return [*keys, clip_key(job_id, clips) + ".partial-0a1b2c3d4e5f6789", thumbnail_key(job_id, clips) + ".partial-x1"]


@pytest.fixture
def events(aws_state):
    return EventLog("videoflow-events")


def _compensated(events: EventLog) -> list:
    return [event for event in events.read(JOB_ID) if event.type == "render.compensated"]


def test_given_clips_thumbnails_and_partials_when_compensated_then_the_jobs_clips_prefix_is_empty(aws_state, events):
    _put(aws_state, *_rendered(JOB_ID))

    result = compensate(REQUEST, OUTPUT_BUCKET, events)

    assert _keys(aws_state, clips_prefix(JOB_ID)) == []
    assert result.deleted == 6
    assert result.prefix == f"clips/{JOB_ID}/"


def test_given_another_jobs_clips_when_compensated_then_they_are_untouched(aws_state, events):
    _put(aws_state, *_rendered(JOB_ID), *_rendered(OTHER_JOB_ID))

    compensate(REQUEST, OUTPUT_BUCKET, events)

    assert _keys(aws_state) == sorted(_rendered(OTHER_JOB_ID))


def test_given_a_job_id_that_prefixes_another_when_compensated_then_the_longer_ones_clips_stay(aws_state, events):
    longer = JOB_ID + "9"  # clips/<job>/ ends with a slash, so clips/<job>9/ is not under it
    _put(aws_state, clip_key(JOB_ID, 0), clip_key(longer, 0))

    compensate(REQUEST, OUTPUT_BUCKET, events)

    assert _keys(aws_state) == [clip_key(longer, 0)]


def test_given_the_jobs_analysis_outside_clips_when_compensated_then_it_stays(aws_state, events):
    _put(aws_state, *_rendered(JOB_ID), render_spec_key(JOB_ID, 0), f"outputs/{OTHER_JOB_ID}/manifest.json")

    compensate(REQUEST, OUTPUT_BUCKET, events)

    assert _keys(aws_state) == sorted([render_spec_key(JOB_ID, 0), f"outputs/{OTHER_JOB_ID}/manifest.json"])


def test_given_rendered_objects_when_compensated_then_a_render_compensated_event_gives_the_count(aws_state, events):
    _put(aws_state, *_rendered(JOB_ID, clips=3))

    compensate(REQUEST, OUTPUT_BUCKET, events)

    [event] = _compensated(events)
    assert event.step == "Compensate"
    assert event.detail == {"deleted": 8, "prefix": f"clips/{JOB_ID}/"}


def test_given_compensate_already_ran_when_it_runs_again_then_it_deletes_nothing_and_succeeds(aws_state, events):
    _put(aws_state, *_rendered(JOB_ID))
    compensate(REQUEST, OUTPUT_BUCKET, events)

    again = compensate(REQUEST, OUTPUT_BUCKET, events)

    assert again.deleted == 0
    assert [event.detail["deleted"] for event in _compensated(events)] == [6, 0]


def test_given_more_than_one_delete_batch_of_objects_when_compensated_then_all_go(aws_state, events, monkeypatch):
    from lambdas.compensate import logic

    monkeypatch.setattr(logic, "DELETE_BATCH", 3)  # the real 1000 would need 1001 uploads to cross
    _put(aws_state, *_rendered(JOB_ID, clips=4))  # 10 objects: four batches

    result = compensate(REQUEST, OUTPUT_BUCKET, events)

    assert result.deleted == 10
    assert _keys(aws_state, clips_prefix(JOB_ID)) == []


def test_given_the_failure_path_state_when_the_handler_runs_then_it_compensates_the_output_bucket(aws_state):
    _put(aws_state, *_rendered(JOB_ID))
    state = {"job_id": JOB_ID, "source": SOURCE.model_dump(mode="json"),
             "error": {"Error": "RenderFailed", "Cause": "ffmpeg failed"}}

    result = handler(state, LocalLambdaContext("compensate"))

    assert result == {"deleted": 6, "prefix": f"clips/{JOB_ID}/"}
    assert _keys(aws_state, clips_prefix(JOB_ID)) == []


def test_given_s3_refuses_some_deletes_when_compensated_then_it_raises_naming_them_and_logs_no_event(aws_state, events):
    from botocore.stub import Stubber

    from lambdas.common import aws

    keys = _rendered(JOB_ID, clips=1)
    with Stubber(aws.client("s3")) as s3_refusing_deletes:  # moto never refuses a delete
        s3_refusing_deletes.add_response("list_objects_v2", {"Contents": [{"Key": key} for key in keys],
                                                             "IsTruncated": False})
        s3_refusing_deletes.add_response("delete_objects", {"Errors": [
            {"Key": keys[0], "Code": "AccessDenied", "Message": "Access Denied"}]})

        with pytest.raises(RuntimeError, match=f"could not delete 1 rendered objects: {keys[0]}: AccessDenied"):
            compensate(REQUEST, OUTPUT_BUCKET, events)

    assert _compensated(events) == []
