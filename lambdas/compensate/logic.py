"""compensate: a job that fails after rendering started publishes nothing.

Runs first on the failure path of a job that reached BuildRenderSpecs. Every object under
clips/<job>/ goes: finished clips, thumbnails, and any `.partial-*` an interrupted render
left. The manifest is written only by PublishResults, the last step, so a failed job never
has one; with the clips gone, a retried job publishes exactly one set (renders write
deterministic keys). Deleting nothing is fine: compensate can run any number of times.
"""

from __future__ import annotations

from lambdas.common import aws
from lambdas.common.events import EventLog
from lambdas.common.keys import clips_prefix
from lambdas.common.models import JobRequest, Model

DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


class CompensateRequest(JobRequest):
    pass


class Compensated(Model):
    deleted: int
    prefix: str


def compensate(request: CompensateRequest, output_bucket: str, events: EventLog) -> Compensated:
    s3 = aws.client("s3")
    prefix = clips_prefix(request.job_id)
    keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=output_bucket, Prefix=prefix)
            for item in page.get("Contents", [])]
    errors = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start:start + DELETE_BATCH]
        answer = s3.delete_objects(Bucket=output_bucket, Delete={"Objects": [{"Key": key} for key in batch],
                                                                 "Quiet": True})
        errors += [f"{error['Key']}: {error.get('Code')}" for error in answer.get("Errors", [])]
    if errors:
        # Raised so the workflow retries; the job's failure is recorded either way.
        raise RuntimeError(f"could not delete {len(errors)} rendered objects: {'; '.join(errors[:5])}")
    events.append(request.job_id, "render.compensated", "Compensate", deleted=len(keys), prefix=prefix)
    return Compensated(deleted=len(keys), prefix=prefix)
