"""jobs_api: follow a job, retry or cancel it. Pure functions over pydantic models and small adapters.

The adapters are an S3 client, a Step Functions client and the jobs and events stores, so a
test can hand in moto's or a fake that raises the real ClientError codes. handler.py maps the
named errors below to HTTP; every error message is written for the person who called.

Uploads are in uploads.py, the routes' models and errors in models.py; this module reads and
acts on jobs.

Compute writes events; the API only reads them. Retry and cancel set the job record's status
after the AWS call has succeeded (so a refused request writes nothing); the events that
record them come from the workflow's side: `job.retried` and `job.cancelled` are written by
compensate, on the execution's status change (a redriven RUNNING, an ABORTED).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime

from botocore.exceptions import ClientError

from lambdas.common.events import EventLog
from lambdas.common.jobs import FINAL_STATUSES, LISTING_KEY, LISTING_PARTITION, JobStore
from lambdas.common.models import Event
from lambdas.jobs_api.models import (
    EventsPage,
    InvalidRequest,
    JobActionResult,
    JobDetail,
    JobList,
    JobNotFound,
    JobStateConflict,
    JobSummary,
    SourceRef,
    TooManyExecutions,
    error_of,
)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 1000
TOKEN_VERSION = "v1"

CANCELLED_REASON = "Cancelled on request."
# The events that move a job between states; the last of them says whether its log is closed.
TERMINAL_EVENTS = frozenset({"job.completed", "job.rejected", "job.failed", "job.cancelled"})
LIFECYCLE_EVENTS = TERMINAL_EVENTS | {"job.started", "job.registered", "job.retried"}


def list_jobs(limit: int, next_token: str | None, *, jobs: JobStore) -> JobList:
    """One page of jobs, newest first."""
    after = decode_token(next_token) if next_token else None
    try:
        items, last = jobs.list(limit, after)
    except ClientError as error:
        if error_of(error)[0] == "ValidationException":
            raise InvalidRequest("next_token is not valid: pass the next_token of the previous page as it "
                                 "was.") from None
        raise
    return JobList(jobs=[_summary(item) for item in items], next_token=encode_token(last) if last else None)


def encode_token(key: dict) -> str:
    payload = json.dumps([key["job_id"], key["created_at"]], separators=(",", ":")).encode()
    return f"{TOKEN_VERSION}.{base64.urlsafe_b64encode(payload).decode().rstrip('=')}"


def decode_token(token: str) -> dict:
    version, _, body = token.partition(".")
    try:
        if version != TOKEN_VERSION:
            raise ValueError(version)
        job_id, created_at = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not (isinstance(job_id, str) and isinstance(created_at, str) and 0 < len(job_id) <= 80
                and 0 < len(created_at) <= 64):
            raise ValueError("shape")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("next_token is not valid: pass the next_token of the previous page as it was.") from None
    return {"job_id": job_id, LISTING_KEY: LISTING_PARTITION, "created_at": created_at}


def get_job(job_id: str, *, jobs: JobStore, events: EventLog, ingest_bucket: str) -> JobDetail:
    """The job record; a job the workflow has not registered yet is PENDING, read from its event log."""
    record = jobs.get(job_id)
    if record is not None:
        return _detail(record)
    history = events.read(job_id)
    if not history:
        raise JobNotFound(f"There is no job {job_id}.")
    known = next((event.detail for event in history if event.detail.get("key")), {})
    source = SourceRef(bucket=ingest_bucket, key=known["key"], version_id=known.get("version_id"),
                       size_bytes=known.get("size_bytes")) if known else None
    return JobDetail(job_id=job_id, status="PENDING", source=source, created_at=history[0].at,
                     updated_at=history[-1].at)


def job_events(job_id: str, after: int, limit: int, *, jobs: JobStore, events: EventLog) -> EventsPage:
    """The job's events after `after`, at most `limit`, and whether the job is done.

    The job record is read before the events: its final status is written before the terminal
    event, so a final status seen here with the terminal event missing means "not yet done".
    """
    record = jobs.get(job_id)
    page = events.read(job_id, after_seq=after, limit=limit + 1)
    more, page = len(page) > limit, page[:limit]
    if record is None and not page and not (after and events.read(job_id, limit=1)):
        raise JobNotFound(f"There is no job {job_id}.")
    done = (not more and record is not None and record.get("status") in FINAL_STATUSES
            and _log_is_closed(job_id, page, events))
    return EventsPage(job_id=job_id, events=page, last_seq=page[-1].seq if page else after, done=done)


def _log_is_closed(job_id: str, page: list[Event], events: EventLog) -> bool:
    """The job's last lifecycle event is terminal (a retry after a failure reopens it)."""
    for event in reversed(page):
        if event.type in LIFECYCLE_EVENTS:
            return event.type in TERMINAL_EVENTS
    for event in reversed(events.read(job_id)):
        if event.type in LIFECYCLE_EVENTS:
            return event.type in TERMINAL_EVENTS
    return False


