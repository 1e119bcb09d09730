"""The local Amazon Transcribe's jobs: the two API operations the workflow calls, and the runs.

The workflow calls `aws-sdk:transcribe:startTranscriptionJob` and `...:getTranscriptionJob`; here
each takes exactly the API request and returns the API response. The job is asynchronous, as in
the service: Start returns IN_PROGRESS and the job runs on a background thread, one at a time,
so the workflow's Start -> Wait -> Get -> Choice loop (its polls, its timeout) takes the same path
locally as in AWS, and the transcription overlaps the vision branch on the second core.

Speaker partitioning (Settings.ShowSpeakerLabels with MaxSpeakerLabels) runs the local
diarization (containers/transcribe/diarize.py) and writes the service's speaker labels. What the
stand-in cannot do (another language than English, other Settings, vocabularies, redaction,
subtitles) is refused with BadRequestException, never silently ignored. A job that
cannot be done ends FAILED with the service's FailureReason; tests inject transient errors by
wrapping the functions (LimitExceededException and InternalFailureException exist for that).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import boto3
from botocore.exceptions import ClientError

from containers.transcribe.engine import SpeechEngine, WhisperEngine
from containers.transcribe.output import transcribe_output
from videoflow.local.botocore_model import validate_request

DEFAULT_REGION = "us-east-1"
MAX_MEDIA_DURATION_S = 4 * 3600  # Amazon Transcribe's limit for batch jobs
ENGLISH_LANGUAGE_CODES = frozenset({
    "en-US", "en-GB", "en-AU", "en-IN", "en-IE", "en-AB", "en-WL", "en-ZA", "en-NZ",
})

# Parameters the stand-in honours; anything else in a valid request is refused by name.
_SUPPORTED_PARAMETERS = frozenset({
    "TranscriptionJobName", "Media", "MediaFormat", "MediaSampleRateHertz", "LanguageCode",
    "OutputBucketName", "OutputKey", "Tags", "JobExecutionSettings", "Settings",
})
# Of Settings, speaker partitioning only (ShowSpeakerLabels false with the others absent is the default anyway).
_SUPPORTED_SETTINGS = frozenset({"ShowSpeakerLabels", "MaxSpeakerLabels"})

# FailureReason texts, worded as the service words them.
REASON_MEDIA_MISSING = ("The URI that you provided doesn't point to an S3 object. Make sure that the object "
                        "exists and try your request again.")
REASON_FORMAT_MISMATCH = ("The media format provided does not match the detected media format. Check the media "
                          "format of your media file and correct the specified value.")
REASON_UNSUPPORTED_FORMAT = "Unsupported media format. The media format couldn't be detected from the file's bytes."
REASON_SAMPLE_RATE_MISMATCH = ("The sample rate provided does not match the detected sample rate. Check the sample "
                               "rate of your media file and correct the specified value.")
REASON_TOO_LONG = "Invalid file length: the media file is longer than 4 hours."


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class TranscribeError(Exception):
    """Base of the API errors; `step_functions_error` is the name Step Functions sees."""

    step_functions_error = "Transcribe.TranscribeException"


class BadRequestException(TranscribeError):
    step_functions_error = "Transcribe.BadRequestException"


class ConflictException(TranscribeError):
    step_functions_error = "Transcribe.ConflictException"


class NotFoundException(TranscribeError):
    step_functions_error = "Transcribe.NotFoundException"


class LimitExceededException(TranscribeError):
    step_functions_error = "Transcribe.LimitExceededException"


class InternalFailureException(TranscribeError):
    step_functions_error = "Transcribe.InternalFailureException"


class JobFailed(Exception):
    """Raised inside a run: the job ends FAILED with this FailureReason."""


# ---------------------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------------------


def parse_media_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key, https://s3.REGION.amazonaws.com/bucket/key or https://bucket.s3.amazonaws.com/key."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3" and parsed.netloc and parsed.path.strip("/"):
        return parsed.netloc, parsed.path[1:]
    if parsed.scheme == "https" and parsed.netloc.endswith(".amazonaws.com"):
        host = parsed.netloc
        if host.startswith("s3.") or host.startswith("s3-"):
            bucket, _, key = parsed.path[1:].partition("/")
        else:
            bucket, key = host.split(".s3", 1)[0], parsed.path[1:]
        if bucket and key:
            return bucket, unquote(key)
    raise BadRequestException(
        f"The S3 URI {uri!r} is not valid. Specify an s3:// URI or an S3 object URL, and try your request again."
    )


def detect_media_format(head: bytes) -> str | None:
    """The container of an audio file from its first bytes, named as Transcribe's MediaFormat."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


# MediaFormat -> the container detect_media_format names (an .m4a file is an MP4 container).
_CONTAINER = {"m4a": "mp4"}


def _wav_sample_rate(head: bytes) -> int | None:
    """The sample rate in a canonical RIFF/WAVE header's fmt chunk."""
    index = head.find(b"fmt ")
    if index < 0 or len(head) < index + 16:
        return None
    return int.from_bytes(head[index + 12:index + 16], "little")


# ---------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------


