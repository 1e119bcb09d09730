"""enforce_limits: reject media outside the configured duration and size limits."""

from lambdas.common.errors import DurationTooLong, DurationTooShort, FileTooLarge
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, MediaInfo, Model
from lambdas.common.settings import Settings


class LimitsRequest(JobRequest):
    media: MediaInfo


class LimitsVerdict(Model):
    max_duration_s: float
    max_size_bytes: int


def enforce_limits(request: LimitsRequest, settings: Settings, events: EventLog) -> LimitsVerdict:
    media = request.media
    if media.size_bytes > settings.max_size_bytes:
        raise FileTooLarge(
            f"The file is {_gib(media.size_bytes)}; the limit is {_gib(settings.max_size_bytes)}."
        )
    if media.duration_s > settings.max_duration_s:
        raise DurationTooLong(
            f"The video lasts {_hms(media.duration_s)}; the limit is {_hms(settings.max_duration_s)}."
        )
    if media.duration_s < settings.min_duration_s:
        raise DurationTooShort(
            f"The video lasts {media.duration_s:.2f} s; at least {settings.min_duration_s:g} s is needed."
        )
    events.append(request.job_id, "limits.passed", "EnforceLimits",
                  duration_s=media.duration_s, size_bytes=media.size_bytes)
    return LimitsVerdict(max_duration_s=settings.max_duration_s, max_size_bytes=settings.max_size_bytes)


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB"


def _hms(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
