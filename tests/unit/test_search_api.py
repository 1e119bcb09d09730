"""search_api: GET /jobs/{job_id}/search?q=...&k=... through API Gateway REST proxy events, against moto.

The index is built with the real model in process (LocalEmbedder), and the same embedder
answers the queries, registered through lambdas.common.embedding like the local runner's.
The job belongs to OWNER (the jobs API records it on the job); only OWNER and administrators
may search it.
"""

import copy
import dataclasses
import json
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from moto import mock_aws

from lambdas.common import embedding
from lambdas.common.owners import OWNER_ATTRIBUTE
from lambdas.common.search import EmbeddingFailed, build_index, save_index
from lambdas.search_api import handler as api
from lambdas.search_api.logic import IndexCache
from videoflow.local.lambda_runtime import LocalLambdaContext
from videoflow.search import LocalEmbedder

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

EVENT = json.loads((Path(__file__).resolve().parent.parent / "events" / "apigw_search.json").read_text())
JOB_ID = EVENT["pathParameters"]["job_id"]
OUTPUT_BUCKET = "videoflow-output"
JOBS_TABLE = "videoflow-jobs"
OWNER = "arn:aws:sts::123456789012:assumed-role/Editors/maria"
STRANGER = "arn:aws:sts::123456789012:assumed-role/Editors/tom"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/ops/VideoFlowAdmins"
ADMIN = "arn:aws:sts::123456789012:assumed-role/VideoFlowAdmins/oncall"
UNOWNED_JOB = "fedcba9876543210fedcba9876543210"  # uploaded straight into the bucket: no owner
CONTEXT = LocalLambdaContext("search_api")

SEGMENTS = [
    {"start_s": 0.0, "end_s": 6.0, "text": "Good morning everyone and welcome to the quarterly meeting."},
    {"start_s": 8.0, "end_s": 15.0, "text": "Our budget for next year has to shrink by ten percent."},
    {"start_s": 17.0, "end_s": 24.0, "text": "The new office in Lisbon opens in the spring."},
    {"start_s": 26.0, "end_s": 31.0, "text": "We hired four engineers for the mobile team."},
    {"start_s": 33.0, "end_s": 40.0, "text": "Shot 5 (33–40 s): 2 faces, bright, sharp; says: \"Any questions\""},
]


class FailingEmbedderFake:
    """An embedder whose endpoint is down: InvokeEndpoint failed, as SageMakerEmbedder reports it."""

    def __init__(self, model: str):
        self.model, self.dim = model, 384

    def embed(self, texts):
        raise EmbeddingFailed("endpoint videoflow-inference: ModelError: Received server error (500)", status=500)


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="module")
def output_bucket():
    """moto with the output bucket and the jobs table (all this function reads), once for the module."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(
            TableName=JOBS_TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        table.put_item(Item={"job_id": JOB_ID, "status": "COMPLETED", OWNER_ATTRIBUTE: OWNER})
        table.put_item(Item={"job_id": UNOWNED_JOB, "status": "COMPLETED"})
        yield s3


@pytest.fixture(scope="module")
def job_index(local_embedder):
    return build_index(JOB_ID, SEGMENTS, local_embedder)


@pytest.fixture
def indexed(output_bucket, job_index, local_embedder):
    """The job's index in the output bucket, the real embedder registered, and a cold cache."""
    save_index(job_index, OUTPUT_BUCKET, s3=output_bucket)
    embedding.register(local_embedder)
    api.cache.clear()
    yield output_bucket
    embedding.register(None)
    api.cache.clear()


def _event(*, job_id: str = JOB_ID, query: dict | None = None, caller: str | None = OWNER) -> dict:
    event = copy.deepcopy(EVENT)
    event["requestContext"]["identity"]["userArn"] = caller
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} or None
    event["pathParameters"]["job_id"] = job_id
    event["path"] = f"/jobs/{job_id}/search"
    event["requestContext"]["path"] = f"/prod/jobs/{job_id}/search"
    return event


def _call(event: dict) -> tuple[int, dict, dict]:
    response = api.handler(event, CONTEXT)
    headers = {**(response.get("headers") or {}),
               **{name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}}
    return response["statusCode"], json.loads(response["body"]), headers


def test_a_question_about_the_budget_returns_that_moment_first(indexed):
    status, body, headers = _call(_event())

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["job_id"] == JOB_ID
    assert body["query"] == "when do they talk about the budget?"
    assert 1 <= len(body["moments"]) <= 3
    best = body["moments"][0]
    assert (best["start_s"], best["end_s"]) == (8.0, 15.0)
    assert "budget" in best["text"]
    assert set(best) == {"start_s", "end_s", "text", "score"}
    assert [m["score"] for m in body["moments"]] == sorted((m["score"] for m in body["moments"]), reverse=True)


def test_k_defaults_to_five(indexed):
    status, body, _ = _call(_event(query={"q": "meeting"}))

    assert status == 200
    assert 1 < len(body["moments"]) <= 5


