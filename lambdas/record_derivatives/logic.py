"""record_derivatives: check that the MediaConvert job wrote what it promised, and record it.

Three more things are only known once MediaConvert has decoded the file:

- MediaConvert reads its input by URL, never by version: if the upload was overwritten while
  the job ran, the derivatives may be of the newer file. The key's current version must still
  be this job's, or the job is REJECTED as replaced (the newer upload has a job of its own).
- The proxy's length, read from its MP4 index, is how long the video really is. A header can
  state anything (a Matroska Duration element, say): a video longer than the limit is REJECTED
  here, naming both lengths, whatever its header said.
- A proxy much shorter than the stated length means the decoder stopped early: the file is
  truncated or damaged past repair, and the job is REJECTED rather than published half-done.
"""

from botocore.exceptions import ClientError

from lambdas.common import audio_level, mp4, storage
from lambdas.common.errors import DerivativeMissing, DurationTooLong, MediaUnreadable, SourceMissing
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import (
    Derivatives,
    FrameSet,
    JobRequest,
    MediaConvertJobSpec,
    MediaInfo,
    S3Object,
    SourceObject,
    VideoFile,
)
from lambdas.common.settings import LimitSettings

NO_AUDIO = "The source has no audio track, so there is no audio to transcribe."
_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "405", "MethodNotAllowed"}
# How much shorter than stated the decoded video may be before the file counts as truncated.
_SHORT_BY_S, _SHORT_BY_SHARE = 2.0, 0.1


class RecordRequest(JobRequest):
    media: MediaInfo
    mediaconvert: MediaConvertJobSpec


def record_derivatives(request: RecordRequest, s3, limits: LimitSettings, jobs: JobStore,
                       events: EventLog) -> Derivatives:
    check_source_unchanged(request.source, s3)
    where = request.mediaconvert.destinations
    if not storage.exists(where.bucket, where.proxy_key):
        raise DerivativeMissing(f"The proxy video was not written (expected s3://{where.bucket}/{where.proxy_key}).")
    audio = None
    if where.audio_key:
        if not storage.exists(where.bucket, where.audio_key):
            raise DerivativeMissing(f"The audio was not written (expected s3://{where.bucket}/{where.audio_key}).")
        audio = S3Object(bucket=where.bucket, key=where.audio_key)
    # Several audio tracks: one WAV each; the first with sound is the one to transcribe.
    choice = audio_level.choose_audio(s3, where.bucket, where.audio_candidates) if where.audio_candidates else None
    if choice:
        audio = S3Object(bucket=where.bucket, key=choice.key)
    frame_count = len(storage.list_keys(where.bucket, where.frames_prefix))
    if frame_count == 0:
        raise DerivativeMissing(f"No frames were written under s3://{where.bucket}/{where.frames_prefix}.")
    decoded_s = proxy_length_s(s3, where.bucket, where.proxy_key)
    check_decoded_length(decoded_s, request.media, limits)

    derivatives = Derivatives(
        proxy=VideoFile(
            bucket=where.bucket, key=where.proxy_key, duration_s=round(decoded_s, 3),
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
        proxy=f"{derivatives.proxy.width}x{derivatives.proxy.height}", proxy_duration_s=derivatives.proxy.duration_s,
        audio=audio is not None, audio_absent_reason=derivatives.audio_absent_reason, frames=frame_count,
        **({"audio_track": choice.track, "silent_audio_tracks": choice.silent_tracks} if choice else {}),
    )
    return derivatives


def check_source_unchanged(source: SourceObject, s3) -> None:
    """The key's current version (or, unversioned, its ETag) is still the one this job validated."""
    try:
        head = s3.head_object(Bucket=source.bucket, Key=source.key)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in _MISSING_CODES:
            raise SourceMissing(
                f"The uploaded file '{source.name}' was deleted while it was being processed."
            ) from error
        raise
    current_version, current_etag = head.get("VersionId"), (head.get("ETag") or "").strip('"')
    if source.version_id and current_version not in (None, "null"):
        replaced = current_version != source.version_id
    else:
        replaced = bool(source.etag) and current_etag != source.etag.strip('"')
    if replaced:
        raise SourceMissing(
            f"The file '{source.name}' was replaced by a newer upload while it was being processed, so its "
            "derivatives may be of the newer file; the newer upload is processed as a job of its own."
        )


def proxy_length_s(s3, bucket: str, key: str) -> float:
    """The proxy's length from its MP4 index (a few ranged GETs): what MediaConvert decoded."""
    try:
        read, size = mp4.s3_reader(s3, bucket, key)
        return mp4.read_mp4_facts(read, size).duration_s
    except mp4.Mp4Unreadable as error:
        raise DerivativeMissing(f"The proxy video s3://{bucket}/{key} is not a readable MP4: {error}.") from error


def check_decoded_length(decoded_s: float, media: MediaInfo, limits: LimitSettings) -> None:
    """Over the limit once decoded: REJECTED. Far shorter than stated: REJECTED as truncated or damaged.

    "Far" leaves room for sources whose audio outlasts their picture (MediaConvert's output follows
    the video): a tenth of the length, at least 2 s. A file cut by less than that is processed.
    """
    stated_s = media.duration_s
    if decoded_s > limits.max_duration_s + mp4.length_tolerance_s(limits.max_duration_s):
        raise DurationTooLong(
            f"The video lasts {_length(decoded_s)} once decoded (the file stated {_length(stated_s)}); "
            f"the limit is {_length(limits.max_duration_s)}."
        )
    if decoded_s < stated_s - max(_SHORT_BY_S, _SHORT_BY_SHARE * stated_s):
        raise MediaUnreadable(
            f"Only {_length(decoded_s)} of the stated {_length(stated_s)} could be decoded; "
            "the file is truncated or damaged."
        )


def _length(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
