"""jobs_api: follow a job, retry or cancel it. Pure functions over pydantic models and small adapters.

The adapters are an S3 client, a Step Functions client and the jobs and events stores, so a
test can hand in moto's or a fake that raises the real ClientError codes. handler.py maps the
named errors below to HTTP; every error message is written for the person who called.

Uploads are in uploads.py, the routes' models and errors in models.py; this module reads and
acts on jobs.

Every route sees only the caller's jobs (the owner recorded when the upload was completed),
unless the caller is an administrator (lambdas/common/owners.py). A job the caller may not
see is answered exactly like a job that does not exist (404), so ids cannot be probed. A job
that only has events and no record yet (an upload straight into the bucket, before
RegisterJob) has no owner: only administrators see it.

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
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from lambdas.common.events import EventLog
from lambdas.common.jobs import (
    CANCEL_ERROR,
    CANCEL_REQUESTED_FIELD,
    CANCELLED_REASON,
    FINAL_STATUSES,
    LISTING_KEY,
    LISTING_PARTITION,
    JobStore,
    StatusChangeRefused,
)
from lambdas.common.models import Event
from lambdas.common.owners import OWNER_ATTRIBUTE, Caller
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
from lambdas.jobs_api.owned import OwnedJobs

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 1000
TOKEN_VERSION = "v1"

# The events that move a job between states; the last of them says whether its log is closed.
TERMINAL_EVENTS = frozenset({"job.completed", "job.rejected", "job.failed", "job.cancelled"})
LIFECYCLE_EVENTS = TERMINAL_EVENTS | {"job.started", "job.registered", "job.retried"}


def list_jobs(limit: int, next_token: str | None, *, jobs: JobStore, owned: OwnedJobs, caller: Caller) -> JobList:
    """One page of the caller's jobs (an administrator's: every job), newest first.

    The token carries only where the last page ended; whose jobs are listed comes from the caller,
    so a token cannot open another principal's list.
    """
    after = decode_token(next_token) if next_token else None
    try:
        if caller.admin:
            items, last = jobs.list(limit, after)
            last = (last["job_id"], last["created_at"]) if last else None
        else:
            items, last = owned.list(caller.arn, limit, (after["job_id"], after["created_at"]) if after else None)
    except ClientError as error:
        if error_of(error)[0] == "ValidationException":
            raise InvalidRequest("next_token is not valid: pass the next_token of the previous page as it "
                                 "was.") from None
        raise
    return JobList(jobs=[_summary(item) for item in items], next_token=encode_token(last) if last else None)


def encode_token(last: tuple[str, str] | dict) -> str:
    job_id, created_at = (last["job_id"], last["created_at"]) if isinstance(last, dict) else last
    payload = json.dumps([job_id, created_at], separators=(",", ":")).encode()
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


def get_job(job_id: str, *, jobs: JobStore, events: EventLog, ingest_bucket: str, caller: Caller) -> JobDetail:
    """The job record; a job the workflow has not registered yet is PENDING (from its event log, for an admin)."""
    record = jobs.get(job_id)
    if record is not None:
        if not caller.may_see(record):
            raise JobNotFound(f"There is no job {job_id}.")
        detail = _detail(record)
        if detail.duplicate_of and not caller.may_see(jobs.get(detail.duplicate_of)):
            detail.duplicate_of = None  # another principal's job: not even its id
        return detail
    history = events.read(job_id) if caller.admin else []
    if not history:
        raise JobNotFound(f"There is no job {job_id}.")
    known = next((event.detail for event in history if event.detail.get("key")), {})
    source = SourceRef(bucket=ingest_bucket, key=known["key"], version_id=known.get("version_id"),
                       size_bytes=known.get("size_bytes")) if known else None
    return JobDetail(job_id=job_id, status="PENDING", source=source, created_at=history[0].at,
                     updated_at=history[-1].at)


def job_events(job_id: str, after: int, limit: int, *, jobs: JobStore, events: EventLog,
               caller: Caller) -> EventsPage:
    """The job's events after `after`, at most `limit`, and whether the job is done.

    The job record is read before the events: its final status is written before the terminal
    event, so a final status seen here with the terminal event missing means "not yet done".
    """
    record = jobs.get(job_id)
    if not caller.may_see(record):
        raise JobNotFound(f"There is no job {job_id}.")
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
              caller: Caller) -> JobActionResult:
    """Redrive the FAILED execution from the step that failed (Step Functions RedriveExecution)."""
    requested_by = caller.arn
    record = _record_in(job_id, "FAILED", "retried", jobs, events, caller)
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
    # The record, not the log: compensate writes `job.retried` when the redriven execution runs. Only
    # if no other status was written since we read it: a redriven run may already have ended again.
    try:
        jobs.upsert(job_id, status="RUNNING", retry_requested_by=requested_by,
                    retry_requested_at=_iso(answer.get("redriveDate")),
                    expected_status_version=record.get("status_version"))
    except StatusChangeRefused as refused:
        return JobActionResult(job_id=job_id, status=refused.current or "RUNNING", execution_arn=arn)
    return JobActionResult(job_id=job_id, status="RUNNING", execution_arn=arn)


def cancel_job(job_id: str, *, jobs: JobStore, events: EventLog, sfn, state_machine_arn: str,
               caller: Caller) -> JobActionResult:
    """Stop the RUNNING execution (Step Functions StopExecution); the job ends CANCELLED."""
    requested_by = caller.arn
    _record_in(job_id, "RUNNING", "cancelled", jobs, events, caller)
    arn = execution_arn(state_machine_arn, job_id)
    # Recorded before the stop, so compensate (and PublishResults, racing it) know a person asked.
    jobs.upsert(job_id, **{CANCEL_REQUESTED_FIELD: datetime.now(UTC).isoformat()}, cancel_requested_by=requested_by)
    try:
        answer = sfn.stop_execution(executionArn=arn, error=CANCEL_ERROR,
                                    cause=f"Cancelled through the jobs API{f' by {requested_by}' if requested_by else ''}.")
    except ClientError as error:
        jobs.upsert(job_id, **{CANCEL_REQUESTED_FIELD: None}, cancel_requested_by=None)
        if error_of(error)[0] == "ExecutionDoesNotExist":
            raise JobStateConflict(f"Job {job_id} has no workflow execution to stop.") from None
        raise
    # compensate writes `job.cancelled` when the execution has stopped.
    try:
        jobs.upsert(job_id, status="CANCELLED", reason=CANCELLED_REASON, reason_code="CANCELLED",
                    cancel_requested_by=requested_by, **{CANCEL_REQUESTED_FIELD: _iso(answer.get("stopDate"))})
    except StatusChangeRefused as refused:
        raise JobStateConflict(f"Job {job_id} finished {refused.current} before it could be cancelled.") from None
    return JobActionResult(job_id=job_id, status="CANCELLED", execution_arn=arn)


def _record_in(job_id: str, status: str, action: str, jobs: JobStore, events: EventLog, caller: Caller) -> dict:
    """The job's record, when the caller may see the job and it is in the one status the action applies to."""
    record = _record(job_id, jobs, events, caller)
    found = record.get("status", "PENDING")
    if found != status:
        raise JobStateConflict(f"Only a {status} job can be {action}; job {job_id} is {found}.")
    return record


