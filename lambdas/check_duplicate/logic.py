"""check_duplicate: the same bytes already processed by this pipeline version need no second run.

A re-upload of identical content under another key (or a new version with the same bytes)
gets the earlier job's results published under its own job id, and pays for nothing.
"""

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import DuplicateCheck, JobRequest, Model


class JobRecordRef(Model):
    fingerprint: str


class DuplicateRequest(JobRequest):
    job: JobRecordRef


def check_duplicate(request: DuplicateRequest, jobs: JobStore, events: EventLog) -> DuplicateCheck:
    earlier = jobs.completed_with_fingerprint(request.job.fingerprint, exclude_job_id=request.job_id)
    if earlier is None:
        return DuplicateCheck()
    events.append(request.job_id, "content.duplicate", "CheckDuplicate", duplicate_of=earlier["job_id"])
    return DuplicateCheck(duplicate_of=earlier["job_id"])
