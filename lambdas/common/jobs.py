"""The jobs table: one item per job, its status and the references to its results.

A job's status never goes backwards. Every status write is a conditional transition that
DynamoDB checks in the same write (`ConditionExpression`), so a late or duplicate writer
cannot overwrite a final status:

- a job without a status yet may take any status (RegisterJob, or a rejection before it);
- a RUNNING job may take any status;
- a final status (COMPLETED, REJECTED, FAILED, CANCELLED) may be written again (a retried
  step, a redelivered event), and FAILED may become RUNNING again (a redrive); nothing else.

A refused write raises `StatusChangeRefused`, with the status the job has, and is logged;
each writer decides whether that is a no-op (compensate, publish_results) or an error.
"""

from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from lambdas.common import aws
from lambdas.common.constants import PIPELINE_VERSION
from lambdas.common.dynamo import from_dynamo, newest_first, to_dynamo
from lambdas.common.errors import VideoFlowError

JobStatus = Literal["RUNNING", "COMPLETED", "REJECTED", "FAILED", "CANCELLED"]
FINAL_STATUSES = frozenset({"COMPLETED", "REJECTED", "FAILED", "CANCELLED"})
# The one way back: a FAILED job redriven (the jobs API's retry) runs again.
REOPENABLE = {"RUNNING": "FAILED"}
# How compensate knows that an ABORTED execution was a person's cancel: StopExecution's error (the
# jobs API stops with it), or this field on the job record, written before StopExecution is called.
CANCEL_ERROR = "VideoFlow.Cancelled"
CANCEL_REQUESTED_FIELD = "cancel_requested_at"
CANCELLED_REASON = "Cancelled on request."
FINGERPRINT_INDEX = "by_fingerprint"
# Listing newest first: every job carries LISTING_KEY = LISTING_PARTITION, and the index
# sorts that one partition by created_at. One partition is fine at this scale (a GSI
# partition takes ~1000 writes/s; a job writes its record a handful of times); shard it by
# month if that ever binds.
LISTING_INDEX = "by_created_at"
LISTING_KEY = "listing"
LISTING_PARTITION = "jobs"
LISTING_ATTRIBUTES = ("status", "source", "reason", "updated_at")  # projected beside the keys


_logger = Logger(service="videoflow", child=True)


class StatusChangeRefused(VideoFlowError):
    """The job already has a status that this write may not replace (a late or duplicate writer)."""

    code = "STATUS_CHANGE_REFUSED"

    def __init__(self, job_id: str, wanted: str, current: str | None, status_version: int | None = None):
        self.job_id, self.wanted, self.current, self.status_version = job_id, wanted, current, status_version
        super().__init__(f"Job {job_id} is {current}; it was not changed to {wanted}.")


def may_change(current: str | None, wanted: str) -> bool:
    """The transition rule that `JobStore.upsert` has DynamoDB enforce (see the module docstring)."""
    return current in (None, "RUNNING", wanted) or REOPENABLE.get(wanted) == current


class JobStore:
    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def upsert(self, job_id: str, *, expected_status_version: int | None = None, **fields) -> dict:
        """Set `fields` on the job, creating it if needed; created_at is written only once.

        With a `status`, the write is a transition (`may_change`) checked by DynamoDB, and the
        job's `status_version` counts it. `expected_status_version` also requires that no other
        status was written since the caller read the job (the jobs API's retry: a redriven run
        that has already failed again must not be marked RUNNING). Refused: `StatusChangeRefused`.
        """
        now = datetime.now(UTC).isoformat()
        fields = {**fields, "updated_at": now, LISTING_KEY: LISTING_PARTITION}
        names = {f"#{name}": name for name in fields} | {"#created_at": "created_at"}
        values = {f":{name}": to_dynamo(value) for name, value in fields.items()} | {":now": now}
        assignments = [f"#{name} = :{name}" for name in fields]
        assignments.append("#created_at = if_not_exists(#created_at, :now)")
        update = {}
        wanted = fields.get("status")
        if wanted is not None:
            names["#status_version"] = "status_version"
            values |= {":zero": 0, ":one": 1}
            assignments.append("#status_version = if_not_exists(#status_version, :zero) + :one")
            allowed = sorted({"RUNNING", wanted} | ({REOPENABLE[wanted]} if wanted in REOPENABLE else set()))
            values |= {f":from_{index}": status for index, status in enumerate(allowed)}
            condition = (f"(attribute_not_exists(#status) OR #status IN "
                         f"({', '.join(f':from_{index}' for index in range(len(allowed)))}))")
            if expected_status_version is not None:
                values[":expected_version"] = expected_status_version
                condition += " AND #status_version = :expected_version"
            update["ConditionExpression"] = condition
        try:
            result = self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression="SET " + ", ".join(assignments),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **update,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            record = self.get(job_id) or {}
            refused = StatusChangeRefused(job_id, wanted, record.get("status"), record.get("status_version"))
            _logger.warning("job status change refused", extra={
                "job_id": job_id, "wanted": wanted, "current": refused.current,
                "status_version": refused.status_version, "expected_status_version": expected_status_version})
            raise refused from None
        return from_dynamo(result["Attributes"])

    def get(self, job_id: str) -> dict | None:
        item = self._table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return from_dynamo(item) if item else None

    def list(self, limit: int, after: dict | None = None) -> tuple[list[dict], dict | None]:
        """Jobs newest first (as the listing index projects them), and the key to resume after, or None.

        `after` is the key of the last job of the previous page (as returned here). One more
        item than asked is read, so a page that ends the list says so (no empty last page).
        """
        query = {"IndexName": LISTING_INDEX, "KeyConditionExpression": Key(LISTING_KEY).eq(LISTING_PARTITION),
                 "ScanIndexForward": False, **({"ExclusiveStartKey": after} if after else {})}
        items, last = newest_first(self._table, query, limit)
        if last is None:
            return items, None
        return items, {"job_id": last["job_id"], LISTING_KEY: LISTING_PARTITION, "created_at": last["created_at"]}

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
