"""stall_monitor: RUNNING jobs whose event log has been quiet past the threshold get one job.stalled event,
and a job that holds the embedding model but can no longer release it (ended, no record, stalled) is released."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.settings import get_settings
from lambdas.stall_monitor.handler import handler
from lambdas.stall_monitor.logic import STALLED, check_stalls
from tests.unit.test_jobs_api import add_listing_index
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

THRESHOLD = timedelta(minutes=30)
LOOKBACK = timedelta(days=15)


@pytest.fixture
def stores(aws_state):
    add_listing_index()
    settings = get_settings()
    return JobStore(settings.jobs_table), EventLog(settings.events_table)


def _running(stores, job_id: str, status: str = "RUNNING") -> None:
    jobs, events = stores
    jobs.upsert(job_id, status=status)
    events.append(job_id, "job.registered", "RegisterJob")


def _check(stores, *, minutes_later: float):
    jobs, events = stores
    return check_stalls(jobs=jobs, events=events, now=datetime.now(UTC) + timedelta(minutes=minutes_later),
                        threshold=THRESHOLD, lookback=LOOKBACK)


def _types(stores, job_id: str) -> list[str]:
    return [event.type for event in stores[1].read(job_id)]


def test_a_running_job_quiet_past_the_threshold_gets_one_stalled_event(stores):
    _running(stores, "quietjob00001")

    report = _check(stores, minutes_later=45)

    assert [job.job_id for job in report.stalled] == ["quietjob00001"]
    (stalled,) = [event for event in stores[1].read("quietjob00001") if event.type == STALLED]
    assert stalled.step == "StallMonitor"
    assert stalled.detail["last_type"] == "job.registered" and stalled.detail["last_seq"] == 1
    assert 44 * 60 <= stalled.detail["silent_for_s"] <= 46 * 60


def test_a_job_already_reported_stalled_is_not_reported_again_while_it_stays_quiet(stores):
    _running(stores, "quietjob00002")
    _check(stores, minutes_later=45)

    report = _check(stores, minutes_later=50)

    assert report.stalled == [] and report.still_stalled == 1
    assert _types(stores, "quietjob00002").count(STALLED) == 1


def test_a_job_that_moves_again_and_then_stalls_again_is_reported_again(stores):
    _running(stores, "quietjob00003")
    _check(stores, minutes_later=45)
    stores[1].append("quietjob00003", "step.done", "Derivatives")

    report = _check(stores, minutes_later=45)

    assert [job.job_id for job in report.stalled] == ["quietjob00003"]
    assert _types(stores, "quietjob00003").count(STALLED) == 2


def test_a_job_that_wrote_recently_is_not_stalled(stores):
    _running(stores, "busyjob000001")

    report = _check(stores, minutes_later=10)

    assert (report.running, report.stalled) == (1, [])
    assert STALLED not in _types(stores, "busyjob000001")


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "REJECTED", "CANCELLED"])
def test_a_finished_job_is_never_stalled(stores, status):
    _running(stores, "finishedjob02", status)

    report = _check(stores, minutes_later=600)

    assert (report.running, report.stalled) == (0, [])


def test_jobs_older_than_the_lookback_are_not_read(stores):
    _running(stores, "ancientjob001")

    report = _check(stores, minutes_later=LOOKBACK.total_seconds() / 60 + 10)

    assert report.running == 0


def test_many_running_jobs_across_listing_pages_are_all_checked(stores):
    for number in range(105):
        stores[0].upsert(f"job{number:05d}", status="RUNNING")

    report = _check(stores, minutes_later=45)

    assert report.running == 105 and len(report.stalled) == 105


def test_the_handler_reads_its_threshold_from_the_environment(stores, endpoint_floor, monkeypatch):
    _running(stores, "quietjob00004")
    monkeypatch.setenv("STALL_THRESHOLD_MIN", "0.001")  # 60 ms
    time.sleep(0.2)

    report = handler({"source": "aws.scheduler"}, LocalLambdaContext("stall_monitor"))

    assert [job["job_id"] for job in report["stalled"]] == ["quietjob00004"]


def _warm(job_id: str) -> None:
    from lambdas.warm_inference.handler import handler as warm
    from tests.inference_floor import job_state

    warm(job_state(job_id), LocalLambdaContext("warm_inference"))


def _monitor() -> dict:
    return handler({"source": "aws.scheduler"}, LocalLambdaContext("stall_monitor"))


def test_given_a_job_that_ended_without_releasing_the_model_then_the_monitor_releases_it_to_zero_copies(
        stores, endpoint_floor):
    _running(stores, "endedjob00001")
    _warm("endedjob00001")
    stores[0].upsert("endedjob00001", status="FAILED")  # ended where no release ran (an abort outside the API)

    report = _monitor()

    assert report["released_holds"] == ["endedjob00001"]
    assert endpoint_floor.holders() == set() and endpoint_floor.copies() == (0, 0)
    assert [(e.type, e.step) for e in stores[1].read("endedjob00001")][-1] == ("inference.released", "StallMonitor")


def test_given_a_holder_with_no_job_record_then_the_monitor_releases_it(stores, endpoint_floor):
    _warm("ghostjob00001")

    assert _monitor()["released_holds"] == ["ghostjob00001"]
    assert endpoint_floor.holders() == set()


def test_given_a_stalled_job_holding_the_model_then_the_monitor_releases_it(stores, endpoint_floor, monkeypatch):
    _running(stores, "stuckjob00001")
    _warm("stuckjob00001")
    monkeypatch.setenv("STALL_THRESHOLD_MIN", "0.001")  # 60 ms
    time.sleep(0.2)

    report = _monitor()

    assert [job["job_id"] for job in report["stalled"]] == ["stuckjob00001"]
    assert report["released_holds"] == ["stuckjob00001"] and endpoint_floor.copies() == (0, 0)


def test_given_a_running_job_that_is_moving_then_its_hold_and_copies_stay(stores, endpoint_floor):
    from tests.inference_floor import WARM_COPIES

    _running(stores, "movingjob0001")
    _warm("movingjob0001")

    assert _monitor()["released_holds"] == []
    assert endpoint_floor.holders() == {"movingjob0001"} and endpoint_floor.copies() == (WARM_COPIES, 1)


def test_given_copies_that_nobody_holds_as_a_fresh_deploy_leaves_them_then_the_monitor_scales_them_to_zero(
        stores, endpoint_floor):
    endpoint_floor.component.set_copies(1)  # SageMaker creates an inference component with one copy, never zero

    _monitor()

    assert endpoint_floor.copies() == (0, 0) and endpoint_floor.capacity()[0] == 0
