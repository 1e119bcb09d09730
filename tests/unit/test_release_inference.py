"""release_inference: the job lets go of the endpoint; the floor stays warm until the last holder leaves.

Through the handler against moto (DynamoDB for the leases, Application Auto Scaling for the
endpoint's scalable target, read back with describe_scalable_targets). Jobs are warmed with
warm_inference's handler first, as the workflow does. A retried release, or the release of a
job that never warmed (compensate releases after any failure), must not drop another job's hold.
"""

import pytest

from lambdas.release_inference.handler import handler
from lambdas.warm_inference.handler import handler as warm_handler
from tests.inference_floor import ENDPOINT, IDLE_INSTANCES, MAX_INSTANCES, WARM_INSTANCES, job_state
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB, OTHER_JOB = "job-release-0000001", "job-release-0000002"


def warm(job_id: str) -> dict:
    return warm_handler(job_state(job_id), LocalLambdaContext("warm_inference"))


def release(job_id: str) -> dict:
    return handler(job_state(job_id), LocalLambdaContext("release_inference"))


def test_given_two_jobs_holding_the_endpoint_when_one_releases_then_the_warm_floor_stays(endpoint_floor):
    warm(JOB)
    warm(OTHER_JOB)

    floor = release(JOB)

    assert floor == {"endpoint": ENDPOINT, "jobs_in_flight": 1, "min_instances": WARM_INSTANCES}
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)


def test_given_the_last_holder_when_it_releases_then_the_floor_returns_to_the_idle_floor(endpoint_floor):
    warm(JOB)
    warm(OTHER_JOB)
    release(JOB)

    floor = release(OTHER_JOB)

    assert floor == {"endpoint": ENDPOINT, "jobs_in_flight": 0, "min_instances": IDLE_INSTANCES}
    assert endpoint_floor.holders() == set()
    assert endpoint_floor.capacity() == (IDLE_INSTANCES, MAX_INSTANCES)


def test_given_a_job_releasing_then_an_inference_released_event_carries_the_floor(endpoint_floor):
    warm(JOB)

    floor = release(JOB)

    assert endpoint_floor.events(JOB)[-1] == ("inference.released", "ReleaseInference", floor)


def test_given_a_retried_release_when_it_runs_again_then_the_other_jobs_hold_and_the_floor_are_unchanged(
    endpoint_floor,
):
    warm(JOB)
    warm(OTHER_JOB)
    first = release(JOB)

    again = release(JOB)

    assert again == first
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)


def test_given_a_retried_last_release_when_it_runs_again_then_the_floor_stays_idle(endpoint_floor):
    warm(JOB)
    first = release(JOB)

    again = release(JOB)

    assert again == first == {"endpoint": ENDPOINT, "jobs_in_flight": 0, "min_instances": IDLE_INSTANCES}
    assert endpoint_floor.holders() == set()
    assert endpoint_floor.capacity() == (IDLE_INSTANCES, MAX_INSTANCES)


def test_given_a_job_that_never_warmed_when_it_releases_then_the_holders_stay_and_the_floor_stays_warm(
    endpoint_floor,
):
    warm(OTHER_JOB)

    floor = release(JOB)

    assert floor["jobs_in_flight"] == 1 and floor["min_instances"] == WARM_INSTANCES
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_INSTANCES, MAX_INSTANCES)
