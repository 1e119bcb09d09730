"""`transcriber: whisper`, end to end: the synthesized workflow submits the whisper Batch job, the local Batch adapter
runs containers/transcribe/main.py as a process with the job role's credentials, normalize_transcript reads its output.

One run, on the shortest real speech there is: one LibriVox utterance from Debian's pocketsphinx-testdata (5 s, with
its text; bench/transcript_wer.py) under a test pattern. The app is synthesized once for the module with
transcriber: whisper and transcript_required: false (tests/infra/test_transcriber.py reads the same synthesis).
"""

import json
import subprocess
from pathlib import Path

import boto3
import pytest

from bench.transcript_wer import TESTDATA, librivox_clips, normalize, word_errors
from tests.transcriber import whisper_synthesis


@pytest.fixture(scope="module")
def whisper_app() -> Path:
    return whisper_synthesis()


def speech_video(folder: Path):
    """The shortest LibriVox clip under a test pattern; returns the video and the clip (with its text)."""
    if not (TESTDATA / "librivox" / "transcription").is_file():
        pytest.fail("The read-speech clips are missing: apt-get install pocketsphinx-testdata (make tools does it).")
    clip = min(librivox_clips(TESTDATA), key=lambda clip: clip.path.stat().st_size)
    video = folder / "reading.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-i", str(clip.path),
         "-map", "0:v", "-map", "1:a", "-shortest",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", str(video)],
        check=True, capture_output=True, timeout=120,
    )
    return video, clip


def test_given_transcriber_whisper_when_a_video_of_read_speech_is_processed_then_the_batch_job_transcribes_it(
        run_job, whisper_app, tmp_path):
    video, clip = speech_video(tmp_path)

    job = run_job(video, synthesized=whisper_app)

    assert job.execution["status"] == "SUCCEEDED"
    assert job.manifest["status"] == "COMPLETED"
    transcript = json.loads((job.folder / "transcript.json").read_text())
    heard = " ".join(word["text"] for word in transcript["words"])
    counts = word_errors(normalize(clip.reference), normalize(heard))
    assert counts["errors"] / counts["reference_words"] <= 0.3, (clip.reference, heard)
    assert transcript["language"] == "en-US" and not transcript.get("unavailable_reason")
    assert {word["speaker"] for word in transcript["words"]} == {"spk_0"}  # MAX_SPEAKERS: diarized in the job
    # The whisper job ran, awaited by the workflow, instead of Amazon Transcribe.
    history = boto3.client("stepfunctions").get_execution_history(
        executionArn=job.execution["executionArn"], maxResults=1000)["events"]
    entered = [event["stateEnteredEventDetails"]["name"] for event in history if "stateEnteredEventDetails" in event]
    assert entered.index("TranscribeSpeech") < entered.index("WhisperOutput") < entered.index("NormalizeTranscript")
    assert "StartTranscription" not in entered
    assert [str(denied) for denied in job.pipeline.access.denials] == []  # the job role sufficed, as it is
    normalized = next(event for event in job.events if event["type"] == "transcript.normalized")
    assert normalized["detail"]["words"] == len(transcript["words"]) > 0
    # The ledger prices the whisper job's Fargate Spot seconds, measured from the history, and no Transcribe minutes.
    cost = job.manifest["cost"]["by_service"]
    assert cost["transcribe"]["usd"] == 0 and "transcriber: whisper" in cost["transcribe"]["note"]
    whisper_vcpu = next(item for item in cost["batch_fargate"]["items"]
                        if item["description"].startswith("whisper transcriber: vCPU (Spot"))
    assert whisper_vcpu["quantity"] == 2 * 60  # 2 vCPU for Fargate's 1-minute minimum: a 5 s clip runs for less
    assert "TranscribeSpeech task's time in the execution history" in cost["batch_fargate"]["note"]
