"""A duplicate event never starts a second run; duplicate content is not paid for twice."""

import boto3

from tests.media import make_video
from tests.workflow.fakes import MediaConvertCallCounter
from videoflow.local.template import REGION


def executions(pipeline) -> list[dict]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"])
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def test_the_same_s3_event_delivered_three_times_runs_once_and_the_same_content_under_another_name_reuses_the_results(
        run_job, tmp_path):
    # One run proves both: the duplicate deliveries of its event, then its content uploaded again under another name.
    counter = MediaConvertCallCounter()
    video = make_video(tmp_path / "a.mp4", seconds=2)
    job = run_job(video, adapters={"mediaconvert:createJob.sync": counter})
    pipeline = job.pipeline
    key = "uploads/a.mp4"
    version = pipeline.s3.list_object_versions(Bucket=pipeline.ingest_bucket, Prefix=key)["Versions"][0]
    event = pipeline.object_created_event(key, {"VersionId": version["VersionId"]})

    # The same S3 event delivered twice more: the workflow runs once.
    again = pipeline.deliver(event)  # answered by the idempotency record
    _forget_idempotency(pipeline)  # as when the record has expired, a day later
    late = pipeline.deliver(event)  # refused by Step Functions: the execution name exists

    assert again.job_id == late.job_id == job.job_id
    assert late.started is False
    assert len(executions(pipeline)) == 1
    assert counter.calls == 1
    assert "upload.duplicate_event" in [e.type for e in pipeline.events(job.job_id)]

    # The same content uploaded under another name: a job of its own that reuses the earlier results.
    second = pipeline.submit(video, key="uploads/copy of a.mp4")
    pipeline.wait(second.job_id, timeout_s=120)
    folder = pipeline.export(second.job_id, tmp_path / "out")

    assert second.job_id != job.job_id
    assert counter.calls == 1
    manifest = (folder / "manifest.json").read_text()
    assert '"status": "COMPLETED"' in manifest and f'"duplicate_of": "{job.job_id}"' in manifest
    assert (folder / "proxy.mp4").stat().st_size == (job.folder / "proxy.mp4").stat().st_size


def _forget_idempotency(pipeline) -> None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(pipeline.idempotency_table)
    for item in table.scan()["Items"]:
        table.delete_item(Key={"id": item["id"]})
