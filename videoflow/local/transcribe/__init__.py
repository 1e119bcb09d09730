"""A local Amazon Transcribe, so the workflow's transcript branch runs here on real speech.

It stands in for the `aws-sdk:transcribe` Start and Get calls with the API's own requests,
responses and errors, and writes the service's output document to S3, where
normalize_transcript reads it. Its own part is `jobs` (the API and the asynchronous runs). The
speech engine (speech to words, on this machine) and the output document (the one Amazon
Transcribe writes) live in containers/transcribe/ (engine.py, output.py), because the `whisper`
transcriber's Batch job runs the very same code; they are re-exported here under their names.
"""

from containers.transcribe.engine import (
    MODEL_PACKAGE,
    RecognizedSegment,
    RecognizedWord,
    SpeechEngine,
    WhisperEngine,
)
from containers.transcribe.output import split_punctuation, transcribe_output
from videoflow.local.transcribe.jobs import (
    REASON_FORMAT_MISMATCH,
    REASON_MEDIA_MISSING,
    REASON_SAMPLE_RATE_MISMATCH,
    REASON_TOO_LONG,
    REASON_UNSUPPORTED_FORMAT,
    BadRequestException,
    ConflictException,
    InternalFailureException,
    LimitExceededException,
    LocalTranscribe,
    NotFoundException,
    TranscribeError,
    default_service,
    detect_media_format,
    get_transcription_job,
    parse_media_uri,
    start_transcription_job,
)

__all__ = [
    "MODEL_PACKAGE",
    "REASON_FORMAT_MISMATCH",
    "REASON_MEDIA_MISSING",
    "REASON_SAMPLE_RATE_MISMATCH",
    "REASON_TOO_LONG",
    "REASON_UNSUPPORTED_FORMAT",
    "BadRequestException",
    "ConflictException",
    "InternalFailureException",
    "LimitExceededException",
    "LocalTranscribe",
    "NotFoundException",
    "RecognizedSegment",
    "RecognizedWord",
    "SpeechEngine",
    "TranscribeError",
    "WhisperEngine",
    "default_service",
    "detect_media_format",
    "get_transcription_job",
    "parse_media_uri",
    "split_punctuation",
    "start_transcription_job",
    "transcribe_output",
]
