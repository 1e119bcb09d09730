"""The two analysis branches, run for real: Transcript (local Transcribe) and Vision (a local Batch array job).

Faults are injected into the Batch stand-in only (tests/workflow/fakes.py); the job definition's
RetryStrategy from the synthesized template, the workflow's Catch and handle_failure must do the rest.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.media import make_video
from tests.workflow.fakes import HostLostOnFirstAttemptFake, WorkerCrashFake

FRAMES = "batch:submitJob.sync"
TESTDATA = Path("/usr/share/pocketsphinx/test/data")
# Two utterances of LibriVox's "Sense and Sensibility" (one reader, 16 kHz mono, 10.1 s, 31 words)
# with the reference texts Debian's pocketsphinx-testdata ships beside them (see bench/transcript_wer.py).
SPEECH_CLIPS = ["sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880"]
SRT_CUE_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$", re.MULTILINE)
VTT_CUE_TIMING = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}", re.MULTILINE)


# -- Vision: the Batch array job under the job definition's retry strategy ------------------------------------


def test_given_an_array_child_whose_host_is_lost_on_its_first_attempt_when_the_job_runs_then_batch_retries_it_and_the_job_completes(
        run_job, tmp_path):
    fake = HostLostOnFirstAttemptFake.recording()

    job = run_job(make_video(tmp_path / "a.mp4", seconds=4), adapters={FRAMES: fake})

    assert job.execution["status"] == "SUCCEEDED"
    assert job.manifest["status"] == "COMPLETED"
    [batch] = fake.instances
    assert batch.attempts[0] == 2  # lost host: RETRY by the "Host EC2*" rule, then a real run that succeeds
    assert batch.attempts[1] == 1  # the spare child of a one-chunk job ran once, untouched
    shots = job.manifest["shots"]
    assert shots and shots[0]["start_s"] == 0
    assert shots[-1]["end_s"] == pytest.approx(4, abs=0.1)
    assert "shots.detected" in job.event_types


def test_given_a_worker_that_fails_on_its_own_when_the_job_runs_then_it_is_not_retried_and_the_job_fails_with_its_error(
        run_job, tmp_path):
    fake = WorkerCrashFake.recording()

    job = run_job(make_video(tmp_path / "a.mp4", seconds=4), adapters={FRAMES: fake})

    assert job.execution["status"] == "FAILED"
    assert job.manifest["status"] == "FAILED"
    reason = job.manifest["reason"]
    assert reason.startswith("Analysis failed:"), reason
    assert "Array child 0" in reason
    last_stderr_line = WorkerCrashFake.STDERR.strip().splitlines()[-1]
    assert last_stderr_line in reason
    [batch] = fake.instances
    assert batch.attempts[0] == 1  # a non-zero exit code is EXIT: no second attempt, no resubmitted array job
    [failed] = [event for event in job.events if event["type"] == "job.failed"]
    assert failed["detail"]["failed_step"] == "Analysis"
    assert failed["detail"]["reason"] == reason
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "FAILED"


def test_given_a_video_with_hard_cuts_at_3_and_6_seconds_when_it_is_analysed_then_the_shots_change_there(
        run_job, tmp_path):
    video = make_video(tmp_path / "cuts.mp4", seconds=9, cuts=[3.0, 6.0])

    # Two frames per chunk: three array children, and the cut at 3 s falls between chunks 0 and 1.
    job = run_job(video, environment={"FRAMES_PER_CHUNK": "2"})

    assert job.manifest["status"] == "COMPLETED"
    shots = job.manifest["shots"]
    assert len(shots) == 3, shots
    duration = job.manifest["source"]["duration_s"]
    assert shots[0]["start_s"] == 0
    assert shots[-1]["end_s"] == pytest.approx(duration, abs=0.05)
    assert all(a["end_s"] == b["start_s"] for a, b in zip(shots, shots[1:], strict=False))  # no gap, no overlap
    # On the frame (75 and 150 at 25 fps): the workers find the cuts in the proxy, each chunk in its time range.
    assert [shot["start_s"] for shot in shots[1:]] == [3.0, 6.0]


# -- Transcript: local Transcribe, normalize, captions -------------------------------------------------------


def normalized_words(text: str) -> list[str]:
    words = []
    for raw in re.split(r"[\s\-]+", text.lower()):
        word = re.sub(r"[^a-z0-9']", "", raw).strip("'")
        if word:
            words.append({"mr": "mister"}.get(word, word))
    return words


def speech_video(folder: Path) -> tuple[Path, list[str]]:
    """Real read speech (LibriVox) under a test pattern; returns the video and the words spoken."""
    clips = [TESTDATA / "librivox" / f"{name}.wav" for name in SPEECH_CLIPS]
    if not all(clip.is_file() for clip in clips):
        pytest.skip("needs Debian's pocketsphinx-testdata (apt-get install pocketsphinx-testdata)")
    references = {}
    for line in (TESTDATA / "librivox" / "transcription").read_text().splitlines():
        match = re.match(r"\s*<s>(.*?)</s>\s*\(([^)]+)\)", line)
        if match:
            references[match.group(2)] = match.group(1)
    known = normalized_words(" ".join(references[name] for name in SPEECH_CLIPS))
    video = folder / "reading.mp4"
    inputs = [argument for clip in clips for argument in ("-i", str(clip))]
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", *inputs,
         "-filter_complex", "".join(f"[{n + 1}:a]" for n in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[a]",
         "-map", "0:v", "-map", "[a]", "-shortest",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", str(video)],
        check=True, capture_output=True, timeout=120,
    )
    return video, known


def test_given_a_video_of_real_read_speech_when_it_is_processed_then_it_gets_a_transcript_and_captions(
        run_job, tmp_path):
    video, known = speech_video(tmp_path)

    job = run_job(video)

    assert job.manifest["status"] == "COMPLETED"
    assert job.manifest["transcript"] == "transcript.json"
    assert job.manifest["captions"] == {"vtt": "captions.vtt", "srt": "captions.srt"}
    transcript = json.loads((job.folder / "transcript.json").read_text())
    heard = set(normalized_words(" ".join(word["text"] for word in transcript["words"])))
    found = [word for word in known if word in heard]
    assert len(found) >= 0.7 * len(known), f"heard {sorted(heard)}; missing {[w for w in known if w not in heard]}"
    assert all(0 <= word["start_s"] <= word["end_s"] <= job.manifest["source"]["duration_s"] + 0.5
               for word in transcript["words"])
    # Speaker labels were asked for (max_speakers) and the one reader is one speaker.
    assert {word["speaker"] for word in transcript["words"]} == {"spk_0"}
    vtt = (job.folder / "captions.vtt").read_text()
    assert vtt.startswith("WEBVTT")
    assert VTT_CUE_TIMING.search(vtt)
    srt = (job.folder / "captions.srt").read_text()
    assert SRT_CUE_TIMING.search(srt)
    assert srt.lstrip().startswith("1\n")


# A video without sound (an empty transcript, no captions): in the same run as its derivatives' checks,
# tests/workflow/test_happy_path.py::test_a_video_without_sound_completes_with_no_audio_an_empty_transcript_and_...



# -- The job definition that deploys: what LocalBatch applies must be a strategy AWS Batch accepts ---------------
# Not full runs: these read the synthesized template the local runs above take their RetryStrategy from.

# EvaluateOnExit patterns as the Batch API documents them: OnStatusReason/OnReason letters, numbers, periods,
# colons and white space, optionally ENDING with one '*' (a prefix match); OnExitCode digits, optionally ending '*'.
_REASON_PATTERN = re.compile(r"^[A-Za-z0-9.: \t]*\*?$")
_EXIT_CODE_PATTERN = re.compile(r"^[0-9]*\*?$")


def frame_retry_strategy(outdir) -> dict:
    from videoflow.local.synth import load_template
    from videoflow.local.template import LocalTemplate

    template = LocalTemplate(load_template(outdir))
    logical_id = template.find("AWS::Batch::JobDefinition", "PipelineFrameWorkersJobDefinition")
    return template.resources[logical_id]["Properties"]["RetryStrategy"]


def test_given_the_synthesized_frame_job_definition_then_its_retry_strategy_has_at_most_5_rules_as_batch_requires(
        outdir):
    assert len(frame_retry_strategy(outdir)["EvaluateOnExit"]) <= 5


def test_given_the_synthesized_frame_job_definition_then_every_retry_pattern_is_a_prefix_pattern_batch_accepts(
        outdir):
    for rule in frame_retry_strategy(outdir)["EvaluateOnExit"]:
        for key in ("OnStatusReason", "OnReason"):
            if key in rule:
                assert _REASON_PATTERN.match(rule[key]), (key, rule[key])
        if "OnExitCode" in rule:
            assert _EXIT_CODE_PATTERN.match(rule["OnExitCode"]), rule["OnExitCode"]
