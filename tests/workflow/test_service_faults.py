"""Services that fail, stall or refuse under load, injected into their local stand-ins; the synthesized workflow's own
Retry, Catch and timeouts must handle them (stacks/derivatives.py, stacks/retries.py, stacks/workflow.py).

Retry waits that last minutes in AWS are run at a hundredth of their length (LocalPipeline's retry_wait_scale); the
waits the definition asked for are checked as asked. One extra synth, `lenient`: transcript_required false and a
MediaConvert bound short enough to wait out here.
"""

import json

import pytest

from stacks.config import load_config
from tests.media import make_video
from tests.synth import deploy_context, local_outdir
from tests.workflow.conftest import RETRY_WAIT_SCALE, JobRun
from tests.workflow.fakes import (
    FailingMediaConvertFake,
    MediaConvertNeverFinishesFake,
    TranscribeThrottledFake,
    TranscribeUnavailableFake,
)
from tests.workflow.waits import scaled_wait_states
from videoflow.local.mediaconvert import TaskFailed
from videoflow.local.runner import LocalPipeline

DERIVATIVES = "mediaconvert:createJob.sync"
START_TRANSCRIPTION = "transcribe:startTranscriptionJob"
LENIENT = {"transcript_required": False, "mediaconvert_timeout_base_s": 6}
FAST = 0.01  # retry waits at 1/100 of what the definition asks


@pytest.fixture(scope="module")
def lenient(request) -> tuple:
    return local_outdir(request, overrides=LENIENT), load_config({**deploy_context()["videoflow"], **LENIENT})


@pytest.fixture
def run(outdir, tmp_path, inference_url):
    """Like run_job, with the retry waits shortened further."""
    opened = []

    def start(video, adapters, synthesized=None) -> JobRun:
        pipeline = LocalPipeline(synthesized or outdir, adapters=adapters, retry_wait_scale=FAST,
                                 inference_url=inference_url)
        pipeline.__enter__()
        opened.append(pipeline)
        submitted = pipeline.submit(video)
        execution = pipeline.wait(submitted.job_id, timeout_s=180)
        return JobRun(pipeline, submitted.job_id, execution, pipeline.export(submitted.job_id, tmp_path / "out"))

    with scaled_wait_states(RETRY_WAIT_SCALE):
        yield start
    for pipeline in reversed(opened):
        pipeline.__exit__(None, None, None)


def history(job: JobRun) -> list[dict]:
    arn = job.execution["executionArn"]
    return job.pipeline.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


# --- MediaConvert: the input's fault is REJECTED (other job errors: tests/workflow/test_failures.py) ------------


def test_a_mediaconvert_job_that_cannot_decode_the_input_rejects_the_job_with_mediaconverts_reason(run, tmp_path):
    message = "Unsupported codec: the input's video codec is not supported [Codec: ProRes RAW]"
    unsupported = FailingMediaConvertFake(TaskFailed({"Id": "1700000000000-abcdef", "Status": "ERROR",
                                                      "ErrorCode": 1030, "ErrorMessage": message}), times=99)

    job = run(make_video(tmp_path / "a.mp4", seconds=1), {DERIVATIVES: unsupported})

    assert job.execution["status"] == "SUCCEEDED"  # the input's fault ends the job, not the execution in error
    assert unsupported.calls == 1  # not tried again: it would fail the same way
    assert (job.manifest["status"], job.manifest["reason"], job.manifest["reason_code"]) == (
        "REJECTED", message, "UNREADABLE_MEDIA")
    rejected = next(e for e in reversed(job.events) if e["type"] == "job.rejected")
    assert job.events[-1]["type"] == "inference.released"  # a rejected job lets go of the endpoint
    assert (rejected["type"], rejected["detail"]["failed_step"]) == ("job.rejected", "Derivatives")
    assert job.pipeline.jobs_table_item(job.job_id)["status"] == "REJECTED"


# --- MediaConvert that never finishes: bounded by a timeout sized from the video -------------------------------


