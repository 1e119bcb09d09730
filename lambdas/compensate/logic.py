"""compensate: an execution that failed, timed out or was stopped leaves a clean, recorded job.

EventBridge delivers Step Functions' "Execution Status Change" event (FAILED, TIMED_OUT,
ABORTED) for the job workflow. The workflow does not catch its own failures (only the
input's, which end REJECTED), so the execution stops at the step that failed and a redrive
(the jobs API's retry) resumes exactly there. This function then:

1. finds the failed step and its input in the execution history;
2. removes half-written renders (`clips/<job>/*.partial-*`). Whole clips, each checked by its
   renderer before it was published to its key, stay for a redrive to use; no manifest lists
   them, so a failed job publishes nothing, and a redriven job publishes exactly one set
   (renders write deterministic keys);
3. lets go of the inference endpoint's floor if the job had raised it;
4. records the job FAILED with the step and one readable reason (handle_failure's rules), or
   CANCELLED when a person stopped it through the jobs API (`cancel_requested`), with a manifest
   that agrees.

It does nothing at all (deletes nothing, releases nothing, records nothing) when the event is
out of date: the execution was redriven since (a later run, or running again: a render may be
writing its partials right now), the job already ended otherwise (COMPLETED: a cancel that lost
the race with PublishResults), or this run's outcome is already recorded (a duplicate event).
Status changes are conditional (lambdas/common/jobs.py), so even a stale event that slipped
through could not move a job backwards.

The same status change, RUNNING with a redrive count, means a failed job was retried (the jobs
API's redrive): `record_retry` writes `job.retried`, since the API itself only reads the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import Field

from lambdas.common import aws, storage
from lambdas.common.events import EventLog
from lambdas.common.failures import FailureRequest, StepError, handle_failure
from lambdas.common.jobs import (
    CANCEL_ERROR,
    CANCEL_REQUESTED_FIELD,
    CANCELLED_REASON,
    JobStore,
    StatusChangeRefused,
)
from lambdas.common.keys import clips_prefix
from lambdas.common.manifest import write_record_manifest
from lambdas.common.models import Failure, JobRequest, MediaInfo, Model

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
TIMEOUT_ERROR = "States.Timeout"
ENDED_EVENTS = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted", "ExecutionSucceeded"})
RECORDED_EVENTS = frozenset({"job.failed", "job.rejected", "job.cancelled"})


class ExecutionStatusChange(Model):
    """The detail of EventBridge's "Step Functions Execution Status Change" event."""

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = Field(0, alias="redriveCount")


class StatusChangeEvent(Model):
    detail_type: str = Field(alias="detail-type")
    detail: ExecutionStatusChange


class FailedStep(Model):
    name: str
    state: dict = Field(default_factory=dict, description="the workflow state the step was given")
    error: str | None = None
    cause: str | None = None


class Compensated(Model):
    job_id: str
    status: str
    failed_step: str
    partials_deleted: int
    released_inference: bool
    ignored: str | None = Field(None, description="why nothing was done (an out-of-date event), or None")


def failed_step(history: list[dict]) -> FailedStep:
    """The top-level state the execution stopped in, the workflow state it was given, and the error.

    It is the earliest state entered and never exited: states before it finished, and states
    inside it (a Parallel's branches, a Map's iterations) were entered after it.
    """
    error = cause = None
    for event in reversed(history):
        for key in ("executionFailedEventDetails", "taskFailedEventDetails", "lambdaFunctionFailedEventDetails",
                    "executionTimedOutEventDetails", "taskTimedOutEventDetails", "executionAbortedEventDetails"):
            details = event.get(key)
            if details and error is None:
                error, cause = details.get("error"), details.get("cause")
    open_states: list[dict] = []
    before_redrive: list[dict] = []
    for event in history:
        if "executionRedrivenEventDetails" in event:
            # The redriven run enters the failed state again; what the earlier run left open is over.
            before_redrive, open_states = open_states, []
        elif "stateEnteredEventDetails" in event:
            open_states.append(event["stateEnteredEventDetails"])
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            for index in range(len(open_states) - 1, -1, -1):
                if open_states[index]["name"] == name:
                    del open_states[index]
                    break
    open_states = open_states or before_redrive
    if not open_states:
        return FailedStep(name="StartExecution", error=error, cause=cause)
    stopped_in = open_states[0]
    try:
        state = json.loads(stopped_in.get("input") or "{}")
    except json.JSONDecodeError:
        state = {}
    return FailedStep(name=stopped_in["name"], state=state if isinstance(state, dict) else {}, error=error,
                      cause=cause)


