"""handle_failure: whatever stopped the workflow becomes one recorded, readable reason (REJECTED or FAILED)."""

import json
import types

import pytest

from lambdas.common import storage
from lambdas.common.errors import rejection_error_names
from lambdas.common.events import EventLog
from lambdas.common.failures import FailureRequest, failed_step, handle_failure
from lambdas.common.jobs import JobStore
from lambdas.handle_failure.handler import handler
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-failure-00000001"
OUTPUT_BUCKET = "videoflow-output"
CONTEXT = LocalLambdaContext("handle_failure")
NOT_A_VIDEO_MESSAGE = "holiday.mp4 is not a video: its first bytes are a PDF document."
MEDIACONVERT_MESSAGE = (
    "Demuxer: [ReadPacketData File read failed - end of file hit at length [1048576]. Is file truncated?]"
)
MEDIA = {
    "container": "mp4", "duration_s": 62.5, "size_bytes": 48_213_337, "video_codec": "h264", "coded_width": 1920,
    "coded_height": 1080, "width": 1920, "height": 1080, "rotation_deg": 0, "frame_rate": 29.97, "has_audio": True,
    "audio_codec": "aac", "audio_channels": 2, "audio_sample_rate_hz": 48000,
}
# Each step's result, in workflow order: a state holding the first n of them failed in step n + 1.
RESULTS = {
    "upload": {"size_bytes": 48_213_337, "detected_format": "mp4", "content_sha256_prefix": "ab" * 32},
    "media": MEDIA,
    "limits": {"max_duration_s": 14400, "max_size_bytes": 21474836480},
    "job": {"job_id": JOB_ID, "status": "RUNNING", "created_at": "2026-11-12T09:41:30+00:00", "fingerprint": "f"},
    "duplicate": {"duplicate_of": None},
    "mediaconvert": {"destinations": {"bucket": OUTPUT_BUCKET}},
    "mediaconvert_job": {"id": "1731404490123-abcdef", "status": "COMPLETE"},
    "derivatives": {"frames": {"count": 31}},
    "frame_manifest": {"key": f"manifests/{JOB_ID}/frames.json"},
    "analysis": {"transcript": {"key": f"transcripts/{JOB_ID}/transcript.json"}},
}


def _lambda_cause(error_type: str, message: str) -> str:
    """The Cause Step Functions records when a Lambda task raises: the runtime's error JSON."""
    return json.dumps({
        "errorMessage": message, "errorType": error_type, "requestId": "c0a6e3f2-3b1e-4f0e-9d7e-2f5d1c9b8a71",
        "stackTrace": ['  File "/var/task/lambdas/validate_upload/logic.py", line 40, in validate_upload\n'],
    })


def _mediaconvert_cause(message: str) -> str:
    """The Cause of a failed createJob.sync task: the job's describe output, Status ERROR."""
    return json.dumps({"Job": {
        "Arn": "arn:aws:mediaconvert:us-east-1:123456789012:jobs/1731404490123-abcdef",
        "Id": "1731404490123-abcdef", "Status": "ERROR", "ErrorCode": 1010, "ErrorMessage": message,
        "Queue": "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default",
        "UserMetadata": {"job_id": JOB_ID}, "Settings": {"OutputGroups": []},
    }})


def _state(steps_done: int, error: str, cause: str = "") -> dict:
    """The workflow state a Catch (ResultPath $.error) hands to HandleFailure after `steps_done` steps."""
    return {
        "job_id": JOB_ID,
        "received_at": "2026-11-12T09:41:27+00:00",
        "source": {"bucket": "videoflow-ingest", "key": "uploads/holiday.mp4", "version_id": "v1",
                   "etag": "9b2cf535f27731c974343645a3985328-6", "size_bytes": 48_213_337},
        **dict(list(RESULTS.items())[:steps_done]),
        "error": {"Error": error, "Cause": cause},
    }


