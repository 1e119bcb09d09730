"""Named errors. The state machine retries transient ones by name and catches the rest.

An `UploadRejected` means the input is at fault: the job ends REJECTED, nothing is retried.
Anything else that escapes a step ends the job FAILED. The class name is the Step Functions
error name (the Lambda runtime reports it as errorType), so the names are part of the API.
"""


class VideoFlowError(Exception):
    """Base for errors a step raises on purpose."""

    code = "ERROR"


class UploadRejected(VideoFlowError):
    """The upload cannot be processed; the message says why in words a person understands."""

    code = "REJECTED"


class EmptyUpload(UploadRejected):
    code = "EMPTY_FILE"


class NotAVideo(UploadRejected):
    code = "NOT_A_VIDEO"


class MediaUnreadable(UploadRejected):
    code = "UNREADABLE_MEDIA"


class NoVideoStream(UploadRejected):
    code = "NO_VIDEO_STREAM"


class DurationTooLong(UploadRejected):
    code = "DURATION_LIMIT"


class DurationTooShort(UploadRejected):
    code = "DURATION_TOO_SHORT"


class FileTooLarge(UploadRejected):
    code = "SIZE_LIMIT"


class UnsafeKey(UploadRejected):
    code = "UNSAFE_KEY"


class SourceMissing(UploadRejected):
    code = "SOURCE_MISSING"


class TransientError(VideoFlowError):
    """Worth retrying: a dependency was busy or briefly unavailable."""

    code = "TRANSIENT"


class TranscriptionFailed(VideoFlowError):
    """Amazon Transcribe ended the job FAILED; the message carries its FailureReason."""

    code = "TRANSCRIPTION_FAILED"


class TranscriptionTimedOut(VideoFlowError):
    """The job had not finished when the workflow stopped polling."""

    code = "TRANSCRIPTION_TIMEOUT"


class TranscriptMissing(VideoFlowError):
    """The job said COMPLETED but its output is not where it said, or the audio was never transcribed."""

    code = "TRANSCRIPT_MISSING"


def rejection_error_names() -> list[str]:
    """Every error name that means REJECTED: the Catch of the workflow lists exactly these."""
    return sorted(cls.__name__ for cls in _all_subclasses(UploadRejected)) + ["UploadRejected"]


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


class DerivativeMissing(VideoFlowError):
    """A step expected an output that is not there: the job fails rather than publish a gap."""

    code = "DERIVATIVE_MISSING"


class RenderCheckFailed(VideoFlowError):
    """A rendered clip is not what its spec asked for (length, codec, size) or is missing."""

    code = "RENDER_CHECK_FAILED"
