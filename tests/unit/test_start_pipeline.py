"""start_pipeline: one S3 "Object Created" event -> at most one workflow execution, named by the job id."""

import json
import types
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from lambdas.common import aws as common_aws
from lambdas.common.events import EventLog
from lambdas.common.job_ids import job_id_for
from lambdas.common.models import SourceObject
from lambdas.common.settings import get_settings
from lambdas.start_pipeline.handler import handler
from lambdas.start_pipeline.logic import source_from_event, start_pipeline
from videoflow.local.lambda_runtime import LocalLambdaContext

EVENT_PATH = Path(__file__).resolve().parent.parent / "events" / "s3_object_created.json"
DECODED_KEY = "uploads/my holiday clip+1 (final) été.mp4"
VERSION_ID = "3HL4kqtJvjVBH40Nrjfkd.Pf.2bxCaBy"
REGION = "us-east-1"
IDEMPOTENCY_TABLE = "videoflow-idempotency"
CONTEXT = LocalLambdaContext("start_pipeline")


def _event(**object_fields) -> dict:
    event = json.loads(EVENT_PATH.read_text())
    event["detail"]["object"].update(object_fields)
    return event


def _parsed(event: dict) -> S3EventNotificationEventBridgeModel:
    return S3EventNotificationEventBridgeModel.model_validate(event)


def _source(**fields) -> SourceObject:
    values = {"bucket": "videoflow-ingest", "key": DECODED_KEY, "version_id": "v1", "etag": "abc", "size_bytes": 10}
    return SourceObject(**(values | fields))


