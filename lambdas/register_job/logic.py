"""register_job: the job record exists from here on, RUNNING, with what is known of the source."""

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore, content_fingerprint
from lambdas.common.models import JobRequest, MediaInfo, Model, UploadCheck


class RegisterRequest(JobRequest):
    upload: UploadCheck
    media: MediaInfo


class JobRecord(Model):
    job_id: str
    status: str
    created_at: str
    fingerprint: str


def register_job(request: RegisterRequest, jobs: JobStore, events: EventLog) -> JobRecord:
    fingerprint = content_fingerprint(
        request.source.size_bytes, request.source.etag, request.upload.content_sha256_prefix
    )
    # An upsert, so a retried attempt finds its own record instead of failing. A conditional one
    # (lambdas/common/jobs.py): a job that already ended is not made RUNNING again, except a FAILED
    # one whose redrive resumes here; StatusChangeRefused otherwise.
    item = jobs.upsert(
        request.job_id,
        status="RUNNING",
        source=request.source.model_dump(mode="json"),
        media=request.media.model_dump(mode="json"),
        fingerprint=fingerprint,
    )
    events.append(request.job_id, "job.registered", "RegisterJob", status="RUNNING")
    return JobRecord(job_id=request.job_id, status=item["status"], created_at=item["created_at"],
                     fingerprint=fingerprint)
