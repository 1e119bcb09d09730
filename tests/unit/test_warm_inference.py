"""warm_inference: at ingest the job joins the model's holders and asks for its copies at once.

Through the handler against moto (DynamoDB for the leases, Application Auto Scaling for the
component's scalable target) and the local inference component (videoflow/local/inference_component.py:
its copy is the worker's inference server). The holders are a string set, so a retried
WarmInference adds nothing; the scalable target's minimum rises with the copies, so target
tracking never scales a held model in.
"""

import pytest

from lambdas.warm_inference.handler import handler
from tests.inference_floor import COMPONENT, ENDPOINT, MAX_COPIES, WARM_COPIES, job_state
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB, OTHER_JOB = "job-warm-00000001", "job-warm-00000002"


def warm(job_id: str) -> dict:
    return handler(job_state(job_id), LocalLambdaContext("warm_inference"))


def test_given_a_model_at_zero_copies_when_a_job_warms_it_then_the_job_holds_it_and_its_copies_start(
    endpoint_floor,
):
    assert endpoint_floor.capacity() == (0, MAX_COPIES) and endpoint_floor.copies() == (0, 0)

    floor = warm(JOB)

    assert floor == {"endpoint": ENDPOINT, "component": COMPONENT, "jobs_in_flight": 1, "copies": WARM_COPIES}
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)  # the local component has one server, however many asked


def test_given_a_job_warming_the_model_then_an_inference_warmed_event_carries_the_copies(endpoint_floor):
    floor = warm(JOB)

    assert endpoint_floor.events(JOB) == [("inference.warmed", "WarmInference", floor)]


def test_given_two_jobs_when_both_warm_then_both_hold_it_and_the_copies_are_asked_for_once(endpoint_floor):
    warm(JOB)

    floor = warm(OTHER_JOB)

    assert floor["jobs_in_flight"] == 2 and floor["copies"] == WARM_COPIES
    assert endpoint_floor.holders() == {JOB, OTHER_JOB}
    assert [change for _, change in endpoint_floor.component.history if change.startswith("copies")] == [
        "copies 0", f"copies {WARM_COPIES}"]


def test_given_a_retried_warm_inference_when_it_runs_again_then_holders_and_copies_are_unchanged(endpoint_floor):
    first = warm(JOB)

    again = warm(JOB)

    assert again == first
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert [detail for _, _, detail in endpoint_floor.events(JOB)] == [first, first]  # each attempt is logged


def test_given_warm_copies_above_the_maximum_when_a_job_warms_then_the_maximum_rises_with_them(
    endpoint_floor, monkeypatch,
):
    monkeypatch.setenv("INFERENCE_WARM_COPIES", str(MAX_COPIES + 2))

    warm(JOB)

    assert endpoint_floor.capacity() == (MAX_COPIES + 2, MAX_COPIES + 2)
