"""start_pipeline killed at its deadline: the Powertools idempotency record is left INPROGRESS.

The fault is a Lambda timeout right after StartExecution succeeded (tests/aws_faults.py): the
runtime kills the invocation, so Powertools never completes or deletes its record. Lambda's
asynchronous retry (2 attempts, the first about a minute later: stacks/functions.py) then
meets that record. Until the dead invocation's deadline has passed, a retry is refused as
in progress (the invocation fails and is retried again later); after it, the retry runs, and
Step Functions' execution-name check keeps it from starting the job a second time.
"""

import time

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from lambdas.common import aws as common_aws
from lambdas.start_pipeline.handler import handler
from tests.aws_faults import LambdaKilledAtDeadline
from tests.unit.test_start_pipeline import IDEMPOTENCY_TABLE, _event, _executions, pipeline
from videoflow.local.lambda_runtime import LocalLambdaContext

__all__ = ["pipeline"]  # the fixture, imported so pytest finds it here
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

DEADLINE_S = 0.5  # the killed invocation's time left when it started: its record is in progress until then


def _killed_at_deadline() -> dict:
    """The first delivery: the execution starts, then the invocation is killed before it returns."""
    LambdaKilledAtDeadline.after(common_aws.client("stepfunctions"), "sfn", "StartExecution")
    with pytest.raises(LambdaKilledAtDeadline):
        handler(_event(), LocalLambdaContext("start_pipeline", timeout_s=DEADLINE_S))
    common_aws.reset()  # the next invocation's client has no fault (a new runtime, as after a timeout)
    [record] = common_aws.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    return record


def test_given_an_invocation_killed_at_its_deadline_when_retried_before_the_deadline_then_it_is_refused_as_in_progress(
        pipeline):
    record = _killed_at_deadline()

    with pytest.raises(IdempotencyAlreadyInProgressError):
        handler(_event(), LocalLambdaContext("start_pipeline"))

    assert record["status"]["S"] == "INPROGRESS"
    assert len(_executions(pipeline)) == 1


def test_given_an_invocation_killed_at_its_deadline_when_retried_after_it_then_the_retry_runs_and_starts_nothing_twice(
        pipeline):
    _killed_at_deadline()
    time.sleep(DEADLINE_S + 0.1)

    retried = handler(_event(), LocalLambdaContext("start_pipeline"))
    again = handler(_event(), LocalLambdaContext("start_pipeline"))  # answered from the now COMPLETED record

    assert again == retried and retried["started"] is False
    [execution] = _executions(pipeline)
    assert execution["name"] == retried["job_id"]
    # The job started once; the retry is logged as the duplicate it is, once. (The killed invocation
    # died before it logged `job.started`: that entry is lost, the job is not.)
    assert [event.type for event in pipeline.events.read(retried["job_id"])] == ["upload.duplicate_event"]
    [record] = common_aws.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert record["status"]["S"] == "COMPLETED"
