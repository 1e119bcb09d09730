"""register_job and check_duplicate: the job record, its content fingerprint, and finding earlier results."""

import types

import pytest

from lambdas.check_duplicate.handler import handler as check_duplicate_handler
from lambdas.check_duplicate.logic import DuplicateRequest, check_duplicate
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore, content_fingerprint
from lambdas.register_job.handler import handler as register_job_handler
from lambdas.register_job.logic import RegisterRequest, register_job
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

HEAD_SHA256 = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
ETAG = '"9b2cf535f27731c974343645a3985328-6"'
SIZE_BYTES = 48_213_337
CONTEXT = LocalLambdaContext("x")


def _state(job_id: str, *, etag: str = ETAG, head: str = HEAD_SHA256, size: int = SIZE_BYTES, **extra) -> dict:
    """The workflow state as RegisterJob receives it (CheckDuplicate gets the same plus `job`)."""
    return {
        "job_id": job_id,
        "received_at": "2026-11-12T09:41:27+00:00",
        "source": {"bucket": "videoflow-ingest", "key": f"uploads/{job_id}.mp4", "version_id": "v1",
                   "etag": etag, "size_bytes": size},
        "upload": {"size_bytes": size, "detected_format": "mp4", "content_sha256_prefix": head},
        "media": {
            "container": "mp4", "duration_s": 62.5, "size_bytes": size, "video_codec": "h264",
            "coded_width": 1920, "coded_height": 1080, "width": 1920, "height": 1080, "rotation_deg": 0,
            "frame_rate": 29.97, "has_audio": True, "audio_codec": "aac", "audio_channels": 2,
            "audio_sample_rate_hz": 48000,
        },
        "limits": {"max_duration_s": 14400, "max_size_bytes": 21474836480},
        **extra,
    }


@pytest.fixture
def stores(aws_state):
    return types.SimpleNamespace(jobs=JobStore("videoflow-jobs"), events=EventLog("videoflow-events"))


def _register(stores, job_id: str, **state) -> dict:
    request = RegisterRequest.model_validate(_state(job_id, **state))
    return register_job(request, stores.jobs, stores.events).model_dump()


def _finish(stores, job_id: str, status: str, **state) -> dict:
    """A job that was registered with this content and then ended with `status`."""
    record = _register(stores, job_id, **state)
    stores.jobs.upsert(job_id, status=status)
    return record


def _check(stores, job_id: str, **state):
    record = _register(stores, job_id, **state)
    request = DuplicateRequest.model_validate(_state(job_id, **state) | {"job": record})
    return check_duplicate(request, stores.jobs, stores.events)


# --- content_fingerprint (pure) -------------------------------------------------------


def test_given_the_same_size_etag_and_head_hash_when_fingerprinted_then_the_fingerprints_are_equal():
    assert content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256) == content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256)


def test_given_a_quoted_and_an_unquoted_etag_when_fingerprinted_then_the_fingerprints_are_equal():
    assert content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256) == content_fingerprint(
        SIZE_BYTES, ETAG.strip('"'), HEAD_SHA256
    )


@pytest.mark.parametrize(
    "changed",
    [(SIZE_BYTES + 1, ETAG, HEAD_SHA256), (SIZE_BYTES, '"0f343b0931126a20f133d67c2b018a3b"', HEAD_SHA256),
     (SIZE_BYTES, ETAG, "0" * 64)],
    ids=["size", "etag", "head"],
)
def test_given_different_content_when_fingerprinted_then_the_fingerprints_differ(changed):
    assert content_fingerprint(*changed) != content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256)


# --- register_job -----------------------------------------------------------------------


def test_given_a_probed_upload_when_registered_then_the_handler_returns_a_running_record_with_the_fingerprint(
    aws_state,
):
    record = register_job_handler(_state("job-register-0001"), CONTEXT)

    assert record["job_id"] == "job-register-0001" and record["status"] == "RUNNING"
    assert record["fingerprint"] == content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256)


