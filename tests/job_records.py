"""The workflow state RegisterJob and CheckDuplicate receive, and jobs registered from it in moto.

Shared by tests/unit/test_register_job.py and tests/unit/test_check_duplicate.py: a duplicate
can only be found among jobs that register_job wrote, so both files build jobs the same way.
"""

import types

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.register_job.logic import RegisterRequest, register_job
from videoflow.local.lambda_runtime import LocalLambdaContext

HEAD_SHA256 = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
ETAG = '"9b2cf535f27731c974343645a3985328-6"'
SIZE_BYTES = 48_213_337
CONTEXT = LocalLambdaContext("x")


def job_state(job_id: str, *, etag: str = ETAG, head: str = HEAD_SHA256, size: int = SIZE_BYTES, **extra) -> dict:
    """The workflow state as RegisterJob receives it (CheckDuplicate gets the same plus `job`)."""
    return {
        "job_id": job_id,
        "received_at": "2026-11-12T09:41:27+00:00",
        "source": {"bucket": "videoflow-ingest", "key": f"uploads/{job_id}.mp4", "version_id": "v1",
                   "etag": etag, "size_bytes": size},
        "upload": {"size_bytes": size, "detected_format": "mp4", "content_sha256_prefix": head},
        "media": {
            "container": "mp4", "duration_s": 62.5, "size_bytes": size, "video_codec": "h264",
            "coded_width": 1920, "coded_height": 1080, "width": 1920, "height": 1080, "rotation_deg": 0,
            "frame_rate": 29.97, "has_audio": True, "audio_codec": "aac", "audio_channels": 2,
            "audio_sample_rate_hz": 48000,
        },
        "limits": {"max_duration_s": 14400, "max_size_bytes": 21474836480},
        **extra,
    }


def job_stores() -> types.SimpleNamespace:
    """The jobs table and the event log of conftest's moto account (call inside `aws_state`)."""
    return types.SimpleNamespace(jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"))


def register(stores, job_id: str, **state) -> dict:
    request = RegisterRequest.model_validate(job_state(job_id, **state))
    return register_job(request, stores.jobs, stores.events).model_dump()


def finish(stores, job_id: str, status: str, **state) -> dict:
    """A job that was registered with this content and then ended with `status`."""
    record = register(stores, job_id, **state)
    stores.jobs.upsert(job_id, status=status)
    return record
