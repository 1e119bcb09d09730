"""The jobs table as one owner sees it: the owner written when an upload is completed, the owner's jobs listed.

The owner is the IAM principal that started the upload (lambdas/common/owners.py). The jobs API
writes it onto the job's record when the upload is completed, before the workflow registers
the job, so the caller can follow the job at once; the workflow's own writes never touch it.
Listing by owner reads the jobs table's owner index, newest first (stacks/state.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from lambdas.common import aws
from lambdas.common.dynamo import newest_first, to_dynamo
from lambdas.common.jobs import LISTING_KEY, LISTING_PARTITION
from lambdas.common.owners import OWNER_ATTRIBUTE, OWNER_INDEX


class OwnerConflict(Exception):
    """The job already belongs to another principal (a job id is a hash of bucket, key and version: never expected)."""


class OwnedJobs:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def record_owner(self, job_id: str, owner: str, source: dict) -> None:
        """Write the owner (once) and, where the workflow has not yet, the job's source and timestamps."""
        now = datetime.now(UTC).isoformat()
        try:
            self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression=("SET #owner = :owner, #listing = :listing, #created = if_not_exists(#created, :now), "
                                  "#updated = if_not_exists(#updated, :now), #source = if_not_exists(#source, :source)"),
                ConditionExpression="attribute_not_exists(#owner) OR #owner = :owner",
                ExpressionAttributeNames={"#owner": OWNER_ATTRIBUTE, "#listing": LISTING_KEY, "#created": "created_at",
                                          "#updated": "updated_at", "#source": "source"},
                ExpressionAttributeValues={":owner": owner, ":listing": LISTING_PARTITION, ":now": now,
                                           ":source": to_dynamo(source)},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise OwnerConflict(f"job {job_id} already has another owner") from None
            raise

    def list(self, owner: str, limit: int, after: tuple[str, str] | None = None) -> tuple[list[dict], tuple | None]:
        """The owner's jobs newest first, and (job_id, created_at) of the last one when there are more."""
        query = {"IndexName": OWNER_INDEX, "KeyConditionExpression": Key(OWNER_ATTRIBUTE).eq(owner),
                 "ScanIndexForward": False}
        if after:
            query["ExclusiveStartKey"] = {"job_id": after[0], OWNER_ATTRIBUTE: owner, "created_at": after[1]}
        items, last = newest_first(self._table, query, limit)
        return items, (last["job_id"], last["created_at"]) if last else None
