"""normalize_transcript: Amazon Transcribe's output -> the one canonical transcript of a job.

The workflow reaches this step three ways, and the request says which:
- the Transcribe job COMPLETED: its output JSON (results.items) is read from S3, where
  TranscriptFileUri (or an explicit `transcribe_output` {bucket, key}) points;
- the job FAILED, or was still running when the workflow's poll count ran out: the step
  fails with TranscriptionFailed / TranscriptionTimedOut and the service's reason;
- the source has no audio (no `transcription` in the state, no derivatives.audio): an empty
  transcript, which is a result, not a failure;
- the transcript could not be had and the deployment allows that (transcript_required false: the
  workflow catches the branch's error into `transcript_unavailable`): an empty transcript whose
  `unavailable_reason` says why, and a `transcript.unavailable` event.

The canonical transcript, `transcripts/<job_id>/transcript.json` in the output bucket:
    {job_id, language, words: [{text, start_s, end_s, confidence, speaker}],
     sentences: [{text, start_s, end_s, first_word, last_word, speaker}]}
Punctuation items attach to the word before them ("them" + "." -> "them."); a sentence ends
at . ? or ! (not after Mr/Mrs/Dr/...), at a pause longer than 1.5 s, and where the speaker
changes. first_word/last_word are inclusive indices into `words`. The workflow carries only
the reference and the counts.
"""

from __future__ import annotations

import json
from typing import Literal
from urllib.parse import unquote, urlparse

from botocore.exceptions import ClientError
from pydantic import ConfigDict, Field, model_validator

from lambdas.common import storage
from lambdas.common.errors import TranscriptionFailed, TranscriptionTimedOut, TranscriptMissing  # noqa: F401
from lambdas.common.events import EventLog
from lambdas.common.failures import StepError
from lambdas.common.keys import transcript_key
from lambdas.common.models import (  # noqa: F401  (Word, Sentence: re-exported for callers)
    Derivatives,
    JobRequest,
    Model,
    S3Object,
    Sentence,
    Transcript,
    TranscriptRef,
    Word,
)
from lambdas.common.sentences import sentences_from_words

# ---------------------------------------------------------------------------------------
# The request: the workflow state after the Transcribe loop
# ---------------------------------------------------------------------------------------


class TranscriptionJob(Model):
    """The parts of GetTranscriptionJob's TranscriptionJob this step reads."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: str = Field(alias="TranscriptionJobName")
    status: Literal["QUEUED", "IN_PROGRESS", "FAILED", "COMPLETED"] = Field(alias="TranscriptionJobStatus")
    language_code: str | None = Field(None, alias="LanguageCode")
    transcript_file_uri: str | None = Field(None, alias="TranscriptFileUri")
    failure_reason: str | None = Field(None, alias="FailureReason")

    @model_validator(mode="before")
    @classmethod
    def _flatten_transcript(cls, value):
        if isinstance(value, dict) and isinstance(value.get("Transcript"), dict):
            value = {**value, "TranscriptFileUri": value["Transcript"].get("TranscriptFileUri")}
        return value


class PolledJob(Model):
    job: TranscriptionJob


class TranscriptionPoll(Model):
    """$.transcription as the workflow's Start/Get/CountPoll states leave it."""

    name: str
    polls: int = 0
    waited_s: int = 0
    status: PolledJob | None = None


class NormalizeTranscriptRequest(JobRequest):
    transcription: TranscriptionPoll | None = None
    # Where Transcribe wrote its output, when the caller knows it directly (overrides TranscriptFileUri).
    transcribe_output: S3Object | None = None
    derivatives: Derivatives | None = None
    language_code: str | None = Field(None, description="the requested language, used when the output names none")
    transcript_unavailable: StepError | None = Field(
        None, description="the error that ended the transcript branch, caught by the workflow (transcript_required "
                          "false): the job goes on without a transcript")


def parse_s3_uri(uri: str) -> S3Object:
    """TranscriptFileUri -> bucket and key: https://s3.REGION.amazonaws.com/B/K, https://B.s3.../K or s3://B/K."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        bucket, key = parsed.netloc, parsed.path[1:]
    elif parsed.netloc.startswith(("s3.", "s3-")):
        bucket, _, key = parsed.path[1:].partition("/")
    else:
        bucket, key = parsed.netloc.split(".s3", 1)[0], parsed.path[1:]
    if not bucket or not key:
        raise TranscriptMissing(f"The transcript location {uri!r} names no S3 object.")
    return S3Object(bucket=bucket, key=unquote(key))


def transcribe_output_location(request: NormalizeTranscriptRequest) -> tuple[S3Object | None, str | None]:
    """Where the Transcribe output is (None: no audio) and the job's language; raises when there is none to read."""
    if request.transcribe_output is not None:
        return request.transcribe_output, request.language_code
    if request.transcription is None:
        audio = request.derivatives.audio if request.derivatives else None
        if audio is not None:
            raise TranscriptMissing(f"The audio s3://{audio.bucket}/{audio.key} was not sent to Amazon Transcribe.")
        return None, None
    if request.transcription.status is None:
        raise TranscriptionTimedOut(f"Amazon Transcribe job {request.transcription.name} was never polled.")
    job = request.transcription.status.job
    if job.status == "FAILED":
        raise TranscriptionFailed(
            f"Amazon Transcribe job {job.name} failed: {job.failure_reason or 'no reason given'}"
        )
    if job.status != "COMPLETED":
        raise TranscriptionTimedOut(
            f"Amazon Transcribe job {job.name} was still {job.status} after {request.transcription.polls} polls "
            f"({request.transcription.waited_s} s)."
        )
    if not job.transcript_file_uri:
        raise TranscriptMissing(f"Amazon Transcribe job {job.name} completed without a TranscriptFileUri.")
    return parse_s3_uri(job.transcript_file_uri), job.language_code or request.language_code