@dataclass
class _Job:
    name: str
    request: dict
    media_format: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    completed: datetime | None = None
    status: str = "QUEUED"
    failure_reason: str | None = None
    transcript_uri: str | None = None
    sample_rate_hz: int | None = None
    future: Future | None = None

    def describe(self) -> dict:
        """The TranscriptionJob structure of the Start and Get responses, as JSON values."""
        job = {
            "TranscriptionJobName": self.name,
            "TranscriptionJobStatus": self.status,
            "LanguageCode": self.request["LanguageCode"],
            "Media": {"MediaFileUri": self.request["Media"]["MediaFileUri"]},
            "CreationTime": _timestamp(self.created),
            "Settings": {"ChannelIdentification": False, "ShowAlternatives": False, **self.request.get("Settings", {})},
        }
        if self.media_format:
            job["MediaFormat"] = self.media_format
        if self.sample_rate_hz:
            job["MediaSampleRateHertz"] = self.sample_rate_hz
        if self.started:
            job["StartTime"] = _timestamp(self.started)
        if self.completed:
            job["CompletionTime"] = _timestamp(self.completed)
        if self.transcript_uri:
            job["Transcript"] = {"TranscriptFileUri": self.transcript_uri}
        if self.failure_reason:
            job["FailureReason"] = self.failure_reason
        if self.request.get("Tags"):
            job["Tags"] = self.request["Tags"]
        return job


def _timestamp(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalTranscribe:
    """Transcription jobs on this machine; `start_transcription_job` and `get_transcription_job` are the adapters.

    `background=False` runs the job inside the Start call (its response still says IN_PROGRESS,
    as the service's does; the first Get says how it ended).
    """

    def __init__(self, engine: SpeechEngine | None = None, background: bool = True, region: str | None = None):
        self.engine = engine or WhisperEngine()
        self.background = background
        self.region = region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # The two API operations ---------------------------------------------------------------

    def start_transcription_job(self, parameters: dict) -> dict:
        _check_start_request(parameters)
        name = parameters["TranscriptionJobName"]
        job = _Job(name=name, request=parameters, media_format=parameters.get("MediaFormat"),
                   sample_rate_hz=parameters.get("MediaSampleRateHertz"))
        with self._lock:
            if name in self._jobs:
                raise ConflictException("The requested job name already exists. Use a different job name.")
            self._jobs[name] = job
            job.status, job.started = "IN_PROGRESS", datetime.now(UTC)
            response = {"TranscriptionJob": job.describe()}
        if self.background:
            job.future = self._pool().submit(self._run, job)
        else:
            self._run(job)
        return response

    def get_transcription_job(self, parameters: dict) -> dict:
        _validate("GetTranscriptionJob", parameters)
        with self._lock:
            job = self._jobs.get(parameters["TranscriptionJobName"])
            if job is None:
                raise NotFoundException(
                    "The requested job couldn't be found. Check the job name and try your request again."
                )
            return {"TranscriptionJob": job.describe()}

    # Helpers for callers that are not a workflow --------------------------------------------

    def wait(self, name: str, timeout_s: float = 600) -> dict:
        """Block until the job has ended; return what GetTranscriptionJob returns then."""
        with self._lock:
            job = self._jobs.get(name)
        if job is not None and job.future is not None:
            job.future.result(timeout=timeout_s)
        return self.get_transcription_job({"TranscriptionJobName": name})

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # The run ---------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-transcribe")
            return self._executor

    def _run(self, job: _Job) -> None:
        try:
            uri = self._transcribe(job)
        except JobFailed as failure:
            self._finish(job, "FAILED", failure_reason=str(failure))
        except Exception as error:  # the service reports its own faults as a failed job, too
            self._finish(job, "FAILED", failure_reason=f"Internal failure: {type(error).__name__}: {error}")
        else:
            self._finish(job, "COMPLETED", transcript_uri=uri)

    def _finish(self, job: _Job, status: str, **values) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(job, name, value)
            job.status, job.completed = status, datetime.now(UTC)

    def _transcribe(self, job: _Job) -> str:
        request = job.request
        s3 = boto3.client("s3", region_name=self.region)
        bucket, key = parse_media_uri(request["Media"]["MediaFileUri"])
        with tempfile.TemporaryDirectory(prefix="local-transcribe-") as folder:
            audio = Path(folder) / "media"
            try:
                s3.download_file(bucket, key, str(audio))
            except ClientError as error:
                if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound", "NoSuchBucket", "403",
                                                       "AccessDenied"):
                    raise JobFailed(REASON_MEDIA_MISSING) from error
                raise
            head = audio.open("rb").read(4096)
            detected = detect_media_format(head)
            if detected is None:
                raise JobFailed(REASON_UNSUPPORTED_FORMAT)
            requested = request.get("MediaFormat")
            if requested and _CONTAINER.get(requested, requested) != detected:
                raise JobFailed(REASON_FORMAT_MISMATCH)
            job.media_format = requested or detected
            if detected == "wav":
                rate = _wav_sample_rate(head)
                if request.get("MediaSampleRateHertz") and rate and rate != request["MediaSampleRateHertz"]:
                    raise JobFailed(REASON_SAMPLE_RATE_MISMATCH)
                job.sample_rate_hz = job.sample_rate_hz or rate
            duration_s = _duration_s(audio)
            if duration_s is not None and duration_s > MAX_MEDIA_DURATION_S:
                raise JobFailed(REASON_TOO_LONG)
            max_speakers = _max_speakers(request)
            try:
                if max_speakers is None:
                    segments = self.engine.transcribe(audio)
                else:
                    segments = self.engine.transcribe(audio, max_speakers=max_speakers)
            except (OSError, ValueError) as error:
                raise JobFailed(f"Failed to decode the media file: {error}") from error
        document = transcribe_output(job.name, request["LanguageCode"], segments,
                                     speaker_labels=max_speakers is not None)
        out_bucket, out_key = _output_location(request)
        try:
            s3.put_object(Bucket=out_bucket, Key=out_key, Body=json.dumps(document).encode(),
                          ContentType="application/json")
        except ClientError as error:
            raise JobFailed(
                f"The output couldn't be written to s3://{out_bucket}/{out_key}: {error.response['Error']['Code']}. "
                "Check that the bucket exists and that Amazon Transcribe can write to it."
            ) from error
        return f"https://s3.{self.region}.amazonaws.com/{out_bucket}/{out_key}"


