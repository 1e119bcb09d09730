"""jobs_api uploads: each part URL is bound to its size, and completing checks the parts against the declared size.

In AWS, S3 refuses a PUT whose Content-Length differs from the one the URL was signed with;
moto does not check signatures, so here a client can send a part of any size, as a hostile
client would try, and the completion check is what stops it. A multipart upload's ETag is
"<md5 of the parts' md5s>-<parts>": the job id the API answers is the one start_pipeline
computes from S3's event for that object, two uploads of the same bytes share it (so
check_duplicate finds the first), and the reads and the probe that check "still the same
object" by ETag accept it and notice a replacement.
"""

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from lambdas.common.job_ids import job_id_for
from lambdas.common.jobs import content_fingerprint
from lambdas.jobs_api.claims import UploadClaims
from lambdas.start_pipeline.logic import source_from_event
from tests.unit import test_jobs_api as base
from tests.unit.test_jobs_api import CALLER, EVENTS, INGEST, UPLOADS_TABLE, _open_uploads, _upload, call

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
jobs_api_state = base.jobs_api_state  # the jobs API's moto account (tests/unit/test_jobs_api.py)

MIB = 1024**2
NINE_MIB = bytes(range(256)) * (9 * MIB // 256)  # two parts: 8 MiB and 1 MiB


def _put(url: str, data: bytes) -> str:
    answer = requests.put(url, data=data, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["ETag"]


def _complete(created: dict, etags: dict[int, str]) -> tuple[int, dict]:
    return call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"],
        "parts": [{"part_number": number, "etag": etag} for number, etag in sorted(etags.items())]})


def test_each_part_url_is_signed_with_the_exact_size_of_its_part(jobs_api_state):
    _, created = _upload(len(NINE_MIB))

    sizes = [(part["part_number"], part["size_bytes"]) for part in created["parts"]]
    signed = [parse_qs(urlsplit(part["url"]).query)["X-Amz-SignedHeaders"][0].split(";") for part in created["parts"]]

    assert sizes == [(1, 8 * MIB), (2, MIB)]
    # SigV4 covers the signed headers: S3 answers any other Content-Length with SignatureDoesNotMatch.
    assert all("content-length" in headers for headers in signed)


def test_a_part_of_another_size_than_declared_aborts_the_upload_with_a_clear_error(jobs_api_state):
    _, created = _upload(len(NINE_MIB))
    first, last = created["parts"]
    etags = {1: _put(first["url"], NINE_MIB[:8 * MIB]), 2: _put(last["url"], NINE_MIB[8 * MIB:] + b"x" * 4096)}

    status, body = _complete(created, etags)

    assert status == 400
    assert "Part 2 holds 1,052,672 bytes where 1,048,576 were declared" in body["message"]
    assert "aborted" in body["message"]
    assert _open_uploads(jobs_api_state) == []
    assert jobs_api_state.list_object_versions(Bucket=INGEST).get("Versions", []) == []
    assert UploadClaims(UPLOADS_TABLE).get(created["upload_id"]) is None
    assert _complete(created, etags)[0] == 404  # nothing left to complete


def test_a_file_smaller_than_declared_is_refused_and_nothing_is_created(jobs_api_state):
    _, created = _upload(2 * MIB)  # declared 2 MiB, sends 1 MiB
    (part,) = created["parts"]

    status, body = _complete(created, {1: _put(part["url"], b"s" * MIB)})

    assert status == 400 and "2,097,152 bytes declared" in body["message"]
    assert jobs_api_state.list_object_versions(Bucket=INGEST).get("Versions", []) == []


def test_a_part_not_yet_uploaded_can_still_be_sent_and_the_upload_then_completes(jobs_api_state):
    _, created = _upload(len(NINE_MIB))
    first, last = created["parts"]
    etags = {1: _put(first["url"], NINE_MIB[:8 * MIB]), 2: '"0123456789abcdef0123456789abcdef"'}

    missing_status, missing = _complete(created, etags)
    etags[2] = _put(last["url"], NINE_MIB[8 * MIB:])
    status, completed = _complete(created, etags)

    assert (missing_status, missing["message"]) == (
        400, "Part 2 has not been uploaded: PUT it to its URL, then complete again.")
    assert status == 200
    head = jobs_api_state.head_object(Bucket=INGEST, Key=created["key"])
    assert head["ContentLength"] == len(NINE_MIB)


def test_a_completion_that_leaves_out_a_part_is_refused_and_the_upload_stays_open(jobs_api_state):
    _, created = _upload(len(NINE_MIB))
    first, last = created["parts"]
    etag = _put(first["url"], NINE_MIB[:8 * MIB])
    _put(last["url"], NINE_MIB[8 * MIB:])

    status, body = _complete(created, {1: etag})

    assert status == 400 and "numbers 1 to 2" in body["message"]
    assert len(_open_uploads(jobs_api_state)) == 1


