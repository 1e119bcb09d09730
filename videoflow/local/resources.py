"""The local account's stateful resources, created in moto as the template declares them."""

import boto3

from videoflow.local.template import REGION, LocalTemplate


def create_resources(template: LocalTemplate):
    """Buckets (versioned where the template says so), tables with their indexes, topics and
    queues, under their local names; returns an S3 client of the local account."""
    s3 = boto3.client("s3", region_name=REGION)
    for logical_id, bucket in template.of_type("AWS::S3::Bucket").items():
        name = template.names[logical_id]
        s3.create_bucket(Bucket=name)
        if bucket["Properties"].get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for logical_id, table in template.of_type("AWS::DynamoDB::Table").items():
        props = table["Properties"]
        create = {
            "TableName": template.names[logical_id],
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = [
                {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection")}
                for index in props["GlobalSecondaryIndexes"]
            ]
        dynamodb.create_table(**create)
    sns = boto3.client("sns", region_name=REGION)
    for logical_id in template.of_type("AWS::SNS::Topic"):
        sns.create_topic(Name=template.names[logical_id])
    sqs = boto3.client("sqs", region_name=REGION)
    for logical_id in template.of_type("AWS::SQS::Queue"):
        sqs.create_queue(QueueName=template.names[logical_id])
    return s3
