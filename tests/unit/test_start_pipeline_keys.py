"""Row 6: keys with unicode, `+`, `%`, space, `#`, `?` end to end, at unit level.

Each name is stored in moto's ingest bucket under uploads/, S3's EventBridge event is built as
S3 sends it (the key form-encoded: space as `+`, everything else outside letters, digits and
`/` percent-encoded), and start_pipeline's real handler runs on it. The execution's input
names the key exactly as stored: HeadObject of that key and version finds the object,
validate_upload's key check lets it pass, and the job id is the one the jobs API answers for
that object. (tests/workflow/test_happy_path.py runs three such names through the whole
workflow; the jobs API never makes such keys itself: safe_file_name keeps letters, digits, `.`,
`_` and `-`.)
"""

import json
from urllib.parse import quote_plus

import pytest

from lambdas.common.display import shown
from lambdas.common.job_ids import job_id_for
from lambdas.jobs_api.uploads import safe_file_name
from lambdas.start_pipeline.handler import handler
from lambdas.validate_upload.logic import check_key
from tests.unit import test_start_pipeline as base
from tests.unit.test_start_pipeline import CONTEXT, _event

pipeline = base.pipeline  # moto, the idempotency table and a state machine (tests/unit/test_start_pipeline.py)

NAMES = {
    "space": "my holiday clip.mp4",
    "plus": "c++ 1+1=2.mp4",
    "percent": "100% done %20 not a space.mp4",
    "hash": "take #3.mp4",
    "question": "why? really?.mp4",
    "query-like": "a?b=c&d=e#f.mp4",
    "accents": "été à Paris – 1.mp4",
    "cjk": "動画 テスト.mov",
    "emoji": "party 🎉👨‍👩‍👧.mp4",
    "all": "a b+c%d#e?f&g=h 動 🎬.mkv",
    "bidi": "clip\u202egnp.mp4",  # a right-to-left override: processed, shown neutralized
}


def _s3_event(key: str, put: dict, size: int) -> dict:
    """S3's "Object Created" event for EventBridge: the key URL-encoded the way S3 encodes it."""
    return _event(key=quote_plus(key, safe="/"), size=size, etag=put["ETag"].strip('"'),
                  **{"version-id": put["VersionId"]})


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_key_with_this_name_reaches_the_workflow_exactly_as_stored(pipeline, aws_state, name):
    key = f"uploads/{name}"
    put = aws_state.put_object(Bucket="videoflow-ingest", Key=key, Body=b"video bytes")
    event = _s3_event(key, put, len(b"video bytes"))

    started = handler(event, CONTEXT)

    (execution,) = pipeline.sfn.list_executions(stateMachineArn=pipeline.arn)["executions"]
    source = json.loads(pipeline.sfn.describe_execution(executionArn=execution["executionArn"])["input"])["source"]
    assert source["key"] == key
    assert aws_state.head_object(Bucket="videoflow-ingest", Key=source["key"],
                                 VersionId=source["version_id"])["ETag"] == put["ETag"]
    check_key(source["key"])  # validate_upload: an ordinary name
    assert started["job_id"] == execution["name"] == job_id_for_stored(key, put)
    (logged,) = pipeline.events.read(started["job_id"])
    assert logged.detail["key"] == key


def job_id_for_stored(key: str, put: dict) -> str:
    """What the jobs API answers on completing an upload of this object."""
    from lambdas.common.models import SourceObject

    return job_id_for(SourceObject(bucket="videoflow-ingest", key=key, version_id=put["VersionId"],
                                   etag=put["ETag"].strip('"'), size_bytes=11))


@pytest.mark.parametrize(("name", "key_name"), [
    ("take #3?.mp4", "take_3.mp4"),
    ("a?b=c&d=e#f.mp4", "a_b_c_d_e_f.mp4"),
    ("100% (final)+.mov", "100_final.mov"),
    ("clip\u202egnp.mp4", "clipgnp.mp4"),  # the override is dropped from the key
    ("動画 テスト.mp4", "video.mp4"),
])
def test_the_jobs_api_builds_keys_from_names_without_characters_that_need_encoding(name, key_name):
    assert safe_file_name(name) == key_name
    assert quote_plus(f"uploads/x/{key_name}", safe="/") == f"uploads/x/{key_name}"


def test_a_name_with_a_direction_override_keeps_its_key_and_is_shown_with_the_override_visible():
    key = f"uploads/{NAMES['bidi']}"

    check_key(key)

    assert shown(key) == "uploads/clip<U+202E>gnp.mp4"
