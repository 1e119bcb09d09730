"""register_job: the job record, RUNNING from here on, with the content fingerprint of its upload.

The fingerprint (lambdas/common/jobs.py) is what check_duplicate later matches, so its own
properties are tested here too: equal for the same bytes however the ETag is quoted, different
when size, ETag or head hash differ.
"""

import pytest

from lambdas.common.jobs import content_fingerprint
from lambdas.register_job.handler import handler as register_job_handler
from tests.job_records import CONTEXT, ETAG, HEAD_SHA256, SIZE_BYTES, job_state, job_stores, register

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture
def stores(aws_state):
    return job_stores()


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
    record = register_job_handler(job_state("job-register-0001"), CONTEXT)

    assert record["job_id"] == "job-register-0001" and record["status"] == "RUNNING"
    assert record["fingerprint"] == content_fingerprint(SIZE_BYTES, ETAG, HEAD_SHA256)


def test_given_a_probed_upload_when_registered_then_the_jobs_table_holds_source_media_and_fingerprint(stores):
    record = register(stores, "job-register-0002")

    item = stores.jobs.get("job-register-0002")
    assert item["status"] == "RUNNING" and item["fingerprint"] == record["fingerprint"]
    assert item["source"]["key"] == "uploads/job-register-0002.mp4" and item["media"]["width"] == 1920
    assert item["created_at"] == record["created_at"]


def test_given_a_retried_registration_when_registered_again_then_created_at_is_unchanged(stores):
    first = register(stores, "job-register-0003")

    second = register(stores, "job-register-0003")

    assert second["created_at"] == first["created_at"]


def test_given_a_probed_upload_when_registered_then_a_job_registered_event_is_logged(stores):
    register(stores, "job-register-0004")

    events = stores.events.read("job-register-0004")
    assert [(event.seq, event.type, event.step, event.detail) for event in events] == [
        (1, "job.registered", "RegisterJob", {"status": "RUNNING"})
    ]