@pytest.fixture
def stores(aws_state):
    return types.SimpleNamespace(jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"))


def _handle(stores, state: dict):
    return handle_failure(FailureRequest.model_validate(state), OUTPUT_BUCKET, stores.jobs, stores.events)


def _not_a_video(stores):
    return _handle(stores, _state(0, "NotAVideo", _lambda_cause("NotAVideo", NOT_A_VIDEO_MESSAGE)))


def _mediaconvert_failed(stores):
    return _handle(stores, _state(6, "States.TaskFailed", _mediaconvert_cause(MEDIACONVERT_MESSAGE)))


# --- the outcome and its reason ----------------------------------------------------------


def test_given_not_a_video_from_a_lambda_when_handled_then_the_job_is_rejected_with_the_error_message(stores):
    failure = _not_a_video(stores)

    assert failure.model_dump() == {"status": "REJECTED", "reason": NOT_A_VIDEO_MESSAGE, "reason_code": "NOT_A_VIDEO",
                                    "error": "NotAVideo"}


@pytest.mark.parametrize("error", rejection_error_names())
def test_given_any_upload_rejected_error_when_handled_then_the_job_is_rejected(stores, error):
    failure = _handle(stores, _state(2, error, _lambda_cause(error, "The upload is not usable.")))

    assert (failure.status, failure.reason) == ("REJECTED", "The upload is not usable.")


def test_given_a_rejection_without_a_message_when_handled_then_the_reason_is_still_readable(stores):
    failure = _handle(stores, _state(0, "EmptyUpload"))

    assert (failure.status, failure.reason, failure.reason_code) == (
        "REJECTED", "The upload was rejected.", "EMPTY_FILE"
    )


@pytest.mark.parametrize("error", ["States.Timeout", "States.HeartbeatTimeout"])
def test_given_a_task_timeout_when_handled_then_the_job_failed_because_the_step_timed_out(stores, error):
    failure = _handle(stores, _state(1, error))

    assert (failure.status, failure.reason, failure.reason_code) == (
        "FAILED", "ProbeMedia timed out.", error.replace(".", "_").upper()
    )


def test_given_a_mediaconvert_job_that_ended_in_error_when_handled_then_the_reason_is_the_jobs_error_message(stores):
    failure = _mediaconvert_failed(stores)

    assert (failure.status, failure.reason) == ("FAILED", f"Derivatives failed: {MEDIACONVERT_MESSAGE}")


def test_given_a_mediaconvert_cause_that_is_the_bare_job_when_handled_then_the_reason_is_its_error_message(stores):
    cause = json.dumps({"Id": "1731404490123-abcdef", "Status": "ERROR", "ErrorCode": 1040,
                        "ErrorMessage": "Settings Error: invalid Width"})

    failure = _handle(stores, _state(6, "States.TaskFailed", cause))

    assert failure.reason == "Derivatives failed: Settings Error: invalid Width"


def test_given_a_mediaconvert_api_error_with_a_plain_text_cause_when_handled_then_the_text_is_the_reason(stores):
    failure = _handle(stores, _state(6, "MediaConvert.BadRequestException", "  /outputGroups/0: Width must be even\n"))

    assert (failure.status, failure.reason, failure.reason_code) == (
        "FAILED", "Derivatives failed: /outputGroups/0: Width must be even", "MEDIACONVERT_BADREQUESTEXCEPTION"
    )


def test_given_a_named_pipeline_error_when_handled_then_the_job_failed_with_its_code(stores):
    cause = _lambda_cause("DerivativeMissing", "The proxy video was not written.")

    failure = _handle(stores, _state(7, "DerivativeMissing", cause))

    assert (failure.status, failure.reason, failure.reason_code) == (
        "FAILED", "RecordDerivatives failed: The proxy video was not written.", "DERIVATIVE_MISSING"
    )


def test_given_an_error_with_no_cause_when_handled_then_the_reason_names_the_error(stores):
    failure = _handle(stores, _state(4, "Lambda.ServiceException"))

    assert failure.reason == "CheckDuplicate failed: Lambda.ServiceException"


def test_given_a_very_long_cause_when_handled_then_the_reason_is_clipped_to_one_readable_line(stores):
    failure = _handle(stores, _state(6, "States.TaskFailed", _mediaconvert_cause("ffmpeg:\n" + "x " * 2000)))

    assert len(failure.reason) == 500 and failure.reason.endswith("…") and "\n" not in failure.reason


# --- which step failed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps_done", "step"),
    list(enumerate(["ValidateUpload", "ProbeMedia", "EnforceLimits", "RegisterJob", "CheckDuplicate",
                    "BuildMediaConvertJob", "Derivatives", "RecordDerivatives", "BuildFrameManifest",
                    "Analysis", "PublishResults"])),
)
def test_given_the_results_present_when_the_failed_step_is_found_then_it_is_the_first_missing_one(steps_done, step):
    state = _state(steps_done, "States.TaskFailed")

    assert failed_step({k: v for k, v in state.items() if k != "media"}, has_media="media" in state) == step


def test_given_a_duplicate_job_whose_publish_failed_when_handled_then_the_failed_step_is_publish_results(stores):
    state = _state(5, "DerivativeMissing", _lambda_cause("DerivativeMissing", "The earlier job has no derivatives."))
    state["duplicate"] = {"duplicate_of": "job-earlier-00000001"}

    _handle(stores, state)

    assert stores.jobs.get(JOB_ID)["failed_step"] == "PublishResults"


# --- what is recorded --------------------------------------------------------------------


