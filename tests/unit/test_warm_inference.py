"""warm_inference: at ingest the job joins the endpoint's holders and the floor rises to the warm floor.

Through the handler against moto (DynamoDB for the leases, Application Auto Scaling for the
endpoint's scalable target, read back with describe_scalable_targets). The holders are a
string set, so a retried WarmInference adds nothing; target tracking keeps scaling above the
floor, which is why only MinCapacity (and MaxCapacity, to stay at or above it) is set.
"""

import pytest

from lambdas.warm_inference.handler import handler
from tests.inference_floor import ENDPOINT, IDLE_INSTANCES, MAX_INSTANCES, WARM_INSTANCES, job_state
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB, OTHER_JOB = "job-warm-00000001", "job-warm-00000002"


def warm(job_id: str) -> dict:
    return handler(job_state(job_id), LocalLambdaContext("warm_inference"))


def test_given_an_idle_endpoint_when_a_job_warms_it_then_the_job_holds_it_and_the_floor_is_the_warm_floor(
    endpoint_floor,
):
    assert endpoint_floor.capacity() == (IDLE_INSTANCES, MAX_INSTANCES)

    floor = warm(JOB)

    assert floor == {"endpoint": ENDPOINT, "jobs_in_flight": 1, "min_instances": WARM_INSTANCES}
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)


def test_given_a_job_warming_the_endpoint_then_an_inference_warmed_event_carries_the_floor(endpoint_floor):
    floor = warm(JOB)

    assert endpoint_floor.events(JOB) == [("inference.warmed", "WarmInference", floor)]


def test_given_two_jobs_when_both_warm_then_both_hold_it_at_the_warm_floor(endpoint_floor):
    warm(JOB)

    floor = warm(OTHER_JOB)

    assert floor["jobs_in_flight"] == 2 and floor["min_instances"] == WARM_INSTANCES
    assert endpoint_floor.holders() == {JOB, OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)


def test_given_a_retried_warm_inference_when_it_runs_again_then_holders_and_floor_are_unchanged(endpoint_floor):
    first = warm(JOB)

    again = warm(JOB)

    assert again == first
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)
    assert [detail for _, _, detail in endpoint_floor.events(JOB)] == [first, first]  # each attempt is logged


def test_given_a_warm_floor_above_the_maximum_when_a_job_warms_then_the_maximum_rises_with_it(
    endpoint_floor, monkeypatch,
):
    monkeypatch.setenv("INFERENCE_WARM_INSTANCES", str(MAX_INSTANCES + 2))

    warm(JOB)

    assert endpoint_floor.capacity() == (MAX_INSTANCES + 2, MAX_INSTANCES + 2)
