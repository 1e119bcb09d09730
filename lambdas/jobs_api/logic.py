"""jobs_api: upload a video and follow its job. Pure functions over pydantic models and small adapters.

The adapters are an S3 client, a Step Functions client and the jobs and events stores, so a
test can hand in moto's or a fake that raises the real ClientError codes. handler.py maps the
named errors below to HTTP; every error message is written for the person who called.

Uploads are S3 multipart uploads presigned here: the caller PUTs each part to its URL, then
asks to complete. The server picks the key (the upload prefix, a random folder, a sanitized
file name), so a caller can neither overwrite another upload nor leave the prefix, and the
completed object starts the workflow like any other upload. Completing returns the job id
the workflow will use (the same hash start_pipeline computes), so the caller can follow the
job at once; its first event (`job.started`) comes from start_pipeline.

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
import re
import unicodedata
import uuid
from datetime import datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from lambdas.common.constants import INGEST_PREFIX
from lambdas.common.events import EventLog
from lambdas.common.job_ids import job_id_for
from lambdas.common.jobs import FINAL_STATUSES, LISTING_KEY, LISTING_PARTITION, JobStore
from lambdas.common.models import Event, SourceObject

MIB = 1024**2
MIN_PART_SIZE_BYTES = 8 * MIB  # S3 wants >= 5 MiB for every part but the last
MAX_PART_SIZE_BYTES = 5 * 1024**3  # S3's limit for one part
# S3 allows 10,000 parts; this API hands out at most 1,000 URLs (about 1 MB of JSON, well under
# Lambda's 6 MB response limit) and grows the part size instead: 20 GiB -> 1,000 parts of 21 MiB.
MAX_PARTS = 1000
UPLOAD_URL_EXPIRES_S = 3600
MAX_FILE_NAME_CHARS = 120

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 1000
TOKEN_VERSION = "v1"

CANCELLED_REASON = "Cancelled on request."
# The events that move a job between states; the last of them says whether its log is closed.
TERMINAL_EVENTS = frozenset({"job.completed", "job.rejected", "job.failed", "job.cancelled"})
LIFECYCLE_EVENTS = TERMINAL_EVENTS | {"job.started", "job.registered", "job.retried"}

_VIDEO_MEDIA_TYPE = re.compile(r"^video/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

ApiJobStatus = Literal["PENDING", "RUNNING", "COMPLETED", "REJECTED", "FAILED", "CANCELLED"]


# --- errors: each names its HTTP status ---------------------------------------------------------------------------


class ApiError(Exception):
    """A request this API refuses; the message is what the caller reads."""

    status = 400


class InvalidRequest(ApiError):
    status = 400


class UploadTooLarge(ApiError):
    status = 413


class NotAVideoType(ApiError):
    status = 415


class JobNotFound(ApiError):
    status = 404


class UploadNotFound(ApiError):
    status = 404


class JobStateConflict(ApiError):
    """The job is not in a state that allows the action (retry a FAILED job, cancel a RUNNING one)."""

    status = 409


class TooManyExecutions(ApiError):
    status = 429


# --- models ------------------------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    message: str = Field(description="what went wrong, in words for the caller")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where in the request: body, query or path, then the field")
    type: str = Field(description="pydantic's error type, e.g. missing, int_parsing, less_than_equal")


class ValidationErrorBody(BaseModel):
    message: str
    detail: list[ValidationIssue]


class UploadRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=1024,
                          description="the file's name on the client; the key keeps a sanitized form of it")
    content_type: str = Field(min_length=1, max_length=255, description="a video/* media type, e.g. video/mp4")
    size_bytes: int = Field(ge=0, description="the exact size of the file in bytes")


class PartUrl(BaseModel):
    part_number: int = Field(ge=1, le=MAX_PARTS)
    url: str = Field(description="PUT this part's bytes here; keep the ETag response header for completing")


class UploadCreated(BaseModel):
    bucket: str
    key: str = Field(description="the object the upload becomes, under the upload prefix")
    upload_id: str
    part_size_bytes: int = Field(description="every part has this size except the last, which has the rest")
    parts: list[PartUrl]
    expires_in_s: int = Field(description="the part URLs stop working after this many seconds")


class CompletedPart(BaseModel):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=1024, description="the ETag header S3 returned for the part's PUT")


class CompleteRequest(BaseModel):
    key: str = Field(min_length=1, max_length=1024)
    upload_id: str = Field(min_length=1, max_length=2048)
    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)


class UploadCompleted(BaseModel):
    bucket: str
    key: str
    version_id: str | None
    job_id: str = Field(description="the job this upload starts; follow it at /jobs/{job_id}/events")


class JobSummary(BaseModel):
    job_id: str
    status: ApiJobStatus
    source_key: str | None
    created_at: datetime
    updated_at: datetime
    reason: str | None = Field(None, description="why the job was rejected, failed or cancelled")


class JobList(BaseModel):
    jobs: list[JobSummary] = Field(description="newest first")
    next_token: str | None = Field(description="pass as next_token for the next page; null on the last page")


class SourceRef(BaseModel):
    bucket: str
    key: str
    version_id: str | None = None
    size_bytes: int | None = None


class JobDetail(BaseModel):
    job_id: str
    status: ApiJobStatus = Field(description="PENDING: known from its event log, not yet registered by the workflow")
    source: SourceRef | None
    created_at: datetime
    updated_at: datetime
    reason: str | None = Field(None, description="why the job was rejected, failed or cancelled")
    reason_code: str | None = None
    failed_step: str | None = None
    manifest_key: str | None = Field(None, description="outputs/<job_id>/manifest.json in the output bucket")
    duplicate_of: str | None = None


class EventsPage(BaseModel):
    job_id: str
    events: list[Event] = Field(description="in seq order, no gaps, no duplicates")
    last_seq: int = Field(ge=0, description="the seq of the last event here (or `after` when none): ask after it next")
    done: bool = Field(description="the job is in a final status and its log has nothing after last_seq")


class JobActionResult(BaseModel):
    job_id: str
    status: ApiJobStatus
    execution_arn: str


# --- uploads -----------------------------------------------------------------------------------------------------


def safe_file_name(filename: str) -> str:
    """The last path segment of `filename`, in letters, digits, '.', '_' and '-', at most 120 characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = _UNSAFE_NAME_CHARS.sub("_", name).strip("._-")
    if len(name) > MAX_FILE_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = f"{stem[:MAX_FILE_NAME_CHARS - len(extension) - 1].rstrip('._-')}.{extension}"
        else:
            name = name[:MAX_FILE_NAME_CHARS].rstrip("._-")
    return name or "video"


