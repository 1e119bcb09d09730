"""jobs_api: uploads, jobs, events, retry and cancel, through API Gateway REST proxy events, against moto.

moto has no RedriveExecution (asserted below), so retries go to RedriveRecordingFake, which
records the call and raises the real ClientError codes; StopExecution is moto's own.
"""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from botocore.exceptions import ClientError

from lambdas.common.events import EventLog
from lambdas.common.job_ids import job_id_for
from lambdas.common.jobs import LISTING_ATTRIBUTES, LISTING_INDEX, LISTING_KEY, JobStore
from lambdas.common.owners import OWNER_ATTRIBUTE, OWNER_INDEX, OWNER_LISTING_ATTRIBUTES
from lambdas.common.settings import get_settings
from lambdas.jobs_api import handler as api, logic, models, uploads
from lambdas.jobs_api.claims import UploadClaims
from lambdas.jobs_api.models import UploadRequest
from lambdas.start_pipeline.logic import source_from_event
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENTS = Path(__file__).resolve().parent.parent / "events"
BASE_EVENT = json.loads((EVENTS / "apigw_search.json").read_text())
REGION = "us-east-1"
INGEST = "videoflow-ingest"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:videoflow-job"
CALLER = "arn:aws:iam::123456789012:user/editor"
UPLOADS_TABLE = "videoflow-uploads"
CONTEXT = LocalLambdaContext("jobs_api")
MIB = 1024**2


# --- helpers shared with test_jobs_api_openapi.py ----------------------------------------------------------------


def api_event(method: str, path: str, *, body=None, query: dict | None = None, raw_body: str | None = None,
              caller: str | None = CALLER) -> dict:
    """An API Gateway REST proxy event for `path` (resource and path parameters derived from it)."""
    event = copy.deepcopy(BASE_EVENT)
    segments = path.strip("/").split("/")
    parameters = None
    resource = path
    if segments[0] == "jobs" and len(segments) >= 2:
        parameters = {"job_id": segments[1]}
        resource = "/".join(["", "jobs", "{job_id}", *segments[2:]])
    event.update(httpMethod=method, path=path, resource=resource, pathParameters=parameters,
                 body=raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
                 queryStringParameters={k: str(v) for k, v in query.items()} if query else None,
                 multiValueQueryStringParameters={k: [str(v)] for k, v in query.items()} if query else None)
    event["headers"] = {**event["headers"], "Content-Type": "application/json"}
    event["multiValueHeaders"] = {**event["multiValueHeaders"], "Content-Type": ["application/json"]}
    event["requestContext"].update(httpMethod=method, resourcePath=resource, path=f"/v1{path}")
    event["requestContext"]["identity"] = {**event["requestContext"]["identity"], "userArn": caller}
    return event


