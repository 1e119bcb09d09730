"""A job's status never goes backwards: the jobs table refuses it, and every writer respects the refusal.

The rule (lambdas/common/jobs.py): a final status (COMPLETED, REJECTED, FAILED, CANCELLED) is
never replaced, except FAILED -> RUNNING by a redrive; DynamoDB checks it in the write itself.
The races are played here step by step against moto, in the order that would hurt: a cancel
that lands before, during or after PublishResults; a failure event that arrives after a redrive.
"""

import json
import logging

import pytest

from lambdas.common.errors import TransientError
from lambdas.common.failures import FailureRequest, StepError, handle_failure
from lambdas.common.jobs import (
    CANCEL_ERROR,
    CANCELLED_REASON,
    FINAL_STATUSES,
    StatusChangeRefused,
    may_change,
)
from lambdas.common.keys import clip_key
from lambdas.common.storage import get_json
from lambdas.compensate.logic import StatusChangeEvent, compensate
from lambdas.register_job.logic import RegisterRequest, register_job
from tests.unit.test_compensate import aborted, entered, exited, failed
from tests.unit.test_publish_results import OUTPUT_BUCKET, _processed, _publish, stores

__all__ = ["stores"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-publish-00000001"  # test_publish_results' job, so its processed state can be published
STATUSES = ["RUNNING", *sorted(FINAL_STATUSES)]
ALLOWED = ({(None, wanted) for wanted in STATUSES} | {("RUNNING", wanted) for wanted in STATUSES}
           | {(status, status) for status in STATUSES} | {("FAILED", "RUNNING")})
MANIFEST = f"outputs/{JOB_ID}/manifest.json"
SOURCE = {"bucket": "videoflow-ingest", "key": "uploads/beach day.mp4", "version_id": "v1",
          "etag": "9b2cf535f27731c974343645a3985328", "size_bytes": 4_200_000}
STATE = {"job_id": JOB_ID, "source": SOURCE, "inference": {"floor": 1}}


def _api_cancel(stores) -> dict:
    """What the jobs API's cancel writes once StopExecution has succeeded (lambdas/jobs_api/logic.py)."""
    return stores.jobs.upsert(JOB_ID, status="CANCELLED", reason=CANCELLED_REASON, reason_code="CANCELLED",
                              cancel_requested_by="arn:aws:iam::123456789012:user/editor")


def _status_change(status: str, redrive_count: int = 0, error: str | None = None) -> StatusChangeEvent:
    return StatusChangeEvent.model_validate({"detail-type": "Step Functions Execution Status Change", "detail": {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:vf:{JOB_ID}",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:vf", "name": JOB_ID,
        "status": status, "input": json.dumps({"job_id": JOB_ID, "source": SOURCE}), "error": error,
        "cause": "boom" if status == "FAILED" else None, "redriveCount": redrive_count,
    }})


def _redriven(count: int) -> dict:
    return {"type": "ExecutionRedriven", "executionRedrivenEventDetails": {"redriveCount": count}}


def _compensate(stores, change: StatusChangeEvent, history: list[dict], released: list | None = None):
    return compensate(change, history, OUTPUT_BUCKET, stores.jobs, stores.events,
                      (released if released is not None else []).append)


def _log(stores) -> list[str]:
    return [event.type for event in stores.events.read(JOB_ID)]


def _keys(stores, prefix: str = "clips/") -> list[str]:
    listed = stores.s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


# --- the rule, as the table enforces it ---------------------------------------------------------


def test_the_rule_lets_a_final_status_be_replaced_only_by_itself_or_failed_by_running():
    assert {(current, wanted) for current in [None, *STATUSES] for wanted in STATUSES
            if may_change(current, wanted)} == ALLOWED


def test_given_every_status_when_every_other_is_written_then_the_table_allows_exactly_the_rule(stores):
    for current in [None, *STATUSES]:
        for wanted in STATUSES:
            job_id = f"job-{current}-to-{wanted}".lower()
            if current:
                stores.jobs.upsert(job_id, status=current, reason=f"was {current}")
            if (current, wanted) in ALLOWED:
                assert stores.jobs.upsert(job_id, status=wanted, reason="new")["status"] == wanted
                continue
            with pytest.raises(StatusChangeRefused) as refused:
                stores.jobs.upsert(job_id, status=wanted, reason="new")
            assert (refused.value.current, refused.value.wanted) == (current, wanted)
            record = stores.jobs.get(job_id)
            assert (record["status"], record["reason"]) == (current, f"was {current}"), (current, wanted)


def test_given_a_refused_status_change_then_it_is_logged_with_both_statuses(stores, caplog):
    stores.jobs.upsert(JOB_ID, status="COMPLETED")

    with caplog.at_level(logging.WARNING), pytest.raises(StatusChangeRefused, match="is COMPLETED; it was not"):
        stores.jobs.upsert(JOB_ID, status="FAILED")

    [logged] = [record for record in caplog.records if record.getMessage() == "job status change refused"]
    assert (logged.job_id, logged.current, logged.wanted) == (JOB_ID, "COMPLETED", "FAILED")


def test_given_fields_without_a_status_when_written_to_a_final_job_then_they_are_written(stores):
    stores.jobs.upsert(JOB_ID, status="CANCELLED")

    stores.jobs.upsert(JOB_ID, cost={"total_usd": 0.01})  # record_cost, late: no status, no condition

    assert stores.jobs.get(JOB_ID)["status"] == "CANCELLED" and stores.jobs.get(JOB_ID)["cost"]


def test_given_a_retry_that_read_the_failure_when_the_redriven_run_failed_again_first_then_it_is_not_marked_running(
        stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    read = stores.jobs.upsert(JOB_ID, status="FAILED", reason="Derivatives failed: boom")
    stores.jobs.upsert(JOB_ID, status="FAILED", reason="Derivatives failed: again")  # the redriven run, fast

    with pytest.raises(StatusChangeRefused):
        stores.jobs.upsert(JOB_ID, status="RUNNING", expected_status_version=read["status_version"])

    assert stores.jobs.get(JOB_ID)["reason"] == "Derivatives failed: again"


def test_given_a_failed_job_when_a_redrive_marks_it_running_then_it_can_complete(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    read = stores.jobs.upsert(JOB_ID, status="FAILED")

    stores.jobs.upsert(JOB_ID, status="RUNNING", expected_status_version=read["status_version"])
    _publish(stores, _processed(stores.s3, JOB_ID))

    assert stores.jobs.get(JOB_ID)["status"] == "COMPLETED"
    assert stores.jobs.get(JOB_ID)["status_version"] == 4


# --- the writers --------------------------------------------------------------------------------


def test_given_a_cancelled_job_when_a_late_failure_is_handled_then_nothing_is_written(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    _api_cancel(stores)

    with pytest.raises(StatusChangeRefused):
        handle_failure(FailureRequest(job_id=JOB_ID, source=SOURCE, error=StepError(Error="States.TaskFailed")),
                       OUTPUT_BUCKET, stores.jobs, stores.events)

    assert stores.jobs.get(JOB_ID)["status"] == "CANCELLED"
    assert _keys(stores, "outputs/") == [] and _log(stores) == []


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELLED", "REJECTED"])
def test_given_a_job_that_ended_when_registration_runs_again_then_it_is_refused(stores, status):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status=status)

    with pytest.raises(StatusChangeRefused):
        register_job(RegisterRequest.model_validate(state), stores.jobs, stores.events)

    assert stores.jobs.get(JOB_ID)["status"] == status


def test_given_a_failed_job_redriven_from_registration_when_registered_then_it_is_running(stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="FAILED")

    assert register_job(RegisterRequest.model_validate(state), stores.jobs, stores.events).status == "RUNNING"


def test_given_a_job_still_recorded_failed_when_a_redrive_reaches_publishing_then_it_is_retried_not_skipped(stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="FAILED")  # the jobs API has redriven it, not yet marked it RUNNING

    with pytest.raises(TransientError):  # the workflow retries TransientError by name
        _publish(stores, state)

    assert stores.jobs.get(JOB_ID)["status"] == "FAILED" and _keys(stores, "outputs/") == []


# --- a cancel racing PublishResults: the first final status recorded wins, the manifest agrees -----


def test_given_a_cancel_recorded_before_publishing_then_nothing_is_published_and_record_and_manifest_say_cancelled(
        stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    _api_cancel(stores)

    published = _publish(stores, state)

    assert published.status == "CANCELLED"
    assert stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "CANCELLED"
    assert "job.completed" not in _log(stores)


def test_given_a_cancel_recorded_while_the_manifest_is_written_then_record_and_manifest_both_end_cancelled(stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    cancelled = _cancel_right_after_writing(stores, MANIFEST)

    published = _publish(stores, state)

    assert cancelled and published.status == "CANCELLED"
    assert stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "CANCELLED"
    assert get_json(OUTPUT_BUCKET, MANIFEST)["reason"] == CANCELLED_REASON
    # Then the stopped execution's status change: compensate keeps it CANCELLED, and says so once.
    _compensate(stores, _status_change("ABORTED", error=CANCEL_ERROR), _stopped_in("PublishResults"))
    assert stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "CANCELLED"
    assert _log(stores).count("job.cancelled") == 1 and "job.completed" not in _log(stores)


def test_given_the_abort_handled_before_the_api_records_the_cancel_then_publishing_still_ends_cancelled(stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="RUNNING")

    _compensate(stores, _status_change("ABORTED", error=CANCEL_ERROR), _stopped_in("PublishResults"))
    published = _publish(stores, state)  # the invocation StopExecution did not interrupt
    _api_cancel(stores)  # the API's own write, last: the same status again

    assert published.status == "CANCELLED"
    assert stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "CANCELLED"
    assert "job.completed" not in _log(stores)


def test_given_the_job_published_first_when_the_cancel_lands_then_it_is_refused_and_the_job_stays_completed(stores):
    state = _processed(stores.s3, JOB_ID)
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    stores.s3.put_object(Bucket=OUTPUT_BUCKET, Key=clip_key(JOB_ID, 0, "9:16"), Body=b"a published clip")
    _publish(stores, state)

    with pytest.raises(StatusChangeRefused) as refused:  # the jobs API answers 409: already COMPLETED
        _api_cancel(stores)
    released = []
    result = _compensate(stores, _status_change("ABORTED", error=CANCEL_ERROR), _stopped_in("Notify"), released)

    assert refused.value.current == "COMPLETED" and result.ignored == "the job is already COMPLETED"
    assert stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "COMPLETED"
    assert _keys(stores) == [clip_key(JOB_ID, 0, "9:16")] and released == []
    assert _log(stores)[-1] == "job.completed"


def test_given_a_recorded_cancel_request_when_the_execution_is_aborted_before_the_api_marks_it_then_it_ends_cancelled(
        stores):
    # The jobs API records the request before StopExecution; the stop may be announced before its CANCELLED write.
    stores.jobs.upsert(JOB_ID, status="RUNNING", cancel_requested_at="2026-11-26T10:00:00+00:00")

    result = _compensate(stores, _status_change("ABORTED"), [{"type": "ExecutionStarted"}, aborted()])

    assert result.status == stores.jobs.get(JOB_ID)["status"] == get_json(OUTPUT_BUCKET, MANIFEST)["status"] == "CANCELLED"


def test_given_an_execution_stopped_without_a_cancel_request_then_the_job_fails_as_stopped(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")  # stopped from the console, say: nobody asked the jobs API

    result = _compensate(stores, _status_change("ABORTED"), _stopped_in("Derivatives")[:-1] + [aborted()])

    assert result.status == stores.jobs.get(JOB_ID)["status"] == "FAILED"
    assert stores.jobs.get(JOB_ID)["reason"] == "Derivatives failed: The execution was stopped."


# --- a late or duplicate failure event after a redrive ----------------------------------------------

FIRST_RUN = [
    {"type": "ExecutionStarted"},
    entered("KeyframeInference", STATE), exited("KeyframeInference"),
    entered("RenderClips", STATE), failed("States.TaskFailed", "clip 1 failed"),
]


def test_given_a_redriven_job_rendering_again_when_the_first_runs_failure_arrives_late_then_nothing_changes(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING", reason=None)  # redriven: the jobs API marked it RUNNING
    partial = clip_key(JOB_ID, 1, "9:16") + ".partial-0a1b"  # the rerun is writing this clip right now
    stores.s3.put_object(Bucket=OUTPUT_BUCKET, Key=partial, Body=b"half")
    history = [*FIRST_RUN, _redriven(1), entered("RenderClips", STATE)]
    released = []

    result = _compensate(stores, _status_change("FAILED", redrive_count=0), history, released)

    assert result.ignored == "the execution was redriven since this FAILED (run 0, now 1)"
    assert _keys(stores) == [partial] and released == []
    assert stores.jobs.get(JOB_ID)["status"] == "RUNNING" and _log(stores) == []


def test_given_a_redriven_job_when_a_failure_arrives_while_its_history_runs_again_then_nothing_changes(stores):
    stores.jobs.upsert(JOB_ID, status="FAILED", reason="RenderClips failed: clip 1 failed")
    history = [*FIRST_RUN, _redriven(1), entered("RenderClips", STATE)]  # event and redrive count both say run 1

    result = _compensate(stores, _status_change("FAILED", redrive_count=1), history)

    assert result.ignored == "the execution is running again since this FAILED"
    assert _log(stores) == []


def test_given_the_redriven_run_failed_and_was_recorded_when_the_first_runs_failure_arrives_then_it_is_ignored(
        stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    second_run = [*FIRST_RUN, _redriven(1), entered("RenderClips", STATE), exited("RenderClips"),
                  entered("RecordRender", STATE), failed("RenderCheckFailed", "clip 0 is short")]
    _compensate(stores, _status_change("FAILED", redrive_count=1), second_run)
    recorded = stores.jobs.get(JOB_ID)

    late = _compensate(stores, _status_change("FAILED", redrive_count=0), second_run)

    assert late.ignored and stores.jobs.get(JOB_ID) == recorded
    assert recorded["failed_step"] == "RecordRender"  # the redriven run's step, not the first run's
    assert _log(stores) == ["job.compensated", "job.failed"]


def test_given_a_failure_already_recorded_when_the_same_event_is_delivered_again_then_nothing_changes(stores):
    stores.jobs.upsert(JOB_ID, status="RUNNING")
    _compensate(stores, _status_change("FAILED"), FIRST_RUN)
    recorded = stores.jobs.get(JOB_ID)
    stores.s3.put_object(Bucket=OUTPUT_BUCKET, Key=clip_key(JOB_ID, 1, "9:16") + ".partial-late", Body=b"x")

    again = _compensate(stores, _status_change("FAILED"), FIRST_RUN)

    assert again.ignored == "run 0 was already compensated (a duplicate event)"
    assert stores.jobs.get(JOB_ID) == recorded and _log(stores) == ["job.compensated", "job.failed"]
    assert _keys(stores) == [clip_key(JOB_ID, 1, "9:16") + ".partial-late"]


def _stopped_in(state: str) -> list[dict]:
    """The history of an execution stopped through the jobs API while `state` ran."""
    return [{"type": "ExecutionStarted"}, entered(state, STATE), aborted(CANCEL_ERROR)]


def _cancel_right_after_writing(stores, key: str) -> list:
    """The jobs API's cancel, landing the moment `key` has been written to the output bucket."""
    from lambdas.common import aws

    cancelled = []

    def note(params, context, **kwargs):
        context["cancel_after"] = params.get("Key") == key

    def cancel(context, **kwargs):
        if context.get("cancel_after") and not cancelled:
            cancelled.append(_api_cancel(stores))

    client = aws.client("s3")
    client.meta.events.register("provide-client-params.s3.PutObject", note)
    client.meta.events.register("after-call.s3.PutObject", cancel)
    return cancelled
