"""compensate: a failed, timed-out or stopped execution ends as a recorded job with no half-written render.

The history is the shape Step Functions returns (GetExecutionHistory with execution data); the
stores are moto. Whole clips stay for a redrive; partials go; the failure is recorded once per
delivery, with the step the execution stopped in.
"""

import json

import pytest

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.keys import clip_key, clips_prefix, thumbnail_key
from lambdas.common.storage import get_json
from lambdas.compensate.logic import StatusChangeEvent, compensate, failed_step

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-compensate-0001"
OTHER_JOB_ID = "job-compensate-0002"
OUTPUT_BUCKET = "videoflow-output"
SOURCE = {"bucket": "videoflow-ingest", "key": "uploads/talk.mp4", "version_id": "v1", "size_bytes": 1000}
STATE = {"job_id": JOB_ID, "source": SOURCE, "inference": {"floor": 1}}


def entered(name: str, state: dict | None = None) -> dict:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": json.dumps(state or {})}}


def exited(name: str) -> dict:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name}}


def failed(error: str, cause: str) -> dict:
    return {"type": "ExecutionFailed", "executionFailedEventDetails": {"error": error, "cause": cause}}


def timed_out() -> dict:
    return {"type": "ExecutionTimedOut", "executionTimedOutEventDetails": {}}


def aborted(error: str | None = None) -> dict:
    return {"type": "ExecutionAborted", "executionAbortedEventDetails": {"error": error} if error else {}}


def event(status: str = "FAILED", error: str | None = "RenderCheckFailed", cause: str | None = None) -> StatusChangeEvent:
    return StatusChangeEvent.model_validate({"detail-type": "Step Functions Execution Status Change", "detail": {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:vf:{JOB_ID}",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:vf", "name": JOB_ID,
        "status": status, "input": json.dumps({"job_id": JOB_ID, "source": SOURCE}), "error": error,
        "cause": cause or json.dumps({"errorMessage": "clip 0 (clips/x/clip-00.mp4): lasts 9.000 s, planned 19.000 s"}),
    }})


RENDER_FAILED_HISTORY = [
    entered("KeyframeInference", STATE), exited("KeyframeInference"),
    entered("RenderClips", {**STATE, "render": {"clips": []}}), entered("OnFargate?"), exited("OnFargate?"),
    entered("RenderOnFargate"), exited("RenderOnFargate"), exited("RenderClips"),
    entered("RecordRender", {**STATE, "media": None}),
    failed("RenderCheckFailed", "clip 0 is short"),
]


@pytest.fixture
def stores(aws_state):
    return EventLog("videoflow-events"), JobStore("videoflow-jobs")


def _keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix="clips/").get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_given_a_task_that_failed_then_the_failed_step_is_the_earliest_state_never_left():
    step = failed_step(RENDER_FAILED_HISTORY)

    assert (step.name, step.error) == ("RecordRender", "RenderCheckFailed")
    assert step.state["job_id"] == JOB_ID


def test_given_a_branch_of_a_parallel_that_failed_then_the_failed_step_is_the_parallel():
    history = [entered("Analysis", STATE), entered("HasAudio?"), exited("HasAudio?"), entered("WaitForTranscript"),
               entered("AnalyzeFrames"), failed("States.TaskFailed", "Array child 0 failed")]

    assert failed_step(history).name == "Analysis"


def test_given_a_failed_render_then_partials_go_whole_clips_stay_and_the_job_is_failed_with_its_reason(
        aws_state, stores):
    events, jobs = stores
    whole = [clip_key(JOB_ID, 0, "9:16"), thumbnail_key(JOB_ID, 0, "9:16")]
    partials = [clip_key(JOB_ID, 1, "9:16") + ".partial-0a1b2c3d", thumbnail_key(JOB_ID, 1, "16:9") + ".partial-x1"]
    other = [clip_key(OTHER_JOB_ID, 0, "9:16") + ".partial-ffff"]
    for key in whole + partials + other:
        aws_state.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=b"x")
    released = []

    result = compensate(event(), RENDER_FAILED_HISTORY, OUTPUT_BUCKET, jobs, events, released.append)

    assert _keys(aws_state) == sorted(whole + other)
    assert (result.status, result.failed_step, result.partials_deleted) == ("FAILED", "RecordRender", 2)
    assert released == [JOB_ID]  # the job held the inference floor
    job = jobs.get(JOB_ID)
    assert (job["status"], job["failed_step"]) == ("FAILED", "RecordRender")
    manifest = get_json(OUTPUT_BUCKET, f"outputs/{JOB_ID}/manifest.json")
    assert manifest["status"] == "FAILED" and manifest["clips"] == []
    assert manifest["reason"] == "RecordRender failed: clip 0 (clips/x/clip-00.mp4): lasts 9.000 s, planned 19.000 s"
    assert [e.type for e in events.read(JOB_ID)] == ["job.compensated", "job.failed"]
    assert clips_prefix(JOB_ID) in whole[0]


def test_given_a_timed_out_execution_then_the_job_is_failed_as_timed_out(aws_state, stores):
    events, jobs = stores

    compensate(event("TIMED_OUT", error=None, cause=None), [*RENDER_FAILED_HISTORY[:-1], timed_out()], OUTPUT_BUCKET,
               jobs, events, lambda job_id: None)

    assert jobs.get(JOB_ID)["reason"].startswith("RecordRender timed out.")