def delete_partials(output_bucket: str, job_id: str) -> int:
    s3 = aws.client("s3")
    keys = [key for key in storage.list_keys(output_bucket, clips_prefix(job_id)) if ".partial-" in key]
    errors = []
    for start in range(0, len(keys), DELETE_BATCH):
        answer = s3.delete_objects(Bucket=output_bucket, Delete={
            "Objects": [{"Key": key} for key in keys[start:start + DELETE_BATCH]], "Quiet": True})
        errors += [f"{error['Key']}: {error.get('Code')}" for error in answer.get("Errors", [])]
    if errors:
        # Raised so EventBridge's retry runs it again; nothing else was recorded yet.
        raise RuntimeError(f"could not delete {len(errors)} partial renders: {'; '.join(errors[:5])}")
    return len(keys)


def out_of_date(detail: ExecutionStatusChange, history: list[dict]) -> str | None:
    """Why this status change no longer describes the execution (the history is read after it), or None."""
    runs = [event["executionRedrivenEventDetails"].get("redriveCount", 0) for event in history
            if "executionRedrivenEventDetails" in event]
    if runs and (detail.redrive_count or 0) < max(runs):
        return f"the execution was redriven since this {detail.status} (run {detail.redrive_count}, now {max(runs)})"
    redriven = [index for index, event in enumerate(history) if "executionRedrivenEventDetails" in event]
    latest_run = history[redriven[-1]:] if redriven else history
    if history and not any(event.get("type") in ENDED_EVENTS for event in latest_run):
        return f"the execution is running again since this {detail.status}"
    return None


def cancel_requested(detail: ExecutionStatusChange, history: list[dict], record: dict) -> bool:
    """A person cancelled the job: it is recorded CANCELLED, or the execution was stopped with CANCEL_ERROR
    (the jobs API's StopExecution), or stopped after the jobs API recorded the request."""
    if record.get("status") == "CANCELLED":
        return True
    if detail.status != "ABORTED":
        return False
    aborts = [event["executionAbortedEventDetails"] for event in history if "executionAbortedEventDetails" in event]
    return CANCEL_ERROR in (detail.error, aborts[-1].get("error") if aborts else None) or bool(
        record.get(CANCEL_REQUESTED_FIELD))


