"""Turn whatever stopped the workflow into one recorded, readable reason.

handle_failure records a failure the workflow caught; compensate records one it could not
(a failed, timed-out or stopped execution), with the step named by the execution history.

The error name decides the outcome: an UploadRejected family name means the input is at
fault (REJECTED); anything else means the pipeline failed (FAILED) and the job can be
retried. The failed step is the first whose result is missing from the workflow state.

The job record is written first, as a conditional transition (lambdas/common/jobs.py): a job
that has already ended otherwise (CANCELLED, COMPLETED) is left as it is, and neither the
manifest nor the log is touched (`StatusChangeRefused` tells the caller).
"""

import json

from pydantic import ConfigDict, Field

from lambdas.common import errors
from lambdas.common.errors import rejection_error_names
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.manifest import source_summary, write_manifest
from lambdas.common.models import Failure, JobManifest, JobRequest, MediaInfo, Model

# (result path in the workflow state, state name), in workflow order.
STEPS = [
    ("upload", "ValidateUpload"),
    ("media", "ProbeMedia"),
    ("limits", "EnforceLimits"),
    ("job", "RegisterJob"),
    ("duplicate", "CheckDuplicate"),
    ("mediaconvert", "BuildMediaConvertJob"),
    ("mediaconvert_job", "Derivatives"),
    ("derivatives", "RecordDerivatives"),
    ("frame_manifest", "BuildFrameManifest"),
    ("analysis", "Analysis"),
    ("result", "PublishResults"),
]
_SKIPPED_FOR_DUPLICATES = {"BuildMediaConvertJob", "Derivatives", "RecordDerivatives", "BuildFrameManifest", "Analysis"}
_MAX_REASON_CHARS = 500


class StepError(Model):
    error: str = Field(alias="Error")
    cause: str = Field("", alias="Cause")


class FailureRequest(JobRequest):
    model_config = ConfigDict(extra="allow", frozen=True)

    error: StepError
    media: MediaInfo | None = None


def handle_failure(request: FailureRequest, output_bucket: str, jobs: JobStore, events: EventLog,
                   step: str | None = None) -> Failure:
    """Record the failure; `step` names the failed step when the caller knows it (the execution history).

    Raises `StatusChangeRefused`, having written nothing, when the job already ended otherwise."""
    step = step or failed_step(request.model_extra or {}, has_media=request.media is not None)
    rejected = request.error.error in rejection_error_names()
    failure = Failure(
        status="REJECTED" if rejected else "FAILED",
        reason=_reason(request.error, step, rejected),
        reason_code=_code(request.error.error),
        error=request.error.error,
    )
    jobs.upsert(request.job_id, status=failure.status, reason=failure.reason, reason_code=failure.reason_code,
                failed_step=step, source=request.source.model_dump(mode="json"))
    write_manifest(output_bucket, JobManifest(
        job_id=request.job_id, status=failure.status, reason=failure.reason, reason_code=failure.reason_code,
        source=source_summary(request.source, request.media),
    ))
    events.append(request.job_id, f"job.{failure.status.lower()}", "HandleFailure",
                  failed_step=step, reason=failure.reason, reason_code=failure.reason_code, error=failure.error)
    return failure


def failed_step(state: dict, has_media: bool) -> str:
    present = set(state) | ({"media"} if has_media else set())
    steps = STEPS
    if isinstance(state.get("duplicate"), dict) and state["duplicate"].get("duplicate_of"):
        # The duplicate path goes from CheckDuplicate straight to PublishResults.
        steps = [step for step in STEPS if step[1] not in _SKIPPED_FOR_DUPLICATES]
    return next((name for path, name in steps if path not in present), steps[-1][1])


def _reason(error: StepError, step: str, rejected: bool) -> str:
    message = _message(error.cause)
    if rejected:
        return _clip(message or "The upload was rejected.")
    if error.error in ("States.Timeout", "States.HeartbeatTimeout"):
        return _clip(f"{step} timed out." + (f" {message}" if message else ""))
    return _clip(f"{step} failed: {message or error.error}")


def _message(cause: str) -> str:
    """The human part of a cause: a Lambda error's errorMessage, a MediaConvert job's ErrorMessage."""
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        return cause.strip()
    if isinstance(parsed, dict):
        # A Lambda error, a MediaConvert job, a Batch job, an SDK error.
        for key in ("errorMessage", "ErrorMessage", "StatusReason", "message", "Message"):
            if parsed.get(key):
                return str(parsed[key]).strip()
        job = parsed.get("Job") or parsed.get("detail") or {}
        if isinstance(job, dict) and job.get("ErrorMessage"):
            return str(job["ErrorMessage"]).strip()
    return cause.strip()


def _code(error_name: str) -> str:
    known = getattr(errors, error_name, None)
    if isinstance(known, type) and issubclass(known, errors.VideoFlowError):
        return known.code
    return error_name.replace(".", "_").upper()


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 1] + "…"