# --- row 5: multipart ETags ---------------------------------------------------------------------------------------


def _upload_all(data: bytes) -> tuple[dict, dict]:
    _, created = _upload(len(data))
    etags = {}
    for part in created["parts"]:
        start = (part["part_number"] - 1) * created["part_size_bytes"]
        etags[part["part_number"]] = _put(part["url"], data[start:start + part["size_bytes"]])
    status, completed = _complete(created, etags)
    assert status == 200, completed
    return created, completed


def _s3_event(s3, key: str) -> S3EventNotificationEventBridgeModel:
    """The EventBridge event S3 sends for the object: key URL-encoded, ETag unquoted."""
    head = s3.head_object(Bucket=INGEST, Key=key)
    event = json.loads((EVENTS / "s3_object_created.json").read_text())
    event["detail"]["object"].update(key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'),
                                     **{"version-id": head["VersionId"]})
    return S3EventNotificationEventBridgeModel.model_validate(event)


def test_a_multipart_etag_names_the_same_job_in_the_api_and_in_start_pipeline(jobs_api_state):
    created, completed = _upload_all(NINE_MIB)

    source = source_from_event(_s3_event(jobs_api_state, created["key"]))

    part_md5s = hashlib.md5(hashlib.md5(NINE_MIB[:8 * MIB]).digest() + hashlib.md5(NINE_MIB[8 * MIB:]).digest())
    assert source.etag == f"{part_md5s.hexdigest()}-2"  # S3's multipart ETag, not the file's MD5
    assert completed["job_id"] == job_id_for(source)
    status, job = call("GET", f"/jobs/{completed['job_id']}")  # the owner was recorded under that id
    assert (status, job["owner"], job["source"]["size_bytes"]) == (200, CALLER, len(NINE_MIB))


def test_the_same_bytes_uploaded_twice_in_parts_share_the_multipart_etag_and_so_the_content_fingerprint(
        jobs_api_state):
    first, _ = _upload_all(NINE_MIB)
    second, _ = _upload_all(NINE_MIB)
    sources = [source_from_event(_s3_event(jobs_api_state, created["key"])) for created in (first, second)]

    head_sha256 = hashlib.sha256(NINE_MIB[:64 * 1024]).hexdigest()
    fingerprints = {content_fingerprint(source.size_bytes, source.etag, head_sha256) for source in sources}

    assert sources[0].etag == sources[1].etag and sources[0].etag.endswith("-2")
    assert len(fingerprints) == 1  # check_duplicate finds the earlier job
    assert job_id_for(sources[0]) != job_id_for(sources[1])  # two uploads, two jobs


@pytest.mark.parametrize("upload_id", ["é" * 1024, "a b", "x" * 1025])
def test_an_upload_id_s3_could_not_have_made_is_422_before_anything_is_read(jobs_api_state, upload_id):
    status, body = call("POST", "/uploads/complete", body={
        "key": "uploads/abc/x.mp4", "upload_id": upload_id, "parts": [{"part_number": 1, "etag": "x"}]})

    assert status == 422 and body["detail"][0]["loc"] == ["body", "upload_id"]


def test_reads_pinned_to_a_multipart_etag_read_that_upload_and_fail_once_it_is_replaced(jobs_api_state):
    from botocore.exceptions import ClientError

    from lambdas.common.mp4 import s3_reader

    created, _ = _upload_all(NINE_MIB)
    read, size = s3_reader(jobs_api_state, INGEST, created["key"])  # no version: every read is If-Match the ETag

    first = read(0, 16)
    jobs_api_state.put_object(Bucket=INGEST, Key=created["key"], Body=b"replaced")

    assert (size, first) == (len(NINE_MIB), NINE_MIB[:16])
    with pytest.raises(ClientError) as replaced:
        read(16, 16)
    assert replaced.value.response["Error"]["Code"] == "PreconditionFailed"


def test_the_probe_knows_its_multipart_upload_by_its_etag_and_a_replacement_by_another(jobs_api_state):
    from lambdas.common.errors import SourceMissing
    from lambdas.probe_media.logic import _check_same_version

    created, _ = _upload_all(NINE_MIB)
    source = source_from_event(_s3_event(jobs_api_state, created["key"]))
    request = type("Request", (), {"source": source})()
    head = jobs_api_state.head_object(Bucket=INGEST, Key=created["key"])

    _check_same_version({"ETag": head["ETag"]}, request)  # quoted "<md5>-2": the same upload
    with pytest.raises(SourceMissing, match="replaced"):
        _check_same_version({"ETag": '"' + hashlib.md5(b"other").hexdigest() + '"'}, request)