def test_given_a_job_a_person_cancelled_when_its_execution_is_aborted_then_it_stays_cancelled(aws_state, stores):
    events, jobs = stores
    jobs.upsert(JOB_ID, status="CANCELLED")

    result = compensate(event("ABORTED", error=None, cause=None), [*RENDER_FAILED_HISTORY[:-1], aborted()],
                        OUTPUT_BUCKET, jobs, events, lambda job_id: None)

    assert result.status == "CANCELLED" and jobs.get(JOB_ID)["status"] == "CANCELLED"
    assert [e.type for e in events.read(JOB_ID)] == ["job.compensated", "job.cancelled"]


def test_given_a_job_that_never_warmed_the_endpoint_then_nothing_is_released(aws_state, stores):
    events, jobs = stores
    history = [entered("ProbeMedia", {"job_id": JOB_ID, "source": SOURCE}), failed("States.TaskFailed", "boom")]
    released = []

    result = compensate(event(error="States.TaskFailed", cause="boom"), history, OUTPUT_BUCKET, jobs, events,
                        released.append)

    assert released == [] and result.released_inference is False


def test_given_a_redriven_execution_when_it_runs_again_then_the_retry_is_logged_once_with_who_asked(aws_state, stores):
    from lambdas.compensate.logic import record_retry

    events, jobs = stores
    jobs.upsert(JOB_ID, status="RUNNING", failed_step="Derivatives", reason="Derivatives failed: boom",
                retry_requested_by="arn:aws:iam::123456789012:user/editor")
    redriven = event("RUNNING", error=None).model_copy(
        update={"detail": event("RUNNING", error=None).detail.model_copy(update={"redrive_count": 1})})

    record_retry(redriven, jobs, events)
    record_retry(redriven, jobs, events)  # EventBridge delivers at least once

    [retried] = [e for e in events.read(JOB_ID) if e.type == "job.retried"]
    assert retried.detail == {"redrive_count": 1, "failed_step": "Derivatives", "previous_reason": "Derivatives failed: boom",
                              "requested_by": "arn:aws:iam::123456789012:user/editor"}


def _iteration(index: int, event_type: str) -> dict:
    return {"type": event_type, f"{event_type[0].lower()}{event_type[1:]}EventDetails": {"name": "RenderClips",
                                                                                          "index": index}}


def test_given_one_clip_of_the_render_map_failed_for_good_then_the_job_fails_at_render_clips_and_keeps_the_others(
        aws_state, stores):
    # Clip 0 rendered and published; clip 1's render failed after its retries, mid-upload: the Map fails.
    events, jobs = stores
    cause = json.dumps({"errorMessage": "ffmpeg failed (exit 1): Invalid data found when processing input",
                        "errorType": "RenderError"})
    history = [
        entered("BuildRenderSpecs", STATE), exited("BuildRenderSpecs"),
        entered("RenderClips", {**STATE, "render": {"clips": [{}, {}]}}),
        _iteration(0, "MapIterationStarted"), entered("OnFargate?"), exited("OnFargate?"),
        entered("RenderInLambda"), exited("RenderInLambda"), _iteration(0, "MapIterationSucceeded"),
        _iteration(1, "MapIterationStarted"), entered("OnFargate?"), exited("OnFargate?"), entered("RenderInLambda"),
        {"type": "TaskFailed", "taskFailedEventDetails": {"error": "RenderError", "cause": cause}},
        _iteration(1, "MapIterationFailed"), {"type": "MapStateFailed"},
        {"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "RenderError", "cause": cause}},
    ]
    whole = [clip_key(JOB_ID, 0, "9:16"), thumbnail_key(JOB_ID, 0, "9:16")]
    for key in [*whole, clip_key(JOB_ID, 1, "9:16") + ".partial-7f3e"]:
        aws_state.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=b"x")

    result = compensate(event(error="RenderError", cause=cause), history, OUTPUT_BUCKET, jobs, events, lambda j: None)

    assert (result.status, result.failed_step, result.partials_deleted) == ("FAILED", "RenderClips", 1)
    assert _keys(aws_state) == sorted(whole)  # clip 0 stays for a redrive, unpublished
    manifest = get_json(OUTPUT_BUCKET, f"outputs/{JOB_ID}/manifest.json")
    assert (manifest["status"], manifest["clips"]) == ("FAILED", [])
    assert manifest["reason"] == "RenderClips failed: ffmpeg failed (exit 1): Invalid data found when processing input"


def test_given_a_redriven_execution_that_failed_again_then_the_failed_step_is_the_one_the_redriven_run_stopped_in():
    redriven = {"type": "ExecutionRedriven", "executionRedrivenEventDetails": {"redriveCount": 1}}
    history = [entered("Derivatives", STATE), failed("MediaConvert.JobError", "Service unavailable"), redriven,
               entered("Derivatives", STATE), exited("Derivatives"), *RENDER_FAILED_HISTORY[2:]]

    step = failed_step(history)

    assert (step.name, step.error) == ("RecordRender", "RenderCheckFailed")
