"""The state layer (stacks/state.py) as synthesized: the buckets and tables, their encryption and keeping."""

import pytest
from aws_cdk.assertions import Match

from tests.infra import cfn

# --- buckets ---------------------------------------------------------------------------------------------------


def test_given_the_ingest_bucket_then_object_versioning_is_enabled(synth, bucket_ids):
    props = cfn.properties(synth.template_dict, bucket_ids["ingest"])
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_then_objects_are_encrypted_at_rest(synth, bucket_ids, bucket):
    props = cfn.properties(synth.template_dict, bucket_ids[bucket])
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules] in (["AES256"], ["aws:kms"])


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_then_all_public_access_is_blocked(synth, bucket_ids, bucket):
    props = cfn.properties(synth.template_dict, bucket_ids[bucket])
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_when_a_request_is_not_over_tls_then_its_bucket_policy_denies_it(template, bucket_ids, bucket):
    bucket_id = bucket_ids[bucket]
    template.has_resource_properties("AWS::S3::BucketPolicy", {
        "Bucket": {"Ref": bucket_id},
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny",
            "Action": "s3:*",
            "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            # The bucket and every object in it.
            "Resource": [{"Fn::GetAtt": [bucket_id, "Arn"]},
                         {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}],
        })])},
    })


@pytest.mark.parametrize("bucket", ["ingest", "output"])
def test_given_a_data_bucket_then_server_access_logs_go_to_the_access_log_bucket(synth, bucket_ids, bucket):
    logging = cfn.properties(synth.template_dict, bucket_ids[bucket])["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": bucket_ids["access_logs"]}
    assert logging["LogFilePrefix"].endswith("/")


def test_given_the_two_data_buckets_then_their_access_logs_do_not_share_a_prefix(synth, bucket_ids):
    prefixes = [
        cfn.properties(synth.template_dict, bucket_ids[b])["LoggingConfiguration"]["LogFilePrefix"]
        for b in ("ingest", "output")
    ]
    assert len(set(prefixes)) == 2, prefixes


@pytest.mark.parametrize("bucket", ["ingest", "output"])
def test_given_a_data_bucket_then_data_is_retained_when_the_stack_is_deleted(synth, bucket_ids, bucket):
    resource = synth.template_dict["Resources"][bucket_ids[bucket]]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_given_the_ingest_bucket_when_an_object_is_created_then_s3_sends_the_event_to_eventbridge(template, bucket_ids):
    template.has_resource_properties("Custom::S3BucketNotifications", {
        "BucketName": {"Ref": bucket_ids["ingest"]},
        "NotificationConfiguration": Match.object_like({"EventBridgeConfiguration": {}}),
    })


def test_given_no_upload_origins_then_the_ingest_bucket_has_no_cors_rule(template_dict):
    buckets = [r["Properties"] for r in template_dict["Resources"].values() if r["Type"] == "AWS::S3::Bucket"]
    assert all("CorsConfiguration" not in bucket for bucket in buckets)


def test_given_an_upload_origin_then_only_that_origin_may_put_parts_and_read_their_etags():
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from stacks.app import build_app

    app = cdk.App(context={"videoflow": {"upload_allowed_origins": ["https://app.example.com"]}})
    build_app(app)
    buckets = [r["Properties"] for r in Template.from_stack(app.node.find_child("VideoFlow")).to_json()["Resources"]
               .values() if r["Type"] == "AWS::S3::Bucket" and "CorsConfiguration" in r["Properties"]]
    assert [bucket["CorsConfiguration"]["CorsRules"] for bucket in buckets] == [[{
        "AllowedHeaders": ["*"], "AllowedMethods": ["PUT"], "AllowedOrigins": ["https://app.example.com"],
        "ExposedHeaders": ["ETag"], "MaxAge": 3600,
    }]]


# --- tables ----------------------------------------------------------------------------------------------------


def test_given_the_jobs_table_then_it_is_keyed_by_job_id(synth, table_ids):
    props = cfn.properties(synth.template_dict, table_ids["jobs"])
    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert {"AttributeName": "job_id", "AttributeType": "S"} in props["AttributeDefinitions"]


def test_given_the_events_table_then_it_is_keyed_by_job_id_and_a_numeric_seq(synth, table_ids):
    props = cfn.properties(synth.template_dict, table_ids["events"])
    assert props["KeySchema"] == [
        {"AttributeName": "job_id", "KeyType": "HASH"},
        {"AttributeName": "seq", "KeyType": "RANGE"},
    ]
    definitions = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert definitions == {"job_id": "S", "seq": "N"}


@pytest.mark.parametrize("table", ["jobs", "events", "idempotency"])
def test_given_a_table_then_point_in_time_recovery_is_on(synth, table_ids, table):
    props = cfn.properties(synth.template_dict, table_ids[table])
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize("table", ["jobs", "events", "idempotency"])
def test_given_a_table_then_server_side_encryption_is_on(synth, table_ids, table):
    props = cfn.properties(synth.template_dict, table_ids[table])
    assert props["SSESpecification"]["SSEEnabled"] is True


# --- what a hostile or careless upload can leave behind ----------------------------------------------------------


def test_given_the_ingest_bucket_then_replaced_originals_and_abandoned_uploads_expire(synth, bucket_ids):
    from stacks.state import NONCURRENT_VERSION_DAYS

    rules = cfn.properties(synth.template_dict, bucket_ids["ingest"])["LifecycleConfiguration"]["Rules"]

    # A redrive may resume a failed job up to 14 days after it started: its pinned version must still be there.
    assert NONCURRENT_VERSION_DAYS > 14
    assert {"Id": "ExpireReplacedOriginals", "Status": "Enabled", "ExpiredObjectDeleteMarker": True,
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS}} in rules
    assert {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}, "Status": "Enabled"} in rules


def test_given_the_uploads_table_then_claims_expire_after_the_uploads_they_describe_and_it_is_protected(synth):
    from lambdas.jobs_api.claims import CLAIM_TTL_S

    props = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.state.uploads_table))

    assert props["KeySchema"] == [{"AttributeName": "upload_id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert CLAIM_TTL_S > 7 * 24 * 3600  # S3 aborts an incomplete upload after 7 days; its claim outlives it
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_given_the_jobs_table_then_each_owner_lists_their_jobs_newest_first_through_the_owner_index(synth, table_ids):
    from lambdas.common.owners import OWNER_ATTRIBUTE, OWNER_INDEX, OWNER_LISTING_ATTRIBUTES

    props = cfn.properties(synth.template_dict, table_ids["jobs"])

    (index,) = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == OWNER_INDEX]
    assert index["KeySchema"] == [{"AttributeName": OWNER_ATTRIBUTE, "KeyType": "HASH"},
                                  {"AttributeName": "created_at", "KeyType": "RANGE"}]
    assert sorted(index["Projection"]["NonKeyAttributes"]) == sorted(OWNER_LISTING_ATTRIBUTES)
