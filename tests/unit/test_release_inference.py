"""release_inference: the job lets go of the model; its copies stay until the last holder leaves, then go to zero.

Through the handler against moto (DynamoDB for the leases, Application Auto Scaling for the
component's scalable target) and the local inference component. Jobs are warmed with
warm_inference's handler first, as the workflow does. A retried release, or the release of a
job that never warmed (compensate releases after any failure), must not drop another job's hold.
"""

import pytest

from lambdas.release_inference.handler import handler
from lambdas.warm_inference.handler import handler as warm_handler
from tests.inference_floor import COMPONENT, ENDPOINT, MAX_COPIES, WARM_COPIES, job_state
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

    assert floor == {"endpoint": ENDPOINT, "component": COMPONENT, "jobs_in_flight": 1, "copies": WARM_COPIES, "asked_at": None}
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)


def test_given_the_last_holder_when_it_releases_then_the_model_scales_to_zero_copies(endpoint_floor):
    warm(JOB)
    warm(OTHER_JOB)
    release(JOB)

    floor = release(OTHER_JOB)

    assert floor == {"endpoint": ENDPOINT, "component": COMPONENT, "jobs_in_flight": 0, "copies": 0, "asked_at": None}
    assert endpoint_floor.holders() == set()
    assert endpoint_floor.capacity() == (0, MAX_COPIES)
    assert endpoint_floor.copies() == (0, 0)


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
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)


def test_given_a_retried_last_release_when_it_runs_again_then_the_model_stays_at_zero(endpoint_floor):
    warm(JOB)
    first = release(JOB)

    again = release(JOB)

    assert again == first == {"endpoint": ENDPOINT, "component": COMPONENT, "jobs_in_flight": 0, "copies": 0, "asked_at": None}
    assert endpoint_floor.holders() == set()
    assert endpoint_floor.capacity() == (0, MAX_COPIES)
    assert endpoint_floor.copies() == (0, 0)


def test_given_a_job_that_never_warmed_when_it_releases_then_the_holders_stay_and_the_floor_stays_warm(
    endpoint_floor,
):
    warm(OTHER_JOB)

    floor = release(JOB)

    assert floor["jobs_in_flight"] == 1 and floor["copies"] == WARM_COPIES
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)


def test_given_a_job_taking_hold_while_the_last_one_releases_then_it_gets_its_copies_back(
    endpoint_floor, monkeypatch,
):
    """The race release re-reads the holders for: a hold that lands between the last DELETE and the scale-in."""
    from lambdas.common import inference_floor

    warm(JOB)
    scale = inference_floor._set_copies

    def scale_while_another_job_warms(settings, copies):
        scale(settings, copies)
        if copies == 0:
            monkeypatch.setattr(inference_floor, "_set_copies", scale)
            warm(OTHER_JOB)

    monkeypatch.setattr(inference_floor, "_set_copies", scale_while_another_job_warms)
    floor = release(JOB)

    assert floor["jobs_in_flight"] == 1 and floor["copies"] == WARM_COPIES
    assert endpoint_floor.holders() == {OTHER_JOB}
    assert endpoint_floor.copies() == (WARM_COPIES, 1)
