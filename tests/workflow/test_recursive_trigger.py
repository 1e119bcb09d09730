"""Row 7, in a running local account: objects written into the output bucket start nothing; an upload starts one job.

The local account delivers S3 events with the synthesized rules (videoflow/local/delivery.py).
Objects are put into the output bucket under every prefix the pipeline writes, and the
"Object Created" event S3 would send for each (it sends none: EventBridge is off on that
bucket, tests/infra/test_recursive_trigger.py) is delivered anyway: no rule takes it, and no
execution starts. An empty upload under uploads/ then starts exactly one job (REJECTED at once).
"""

import uuid
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest

from lambdas.common.constants import (
    ANALYSIS_PREFIX,
    CAPTIONS_PREFIX,
    CLIPS_PREFIX,
    DERIVATIVES_PREFIX,
    INGEST_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    TRANSCRIPTS_PREFIX,
)
from videoflow.local.runner import LocalPipeline
from videoflow.local.template import ACCOUNT, REGION

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def _object_created(bucket: str, key: str, put: dict) -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": quote_plus(key, safe="/"), "size": 5, "etag": put["ETag"].strip('"'),
                              "sequencer": "01"},
                   "request-id": "r", "requester": ACCOUNT, "source-ip-address": "127.0.0.1", "reason": "PutObject"},
    }


def test_objects_written_into_the_output_bucket_start_no_job_and_an_upload_starts_one(outdir, tmp_path,
                                                                                     inference_url):
    with LocalPipeline(outdir, inference_url=inference_url) as pipeline:
        output = pipeline.template.names[pipeline.template.find("AWS::S3::Bucket", "StateOutput")]
        delivered = []
        for prefix in (DERIVATIVES_PREFIX, MANIFESTS_PREFIX, TRANSCRIPTS_PREFIX, CAPTIONS_PREFIX, ANALYSIS_PREFIX,
                       CLIPS_PREFIX, OUTPUTS_PREFIX):
            for key in (f"{prefix}0123456789abcdef/proxy.mp4", f"{prefix}{INGEST_PREFIX}again.mp4"):
                put = pipeline.s3.put_object(Bucket=output, Key=key, Body=b"bytes")
                delivered += pipeline.put_event(_object_created(output, key, put))
        before = pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"]

        empty = tmp_path / "empty.mp4"
        empty.write_bytes(b"")
        submitted = pipeline.submit(empty)
        pipeline.wait(submitted.job_id, timeout_s=60)
        after = pipeline.sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"]

    assert delivered == []
    assert before == []
    assert [execution["name"] for execution in after] == [submitted.job_id]
