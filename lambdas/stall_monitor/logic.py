"""stall_monitor: find RUNNING jobs whose event log has gone quiet, and say so once.

Every step appends to the job's event log, so a job that is RUNNING with no event for longer
than the threshold has stopped moving: a lost task token, an execution that ended without
reaching HandleFailure (timed out, aborted outside the API), a worker that hangs. Each such
job gets one `job.stalled` event (not again while it stays quiet: the stalled event is then
its last event) and is counted in the StalledJobs metric, which an alarm watches.

RUNNING jobs are read from the jobs listing index, newest first, back to `lookback` (longer
than the workflow timeout plus Step Functions' 14-day redrive window, so a job that can
still be running is never older than that).

The threshold must exceed the longest step that writes nothing: a MediaConvert job of a
long video (up to mediaconvert_timeout_min) or a Transcribe job.

It also lets go of the embedding model for jobs that can no longer do so themselves: a job
that holds it (lambdas/common/inference_floor.py) but has ended without releasing it, has no
record, or is stalled. The last one released scales the model back to zero copies, so a lost
release costs at most one run of this monitor past the threshold, not a GPU left on. Copies
that nobody holds at all (SageMaker creates the component with one; a stack update resets it)
go to zero at the next run (inference_floor.settle).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore

STALLED = "job.stalled"
STEP = "StallMonitor"
DEFAULT_THRESHOLD_MIN = 30.0
DEFAULT_LOOKBACK_H = 15 * 24.0
PAGE_SIZE = 100


class StallSettings(BaseModel):
    threshold_min: float = Field(DEFAULT_THRESHOLD_MIN, alias="STALL_THRESHOLD_MIN", gt=0)
    lookback_h: float = Field(DEFAULT_LOOKBACK_H, alias="STALL_LOOKBACK_H", gt=0)


class StalledJob(BaseModel):
    job_id: str
    last_seq: int
    last_type: str
    silent_for_s: int


class StallReport(BaseModel):
    running: int
    stalled: list[StalledJob]
    still_stalled: int = Field(description="RUNNING jobs already reported stalled that are still quiet")
    released_holds: list[str] = Field(default_factory=list,
                                      description="jobs whose hold on the embedding model was let go here")


def running_jobs(jobs: JobStore, since: datetime) -> list[dict]:
    """RUNNING jobs created at or after `since`, newest first."""
    found, after = [], None
    while True:
        page, after = jobs.list(PAGE_SIZE, after)
        for item in page:
            if datetime.fromisoformat(item["created_at"]) < since:
                return found
            if item.get("status") == "RUNNING":
                found.append(item)
        if after is None:
            return found


def check_stalls(*, jobs: JobStore, events: EventLog, now: datetime, threshold: timedelta,
                 lookback: timedelta) -> StallReport:
    running = running_jobs(jobs, now - lookback)
    stalled, still_stalled = [], 0
    for job in running:
        history = events.read(job["job_id"])
        if history:
            last_seq, last_type, last_at = history[-1].seq, history[-1].type, history[-1].at
        else:  # a record without events should not happen; its own last write stands in
            last_seq, last_type, last_at = 0, "", datetime.fromisoformat(job.get("updated_at", job["created_at"]))
        silent = now - last_at
        if silent <= threshold:
            continue
        if last_type == STALLED:
            still_stalled += 1
            continue
        events.append(job["job_id"], STALLED, STEP, last_seq=last_seq, last_type=last_type,
                      last_event_at=last_at.isoformat(), silent_for_s=int(silent.total_seconds()),
                      threshold_min=threshold.total_seconds() / 60)
        stalled.append(StalledJob(job_id=job["job_id"], last_seq=last_seq, last_type=last_type,
                                  silent_for_s=int(silent.total_seconds())))
    return StallReport(running=len(running), stalled=stalled, still_stalled=still_stalled)


def stuck_holders(holders: set[str], jobs: JobStore, stalled: set[str]) -> list[str]:
    """Holders of the embedding model that will never release it: no record, no longer RUNNING, or stalled."""
    stuck = []
    for job_id in sorted(holders):
        record = jobs.get(job_id)
        if record is None or record.get("status") != "RUNNING" or job_id in stalled:
            stuck.append(job_id)
    return stuck


def release_stuck_holds(report: StallReport, holders: set[str], jobs: JobStore, events: EventLog,
                        release: Callable[[str], object]) -> StallReport:
    """Release every stuck holder (an `inference.released` event each, as the workflow's own release writes)."""
    stalled = {job.job_id for job in report.stalled}
    stalled |= {job_id for job_id in holders if _reported_stalled(events, job_id)}
    released = []
    for job_id in stuck_holders(holders, jobs, stalled):
        floor = release(job_id)
        events.append(job_id, "inference.released", STEP, reason="the job ended or stalled without releasing",
                      **(floor.model_dump() if hasattr(floor, "model_dump") else {}))
        released.append(job_id)
    return report.model_copy(update={"released_holds": released})


def _reported_stalled(events: EventLog, job_id: str) -> bool:
    history = events.read(job_id)
    return bool(history) and history[-1].type == STALLED
