"""openapi.json: committed, current, valid, and true of the handler for requests generated from it.

The schema-driven test is Schemathesis over a tiny WSGI adapter that turns each generated
HTTP request into the API Gateway REST proxy event the handler receives in AWS (and from
`videoflow serve`). Every answer must be a documented status with a JSON body matching that
status's schema, never a 5xx; requests that break the schema must be refused with a 4xx.
"""

import base64
import json
from urllib.parse import parse_qs

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.owners import OWNER_ATTRIBUTE
from lambdas.common.settings import IngestSettings, Settings, get_settings
from lambdas.jobs_api import handler as api, openapi
from tests.unit.test_jobs_api import CALLER, CONTEXT, api_event, jobs_api_state  # noqa: F401 (a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

SPEC = json.loads(openapi.DOCUMENT.read_text())
STAGE = "/v1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def test_the_committed_openapi_json_is_what_the_routes_generate():
    assert openapi.DOCUMENT.read_text() == openapi.document(), (
        f"openapi.json is stale: run `{openapi.REGENERATE}` and commit the result")


def test_openapi_json_is_a_valid_openapi_3_1_document():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_every_operation_requires_sigv4_and_documents_json_errors():
    assert SPEC["security"] == [{"sigv4": []}]
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            errors = {status: response for status, response in operation["responses"].items() if status >= "400"}
            assert errors, (method, path)
            for response in errors.values():
                schema = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert "message" in SPEC["components"]["schemas"][schema]["required"], (method, path, schema)


def wsgi_app(environ, start_response):
    """An HTTP request as API Gateway (REST, proxy integration) hands it to the jobs_api function."""
    if not environ.get("HTTP_AUTHORIZATION"):  # AWS_IAM authorization: API Gateway answers, the function never runs
        start_response("403 Forbidden", [("Content-Type", "application/json")])
        return [b'{"message":"Missing Authentication Token"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else None
    values = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    # The server URL ends in the stage (/v1); API Gateway's event carries the path after it.
    path = environ["PATH_INFO"].removeprefix(STAGE)
    event = api_event(environ["REQUEST_METHOD"], path, raw_body=body)
    event["queryStringParameters"] = {name: found[-1] for name, found in values.items()} or None
    event["multiValueQueryStringParameters"] = values or None
    if environ.get("CONTENT_TYPE"):
        event["headers"]["Content-Type"] = environ["CONTENT_TYPE"]
        event["multiValueHeaders"]["Content-Type"] = [environ["CONTENT_TYPE"]]
    response = api.handler(event, CONTEXT)
    headers = {**(response.get("headers") or {}),
               **{name: found[-1] for name, found in (response.get("multiValueHeaders") or {}).items()}}
    payload = response.get("body") or ""
    data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
    start_response(f"{response['statusCode']} X", list(headers.items()))
    return [data]


schema = schemathesis.openapi.from_dict(SPEC)
schema.app = wsgi_app


@pytest.fixture
def known_jobs(jobs_api_state):  # noqa: F811 (the imported fixture)
    """A few jobs, so generated requests meet known ids too (the rest are 404)."""
    settings_ = get_settings(Settings, IngestSettings)
    jobs, events = JobStore(settings_.jobs_table), EventLog(settings_.events_table)
    for job_id, status in (("aaaaaaaa", "RUNNING"), ("bbbbbbbb", "FAILED"), ("cccccccc", "COMPLETED")):
        jobs.upsert(job_id, status=status, source={"bucket": settings_.ingest_bucket, "key": f"uploads/{job_id}.mp4"},
                    **{OWNER_ATTRIBUTE: CALLER})
        events.append(job_id, "job.registered", "RegisterJob")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_get_documented_answers(case, known_jobs):
    case.call_and_validate(checks=CHECKS)