# ---------------------------------------------------------------------------------------
# Transcribe output -> words and sentences (pure)
# ---------------------------------------------------------------------------------------


def words_from_transcribe(document: dict) -> list[Word]:
    """results.items -> words, each with the punctuation items that follow it attached.

    Speakers come from each item's speaker_label, or, in older outputs, from
    results.speaker_labels.segments[].items matched by start time.
    """
    results = document.get("results") or {}
    speakers = _speakers_by_start(results)
    words: list[Word] = []
    for item in results.get("items") or []:
        alternatives = item.get("alternatives") or [{}]
        content = (alternatives[0].get("content") or "").strip()
        if not content:
            continue
        if item.get("type") == "punctuation":
            if words:
                words[-1] = words[-1].model_copy(update={"text": words[-1].text + content})
            continue
        if "start_time" not in item or "end_time" not in item:
            continue
        start_s = round(float(item["start_time"]), 3)
        end_s = max(start_s, round(float(item["end_time"]), 3))
        confidence = min(1.0, max(0.0, float(alternatives[0].get("confidence") or 0)))
        speaker = item.get("speaker_label") or speakers.get(item["start_time"])
        words.append(Word(text=content, start_s=start_s, end_s=end_s, confidence=round(confidence, 4),
                          speaker=speaker))
    return words


def _speakers_by_start(results: dict) -> dict[str, str]:
    speakers = {}
    for segment in (results.get("speaker_labels") or {}).get("segments") or []:
        for item in segment.get("items") or []:
            if item.get("start_time") and item.get("speaker_label"):
                speakers[item["start_time"]] = item["speaker_label"]
    return speakers


def transcript_from_transcribe(job_id: str, document: dict, language: str | None = None) -> Transcript:
    words = words_from_transcribe(document)
    results = document.get("results") or {}
    return Transcript(
        job_id=job_id,
        language=results.get("language_code") or language,
        words=words,
        sentences=sentences_from_words(words),
    )


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def unavailable_reason(error: StepError) -> str:
    """One line for the manifest: what kept the transcript from being made."""
    try:
        cause = json.loads(error.cause)
    except (json.JSONDecodeError, TypeError):
        cause = error.cause
    transcriber = "Amazon Transcribe"
    if isinstance(cause, dict) and cause.get("StatusReason"):  # a Batch job's description: transcriber whisper
        transcriber, cause = f"The whisper transcriber (Batch job {cause.get('JobName', '')})", cause["StatusReason"]
    message = str(cause.get("errorMessage") or cause) if isinstance(cause, dict) else str(cause)
    message = " ".join(message.split())
    if error.error not in (TranscriptionFailed.__name__, TranscriptionTimedOut.__name__, TranscriptMissing.__name__):
        message = f"{transcriber} could not be used ({error.error}): {message}" if message else \
            f"{transcriber} could not be used ({error.error})."
    text = f"No transcript: {message}"
    return text if len(text) <= 500 else text[:499] + "…"


def normalize_transcript(request: NormalizeTranscriptRequest, output_bucket: str, events: EventLog) -> TranscriptRef:
    if request.transcript_unavailable is not None:
        return _without_transcript(request, request.transcript_unavailable, output_bucket, events)
    location, language = transcribe_output_location(request)
    if location is None:
        transcript = Transcript(job_id=request.job_id, language=None, words=[], sentences=[])
    else:
        try:
            document = storage.get_json(location.bucket, location.key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                raise TranscriptMissing(
                    f"The Amazon Transcribe output s3://{location.bucket}/{location.key} does not exist."
                ) from error
            raise
        transcript = transcript_from_transcribe(request.job_id, document, language)
    key = transcript_key(request.job_id)
    storage.put_json(output_bucket, key, transcript.model_dump(mode="json"))
    detail = {"words": len(transcript.words), "sentences": len(transcript.sentences),
              "language": transcript.language, "transcript_key": key}
    if location is None:
        detail["reason"] = "The source has no audio."
    events.append(request.job_id, "transcript.normalized", "NormalizeTranscript", **detail)
    return TranscriptRef(bucket=output_bucket, key=key, word_count=len(transcript.words),
                         sentence_count=len(transcript.sentences), language=transcript.language)


def _without_transcript(request: NormalizeTranscriptRequest, error: StepError, output_bucket: str,
                        events: EventLog) -> TranscriptRef:
    """The empty transcript of a job allowed to go on without one, and why, where the user will look."""
    reason = unavailable_reason(error)
    transcript = Transcript(job_id=request.job_id, language=None, words=[], sentences=[], unavailable_reason=reason)
    key = transcript_key(request.job_id)
    storage.put_json(output_bucket, key, transcript.model_dump(mode="json"))
    events.append(request.job_id, "transcript.unavailable", "NormalizeTranscript", reason=reason, error=error.error,
                  transcript_key=key)
    return TranscriptRef(bucket=output_bucket, key=key, word_count=0, sentence_count=0, language=None,
                         unavailable_reason=reason)
