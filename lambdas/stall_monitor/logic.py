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
"""

from __future__ import annotations

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