def execution_arn(state_machine_arn: str, job_id: str) -> str:
    """arn:<partition>:states:<region>:<account>:execution:<state machine name>:<job id> (the job id is its name)."""
    prefix, found, name = state_machine_arn.rpartition(":stateMachine:")
    if not found or not name:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return f"{prefix}:execution:{name}:{job_id}"


def retry_job(job_id: str, *, jobs: JobStore, events: EventLog, sfn, state_machine_arn: str,
              requested_by: str | None = None) -> JobActionResult:
    """Redrive the FAILED execution from the step that failed (Step Functions RedriveExecution)."""
    record = _record_in(job_id, "FAILED", "retried", jobs, events)
    arn = execution_arn(state_machine_arn, job_id)
    # Two retries of the same failure (a double click) are one redrive.
    token = hashlib.sha256(f"{job_id}:{record.get('updated_at')}".encode()).hexdigest()[:64]
    try:
        answer = sfn.redrive_execution(executionArn=arn, clientToken=token)
    except ClientError as error:
        code, message = error_of(error)
        if code == "ExecutionNotRedrivable":
            raise JobStateConflict(f"Job {job_id} cannot be retried: {message}") from None
        if code == "ExecutionDoesNotExist":
            raise JobStateConflict(f"Job {job_id} has no workflow execution to retry.") from None
        if code == "ExecutionLimitExceeded":
            raise TooManyExecutions("Too many workflows are running; retry the job later.") from None
        raise
    # The record, not the log: compensate writes `job.retried` when the redriven execution runs.
    jobs.upsert(job_id, status="RUNNING", retry_requested_by=requested_by,
                retry_requested_at=_iso(answer.get("redriveDate")))
    return JobActionResult(job_id=job_id, status="RUNNING", execution_arn=arn)


def cancel_job(job_id: str, *, jobs: JobStore, events: EventLog, sfn, state_machine_arn: str,
               requested_by: str | None = None) -> JobActionResult:
    """Stop the RUNNING execution (Step Functions StopExecution); the job ends CANCELLED."""
    _record_in(job_id, "RUNNING", "cancelled", jobs, events)
    arn = execution_arn(state_machine_arn, job_id)
    try:
        answer = sfn.stop_execution(executionArn=arn, error="VideoFlow.Cancelled",
                                    cause=f"Cancelled through the jobs API{f' by {requested_by}' if requested_by else ''}.")
    except ClientError as error:
        if error_of(error)[0] == "ExecutionDoesNotExist":
            raise JobStateConflict(f"Job {job_id} has no workflow execution to stop.") from None
        raise
    # compensate writes `job.cancelled` when the execution has stopped.
    jobs.upsert(job_id, status="CANCELLED", reason=CANCELLED_REASON, reason_code="CANCELLED",
                cancel_requested_by=requested_by, cancel_requested_at=_iso(answer.get("stopDate")))
    return JobActionResult(job_id=job_id, status="CANCELLED", execution_arn=arn)


def _record_in(job_id: str, status: str, action: str, jobs: JobStore, events: EventLog) -> dict:
    """The job's record, when the job is in the one status the action applies to."""
    record = _record(job_id, jobs, events)
    if record.get("status") != status:
        raise JobStateConflict(f"Only a {status} job can be {action}; job {job_id} is {record.get('status')}.")
    return record


def _record(job_id: str, jobs: JobStore, events: EventLog) -> dict:
    record = jobs.get(job_id)
    if record is not None:
        return record
    if events.read(job_id, limit=1):
        return {"job_id": job_id, "status": "PENDING"}
    raise JobNotFound(f"There is no job {job_id}.")


def _summary(item: dict) -> JobSummary:
    status = item.get("status", "RUNNING")
    return JobSummary(job_id=item["job_id"], status=status, source_key=(item.get("source") or {}).get("key"),
                      created_at=item["created_at"], updated_at=item.get("updated_at", item["created_at"]),
                      reason=_reason(item))


def _detail(record: dict) -> JobDetail:
    source = record.get("source") or None
    return JobDetail(
        job_id=record["job_id"],
        status=record.get("status", "RUNNING"),
        source=SourceRef.model_validate(source) if source else None,
        created_at=record["created_at"],
        updated_at=record.get("updated_at", record["created_at"]),
        reason=_reason(record),
        reason_code=record.get("reason_code") if _reason(record) else None,
        failed_step=record.get("failed_step") if record.get("status") == "FAILED" else None,
        manifest_key=record.get("manifest_key") if record.get("status") == "COMPLETED" else None,
        duplicate_of=record.get("duplicate_of"),
    )


def _reason(record: dict) -> str | None:
    return record.get("reason") if record.get("status") in {"REJECTED", "FAILED", "CANCELLED"} else None


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