def test_given_a_rejection_when_handled_then_the_manifest_records_it_with_the_source(stores):
    _not_a_video(stores)

    manifest = storage.get_json(OUTPUT_BUCKET, f"outputs/{JOB_ID}/manifest.json")
    assert manifest == {
        "job_id": JOB_ID, "status": "REJECTED", "reason": NOT_A_VIDEO_MESSAGE, "reason_code": "NOT_A_VIDEO",
        "source": {"name": "holiday.mp4", "duration_s": None, "width": None, "height": None, "has_audio": None},
        "derivatives": None, "transcript": None, "transcript_unavailable": None, "captions": None, "shots": [],
        "frames_analysis": None, "duplicate_of": None, "summary": None, "chapters": [], "plan": None, "clips": [], "timeline": None, "cost": None,
    }


def test_given_a_failure_after_probing_when_handled_then_the_manifest_summarizes_the_probed_media(stores):
    _mediaconvert_failed(stores)

    manifest = storage.get_json(OUTPUT_BUCKET, f"outputs/{JOB_ID}/manifest.json")
    assert manifest["status"] == "FAILED"
    assert manifest["source"] == {"name": "holiday.mp4", "duration_s": 62.5, "width": 1920, "height": 1080,
                                  "has_audio": True}


def test_given_a_rejection_before_registration_when_handled_then_a_job_record_is_created(stores):
    _not_a_video(stores)

    record = stores.jobs.get(JOB_ID)
    assert (record["status"], record["reason"], record["reason_code"], record["failed_step"]) == (
        "REJECTED", NOT_A_VIDEO_MESSAGE, "NOT_A_VIDEO", "ValidateUpload"
    )
    assert record["source"]["key"] == "uploads/holiday.mp4"


def test_given_a_registered_job_that_failed_when_handled_then_its_record_is_failed_and_keeps_its_fields(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING", fingerprint="1:48213337:abc:0123456789abcdef")

    _mediaconvert_failed(stores)

    record = stores.jobs.get(JOB_ID)
    assert (record["status"], record["failed_step"], record["fingerprint"]) == (
        "FAILED", "Derivatives", "1:48213337:abc:0123456789abcdef"
    )


def test_given_a_rejection_when_handled_then_a_job_rejected_event_is_appended(stores):
    stores.events.append(JOB_ID, "job.started", "StartPipeline")

    _not_a_video(stores)

    last = stores.events.read(JOB_ID)[-1]
    assert (last.seq, last.type, last.step, last.detail) == (2, "job.rejected", "HandleFailure", {
        "failed_step": "ValidateUpload", "reason": NOT_A_VIDEO_MESSAGE, "reason_code": "NOT_A_VIDEO",
        "error": "NotAVideo",
    })


def test_given_a_pipeline_failure_when_handled_then_a_job_failed_event_is_appended(stores):
    _mediaconvert_failed(stores)

    [event] = stores.events.read(JOB_ID)
    assert (event.type, event.detail["failed_step"], event.detail["reason_code"]) == (
        "job.failed", "Derivatives", "STATES_TASKFAILED"
    )


def test_given_the_caught_state_when_the_handler_runs_then_it_returns_the_failure(stores, endpoint_floor):
    answer = handler(_state(0, "NotAVideo", _lambda_cause("NotAVideo", NOT_A_VIDEO_MESSAGE)), CONTEXT)

    assert answer == {"status": "REJECTED", "reason": NOT_A_VIDEO_MESSAGE, "reason_code": "NOT_A_VIDEO",
                      "error": "NotAVideo"}


def test_given_a_job_rejected_after_it_warmed_the_model_when_handled_then_it_lets_go_and_the_copies_go_to_zero(
        stores, endpoint_floor):
    """A rejection ends the execution SUCCEEDED, so compensate never runs: HandleFailure releases the hold."""
    from lambdas.warm_inference.handler import handler as warm
    from tests.inference_floor import MAX_COPIES, WARM_COPIES, job_state

    floor = warm(job_state(JOB_ID), LocalLambdaContext("warm_inference"))
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    state = {**_state(0, "DurationTooLong", _lambda_cause("DurationTooLong", "The video lasts 5:00:00.")),
             "inference": floor}

    answer = handler(state, CONTEXT)

    assert answer["status"] == "REJECTED"
    assert endpoint_floor.holders() == set()
    assert endpoint_floor.capacity() == (0, MAX_COPIES) and endpoint_floor.copies() == (0, 0)
    assert [e.type for e in stores.events.read(JOB_ID)][-2:] == ["job.rejected", "inference.released"]


def test_given_a_job_that_never_warmed_when_handled_then_the_floor_is_not_touched(stores, endpoint_floor):
    handler(_state(0, "NotAVideo", _lambda_cause("NotAVideo", NOT_A_VIDEO_MESSAGE)), CONTEXT)

    assert "inference.released" not in [e.type for e in stores.events.read(JOB_ID)]
