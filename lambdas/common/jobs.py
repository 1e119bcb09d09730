"""The jobs table: one item per job, its status and the references to its results."""

from datetime import UTC, datetime
from typing import Literal

from boto3.dynamodb.conditions import Key

from lambdas.common import aws
from lambdas.common.constants import PIPELINE_VERSION
from lambdas.common.dynamo import from_dynamo, to_dynamo

JobStatus = Literal["RUNNING", "COMPLETED", "REJECTED", "FAILED", "CANCELLED"]
FINAL_STATUSES = frozenset({"COMPLETED", "REJECTED", "FAILED", "CANCELLED"})
FINGERPRINT_INDEX = "by_fingerprint"
# Listing newest first: every job carries LISTING_KEY = LISTING_PARTITION, and the index
# sorts that one partition by created_at. One partition is fine at this scale (a GSI
# partition takes ~1000 writes/s; a job writes its record a handful of times); shard it by
# month if that ever binds.
LISTING_INDEX = "by_created_at"
LISTING_KEY = "listing"
LISTING_PARTITION = "jobs"
LISTING_ATTRIBUTES = ("status", "source", "reason", "updated_at")  # projected beside the keys


class JobStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def upsert(self, job_id: str, **fields) -> dict:
        """Set `fields` on the job, creating it if needed; created_at is written only once."""
        now = datetime.now(UTC).isoformat()
        fields = {**fields, "updated_at": now, LISTING_KEY: LISTING_PARTITION}
        names = {f"#{name}": name for name in fields} | {"#created_at": "created_at"}
        values = {f":{name}": to_dynamo(value) for name, value in fields.items()} | {":now": now}
        assignments = [f"#{name} = :{name}" for name in fields]
        assignments.append("#created_at = if_not_exists(#created_at, :now)")
        result = self._table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET " + ", ".join(assignments),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return from_dynamo(result["Attributes"])

    def get(self, job_id: str) -> dict | None:
        item = self._table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def list(self, limit: int, after: dict | None = None) -> tuple[list[dict], dict | None]:
        """Jobs newest first (as the listing index projects them), and the key to resume after, or None.

        `after` is the key of the last job of the previous page (as returned here). One more
        item than asked is read, so a page that ends the list says so (no empty last page).
        """
        query = {
            "IndexName": LISTING_INDEX,
            "KeyConditionExpression": Key(LISTING_KEY).eq(LISTING_PARTITION),
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after:
            query["ExclusiveStartKey"] = after
        items: list[dict] = []
        while len(items) <= limit:
            page = self._table.query(**query)
            items += [from_dynamo(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if len(items) <= limit:
            return items, None
        last = items[limit - 1]
        return items[:limit], {"job_id": last["job_id"], LISTING_KEY: LISTING_PARTITION,
                               "created_at": last["created_at"]}

    def completed_with_fingerprint(self, fingerprint: str, exclude_job_id: str) -> dict | None:
        """The oldest COMPLETED job whose source had this fingerprint, other than `exclude_job_id`."""
        page = self._table.query(
            IndexName=FINGERPRINT_INDEX,
            KeyConditionExpression=Key("fingerprint").eq(fingerprint),
        )
        for item in page["Items"]:
            if item["job_id"] != exclude_job_id and item.get("status") == "COMPLETED":
                return self.get(item["job_id"])
        return None


def content_fingerprint(size_bytes: int, etag: str, head_sha256: str) -> str:
    """Same bytes uploaded the same way, same pipeline version -> same fingerprint.

    The ETag of a multipart upload depends on the part size, so the same bytes uploaded with
    other parts are not recognised: a missed saving, never a wrong reuse (the hash of the
    first 64 KiB guards against an ETag collision being taken for equal content).
    """
    return ":".join((PIPELINE_VERSION, str(size_bytes), etag.strip('"'), head_sha256[:16]))
