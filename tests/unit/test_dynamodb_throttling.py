"""DynamoDB throttling and conditional-write conflicts are retried, never fatal.

Throttling is injected into the real client (tests/aws_faults.py) in front of moto. Three layers
answer it: botocore's standard retry mode (lambdas/common/aws.py, 5 attempts) inside the call;
then the step handler turns a throttle that outlasted those into TransientError
(lambdas/common/handler.py), which every Lambda task of the workflow retries by name
(tests/infra/test_orchestration.py::test_given_every_lambda_task_then_throttling_and_transient_errors_are_retried).
A conditional-write conflict on the event log (two writers claiming the same seq) is retried by
the writer itself. A conflict on a job's status is not a fault but a refusal (test_job_status.py).
"""

import pytest

from lambdas.common import aws
from lambdas.common.errors import TransientError
from lambdas.common.events import EventLog
from lambdas.register_job.handler import handler as register_job_handler
from tests.aws_faults import DynamoDBThrottleFake, no_client_backoff
from tests.job_records import CONTEXT, job_state, job_stores

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-throttled-0001"
CLIENT_ATTEMPTS = 6  # lambdas/common/aws.py: max_attempts=5 retries after the first attempt


@pytest.fixture
def stores(aws_state, monkeypatch):
    no_client_backoff(monkeypatch)
    return job_stores()


@pytest.fixture
def throttle_job_writes(monkeypatch):
    return lambda times: DynamoDBThrottleFake("UpdateItem", times, "videoflow-jobs").install(monkeypatch)


def test_given_job_record_writes_throttled_twice_when_a_step_runs_then_the_client_retries_and_the_step_succeeds(
        stores, throttle_job_writes):
    throttle = throttle_job_writes(times=2)

    record = register_job_handler(job_state(JOB_ID), CONTEXT)

    assert record["status"] == "RUNNING" and stores.jobs.get(JOB_ID)["status"] == "RUNNING"
    assert (throttle.throttled, throttle.passed) == (2, 1)
    assert [event.type for event in stores.events.read(JOB_ID)] == ["job.registered"]


def test_given_a_throttle_that_outlasts_the_client_retries_when_a_step_runs_then_it_ends_as_transient_error(
        stores, throttle_job_writes):
    throttle = throttle_job_writes(times=CLIENT_ATTEMPTS)

    with pytest.raises(TransientError, match=r"UpdateItem was throttled \(ProvisionedThroughputExceededException\) "
                                             r"6 times") as raised:
        register_job_handler(job_state(JOB_ID), CONTEXT)

    assert throttle.throttled == CLIENT_ATTEMPTS and throttle.passed == 0
    assert type(raised.value).__name__ == "TransientError"  # the error name the workflow's Retry lists
    assert stores.jobs.get(JOB_ID) is None  # nothing half-written: the retried step starts clean


def test_given_the_step_retried_after_the_throttle_passed_then_the_job_is_registered_once(stores, throttle_job_writes):
    throttle_job_writes(times=CLIENT_ATTEMPTS)
    with pytest.raises(TransientError):
        register_job_handler(job_state(JOB_ID), CONTEXT)

    record = register_job_handler(job_state(JOB_ID), CONTEXT)  # the workflow's Retry

    assert record["status"] == "RUNNING"
    assert [event.type for event in stores.events.read(JOB_ID)] == ["job.registered"]


def test_given_an_event_log_write_throttled_then_the_append_is_retried_and_lands_once(stores, monkeypatch):
    throttle = DynamoDBThrottleFake("PutItem", times=3, table_name="videoflow-events").install(monkeypatch)

    event = stores.events.append(JOB_ID, "step.progress", "Test")

    assert event.seq == 1 and throttle.throttled == 3
    assert [e.seq for e in stores.events.read(JOB_ID)] == [1]


def test_given_another_writer_claims_the_same_seq_first_when_appending_then_the_next_seq_is_taken(stores):
    log, rival = EventLog("videoflow-events"), EventLog("videoflow-events")
    log.append(JOB_ID, "job.registered", "RegisterJob")
    raced = []

    def rival_claims_first(params, **kwargs):  # between this writer's read of the last seq and its put
        if not raced:
            raced.append(None)
            raced[0] = rival.append(JOB_ID, "step.progress", "Rival")

    aws.table("videoflow-events").meta.client.meta.events.register("before-call.dynamodb.PutItem",
                                                                    rival_claims_first)
    mine = log.append(JOB_ID, "step.progress", "Mine")

    assert (raced[0].seq, mine.seq) == (2, 3)
    assert [(e.seq, e.step) for e in log.read(JOB_ID)] == [(1, "RegisterJob"), (2, "Rival"), (3, "Mine")]
