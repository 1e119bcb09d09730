"""start_pipeline: one S3 "Object Created" event -> at most one workflow execution.

The execution name is a hash of the pipeline version, bucket, key and object version
(ETag where the bucket is unversioned). Step Functions refuses a second execution with
the same name, so a duplicate or replayed event never starts a second run.
"""

import json
from datetime import UTC, datetime
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from botocore.exceptions import ClientError

from lambdas.common.events import EventLog
from lambdas.common.job_ids import job_id_for
from lambdas.common.models import JobRequest, Model, SourceObject


class StartResult(Model):
    job_id: str
    execution_arn: str | None
    started: bool


def source_from_event(event: S3EventNotificationEventBridgeModel) -> SourceObject:
    obj = event.detail.object
    return SourceObject(
        bucket=event.detail.bucket.name,
        # S3 event keys are URL-encoded ("my clip+1.mp4" arrives as "my+clip%2B1.mp4").
        key=unquote_plus(obj.key),
        version_id=obj.version_id if obj.version_id not in (None, "", "null") else None,
        etag=obj.etag,
        size_bytes=int(obj.size or 0),
    )


def start_pipeline(
    event: S3EventNotificationEventBridgeModel, sfn, state_machine_arn: str, events: EventLog
) -> StartResult:
    source = source_from_event(event)
    job_id = job_id_for(source)
    request = JobRequest(job_id=job_id, source=source)
    # requested_at makes every start's input unique: a STANDARD workflow answers a repeated
    # start of a RUNNING execution with the same name *and input* by returning it, instead of
    # ExecutionAlreadyExists, and a duplicate would pass for a first start.
    execution_input = {
        **request.model_dump(mode="json"),
        "received_at": event.time.isoformat(),
        "requested_at": datetime.now(UTC).isoformat(),
    }
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=job_id, input=json.dumps(execution_input)
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        events.append(job_id, "upload.duplicate_event", "StartPipeline", key=source.key, event_id=event.id)
        return StartResult(job_id=job_id, execution_arn=None, started=False)
    events.append(
        job_id, "job.started", "StartPipeline",
        name=source.name, key=source.key, size_bytes=source.size_bytes, execution_arn=started["executionArn"],
    )
    return StartResult(job_id=job_id, execution_arn=started["executionArn"], started=True)

