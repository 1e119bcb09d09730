"""record_derivatives: check that the MediaConvert job wrote what it promised, and record it."""

from lambdas.common import storage
from lambdas.common.errors import DerivativeMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import (
    Derivatives,
    FrameSet,
    JobRequest,
    MediaConvertJobSpec,
    MediaInfo,
    S3Object,
    VideoFile,
)

NO_AUDIO = "The source has no audio track, so there is no audio to transcribe."


class RecordRequest(JobRequest):
    media: MediaInfo
    mediaconvert: MediaConvertJobSpec


def record_derivatives(request: RecordRequest, jobs: JobStore, events: EventLog) -> Derivatives:
    where = request.mediaconvert.destinations
    if not storage.exists(where.bucket, where.proxy_key):
        raise DerivativeMissing(f"The proxy video was not written (expected s3://{where.bucket}/{where.proxy_key}).")
    audio = None
    if where.audio_key:
        if not storage.exists(where.bucket, where.audio_key):
            raise DerivativeMissing(f"The audio was not written (expected s3://{where.bucket}/{where.audio_key}).")
        audio = S3Object(bucket=where.bucket, key=where.audio_key)
    frame_count = len(storage.list_keys(where.bucket, where.frames_prefix))
    if frame_count == 0:
        raise DerivativeMissing(f"No frames were written under s3://{where.bucket}/{where.frames_prefix}.")

    derivatives = Derivatives(
        proxy=VideoFile(
            bucket=where.bucket, key=where.proxy_key, duration_s=request.media.duration_s,
            width=request.mediaconvert.proxy_width_px, height=request.mediaconvert.proxy_height_px,
        ),
        audio=audio,
        audio_absent_reason=None if audio else NO_AUDIO,
        frames=FrameSet(
            bucket=where.bucket, prefix=where.frames_prefix, count=frame_count,
            interval_s=request.mediaconvert.frame_interval_s,
        ),
    )
    jobs.upsert(request.job_id, derivatives=derivatives.model_dump(mode="json"))
    events.append(
        request.job_id, "derivatives.recorded", "RecordDerivatives",
        proxy=f"{derivatives.proxy.width}x{derivatives.proxy.height}",
        audio=audio is not None, audio_absent_reason=derivatives.audio_absent_reason, frames=frame_count,
    )
    return derivatives
