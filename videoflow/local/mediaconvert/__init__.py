"""A local MediaConvert, so the workflow's derivatives step runs here on ffmpeg, not in AWS.

It stands in for `arn:aws:states:::mediaconvert:createJob.sync` with the same request, the same
result and the same errors, so the synthesized definition's Retry and Catch are exercised too.
Its parts: `settings` (would CreateJob accept this?), `ffmpeg` (the command that does the work),
`job` (running it against S3) and `errors` (what the workflow sees when it fails).
"""

from videoflow.local.mediaconvert.errors import (
    BadRequestException,
    ConflictException,
    ForbiddenException,
    InternalServerErrorException,
    MediaConvertError,
    NotFoundException,
    ServiceQuotaExceededException,
    TaskFailed,
    TooManyRequestsException,
    UnprocessableEntityException,
)
from videoflow.local.mediaconvert.ffmpeg import (
    X264_PRESET,
    FfmpegPlan,
    PlannedOutput,
    audio_codec_args,
    build_ffmpeg_command,
    video_codec_args,
)
from videoflow.local.mediaconvert.job import create_job_sync
from videoflow.local.mediaconvert.settings import create_job_problems, settings_problems

__all__ = [
    "X264_PRESET",
    "BadRequestException",
    "ConflictException",
    "FfmpegPlan",
    "ForbiddenException",
    "InternalServerErrorException",
    "MediaConvertError",
    "NotFoundException",
    "PlannedOutput",
    "ServiceQuotaExceededException",
    "TaskFailed",
    "TooManyRequestsException",
    "UnprocessableEntityException",
    "audio_codec_args",
    "build_ffmpeg_command",
    "create_job_problems",
    "create_job_sync",
    "settings_problems",
    "video_codec_args",
]