def compensate(event: StatusChangeEvent, history: list[dict], output_bucket: str, jobs: JobStore,
               events: EventLog, release_floor: Callable[[str], object]) -> Compensated:
    detail = event.detail
    step = failed_step(history)
    request = JobRequest.model_validate(json.loads(detail.input) if detail.input else step.state)
    job_id = request.job_id
    record = jobs.get(job_id) or {}
    ignored = (out_of_date(detail, history) or _already_ended(record)
               or _already_recorded(events.read(job_id), detail.redrive_count or 0))
    if ignored:
        return Compensated(job_id=job_id, status=record.get("status", "RUNNING"), failed_step=step.name,
                           partials_deleted=0, released_inference=False, ignored=ignored)
    deleted = delete_partials(output_bucket, job_id)
    released = "inference" in step.state
    if released:
        release_floor(job_id)
    events.append(job_id, "job.compensated", "Compensate", execution_status=detail.status, failed_step=step.name,
                  partials_deleted=deleted, released_inference=released, redrive_count=detail.redrive_count or 0)
    media = step.state.get("media")
    media = MediaInfo.model_validate(media) if isinstance(media, dict) else None
    done = Compensated(job_id=job_id, status="CANCELLED", failed_step=step.name, partials_deleted=deleted,
                       released_inference=released)
    if cancel_requested(detail, history, record):
        return _cancelled(request, media, output_bucket, jobs, events, done)
    error = detail.error or step.error or (TIMEOUT_ERROR if detail.status == "TIMED_OUT" else "States.Aborted")
    cause = detail.cause or step.cause or {"TIMED_OUT": "The workflow ran longer than its timeout.",
                                           "ABORTED": "The execution was stopped."}.get(detail.status, "")
    try:
        failure: Failure = handle_failure(
            FailureRequest(job_id=job_id, source=request.source, error=StepError(Error=error, Cause=cause),
                           media=media),
            output_bucket, jobs, events, step=step.name)
    except StatusChangeRefused as refused:  # ended otherwise since it was read (a cancel, say)
        if refused.current == "CANCELLED":
            return _cancelled(request, media, output_bucket, jobs, events, done)
        return done.model_copy(update={"status": refused.current, "ignored": str(refused)})
    return done.model_copy(update={"status": failure.status})


def _already_ended(record: dict) -> str | None:
    """A COMPLETED or REJECTED job is not compensated: its results (or its rejection) stand."""
    status = record.get("status")
    return f"the job is already {status}" if status in ("COMPLETED", "REJECTED") else None


def _already_recorded(log: list, redrive_count: int) -> str | None:
    """This run was compensated to the end before (its outcome is the last thing logged): a duplicate event."""
    compensated = [index for index, event in enumerate(log) if event.type == "job.compensated"
                   and event.detail.get("redrive_count", 0) == redrive_count]
    if compensated and any(event.type in RECORDED_EVENTS for event in log[compensated[-1] + 1:]):
        return f"run {redrive_count} was already compensated (a duplicate event)"
    return None


def _cancelled(request: JobRequest, media: MediaInfo | None, output_bucket: str, jobs: JobStore, events: EventLog,
               done: Compensated) -> Compensated:
    """A person stopped the job: CANCELLED, unless it had completed first; the manifest agrees with the record."""
    job_id = request.job_id
    try:
        record = jobs.upsert(job_id, status="CANCELLED", reason=CANCELLED_REASON, reason_code="CANCELLED")
    except StatusChangeRefused as refused:  # PublishResults won the race: the job stays COMPLETED
        return done.model_copy(update={"status": refused.current, "ignored": str(refused)})
    write_record_manifest(output_bucket, record, request.source, media)
    events.append(job_id, "job.cancelled", "Compensate", failed_step=done.failed_step)
    return done


class Retried(Model):
    job_id: str
    redrive_count: int


def record_retry(event: StatusChangeEvent, jobs: JobStore, events: EventLog) -> Retried:
    """`job.retried` for a redriven execution: which step it resumes and who asked (from the job record)."""
    detail = event.detail
    job_id = detail.name
    already = [e for e in events.read(job_id) if e.type == "job.retried"
               and e.detail.get("redrive_count") == detail.redrive_count]
    if not already:  # EventBridge may deliver the same change twice
        record = jobs.get(job_id) or {}
        events.append(job_id, "job.retried", "Compensate", redrive_count=detail.redrive_count,
                      failed_step=record.get("failed_step"), previous_reason=record.get("reason"),
                      requested_by=record.get("retry_requested_by"))
    return Retried(job_id=job_id, redrive_count=detail.redrive_count)


def execution_history(execution_arn: str) -> list[dict]:
    pages = aws.client("stepfunctions").get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, includeExecutionData=True)
    return [event for page in pages for event in page["events"]]
