"""The local IAM evaluator (videoflow/local/iam.py) decides as AWS does within one account."""

import pytest

from videoflow.local.iam import AccessDenied, Principal, Request, ResourcePolicy, authorize, evaluate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/worker"
BUCKET = "arn:aws:s3:::outputs"


def role(*statements: dict) -> Principal:
    return Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/s", label="function worker",
                     policies=({"Version": "2012-10-17", "Statement": list(statements)},), role_arn=ROLE)


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_an_action_on_a_granted_prefix_is_allowed_and_outside_it_is_denied():
    worker = role(allow("s3:PutObject", f"{BUCKET}/derivatives/*"))

    assert evaluate(Request(worker, "s3:PutObject", f"{BUCKET}/derivatives/job/proxy.mp4")).allowed
    assert not evaluate(Request(worker, "s3:PutObject", f"{BUCKET}/outputs/job/manifest.json")).allowed


def test_actions_match_case_insensitively_with_wildcards_and_resources_do_not():
    worker = role(allow("S3:Get*", f"{BUCKET}/Analysis/*"))

    assert evaluate(Request(worker, "s3:GetObject", f"{BUCKET}/Analysis/x")).allowed
    assert not evaluate(Request(worker, "s3:GetObject", f"{BUCKET}/analysis/x")).allowed


def test_an_explicit_deny_wins_over_an_allow():
    worker = role(allow("s3:*", "*"), {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"})

    assert evaluate(Request(worker, "s3:GetObject", f"{BUCKET}/x")).allowed
    decision = evaluate(Request(worker, "s3:PutObject", f"{BUCKET}/x"))
    assert not decision.allowed and "explicitly denies" in decision.reason


def test_a_listing_is_allowed_only_under_the_prefix_its_condition_names():
    worker = role(allow("s3:ListBucket", BUCKET, Condition={"StringLike": {"s3:prefix": ["clips/*"]}}))

    assert evaluate(Request(worker, "s3:ListBucket", BUCKET, {"s3:prefix": "clips/job/"})).allowed
    assert not evaluate(Request(worker, "s3:ListBucket", BUCKET, {"s3:prefix": "uploads/"})).allowed
    assert not evaluate(Request(worker, "s3:ListBucket", BUCKET)).allowed  # no prefix at all


def test_a_bucket_policy_that_denies_plain_http_denies_a_request_without_tls():
    tls_only = ResourcePolicy({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                                              "Resource": [BUCKET, f"{BUCKET}/*"],
                                              "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    worker = role(allow("s3:GetObject", f"{BUCKET}/*"))

    assert evaluate(Request(worker, "s3:GetObject", f"{BUCKET}/x"), tls_only).allowed
    assert not evaluate(Request(worker, "s3:GetObject", f"{BUCKET}/x", {"aws:SecureTransport": "false"}),
                        tls_only).allowed


def test_a_service_principal_needs_a_resource_policy_that_names_it():
    cloudwatch = Principal(arn="cloudwatch.amazonaws.com", label="CloudWatch", service="cloudwatch.amazonaws.com")
    topic = "arn:aws:sns:us-east-1:123456789012:alarms"
    deny_only = ResourcePolicy({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sns:Publish",
                                               "Resource": topic,
                                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    lets_alarms_in = ResourcePolicy({"Statement": [*deny_only.document["Statement"], {
        "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
        "Resource": topic, "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]})

    assert not evaluate(Request(cloudwatch, "sns:Publish", topic, {"aws:SourceAccount": ACCOUNT}), deny_only).allowed
    assert evaluate(Request(cloudwatch, "sns:Publish", topic, {"aws:SourceAccount": ACCOUNT}), lets_alarms_in).allowed
    assert not evaluate(Request(cloudwatch, "sns:Publish", topic, {"aws:SourceAccount": "999"}), lets_alarms_in).allowed


def test_a_key_policy_that_names_the_account_lets_identity_policies_decide():
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    account_root = ResourcePolicy({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                  "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}, kind="key")

    assert not evaluate(Request(role(), "kms:Decrypt", key), account_root).allowed
    assert evaluate(Request(role(allow("kms:Decrypt", key)), "kms:Decrypt", key), account_root).allowed


def test_an_identity_policy_alone_cannot_use_a_key_whose_policy_ignores_the_account():
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    service_only = ResourcePolicy({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                                                  "Principal": {"Service": "sns.amazonaws.com"}}]}, kind="key")

    assert not evaluate(Request(role(allow("kms:*", "*")), "kms:Decrypt", key), service_only).allowed


def test_a_denial_names_the_principal_the_action_and_the_resource():
    with pytest.raises(AccessDenied) as denied:
        authorize(Request(role(), "dynamodb:UpdateItem", "arn:aws:dynamodb:us-east-1:123456789012:table/jobs"))

    message = str(denied.value)
    assert "assumed-role/worker" in message and "function worker" in message
    assert "dynamodb:UpdateItem" in message and "table/jobs" in message