def call(method: str, path: str, **options) -> tuple[int, dict]:
    response = api.handler(api_event(method, path, **options), CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def add_listing_index() -> None:
    """The jobs table's listing and owner indexes, as stacks/state.py declares them, on conftest's moto table."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for index, key, projected in ((LISTING_INDEX, LISTING_KEY, LISTING_ATTRIBUTES),
                                  (OWNER_INDEX, OWNER_ATTRIBUTE, OWNER_LISTING_ATTRIBUTES)):
        dynamodb.update_table(
            TableName=get_settings().jobs_table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"},
                                  {"AttributeName": "created_at", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": {
                "IndexName": index,
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(projected)},
            }}],
        )


def add_uploads_table(monkeypatch) -> None:
    """The uploads table (stacks/state.py) in moto, named in UPLOADS_TABLE."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=UPLOADS_TABLE, KeySchema=[{"AttributeName": "upload_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "upload_id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    monkeypatch.setenv("UPLOADS_TABLE", UPLOADS_TABLE)


@pytest.fixture
def jobs_api_state(aws_state, monkeypatch):
    """conftest's moto account, the listing index, the state machine ARN, and fresh clients."""
    monkeypatch.setenv("STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    add_uploads_table(monkeypatch)
    get_settings.cache_clear()
    add_listing_index()
    presigning_s3 = api.presigning_s3  # a test may replace it; the cached client is the real one's
    presigning_s3.cache_clear()
    yield aws_state
    presigning_s3.cache_clear()


class RedriveRecordingFake:
    """Step Functions' RedriveExecution as moto lacks it: records calls, or raises a real ClientError code."""

    def __init__(self, error_code: str | None = None):
        self.error_code, self.calls = error_code, []

    def redrive_execution(self, **arguments):
        self.calls.append(arguments)
        if self.error_code:
            raise ClientError({"Error": {"Code": self.error_code, "Message": f"{self.error_code}: from the fake"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "RedriveExecution")
        return {"redriveDate": datetime(2026, 11, 26, 10, 0, tzinfo=UTC)}


@pytest.fixture
def stores(jobs_api_state):
    settings = get_settings()
    return JobStore(settings.jobs_table), EventLog(settings.events_table)


def _job(stores, job_id: str, status: str = "RUNNING", owner: str | None = CALLER, **fields) -> None:
    """A job as the workflow leaves it; its owner as the jobs API records it (None: uploaded straight to S3)."""
    jobs, events = stores
    source = {"bucket": INGEST, "key": f"uploads/{job_id}.mp4", "version_id": "v1", "etag": "e", "size_bytes": 10}
    jobs.upsert(job_id, status="RUNNING", source=source, **({OWNER_ATTRIBUTE: owner} if owner else {}))
    events.append(job_id, "job.started", "StartPipeline", key=source["key"])
    events.append(job_id, "job.registered", "RegisterJob", status="RUNNING")
    if status != "RUNNING":
        jobs.upsert(job_id, status=status, **fields)
        events.append(job_id, f"job.{status.lower()}", "PublishResults" if status == "COMPLETED" else "HandleFailure")


def _upload(size_bytes: int = MIB, **fields) -> tuple[int, dict]:
    return call("POST", "/uploads", body={"filename": "talk.mp4", "content_type": "video/mp4",
                                          "size_bytes": size_bytes} | fields)


def _put_parts(created: dict, data: bytes) -> list[dict]:
    parts = []
    for part in created["parts"]:
        start = (part["part_number"] - 1) * created["part_size_bytes"]
        answer = requests.put(part["url"], data=data[start:start + created["part_size_bytes"]], timeout=30)
        assert answer.status_code == 200, answer.text
        parts.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
    return parts


def _open_uploads(s3) -> list:
    return s3.list_multipart_uploads(Bucket=INGEST).get("Uploads", [])


# --- uploads -----------------------------------------------------------------------------------------------------


def test_an_upload_gets_a_random_key_under_the_upload_prefix_and_one_presigned_part_url_per_8_mib(jobs_api_state):
    status, body = call("POST", "/uploads", body={"filename": "../../My Talk (final) été.MOV",
                                                  "content_type": "video/quicktime", "size_bytes": 20 * MIB})

    assert status == 201
    assert body["bucket"] == INGEST
    prefix, folder, name = body["key"].split("/")
    assert (prefix, len(folder), name) == ("uploads", 32, "My_Talk_final_ete.MOV")
    assert body["part_size_bytes"] == 8 * MIB
    assert [part["part_number"] for part in body["parts"]] == [1, 2, 3]
    assert all("X-Amz-Algorithm=AWS4-HMAC-SHA256" in part["url"] and f"uploadId={body['upload_id']}" in part["url"]
               for part in body["parts"])
    assert body["expires_in_s"] == uploads.UPLOAD_URL_EXPIRES_S
    (upload,) = _open_uploads(jobs_api_state)
    assert (upload["Key"], upload["UploadId"]) == (body["key"], body["upload_id"])


def test_two_uploads_of_the_same_file_name_never_share_a_key(jobs_api_state):
    keys = {_upload(MIB)[1]["key"] for _ in range(2)}

    assert len(keys) == 2


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"size_bytes": 0}, 400, "empty"),
    ({"size_bytes": 20 * 1024**3 + 1}, 413, "limit is 20.00 GiB"),
    ({"content_type": "application/pdf"}, 415, "video/*"),
    ({"content_type": "video"}, 415, "video/*"),
])
def test_a_refused_upload_says_why_and_creates_nothing(jobs_api_state, fields, status, words):
    answer_status, body = _upload(**({"size_bytes": MIB} | fields))

    assert answer_status == status
    assert words in body["message"]
    assert _open_uploads(jobs_api_state) == []


