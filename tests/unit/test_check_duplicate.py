"""check_duplicate: an earlier COMPLETED job with the same content fingerprint is this job's duplicate.

Jobs are registered with register_job first (tests/job_records.py), as the workflow does, so
the fingerprints and the by_fingerprint index are the real ones. Only completed jobs count;
the oldest wins; a job is never its own duplicate.
"""

import pytest

from lambdas.check_duplicate.handler import handler as check_duplicate_handler
from lambdas.check_duplicate.logic import DuplicateRequest, check_duplicate
from lambdas.register_job.handler import handler as register_job_handler
from tests.job_records import CONTEXT, finish, job_state, job_stores, register

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture
def stores(aws_state):
    return job_stores()


def _check(stores, job_id: str, **state):
    record = register(stores, job_id, **state)
    request = DuplicateRequest.model_validate(job_state(job_id, **state) | {"job": record})
    return check_duplicate(request, stores.jobs, stores.events)


def test_given_an_earlier_completed_job_with_the_same_content_when_checked_then_it_is_the_duplicate(stores):
    finish(stores, "job-earlier-00001", "COMPLETED")

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of == "job-earlier-00001"


def test_given_an_earlier_completed_job_with_the_same_content_when_checked_then_a_content_duplicate_event_is_logged(
    stores,
):
    finish(stores, "job-earlier-00001", "COMPLETED")

    _check(stores, "job-later-000001")

    last = stores.events.read("job-later-000001")[-1]
    assert (last.type, last.detail) == ("content.duplicate", {"duplicate_of": "job-earlier-00001"})


@pytest.mark.parametrize("status", ["RUNNING", "FAILED", "REJECTED"])
def test_given_an_earlier_job_with_the_same_content_that_did_not_complete_when_checked_then_no_duplicate(
    stores, status
):
    finish(stores, "job-earlier-00001", status)

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of is None


def test_given_only_the_job_itself_completed_when_checked_then_it_is_not_its_own_duplicate(stores):
    record = finish(stores, "job-itself-00001", "COMPLETED")

    check = check_duplicate(
        DuplicateRequest.model_validate(job_state("job-itself-00001") | {"job": record}), stores.jobs, stores.events
    )

    assert check.duplicate_of is None


def test_given_a_completed_job_with_other_content_when_checked_then_no_duplicate(stores):
    finish(stores, "job-earlier-00001", "COMPLETED", head="f" * 64)

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of is None


def test_given_no_duplicate_when_checked_then_no_event_is_logged(stores):
    _check(stores, "job-alone-000001")

    assert [event.type for event in stores.events.read("job-alone-000001")] == ["job.registered"]


def test_given_two_earlier_completed_jobs_with_the_same_content_when_checked_then_the_oldest_is_the_duplicate(stores):
    finish(stores, "job-oldest-00001", "COMPLETED")
    finish(stores, "job-newer-000001", "COMPLETED")

    check = _check(stores, "job-latest-00001")

    assert check.duplicate_of == "job-oldest-00001"


def test_given_the_checkduplicate_state_when_the_handler_runs_then_it_returns_the_earlier_job(stores):
    finish(stores, "job-earlier-00001", "COMPLETED")
    record = register_job_handler(job_state("job-later-000001"), CONTEXT)

    answer = check_duplicate_handler(job_state("job-later-000001", job=record), CONTEXT)

    assert answer == {"duplicate_of": "job-earlier-00001"}


def test_given_the_checkduplicate_state_without_a_duplicate_when_the_handler_runs_then_duplicate_of_is_null(stores):
    record = register_job_handler(job_state("job-alone-000001"), CONTEXT)

    answer = check_duplicate_handler(job_state("job-alone-000001", job=record), CONTEXT)

    assert answer == {"duplicate_of": None}
