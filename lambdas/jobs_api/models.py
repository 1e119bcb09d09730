"""jobs_api's contract: what each route accepts and answers, and which named error is which HTTP status.

handler.py maps the errors to status codes and openapi.py publishes the models, so the
document, the validation and the answers come from one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from lambdas.common.models import Event

# S3 allows 10,000 parts; this API hands out at most 1,000 URLs (about 1 MB of JSON, well under
# Lambda's 6 MB response limit) and grows the part size instead: 20 GiB -> 1,000 parts of 21 MiB.
MAX_PARTS = 1000

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


class NotSignedRequest(ApiError):
    """No IAM principal: API Gateway's IAM authorization always names one, so the request did not come through it."""

    status = 403


class JobNotFound(ApiError):
    """Unknown, or not the caller's: a job another principal owns is not there for the caller."""

    status = 404


class UploadNotFound(ApiError):
    status = 404


class JobStateConflict(ApiError):
    """The job is not in a state that allows the action (retry a FAILED job, cancel a RUNNING one)."""

    status = 409


class TooManyExecutions(ApiError):
    status = 429


# --- settings ----------------------------------------------------------------------------------------------------


class UploadSettings(BaseModel):
    """The table of the uploads this API started: who started each, and the size they declared."""

    uploads_table: str = Field(alias="UPLOADS_TABLE")


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
    size_bytes: int = Field(ge=1, description="exactly this many bytes: the URL is signed with this Content-Length")
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
    upload_id: str = Field(min_length=1, max_length=1024, pattern=r"^[!-~]+$",
                           description="the upload_id POST /uploads returned (printable ASCII, as S3 makes them)")
    parts: list[CompletedPart] = Field(min_length=1, max_length=10_000)


class UploadCompleted(BaseModel):
    bucket: str
    key: str
    version_id: str | None
    job_id: str = Field(description="the job this upload starts; follow it at /jobs/{job_id}/events")


class JobSummary(BaseModel):
    job_id: str
    status: ApiJobStatus = Field(description="PENDING: the upload is complete, the workflow has not registered the job")
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
    owner: str | None = Field(None, description="the IAM principal that uploaded the file; null for a file put "
                                                "straight into the bucket (then only administrators see the job)")


class EventsPage(BaseModel):
    job_id: str
    events: list[Event] = Field(description="in seq order, no gaps, no duplicates")
    last_seq: int = Field(ge=0, description="the seq of the last event here (or `after` when none): ask after it next")
    done: bool = Field(description="the job is in a final status and its log has nothing after last_seq")


class JobActionResult(BaseModel):
    job_id: str
    status: ApiJobStatus
    execution_arn: str


def error_of(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    return code, details.get("Message") or code