def _duration_s(path: Path) -> float | None:
    try:
        import av

        with av.open(str(path)) as container:
            return container.duration / 1_000_000 if container.duration else None
    except Exception:  # undecodable files fail in the engine, with its message
        return None


def _max_speakers(request: dict) -> int | None:
    settings = request.get("Settings") or {}
    return settings["MaxSpeakerLabels"] if settings.get("ShowSpeakerLabels") else None


def _output_location(request: dict) -> tuple[str, str]:
    """Where Transcribe writes: OutputKey as given, or under it when it ends with '/', or <name>.json."""
    key = request.get("OutputKey") or ""
    if not key or key.endswith("/"):
        key += f"{request['TranscriptionJobName']}.json"
    return request["OutputBucketName"], key


# ---------------------------------------------------------------------------------------
# Request checks
# ---------------------------------------------------------------------------------------


def _validate(operation: str, parameters: dict) -> None:
    # Transcribe matches its patterns against the whole value: "has spaces" is no job name.
    validate_request("transcribe", operation, parameters, BadRequestException, whole_value_patterns=True)


def _check_start_request(parameters: dict) -> None:
    """StartTranscriptionJob's own checks, then what this stand-in cannot do, refused by name."""
    _validate("StartTranscriptionJob", parameters)
    unsupported = sorted(set(parameters) - _SUPPORTED_PARAMETERS)
    if unsupported:
        raise BadRequestException(f"{', '.join(unsupported)}: not implemented by the local stand-in for "
                                  "Amazon Transcribe.")
    language = parameters.get("LanguageCode")
    if language not in ENGLISH_LANGUAGE_CODES:
        raise BadRequestException(
            f"LanguageCode {language!r}: the local stand-in for Amazon Transcribe transcribes English only "
            f"({', '.join(sorted(ENGLISH_LANGUAGE_CODES))})."
        )
    settings = parameters.get("Settings") or {}
    unsupported = sorted(set(settings) - _SUPPORTED_SETTINGS)
    if unsupported:
        raise BadRequestException(f"Settings.{', Settings.'.join(unsupported)}: not implemented by the local stand-in "
                                  "for Amazon Transcribe (it does speaker partitioning only).")
    if settings.get("ShowSpeakerLabels") and "MaxSpeakerLabels" not in settings:
        raise BadRequestException("When ShowSpeakerLabels is true, MaxSpeakerLabels is required.")
    if "MaxSpeakerLabels" in settings and not settings.get("ShowSpeakerLabels"):
        raise BadRequestException("MaxSpeakerLabels can be set only when ShowSpeakerLabels is true.")
    if not parameters.get("OutputBucketName"):
        raise BadRequestException("OutputBucketName is required by the local stand-in (it has no service-managed "
                                  "bucket).")
    if not parameters["Media"].get("MediaFileUri"):
        raise BadRequestException("Media.MediaFileUri is required: the local stand-in reads the media from S3.")
    parse_media_uri(parameters["Media"]["MediaFileUri"])


# ---------------------------------------------------------------------------------------
# The adapters the local runner registers
# ---------------------------------------------------------------------------------------

_default: LocalTranscribe | None = None
_default_lock = threading.Lock()


def default_service() -> LocalTranscribe:
    """The process's one local Transcribe (its jobs and its loaded model are shared)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LocalTranscribe()
        return _default


def start_transcription_job(parameters: dict) -> dict:
    """Adapter for `arn:aws:states:::aws-sdk:transcribe:startTranscriptionJob`."""
    return default_service().start_transcription_job(parameters)


def get_transcription_job(parameters: dict) -> dict:
    """Adapter for `arn:aws:states:::aws-sdk:transcribe:getTranscriptionJob`."""
    return default_service().get_transcription_job(parameters)