def test_a_mediaconvert_job_that_never_finishes_fails_the_job_when_the_bound_sized_from_the_video_passes(
        run, tmp_path, lenient):
    synthesized, config = lenient
    stuck = MediaConvertNeverFinishesFake()
    try:
        job = run(make_video(tmp_path / "a.mp4", seconds=1), {DERIVATIVES: stuck}, synthesized)
    finally:
        stuck.release()

    assert job.execution["status"] == "FAILED"
    events = history(job)
    sized = next(json.loads(e["stateExitedEventDetails"]["output"])["timeouts"] for e in events
                 if e["type"] == "PassStateExited" and e["stateExitedEventDetails"]["name"] == "SizeTimeouts")
    assert sized["mediaconvert_s"] == config.mediaconvert_timeout_s(job.manifest["source"]["duration_s"])
    entered = next(e["timestamp"] for e in events if e["type"] == "TaskStateEntered"
                   and e["stateEnteredEventDetails"]["name"] == "Derivatives")
    # TaskTimedOut in AWS; LambdaFunctionTimedOut here, where the integration runs as a local function.
    (timed_out,) = [e for e in events if e["type"] in ("TaskTimedOut", "LambdaFunctionTimedOut")]
    waited_s = (timed_out["timestamp"] - entered).total_seconds()
    assert sized["mediaconvert_s"] - 0.5 <= waited_s < sized["mediaconvert_s"] + 5
    assert stuck.calls == 1  # a timeout is not retried: the job fails, and a redrive may try again
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason"].startswith("Derivatives timed out.")
    failed = job.events[-1]
    assert (failed["type"], failed["detail"]["failed_step"]) == ("job.failed", "Derivatives")


# --- Amazon Transcribe under load: LimitExceeded is waited out --------------------------------------------------


def test_transcribe_refusing_jobs_for_a_while_is_waited_out_with_growing_backoff_and_the_job_completes(run, tmp_path):
    # Five refusals: more than a transient error's 4 retries (about a minute in all) would have outlasted.
    throttled = TranscribeThrottledFake(times=5)

    job = run(make_video(tmp_path / "a.mp4", seconds=1), {START_TRANSCRIPTION: throttled})

    assert job.manifest["status"] == "COMPLETED"
    assert throttled.calls == 6
    assert job.manifest["transcript_unavailable"] is None
    # The waits the definition asked for: full jitter under 10, 20, 40, 80, 160 s ... (at most 5 minutes each, 10
    # times). They come first: nothing before the analysis retried (a later step's retry may follow them).
    waits = job.pipeline.retry_waits_s[:5]
    assert len(waits) == 5
    assert all(0 <= wait <= cap for wait, cap in zip(waits, (10, 20, 40, 80, 160), strict=True)), waits


# --- Amazon Transcribe down: no transcript when the deployment allows it, FAILED otherwise -----------------------


def test_with_transcript_optional_when_transcribe_is_down_the_job_completes_without_a_transcript_and_says_why(
        run, tmp_path, lenient):
    synthesized, _ = lenient
    down = TranscribeUnavailableFake()

    job = run(make_video(tmp_path / "a.mp4", seconds=1), {START_TRANSCRIPTION: down}, synthesized)

    assert job.manifest["status"] == "COMPLETED"
    assert down.calls == 5  # retried as a transient error first
    reason = job.manifest["transcript_unavailable"]
    assert reason == ("No transcript: Amazon Transcribe could not be used (Transcribe.InternalFailureException): "
                      f"{TranscribeUnavailableFake.MESSAGE}")
    (event,) = [e for e in job.events if e["type"] == "transcript.unavailable"]
    assert (event["detail"]["reason"], event["detail"]["error"]) == (reason, "Transcribe.InternalFailureException")
    transcript = json.loads((job.folder / job.manifest["transcript"]).read_text())
    assert (transcript["words"], transcript["unavailable_reason"]) == ([], reason)
    assert job.manifest["captions"] == {"vtt": None, "srt": None}  # no words, no captions


def test_with_transcript_required_when_transcribe_is_down_the_job_fails_with_the_reason(run, tmp_path):
    down = TranscribeUnavailableFake()

    job = run(make_video(tmp_path / "a.mp4", seconds=1), {START_TRANSCRIPTION: down})

    assert job.execution["status"] == "FAILED"
    assert down.calls == 5
    assert job.manifest["status"] == "FAILED"
    assert job.manifest["reason"] == f"Analysis failed: {TranscribeUnavailableFake.MESSAGE}"
    failed = job.events[-1]
    assert (failed["type"], failed["detail"]["failed_step"]) == ("job.failed", "Analysis")