def _record(job_id: str, jobs: JobStore, events: EventLog, caller: Caller) -> dict:
    record = jobs.get(job_id)
    if record is not None and caller.may_see(record):
        return record
    if record is None and caller.admin and events.read(job_id, limit=1):
        return {"job_id": job_id, "status": "PENDING"}
    raise JobNotFound(f"There is no job {job_id}.")


def _summary(item: dict) -> JobSummary:
    status = item.get("status", "PENDING")
    return JobSummary(job_id=item["job_id"], status=status, source_key=(item.get("source") or {}).get("key"),
                      created_at=item["created_at"], updated_at=item.get("updated_at", item["created_at"]),
                      reason=_reason(item))


def _detail(record: dict) -> JobDetail:
    source = record.get("source") or None
    return JobDetail(
        job_id=record["job_id"],
        status=record.get("status", "PENDING"),
        source=SourceRef.model_validate(source) if source else None,
        created_at=record["created_at"],
        updated_at=record.get("updated_at", record["created_at"]),
        reason=_reason(record),
        reason_code=record.get("reason_code") if _reason(record) else None,
        failed_step=record.get("failed_step") if record.get("status") == "FAILED" else None,
        manifest_key=record.get("manifest_key") if record.get("status") == "COMPLETED" else None,
        duplicate_of=record.get("duplicate_of"),
        owner=record.get(OWNER_ATTRIBUTE),
    )


def _reason(record: dict) -> str | None:
    return record.get("reason") if record.get("status") in {"REJECTED", "FAILED", "CANCELLED"} else None


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
