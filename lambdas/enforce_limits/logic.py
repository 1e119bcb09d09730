"""enforce_limits: reject media outside the configured duration and size limits.

The duration is the measured one (probe_media measures MP4 and QuickTime from their sample
tables); when the header stated another, the reason names both, so a doctored header is visible.
"""

from lambdas.common.errors import DurationTooLong, DurationTooShort, FileTooLarge
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, MediaInfo, Model
from lambdas.common.settings import LimitSettings


class LimitsRequest(JobRequest):
    media: MediaInfo


class LimitsVerdict(Model):
    max_duration_s: float
    max_size_bytes: int


def enforce_limits(request: LimitsRequest, settings: LimitSettings, events: EventLog) -> LimitsVerdict:
    media = request.media
    if media.size_bytes > settings.max_size_bytes:
        size, limit = _readable(media.size_bytes, settings.max_size_bytes, _gib, "{:,} bytes")
        raise FileTooLarge(f"The file is {size}; the limit is {limit}.")
    if media.duration_s > settings.max_duration_s:
        length, limit = _readable(media.duration_s, settings.max_duration_s, _hms, "{:.3f} s")
        raise DurationTooLong(f"The video lasts {length}{_stated(media, _hms)}; the limit is {limit}.")
    if media.duration_s < settings.min_duration_s:
        raise DurationTooShort(
            f"The video lasts {media.duration_s:.2f} s{_stated(media, '{:.2f} s'.format)}; "
            f"at least {settings.min_duration_s:g} s is needed."
        )
    events.append(request.job_id, "limits.passed", "EnforceLimits",
                  duration_s=media.duration_s, size_bytes=media.size_bytes)
    return LimitsVerdict(max_duration_s=settings.max_duration_s, max_size_bytes=settings.max_size_bytes)


def _stated(media: MediaInfo, shown) -> str:
    if media.stated_duration_s is None:
        return ""
    return f" (its header claims {shown(media.stated_duration_s)})"


def _readable(value, limit, rounded, exact: str) -> tuple[str, str]:
    """Both in the rounded form, unless rounding would make them look equal (a byte or a second over)."""
    if rounded(value) != rounded(limit):
        return rounded(value), rounded(limit)
    return exact.format(value), exact.format(limit)


def _gib(size_bytes: int) -> str:
    return f"{size_bytes / 1024**3:.2f} GiB"


def _hms(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