def part_size_for(size_bytes: int) -> int:
    """At least 8 MiB, in whole MiB, large enough that the file fits in MAX_PARTS parts."""
    size = max(MIN_PART_SIZE_BYTES, -(-size_bytes // MAX_PARTS))
    return -(-size // MIB) * MIB


def create_upload(request: UploadRequest, *, s3, bucket: str, max_size_bytes: int,
                  expires_in_s: int = UPLOAD_URL_EXPIRES_S) -> UploadCreated:
    """Start a multipart upload under the upload prefix and presign a PUT URL for each part."""
    if request.size_bytes == 0:
        raise InvalidRequest("The file is empty (0 bytes): there is nothing to upload.")
    media_type = request.content_type.split(";", 1)[0].strip().lower()
    if not _VIDEO_MEDIA_TYPE.match(media_type):
        raise NotAVideoType(f"Only video files can be uploaded: content_type must be video/*, "
                            f"not {request.content_type[:100]!r}.")
    if request.size_bytes > max_size_bytes:
        raise UploadTooLarge(f"The file is {_gib(request.size_bytes)}; the limit is {_gib(max_size_bytes)}.")
    part_size = part_size_for(request.size_bytes)
    if part_size > MAX_PART_SIZE_BYTES:
        raise UploadTooLarge(f"The file is {_gib(request.size_bytes)}: more than {MAX_PARTS} parts of 5 GiB, "
                             "the most one upload can take.")
    key = f"{INGEST_PREFIX}{uuid.uuid4().hex}/{safe_file_name(request.filename)}"
    started = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=media_type)
    upload_id = started["UploadId"]
    part_count = -(-request.size_bytes // part_size)
    parts = [
        PartUrl(part_number=number, url=s3.generate_presigned_url(
            "upload_part", HttpMethod="PUT", ExpiresIn=expires_in_s,
            Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
        ))
        for number in range(1, part_count + 1)
    ]
    return UploadCreated(bucket=bucket, key=key, upload_id=upload_id, part_size_bytes=part_size, parts=parts,
                         expires_in_s=expires_in_s)


def complete_upload(request: CompleteRequest, *, s3, bucket: str) -> UploadCompleted:
    """Complete the multipart upload; the object starts the workflow, whose job id is returned."""
    _check_upload_key(request.key)
    numbers = [part.part_number for part in request.parts]
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise InvalidRequest(f"Each part may be listed once; part {repeated[0]} is listed more than once.")
    parts = [{"PartNumber": part.part_number, "ETag": _quoted(part.etag)}
             for part in sorted(request.parts, key=lambda part: part.part_number)]
    try:
        completed = s3.complete_multipart_upload(
            Bucket=bucket, Key=request.key, UploadId=request.upload_id, MultipartUpload={"Parts": parts},
        )
    except ClientError as error:
        code, message = _error_of(error)
        if code == "NoSuchUpload":
            raise UploadNotFound(f"There is no upload {request.upload_id[:100]} for {request.key}: it was "
                                 "completed or aborted already, or never started.") from None
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidRequest", "InvalidArgument",
                    "MalformedXML"}:
            raise InvalidRequest(f"S3 refused to complete the upload ({code}): {message}") from None
        raise
    version_id = completed.get("VersionId") or None
    size_bytes = int(s3.head_object(Bucket=bucket, Key=request.key)["ContentLength"])
    source = SourceObject(bucket=bucket, key=request.key, version_id=version_id,
                          etag=completed.get("ETag", "").strip('"'), size_bytes=size_bytes)
    job_id = job_id_for(source)
    return UploadCompleted(bucket=bucket, key=request.key, version_id=version_id, job_id=job_id)


def _quoted(etag: str) -> str:
    """S3 returns ETags in double quotes; clients pass them on with or without."""
    return '"' + etag.strip('"') + '"'


def _check_upload_key(key: str) -> None:
    segments = key[len(INGEST_PREFIX):].replace("\\", "/").split("/")
    if not key.startswith(INGEST_PREFIX) or any(segment in ("", ".", "..") for segment in segments):
        raise InvalidRequest(f"The key must be the one POST /uploads returned, under {INGEST_PREFIX!r}.")


# --- jobs --------------------------------------------------------------------------------------------------------


def list_jobs(limit: int, next_token: str | None, *, jobs: JobStore) -> JobList:
    """One page of jobs, newest first."""
    after = decode_token(next_token) if next_token else None
    try:
        items, last = jobs.list(limit, after)
    except ClientError as error:
        if _error_of(error)[0] == "ValidationException":
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
    record = _record(job_id, jobs, events)
    if record.get("status") != "FAILED":
        raise JobStateConflict(f"Only a FAILED job can be retried; job {job_id} is {record.get('status')}.")
    arn = execution_arn(state_machine_arn, job_id)
    # Two retries of the same failure (a double click) are one redrive.
    token = hashlib.sha256(f"{job_id}:{record.get('updated_at')}".encode()).hexdigest()[:64]
    try:
        answer = sfn.redrive_execution(executionArn=arn, clientToken=token)
    except ClientError as error:
        code, message = _error_of(error)
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
    record = _record(job_id, jobs, events)
    if record.get("status") != "RUNNING":
        raise JobStateConflict(f"Only a RUNNING job can be cancelled; job {job_id} is {record.get('status')}.")
    arn = execution_arn(state_machine_arn, job_id)
    try:
        answer = sfn.stop_execution(executionArn=arn, error="VideoFlow.Cancelled",
                                    cause=f"Cancelled through the jobs API{f' by {requested_by}' if requested_by else ''}.")
    except ClientError as error:
        if _error_of(error)[0] == "ExecutionDoesNotExist":
            raise JobStateConflict(f"Job {job_id} has no workflow execution to stop.") from None
        raise
    # compensate writes `job.cancelled` when the execution has stopped.
    jobs.upsert(job_id, status="CANCELLED", reason=CANCELLED_REASON, reason_code="CANCELLED",
                cancel_requested_by=requested_by, cancel_requested_at=_iso(answer.get("stopDate")))
    return JobActionResult(job_id=job_id, status="CANCELLED", execution_arn=arn)


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


def _error_of(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    return code, details.get("Message") or code


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB" if size_bytes >= 1024**3 else f"{size_bytes:,} bytes"