@pytest.mark.parametrize("body", [
    {"filename": "a.mp4", "content_type": "video/mp4"},
    {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": -1},
    {"filename": "", "content_type": "video/mp4", "size_bytes": 1},
    "not an object",
])
def test_a_body_that_does_not_match_the_schema_is_422_with_a_message_and_the_fields(jobs_api_state, body):
    status, answer = call("POST", "/uploads", body=body)

    assert status == 422
    assert answer["message"] and answer["detail"] and all({"loc", "type"} == set(d) for d in answer["detail"])
    assert _open_uploads(jobs_api_state) == []


def test_a_body_that_is_not_json_is_refused_with_a_json_message(jobs_api_state):
    status, answer = call("POST", "/uploads", raw_body="{not json")

    assert 400 <= status < 500
    assert answer["message"]


@pytest.mark.parametrize("size_bytes", [1, 8 * MIB, 8 * MIB + 1, 5 * 1024**3, 20 * 1024**3, 1000 * 5 * 1024**3])
def test_parts_cover_the_file_in_at_most_1000_parts_of_at_least_8_mib(size_bytes):
    part_size = uploads.part_size_for(size_bytes)
    parts = -(-size_bytes // part_size)

    assert part_size >= 8 * MIB and part_size % MIB == 0
    assert parts <= models.MAX_PARTS
    assert (parts - 1) * part_size < size_bytes <= parts * part_size


def test_a_file_beyond_1000_parts_of_5_gib_is_413(jobs_api_state):
    request = UploadRequest(filename="huge.mp4", content_type="video/mp4", size_bytes=1000 * 5 * 1024**3 + 1)

    with pytest.raises(models.UploadTooLarge):
        uploads.create_upload(request, s3=jobs_api_state, bucket=INGEST, max_size_bytes=10 * 1024**4,
                              claims=UploadClaims(UPLOADS_TABLE), owner=CALLER)


@pytest.mark.parametrize(("filename", "expected"), [
    ("holiday.mp4", "holiday.mp4"),
    ("C:\\Users\\me\\clip.mov", "clip.mov"),
    ("../../etc/passwd", "passwd"),
    ("...", "video"),
    ("été 2026 + 🎬.mkv", "ete_2026.mkv"),
    ("動画.mp4", "video.mp4"),
    (".mp4", "video.mp4"),
    ("a" * 300 + ".mp4", "a" * 116 + ".mp4"),
])
def test_file_names_are_reduced_to_safe_characters(filename, expected):
    assert uploads.safe_file_name(filename) == expected


def test_part_urls_are_signed_for_the_region_of_the_bucket(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    api.presigning_s3.cache_clear()

    url = api.presigning_s3().generate_presigned_url(
        "upload_part", Params={"Bucket": "my-videos", "Key": "uploads/x.mp4", "UploadId": "u", "PartNumber": 1})

    api.presigning_s3.cache_clear()
    assert url.startswith("https://my-videos.s3.eu-west-1.amazonaws.com/uploads/x.mp4?")
    assert "%2Feu-west-1%2Fs3%2Faws4_request" in url


def test_an_s3_endpoint_override_in_the_environment_is_where_part_urls_point(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")
    api.presigning_s3.cache_clear()

    url = api.presigning_s3().generate_presigned_url(
        "upload_part", Params={"Bucket": "my-videos", "Key": "uploads/x.mp4", "UploadId": "u", "PartNumber": 1})

    api.presigning_s3.cache_clear()
    assert url.startswith("http://127.0.0.1:4566/my-videos/uploads/x.mp4?")


def test_an_upload_put_and_completed_gives_the_job_id_start_pipeline_will_use(jobs_api_state):
    data = bytes(range(256)) * (20 * MIB // 256)
    _, created = _upload(len(data))

    status, completed = call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": _put_parts(created, data)})

    assert status == 200
    assert (completed["bucket"], completed["key"]) == (INGEST, created["key"])
    head = jobs_api_state.head_object(Bucket=INGEST, Key=created["key"])
    assert (head["ContentLength"], completed["version_id"]) == (len(data), head["VersionId"])
    # The S3 event that EventBridge delivers for this object names the same job.
    s3_event = json.loads((EVENTS / "s3_object_created.json").read_text())
    s3_event["detail"]["object"].update(key=created["key"], size=len(data), etag=head["ETag"].strip('"'),
                                        **{"version-id": head["VersionId"]})
    source = source_from_event(S3EventNotificationEventBridgeModel.model_validate(s3_event))
    assert completed["job_id"] == job_id_for(source)


def test_a_completed_upload_is_a_pending_job_of_its_uploader_at_once_and_the_api_writes_no_event(jobs_api_state):
    _, created = _upload(MIB)
    _, completed = call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": _put_parts(created, b"v" * MIB)})
    job_id = completed["job_id"]

    job_status, job = call("GET", f"/jobs/{job_id}")
    events_status, page = call("GET", f"/jobs/{job_id}/events")

    assert (job_status, job["status"], job["owner"]) == (200, "PENDING", CALLER)
    assert (job["source"]["key"], job["source"]["size_bytes"]) == (created["key"], MIB)
    # Compute writes events; the API only reads them: the first is start_pipeline's job.started.
    assert (events_status, page["events"], page["done"]) == (200, [], False)
    assert EventLog(get_settings().events_table).read(job_id) == []


def test_a_repeated_complete_names_the_same_job_and_logs_the_upload_once(jobs_api_state):
    _, created = _upload(MIB)
    request = {"key": created["key"], "upload_id": created["upload_id"], "parts": _put_parts(created, b"v" * MIB)}
    _, first = call("POST", "/uploads/complete", body=request)

    status, again = call("POST", "/uploads/complete", body=request)  # S3 answers a retried complete again

    assert (status, again["job_id"]) == (200, first["job_id"])
    assert EventLog(get_settings().events_table).read(first["job_id"]) == []


def test_a_key_outside_the_upload_prefix_is_400_and_nothing_is_completed(jobs_api_state):
    _, created = _upload(MIB)
    parts = _put_parts(created, b"v" * MIB)

    for key in ("derivatives/x.mp4", "uploads/../outputs/x.mp4", "uploads/"):
        status, body = call("POST", "/uploads/complete",
                            body={"key": key, "upload_id": created["upload_id"], "parts": parts})
        assert status == 400 and "uploads/" in body["message"]
    assert len(_open_uploads(jobs_api_state)) == 1


def test_a_wrong_part_etag_is_400_with_s3s_reason(jobs_api_state):
    _, created = _upload(MIB)
    _put_parts(created, b"v" * MIB)

    status, body = call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": [{"part_number": 1, "etag": "0" * 32}]})

    assert status == 400
    assert "InvalidPart" in body["message"]


def test_a_part_listed_twice_is_400(jobs_api_state):
    _, created = _upload(MIB)
    parts = _put_parts(created, b"v" * MIB)

    status, body = call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": parts + parts})

    assert status == 400 and "part 1" in body["message"]


def test_an_unknown_upload_is_404_and_nothing_is_logged(jobs_api_state):
    status, body = call("POST", "/uploads/complete", body={
        "key": "uploads/abc/x.mp4", "upload_id": "nope", "parts": [{"part_number": 1, "etag": "x"}]})

    assert status == 404
    assert "no upload nope" in body["message"]


class NoSuchUploadS3Fake:
    """S3 answering ListParts for an upload its lifecycle rule aborted (moto raises KeyError instead)."""

    def list_parts(self, **arguments):
        raise ClientError({"Error": {"Code": "NoSuchUpload", "Message": "The specified upload does not exist."},
                           "ResponseMetadata": {"HTTPStatusCode": 404}}, "ListParts")


def test_an_upload_aborted_by_the_lifecycle_rule_is_404(jobs_api_state, monkeypatch):
    _, created = _upload(MIB)
    monkeypatch.setattr(api, "presigning_s3", lambda: NoSuchUploadS3Fake())

    status, body = call("POST", "/uploads/complete", body={
        "key": created["key"], "upload_id": created["upload_id"], "parts": [{"part_number": 1, "etag": "x"}]})

    assert status == 404
    assert "aborted" in body["message"]


# --- jobs --------------------------------------------------------------------------------------------------------


def test_jobs_are_listed_newest_first_in_pages_that_end_with_a_null_token(stores):
    for number in range(5):
        _job(stores, f"job{number:02d}xxxxxx")
    seen, token, pages = [], None, 0

    while True:
        status, page = call("GET", "/jobs", query={"limit": 2, **({"next_token": token} if token else {})})
        assert status == 200
        seen += [job["job_id"] for job in page["jobs"]]
        pages, token = pages + 1, page["next_token"]
        if token is None:
            break

    assert seen == [f"job{number:02d}xxxxxx" for number in reversed(range(5))]
    assert pages == 3


def test_a_listed_job_shows_its_status_source_key_and_the_reason_it_failed(stores):
    _job(stores, "failedjob0001", "FAILED", reason="Transcription failed: bad audio.", reason_code="X")

    _, page = call("GET", "/jobs")

    (job,) = page["jobs"]
    assert job["job_id"] == "failedjob0001"
    assert (job["status"], job["source_key"], job["reason"]) == ("FAILED", "uploads/failedjob0001.mp4",
                                                                 "Transcription failed: bad audio.")
    assert job["created_at"] <= job["updated_at"]


def test_a_list_that_fits_one_page_has_no_token(stores):
    _job(stores, "onlyjob00001")

    _, page = call("GET", "/jobs", query={"limit": 1})

    assert [job["job_id"] for job in page["jobs"]] == ["onlyjob00001"]
    assert page["next_token"] is None


@pytest.mark.parametrize("token", ["garbage", "v1.!!!", "v1.WyJhIl0", "v2.WyJhIiwiYiJd"])
def test_a_tampered_next_token_is_400(stores, token):
    status, body = call("GET", "/jobs", query={"next_token": token})

    assert status == 400
    assert "next_token" in body["message"]


@pytest.mark.parametrize("limit", [0, 101, "ten"])
def test_a_page_size_outside_1_to_100_is_422(stores, limit):
    status, body = call("GET", "/jobs", query={"limit": limit})

    assert status == 422
    assert body["detail"][0]["loc"] == ["query", "limit"]


def test_a_job_record_has_its_status_source_and_timestamps(stores):
    _job(stores, "runningjob001")

    status, job = call("GET", "/jobs/runningjob001")

    assert status == 200
    assert job["status"] == "RUNNING"
    assert job["source"] == {"bucket": INGEST, "key": "uploads/runningjob001.mp4", "version_id": "v1", "size_bytes": 10}
    assert job["reason"] is None and job["manifest_key"] is None


def test_a_completed_job_names_its_manifest_and_a_failed_one_its_reason_and_step(stores):
    _job(stores, "completedjob1", "COMPLETED", manifest_key="outputs/completedjob1/manifest.json")
    _job(stores, "failedjob0002", "FAILED", reason="MediaConvert failed.", reason_code="ERROR",
         failed_step="Derivatives")

    _, completed = call("GET", "/jobs/completedjob1")
    _, failed = call("GET", "/jobs/failedjob0002")

    assert completed["manifest_key"] == "outputs/completedjob1/manifest.json"
    assert (failed["reason"], failed["reason_code"], failed["failed_step"]) == ("MediaConvert failed.", "ERROR",
                                                                                 "Derivatives")


@pytest.mark.parametrize("path", ["/jobs/unknownjob000", "/jobs/unknownjob000/events"])
def test_an_unknown_job_is_404_with_a_json_message(stores, path):
    status, body = call("GET", path)

    assert status == 404
    assert body == {"message": "There is no job unknownjob000."}


def test_a_malformed_job_id_is_422(stores):
    status, body = call("GET", "/jobs/bad$id")

    assert status == 422
    assert body["detail"][0]["loc"] == ["path", "job_id"]


# --- events ------------------------------------------------------------------------------------------------------


def test_events_are_read_in_pages_after_the_last_seq_seen_without_gaps_or_repeats(stores):
    _job(stores, "eventsjob0001")
    _, events = stores
    for number in range(7):
        events.append("eventsjob0001", "step.progress", "Derivatives", percent=number * 10)
    seen, after = [], 0

    while True:
        _, page = call("GET", "/jobs/eventsjob0001/events", query={"after": after, "limit": 3})
        if not page["events"]:
            break
        seen += [event["seq"] for event in page["events"]]
        after = page["last_seq"]

    assert seen == list(range(1, 10))
    assert page["last_seq"] == 9 and page["done"] is False


def test_a_running_job_is_not_done(stores):
    _job(stores, "runningjob002")

    _, page = call("GET", "/jobs/runningjob002/events")

    assert [event["type"] for event in page["events"]] == ["job.started", "job.registered"]
    assert page["done"] is False


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "REJECTED"])
def test_a_finished_job_is_done_once_its_last_event_is_read(stores, status):
    _job(stores, "finishedjob01", status)

    _, first = call("GET", "/jobs/finishedjob01/events", query={"limit": 2})
    _, rest = call("GET", "/jobs/finishedjob01/events", query={"after": first["last_seq"]})
    _, after_the_end = call("GET", "/jobs/finishedjob01/events", query={"after": rest["last_seq"]})

    assert first["done"] is False
    assert [event["type"] for event in rest["events"]] == [f"job.{status.lower()}"] and rest["done"] is True
    assert (after_the_end["events"], after_the_end["last_seq"], after_the_end["done"]) == ([], 3, True)


def test_a_final_status_whose_terminal_event_is_not_written_yet_is_not_done(stores):
    jobs, events = stores
    _job(stores, "racingjob0001")
    jobs.upsert("racingjob0001", status="COMPLETED")  # publish_results writes the status, then the event

    _, page = call("GET", "/jobs/racingjob0001/events")

    assert page["done"] is False


def test_an_event_after_the_terminal_one_that_is_not_a_lifecycle_event_keeps_the_job_done(stores):
    _job(stores, "duplicatejob1", "COMPLETED")
    stores[1].append("duplicatejob1", "upload.duplicate_event", "StartPipeline", key="uploads/x.mp4")

    _, page = call("GET", "/jobs/duplicatejob1/events", query={"after": 3})

    assert [event["type"] for event in page["events"]] == ["upload.duplicate_event"]
    assert page["done"] is True


@pytest.mark.parametrize(("query", "field"), [({"after": -1}, "after"), ({"limit": 0}, "limit"),
                                              ({"limit": 1001}, "limit")])
def test_events_query_bounds_are_422(stores, query, field):
    _job(stores, "boundsjob0001")

    status, body = call("GET", "/jobs/boundsjob0001/events", query=query)

    assert status == 422
    assert body["detail"][0]["loc"] == ["query", field]


# --- retry -------------------------------------------------------------------------------------------------------


def test_moto_does_not_implement_redrive_execution_so_a_recording_fake_stands_in(jobs_api_state):
    with pytest.raises(NotImplementedError):
        boto3.client("stepfunctions", region_name=REGION).redrive_execution(
            executionArn=logic.execution_arn(STATE_MACHINE_ARN, "x"))


def test_retrying_a_failed_job_redrives_its_execution_and_records_who_asked(stores, monkeypatch):
    _job(stores, "failedjob0003", "FAILED", reason="MediaConvert failed.", failed_step="Derivatives")
    fake = RedriveRecordingFake()
    monkeypatch.setattr(api, "step_functions", lambda: fake)

    status, body = call("POST", "/jobs/failedjob0003/retry")

    arn = f"arn:aws:states:{REGION}:123456789012:execution:videoflow-job:failedjob0003"
    assert status == 202
    assert (body["status"], body["execution_arn"]) == ("RUNNING", arn)
    assert [call_["executionArn"] for call_ in fake.calls] == [arn]
    assert 1 <= len(fake.calls[0]["clientToken"]) <= 64
    job = stores[0].get("failedjob0003")
    assert (job["status"], job["retry_requested_by"]) == ("RUNNING", CALLER)
    assert len(stores[1].read("failedjob0003")) == 3  # compensate writes job.retried when the execution runs
    _, page = call("GET", "/jobs/failedjob0003/events")
    assert page["done"] is False


@pytest.mark.parametrize("status", ["RUNNING", "COMPLETED", "REJECTED", "CANCELLED"])
def test_only_a_failed_job_can_be_retried_and_a_refusal_writes_nothing(stores, monkeypatch, status):
    _job(stores, "notfailedjob1", status)
    before = stores[1].read("notfailedjob1")
    fake = RedriveRecordingFake()
    monkeypatch.setattr(api, "step_functions", lambda: fake)

    answer, body = call("POST", "/jobs/notfailedjob1/retry")

    assert answer == 409 and status in body["message"]
    assert fake.calls == [] and stores[1].read("notfailedjob1") == before


@pytest.mark.parametrize(("code", "status"), [("ExecutionNotRedrivable", 409), ("ExecutionDoesNotExist", 409),
                                              ("ExecutionLimitExceeded", 429)])
def test_a_redrive_refused_by_step_functions_is_reported_and_writes_nothing(stores, monkeypatch, code, status):
    _job(stores, "failedjob0004", "FAILED", reason="x")
    before = stores[1].read("failedjob0004")
    monkeypatch.setattr(api, "step_functions", lambda: RedriveRecordingFake(code))

    answer, body = call("POST", "/jobs/failedjob0004/retry")

    assert answer == status and body["message"]
    assert stores[1].read("failedjob0004") == before
    assert stores[0].get("failedjob0004")["status"] == "FAILED"


def test_retrying_an_unknown_job_is_404(stores):
    status, _ = call("POST", "/jobs/unknownjob001/retry")

    assert status == 404


# --- cancel ------------------------------------------------------------------------------------------------------


@pytest.fixture
def running_execution(stores, monkeypatch):
    """A RUNNING job whose execution (moto's, waiting) has the job id as its name."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="videoflow-job", roleArn="arn:aws:iam::123456789012:role/x",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    get_settings.cache_clear()
    _job(stores, "cancelme00001")
    execution = sfn.start_execution(stateMachineArn=arn, name="cancelme00001")["executionArn"]
    return sfn, execution


def test_cancelling_a_running_job_stops_its_execution_and_the_job_ends_cancelled(stores, running_execution):
    sfn, execution = running_execution

    status, body = call("POST", "/jobs/cancelme00001/cancel")

    assert status == 200
    assert (body["status"], body["execution_arn"]) == ("CANCELLED", execution)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    job = stores[0].get("cancelme00001")
    assert (job["status"], job["reason"], job["cancel_requested_by"]) == ("CANCELLED", logic.CANCELLED_REASON, CALLER)
    # The log closes with compensate's job.cancelled, written once the execution has stopped.
    _, page = call("GET", "/jobs/cancelme00001/events")
    assert page["done"] is False


def test_cancelling_a_job_that_is_not_running_is_409_and_writes_nothing(stores, running_execution):
    _job(stores, "donejob000001", "COMPLETED")
    before = stores[1].read("donejob000001")

    status, body = call("POST", "/jobs/donejob000001/cancel")

    assert status == 409 and "COMPLETED" in body["message"]
    assert stores[1].read("donejob000001") == before


def test_cancelling_a_running_job_without_an_execution_is_409(stores, running_execution):
    _job(stores, "noexecution01")

    status, body = call("POST", "/jobs/noexecution01/cancel")

    assert status == 409 and "no workflow execution" in body["message"]
    assert stores[0].get("noexecution01")["status"] == "RUNNING"


def test_an_unknown_route_is_404_with_a_json_message(jobs_api_state):
    status, body = call("GET", "/nowhere")

    assert status == 404
    assert body["message"]
