"""The jobs table: one item per job, its status and the references to its results."""

from datetime import UTC, datetime
from typing import Literal

from boto3.dynamodb.conditions import Key

from lambdas.common import aws
from lambdas.common.constants import PIPELINE_VERSION
from lambdas.common.dynamo import from_dynamo, to_dynamo

JobStatus = Literal["RUNNING", "COMPLETED", "REJECTED", "FAILED"]
FINGERPRINT_INDEX = "by_fingerprint"


class JobStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def upsert(self, job_id: str, **fields) -> dict:
        """Set `fields` on the job, creating it if needed; created_at is written only once."""
        now = datetime.now(UTC).isoformat()
        fields = {**fields, "updated_at": now}
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
