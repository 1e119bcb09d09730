"""Small S3 helpers shared by the steps that read or write derivatives."""

import json

from botocore.exceptions import ClientError

from lambdas.common import aws


def list_keys(bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


def exists(bucket: str, key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def put_json(bucket: str, key: str, value: dict) -> None:
    aws.client("s3").put_object(
        Bucket=bucket, Key=key, Body=json.dumps(value, indent=2).encode(), ContentType="application/json"
    )


def get_json(bucket: str, key: str) -> dict:
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
