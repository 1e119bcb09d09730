"""Row 7: what the pipeline writes never starts a job.

Three independent guards, each asked of the synthesized template:
- only the ingest bucket sends its object events to EventBridge (the output bucket, where every
  derivative, analysis, clip and manifest goes, sends none);
- the one rule that starts jobs matches "Object Created" in the ingest bucket under uploads/
  only, checked with the matcher the local run delivers events with (moto's EventPattern);
- no role of the stack but the jobs API's may put an object into the ingest bucket, so neither a
  step, MediaConvert, the frame workers nor the renderer can write where jobs start.
tests/workflow/test_recursive_trigger.py writes into the output bucket of a running local account.
"""

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
from videoflow.local.access import LocalAccess
from videoflow.local.delivery import LocalDelivery
from videoflow.local.iam import AccessDenied
from videoflow.local.template import ACCOUNT, REGION, LocalTemplate

OUTPUT_PREFIXES = (DERIVATIVES_PREFIX, MANIFESTS_PREFIX, TRANSCRIPTS_PREFIX, CAPTIONS_PREFIX, ANALYSIS_PREFIX,
                   CLIPS_PREFIX, OUTPUTS_PREFIX)


@pytest.fixture(scope="module")
def local(template_dict) -> LocalTemplate:
    return LocalTemplate(template_dict)


def object_created(bucket: str, key: str) -> dict:
    """S3's EventBridge event (the key URL-encoded, as S3 sends it)."""
    return {"version": "0", "id": "e-1", "detail-type": "Object Created", "source": "aws.s3", "account": ACCOUNT,
            "time": "2026-12-01T10:00:00Z", "region": REGION, "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": 10, "etag": "e", "version-id": "v1", "sequencer": "01"},
                       "request-id": "r", "requester": ACCOUNT, "reason": "PutObject"}}


def test_only_the_ingest_bucket_sends_object_events_to_eventbridge(template_dict, bucket_ids):
    notified = [resource["Properties"]["BucketName"] for resource in template_dict["Resources"].values()
                if resource["Type"] == "Custom::S3BucketNotifications"
                and "EventBridgeConfiguration" in resource["Properties"]["NotificationConfiguration"]]

    assert notified == [{"Ref": bucket_ids["ingest"]}]


def test_the_rule_that_starts_jobs_matches_object_created_in_the_ingest_bucket_under_uploads_only(
        template_dict, bucket_ids):
    patterns = [resource["Properties"]["EventPattern"] for resource in template_dict["Resources"].values()
                if resource["Type"] == "AWS::Events::Rule"
                and resource["Properties"].get("EventPattern", {}).get("source") == ["aws.s3"]]

    assert patterns == [{
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [{"Ref": bucket_ids["ingest"]}]}, "object": {"key": [{"prefix": INGEST_PREFIX}]}},
    }]


@pytest.mark.parametrize("prefix", OUTPUT_PREFIXES)
def test_an_object_the_pipeline_writes_in_the_output_bucket_matches_no_rule(local, bucket_ids, prefix):
    delivery = LocalDelivery(local, access=None, lambdas=None)
    output = local.names[bucket_ids["output"]]

    for key in (f"{prefix}0123456789abcdef/file.mp4", f"{prefix}{INGEST_PREFIX}x.mp4", f"{INGEST_PREFIX}x.mp4"):
        assert delivery.matching_rules(object_created(output, key)) == [], key


@pytest.mark.parametrize("key", ["derivatives/x.mp4", "uploads", "uploadsx/a.mp4", "outputs/uploads/a.mp4"])
def test_an_object_in_the_ingest_bucket_outside_the_upload_prefix_matches_no_rule(local, bucket_ids, key):
    delivery = LocalDelivery(local, access=None, lambdas=None)

    assert delivery.matching_rules(object_created(local.names[bucket_ids["ingest"]], key)) == []


def test_an_upload_matches_exactly_the_rule_that_starts_a_job(local, bucket_ids):
    delivery = LocalDelivery(local, access=None, lambdas=None)

    matched = delivery.matching_rules(object_created(local.names[bucket_ids["ingest"]], "uploads/my+talk.mp4"))

    assert [rule_id for rule_id, _ in matched] == [local.find("AWS::Events::Rule", "PipelineOrchestrationUploadCreated")]


def test_no_role_of_the_stack_but_the_jobs_apis_may_put_an_object_into_the_ingest_bucket(local, bucket_ids):
    access = LocalAccess(local)
    ingest = local.names[bucket_ids["ingest"]]
    writers = []
    for role_id in local.of_type("AWS::IAM::Role"):
        principal = access.role_principal(local.arn(role_id), f"role {role_id}")
        for key in (f"{INGEST_PREFIX}abc/x.mp4", "elsewhere/x.mp4"):
            try:
                access.check(principal, "s3:PutObject", f"arn:aws:s3:::{ingest}/{key}", {"aws:SecureTransport": "true"},
                             policy_of=f"arn:aws:s3:::{ingest}")
            except AccessDenied:
                continue
            writers.append((role_id, key))

    jobs_api_role = next(local.resolve(function["Properties"]["Role"]) for function
                         in local.of_type("AWS::Lambda::Function").values()
                         if function["Properties"].get("Handler") == "lambdas.jobs_api.handler.handler")
    assert [(local.arn(role_id), key) for role_id, key in writers] == [(jobs_api_role, f"{INGEST_PREFIX}abc/x.mp4")]