def test_given_a_probed_upload_when_registered_then_the_jobs_table_holds_source_media_and_fingerprint(stores):
    record = _register(stores, "job-register-0002")

    item = stores.jobs.get("job-register-0002")
    assert item["status"] == "RUNNING" and item["fingerprint"] == record["fingerprint"]
    assert item["source"]["key"] == "uploads/job-register-0002.mp4" and item["media"]["width"] == 1920
    assert item["created_at"] == record["created_at"]


def test_given_a_retried_registration_when_registered_again_then_created_at_is_unchanged(stores):
    first = _register(stores, "job-register-0003")

    second = _register(stores, "job-register-0003")

    assert second["created_at"] == first["created_at"]


def test_given_a_probed_upload_when_registered_then_a_job_registered_event_is_logged(stores):
    _register(stores, "job-register-0004")

    events = stores.events.read("job-register-0004")
    assert [(event.seq, event.type, event.step, event.detail) for event in events] == [
        (1, "job.registered", "RegisterJob", {"status": "RUNNING"})
    ]


# --- check_duplicate ----------------------------------------------------------------------


def test_given_an_earlier_completed_job_with_the_same_content_when_checked_then_it_is_the_duplicate(stores):
    _finish(stores, "job-earlier-00001", "COMPLETED")

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of == "job-earlier-00001"


def test_given_an_earlier_completed_job_with_the_same_content_when_checked_then_a_content_duplicate_event_is_logged(
    stores,
):
    _finish(stores, "job-earlier-00001", "COMPLETED")

    _check(stores, "job-later-000001")

    last = stores.events.read("job-later-000001")[-1]
    assert (last.type, last.detail) == ("content.duplicate", {"duplicate_of": "job-earlier-00001"})


@pytest.mark.parametrize("status", ["RUNNING", "FAILED", "REJECTED"])
def test_given_an_earlier_job_with_the_same_content_that_did_not_complete_when_checked_then_no_duplicate(
    stores, status
):
    _finish(stores, "job-earlier-00001", status)

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of is None


def test_given_only_the_job_itself_completed_when_checked_then_it_is_not_its_own_duplicate(stores):
    record = _finish(stores, "job-itself-00001", "COMPLETED")

    check = check_duplicate(
        DuplicateRequest.model_validate(_state("job-itself-00001") | {"job": record}), stores.jobs, stores.events
    )

    assert check.duplicate_of is None


def test_given_a_completed_job_with_other_content_when_checked_then_no_duplicate(stores):
    _finish(stores, "job-earlier-00001", "COMPLETED", head="f" * 64)

    check = _check(stores, "job-later-000001")

    assert check.duplicate_of is None


def test_given_no_duplicate_when_checked_then_no_event_is_logged(stores):
    _check(stores, "job-alone-000001")

    assert [event.type for event in stores.events.read("job-alone-000001")] == ["job.registered"]


def test_given_two_earlier_completed_jobs_with_the_same_content_when_checked_then_the_oldest_is_the_duplicate(stores):
    _finish(stores, "job-oldest-00001", "COMPLETED")
    _finish(stores, "job-newer-000001", "COMPLETED")

    check = _check(stores, "job-latest-00001")

    assert check.duplicate_of == "job-oldest-00001"


def test_given_the_checkduplicate_state_when_the_handler_runs_then_it_returns_the_earlier_job(stores):
    _finish(stores, "job-earlier-00001", "COMPLETED")
    record = register_job_handler(_state("job-later-000001"), CONTEXT)

    answer = check_duplicate_handler(_state("job-later-000001", job=record), CONTEXT)

    assert answer == {"duplicate_of": "job-earlier-00001"}


def test_given_the_checkduplicate_state_without_a_duplicate_when_the_handler_runs_then_duplicate_of_is_null(stores):
    record = register_job_handler(_state("job-alone-000001"), CONTEXT)

    answer = check_duplicate_handler(_state("job-alone-000001", job=record), CONTEXT)

    assert answer == {"duplicate_of": None}
