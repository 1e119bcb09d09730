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


def warm(job_id: str, **state) -> dict:
    return handler({**job_state(job_id), **state}, LocalLambdaContext("warm_inference"))


def without_time(floor: dict) -> dict:
    return {key: value for key, value in floor.items() if key != "asked_at"}


def test_given_a_model_at_zero_copies_when_a_job_warms_it_then_the_job_holds_it_and_its_copies_start(
    endpoint_floor,
):
    assert endpoint_floor.capacity() == (0, MAX_COPIES) and endpoint_floor.copies() == (0, 0)

    floor = warm(JOB)

    assert without_time(floor) == {"endpoint": ENDPOINT, "component": COMPONENT, "jobs_in_flight": 1,
                                   "copies": WARM_COPIES}
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)  # the local component has one server, however many asked


def test_given_a_job_warming_the_model_then_an_inference_warmed_event_carries_the_copies(endpoint_floor):
    floor = warm(JOB)

    assert endpoint_floor.events(JOB) == [("inference.warmed", "WarmInference", {**floor, "ask_in_s": 0})]


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

    assert without_time(again) == without_time(first)
    assert endpoint_floor.holders() == {JOB}
    assert endpoint_floor.capacity() == (WARM_COPIES, MAX_COPIES)
    assert [without_time(detail) for _, _, detail in endpoint_floor.events(JOB)] == [
        {**without_time(first), "ask_in_s": 0}] * 2  # each attempt is logged


def test_given_warm_copies_above_the_maximum_when_a_job_warms_then_the_maximum_rises_with_them(
    endpoint_floor, monkeypatch,
):
    monkeypatch.setenv("INFERENCE_WARM_COPIES", str(MAX_COPIES + 2))

    warm(JOB)

    assert endpoint_floor.capacity() == (MAX_COPIES + 2, MAX_COPIES + 2)


def _media(duration_s: float) -> dict:
    return {"container": "mp4", "duration_s": duration_s, "size_bytes": 1_000_000, "video_codec": "h264",
            "coded_width": 1920, "coded_height": 1080, "width": 1920, "height": 1080, "frame_rate": 30.0,
            "has_audio": True}


def test_given_an_hour_long_video_then_the_copy_is_asked_for_when_the_job_will_need_it_not_at_ingest(
    endpoint_floor, monkeypatch,
):
    """MediaConvert (10 min an hour) and Transcribe (15 min) come first; the copy is asked for 25 min less the
    6 min a copy takes to start from zero after ingest, through a scheduled action, and nothing starts now."""
    from lambdas.common.job_timing import ask_for_copy_in_s

    floor = warm(JOB, media=_media(3600))

    assert ask_for_copy_in_s(3600, "transcribe", 360) == 25 * 60 - 360
    (_, _, detail), = endpoint_floor.events(JOB)
    assert detail["ask_in_s"] == 1140
    assert endpoint_floor.copies() == (0, 0) and endpoint_floor.capacity() == (0, MAX_COPIES)
    (action,) = endpoint_floor.scheduled_actions()
    assert action["Schedule"] == f"at({floor['asked_at'][:19]})"
    assert action["ScalableTargetAction"] == {"MinCapacity": WARM_COPIES, "MaxCapacity": MAX_COPIES}


def test_given_a_scheduled_ask_when_its_time_comes_then_the_copy_starts_as_application_auto_scaling_would(
    endpoint_floor, monkeypatch,
):
    monkeypatch.setenv("INFERENCE_SCALE_UP_S", str(10 * 60 + 15 * 60 - 2))  # ask 2 s after ingest

    warm(JOB, media=_media(3600))

    assert endpoint_floor.copies()[1] == 0
    assert endpoint_floor.component.wait_until_copies(WARM_COPIES, timeout_s=10)
    assert endpoint_floor.copies() == (WARM_COPIES, 1)


def test_given_a_job_that_lets_go_before_its_scheduled_ask_then_the_ask_is_cancelled(endpoint_floor):
    from lambdas.release_inference.handler import handler as release

    warm(JOB, media=_media(3600))
    release(job_state(JOB), LocalLambdaContext("release_inference"))

    assert endpoint_floor.scheduled_actions() == [] and endpoint_floor.copies() == (0, 0)