def test_the_index_is_read_from_s3_once_per_environment(indexed):
    _call(_event())
    indexed.delete_object(Bucket=OUTPUT_BUCKET, Key=f"analysis/{JOB_ID}/index.json")

    status, _, _ = _call(_event(query={"q": "new office abroad"}))

    assert status == 200
    assert (api.cache.misses, api.cache.hits) == (1, 1)


def test_an_unknown_job_is_404_with_a_json_reason(indexed):
    status, body, _ = _call(_event(job_id="0123456789abcdef0123456789abcdef"))

    assert status == 404
    assert body["code"] == "IndexNotFound"
    assert "0123456789abcdef0123456789abcdef" in body["error"]
    assert OUTPUT_BUCKET not in body["error"]


def test_a_missing_query_is_refused(indexed):
    status, body, _ = _call(_event(query={}))

    assert status in (400, 422)
    assert "q" in json.dumps(body)


def test_a_blank_query_is_400(indexed):
    status, body, _ = _call(_event(query={"q": "   "}))

    assert status == 400
    assert body["code"] == "InvalidQuery"


def test_a_query_over_1000_characters_is_refused(indexed):
    status, _, _ = _call(_event(query={"q": "budget " * 200}))

    assert status in (400, 422)


@pytest.mark.parametrize("k", ["0", "51", "-1", "five"])
def test_k_outside_1_to_50_is_refused(indexed, k):
    status, _, _ = _call(_event(query={"q": "budget", "k": k}))

    assert status in (400, 422)


@pytest.mark.parametrize("k", ["1", "50"])
def test_k_at_the_bounds_is_accepted(indexed, k):
    status, body, _ = _call(_event(query={"q": "budget", "k": k}))

    assert status == 200
    assert 1 <= len(body["moments"]) <= int(k)


def test_when_the_endpoint_fails_the_answer_is_503_with_a_json_error(indexed, local_embedder):
    embedding.register(FailingEmbedderFake(local_embedder.model))

    status, body, headers = _call(_event())

    assert status == 503
    assert body["code"] == "EmbeddingFailed"
    assert body["error"]
    assert headers["Retry-After"] == "5"


def test_an_index_built_with_another_model_is_400(indexed, local_embedder):
    embedding.register(FailingEmbedderFake("some/other-model"))

    status, body, _ = _call(_event())

    assert status == 400
    assert body["code"] == "ModelMismatch"


def test_the_cache_keeps_the_most_recently_used_indexes_and_expires_old_ones():
    now = [0.0]
    cache = IndexCache(max_indexes=2, ttl_s=60, clock=lambda: now[0])
    loads = []

    def load(job):
        loads.append(job)
        return job

    for job in ("a", "b", "a", "c", "a", "b"):
        cache.get(job, load)
    now[0] = 61
    cache.get("a", load)

    assert loads == ["a", "b", "c", "b", "a"]


# --- whose job: only its owner and administrators may search it ------------------------------------------------


def test_another_principal_searching_a_job_gets_the_same_404_as_for_an_unknown_job(indexed):
    status, body, _ = _call(_event(caller=STRANGER))
    unknown_status, unknown, _ = _call(_event(job_id="0123456789abcdef0123456789abcdef"))

    assert (status, unknown_status) == (404, 404)
    assert body["code"] == unknown["code"] == "IndexNotFound"
    assert body["error"] == unknown["error"].replace("0123456789abcdef0123456789abcdef", JOB_ID)
    assert api.cache.misses == 0  # refused before the index is read


def test_a_request_with_no_iam_principal_is_403(indexed):
    status, body, _ = _call(_event(caller=None))

    assert status == 403
    assert "Signature Version 4" in body["error"]


def test_an_administrator_may_search_any_job(indexed, monkeypatch):
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)

    status, body, _ = _call(_event(caller=ADMIN))

    assert status == 200 and body["moments"]


def test_a_job_with_no_owner_is_searchable_by_administrators_only(indexed, monkeypatch, job_index):
    save_index(dataclasses.replace(job_index, job_id=UNOWNED_JOB), OUTPUT_BUCKET, s3=indexed)

    refused, _, _ = _call(_event(job_id=UNOWNED_JOB, caller=OWNER))
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", ADMIN_ROLE)
    allowed, _, _ = _call(_event(job_id=UNOWNED_JOB, caller=ADMIN))

    assert (refused, allowed) == (404, 200)


# --- bad input: refused with a 4xx before anything is read; never a 5xx -------------------------------------------


@pytest.mark.parametrize("job_id", ["..%2F..%2Fetc", "$connect", "a" * 81, "job id", "é"])
def test_a_malformed_job_id_is_422_and_no_index_is_read(indexed, job_id):
    status, body, _ = _call(_event(job_id=job_id))

    assert status == 422
    assert api.cache.misses == 0


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(query=st.dictionaries(st.sampled_from(["q", "k", "other"]), st.text(max_size=1200), max_size=3),
       job_id=st.one_of(st.just(JOB_ID), st.text(max_size=90)))
def test_any_query_string_and_job_id_get_a_json_answer_and_never_a_server_error(indexed, query, job_id):
    status, body, _ = _call(_event(job_id=job_id, query=query))

    assert status < 500, body
    assert isinstance(body, dict)