@pytest.fixture
def pipeline(aws_state, monkeypatch):
    """aws_state plus the idempotency table and a trivial state machine, wired in through the environment."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=IDEMPOTENCY_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="videoflow-job",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
    get_settings.cache_clear()
    common_aws.reset()
    return types.SimpleNamespace(sfn=sfn, arn=arn, events=EventLog("videoflow-events"))


def _executions(pipeline) -> list[dict]:
    return pipeline.sfn.list_executions(stateMachineArn=pipeline.arn)["executions"]


# --- source_from_event / job_id_for (pure) ---------------------------------------------


def test_given_the_recorded_event_when_the_source_is_read_then_the_url_encoded_key_is_decoded():
    source = source_from_event(_parsed(_event()))

    assert source.key == DECODED_KEY


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("uploads/my+clip.mp4", "uploads/my clip.mp4"),
        ("uploads/a%2Bb.mp4", "uploads/a+b.mp4"),
        ("uploads/100%25+done.mp4", "uploads/100% done.mp4"),
        ("uploads/caf%C3%A9.mov", "uploads/café.mov"),
        ("uploads/%E5%8B%95%E7%94%BB.mp4", "uploads/動画.mp4"),
    ],
    ids=["space", "plus", "percent", "accent", "cjk"],
)
def test_given_an_encoded_key_when_the_source_is_read_then_it_is_the_key_as_uploaded(encoded, decoded):
    source = source_from_event(_parsed(_event(key=encoded)))

    assert source.key == decoded


def test_given_the_recorded_event_when_the_source_is_read_then_bucket_version_etag_and_size_are_kept():
    source = source_from_event(_parsed(_event()))

    assert (source.bucket, source.version_id, source.etag, source.size_bytes) == (
        "videoflow-ingest", VERSION_ID, "9b2cf535f27731c974343645a3985328-6", 48213337,
    )


def test_given_an_unversioned_bucket_event_when_the_source_is_read_then_the_version_is_none():
    source = source_from_event(_parsed(_event(**{"version-id": "null"})))

    assert source.version_id is None


def test_given_the_same_bucket_key_and_version_when_job_ids_are_made_then_they_are_equal():
    assert job_id_for(_source()) == job_id_for(_source())


def test_given_a_different_version_of_the_same_key_when_job_ids_are_made_then_they_differ():
    assert job_id_for(_source(version_id="v1")) != job_id_for(_source(version_id="v2"))


def test_given_an_unversioned_object_rewritten_with_new_bytes_when_job_ids_are_made_then_they_differ():
    assert job_id_for(_source(version_id=None, etag="aaa")) != job_id_for(_source(version_id=None, etag="bbb"))


def test_given_any_source_when_a_job_id_is_made_then_it_is_a_valid_execution_name():
    job_id = job_id_for(_source(key="uploads/" + "é" * 300))

    assert len(job_id) <= 80 and job_id.isalnum()


# --- handler (Powertools idempotency) against moto --------------------------------------


def test_given_an_upload_event_when_the_handler_runs_then_one_execution_named_with_the_job_id_starts(pipeline):
    result = handler(_event(), CONTEXT)

    executions = _executions(pipeline)
    assert [execution["name"] for execution in executions] == [result["job_id"]]
    assert result["started"] is True and result["execution_arn"] == executions[0]["executionArn"]


def test_given_an_upload_event_when_the_handler_runs_then_the_job_id_is_the_hash_of_the_source(pipeline):
    result = handler(_event(), CONTEXT)

    assert result["job_id"] == job_id_for(source_from_event(_parsed(_event())))


def test_given_an_upload_event_when_the_handler_runs_then_the_execution_input_has_the_job_id_and_source(pipeline):
    result = handler(_event(), CONTEXT)

    execution_input = json.loads(pipeline.sfn.describe_execution(executionArn=result["execution_arn"])["input"])
    assert execution_input["job_id"] == result["job_id"]
    assert execution_input["source"] == {
        "bucket": "videoflow-ingest", "key": DECODED_KEY, "version_id": VERSION_ID,
        "etag": "9b2cf535f27731c974343645a3985328-6", "size_bytes": 48213337,
    }


def test_given_an_upload_event_when_the_handler_runs_then_a_job_started_event_is_logged(pipeline):
    result = handler(_event(), CONTEXT)

    events = pipeline.events.read(result["job_id"])
    assert [(event.seq, event.type, event.detail["key"]) for event in events] == [(1, "job.started", DECODED_KEY)]


def test_given_the_same_event_delivered_twice_when_the_handler_runs_twice_then_one_execution_and_the_same_answer(
    pipeline,
):
    first = handler(_event(), CONTEXT)
    second = handler(_event(), CONTEXT)

    assert second == first
    assert len(_executions(pipeline)) == 1
    assert [event.type for event in pipeline.events.read(first["job_id"])] == ["job.started"]


def test_given_a_new_version_of_the_same_key_when_the_handler_runs_then_a_second_execution_starts(pipeline):
    first = handler(_event(), CONTEXT)
    new_version = {"version-id": "Zx9o2mZp0Ylx1QzT0rQyXwq.e7h2Qx1B", "etag": "0f343b0931126a20f133d67c2b018a3b"}

    second = handler(_event(**new_version), CONTEXT)

    assert second["job_id"] != first["job_id"]
    assert len(_executions(pipeline)) == 2


# --- logic without the idempotency layer: Step Functions' name check is the backstop ----


def test_given_the_same_event_while_the_job_runs_when_the_logic_runs_twice_then_a_duplicate_event_is_recorded(
    pipeline,
):
    sfn = common_aws.client("stepfunctions")
    first = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)
    second = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)

    assert len(_executions(pipeline)) == 1
    assert second.started is False and second.job_id == first.job_id
    assert [event.type for event in pipeline.events.read(first.job_id)] == ["job.started", "upload.duplicate_event"]


def test_given_a_replayed_event_for_the_same_version_when_the_logic_runs_twice_then_one_execution_runs(pipeline):
    sfn = common_aws.client("stepfunctions")
    replay = _event() | {"id": "a4b2c9d0-1111-2222-3333-444455556666", "time": "2026-11-12T10:15:00Z"}

    first = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)
    second = start_pipeline(_parsed(replay), sfn, pipeline.arn, pipeline.events)

    assert len(_executions(pipeline)) == 1
    assert (second.job_id, second.started, second.execution_arn) == (first.job_id, False, None)


def test_given_a_replayed_event_for_the_same_version_when_the_logic_runs_twice_then_a_duplicate_event_is_logged(
    pipeline,
):
    sfn = common_aws.client("stepfunctions")
    replay = _event() | {"id": "a4b2c9d0-1111-2222-3333-444455556666", "time": "2026-11-12T10:15:00Z"}

    first = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)
    start_pipeline(_parsed(replay), sfn, pipeline.arn, pipeline.events)

    events = pipeline.events.read(first.job_id)
    assert [event.type for event in events] == ["job.started", "upload.duplicate_event"]
    assert events[1].detail == {"key": DECODED_KEY, "event_id": "a4b2c9d0-1111-2222-3333-444455556666"}


def test_given_the_same_event_after_the_job_finished_when_the_logic_runs_again_then_no_second_execution(pipeline):
    sfn = common_aws.client("stepfunctions")
    first = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)
    sfn.stop_execution(executionArn=first.execution_arn)

    second = start_pipeline(_parsed(_event()), sfn, pipeline.arn, pipeline.events)

    assert second.started is False
    assert len(_executions(pipeline)) == 1
