"""jobs_api handler: the jobs API behind API Gateway (REST, proxy integration, IAM-signed requests).

    POST /uploads                    201 UploadCreated       presigned multipart upload under uploads/
    POST /uploads/complete           200 UploadCompleted     completes it; returns the job id it starts
    GET  /jobs?limit&next_token      200 JobList             newest first, paginated
    GET  /jobs/{job_id}              200 JobDetail
    GET  /jobs/{job_id}/events       200 EventsPage          ?after=SEQ&limit=N; resume after the last seq seen
    POST /jobs/{job_id}/retry        202 JobActionResult     redrives a FAILED execution
    POST /jobs/{job_id}/cancel       200 JobActionResult     stops a RUNNING execution

Each route answers for the signer's own jobs only (an administrator's: all jobs; see logic.py and
lambdas/common/owners.py). A request with no IAM principal is 403 here too, although API Gateway
refuses an unsigned one before the function runs.

Every error is JSON {"message": ...}: 400 a refused request, 403 no principal, 404 an unknown job or upload, 409
a job in the wrong state for the action, 413/415 an upload too large or not a video, 422 a
request that does not match the schema (with "detail"), 429 too many executions.

No `from __future__ import annotations` here: Powertools reads the routes' Annotated types at
runtime to validate requests and to write the OpenAPI document (openapi.json, see openapi.py).
"""

import os
from functools import cache
from http import HTTPStatus
from typing import Annotated

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import BaseModel

from lambdas.common import aws
from lambdas.common.events import EventLog
from lambdas.common.job_ids import JOB_ID_PATTERN
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.owners import AccessSettings, Caller, NotSigned, caller_from
from lambdas.common.settings import IngestSettings, LimitSettings, Settings, WorkflowSettings, get_settings
from lambdas.jobs_api import logic, uploads
from lambdas.jobs_api.claims import UploadClaims
from lambdas.jobs_api.models import (
    ApiError,
    CompleteRequest,
    ErrorBody,
    EventsPage,
    JobActionResult,
    JobDetail,
    JobList,
    NotSignedRequest,
    UploadCompleted,
    UploadCreated,
    UploadRequest,
    UploadSettings,
    ValidationErrorBody,
)
from lambdas.jobs_api.owned import OwnedJobs

SETTINGS = (Settings, IngestSettings, LimitSettings, WorkflowSettings, UploadSettings, AccessSettings)
MAX_TOKEN_CHARS = 512

logger, tracer, metrics = instruments("jobs_api")
app = APIGatewayRestResolver(enable_validation=True)
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job id (the workflow execution's name)")]


def _responses(success: int, model, description: str, *errors: int) -> dict:
    """The OpenAPI responses of a route: its success model, then each error as ErrorBody."""
    found = {success: {"description": description, "content": {"application/json": {"model": model}}}}
    for status in errors:
        found[status] = {"description": HTTPStatus(status).phrase,
                         "content": {"application/json": {"model": ErrorBody}}}
    found[403] = {"description": "Unsigned, or signed by a principal not allowed execute-api:Invoke (answered by API "
                                 "Gateway before the function runs)",
                  "content": {"application/json": {"model": ErrorBody}}}
    found[422] = {"description": "The request does not match the schema",
                  "content": {"application/json": {"model": ValidationErrorBody}}}
    return found


@app.post("/uploads", tags=["uploads"], summary="Start a presigned multipart upload",
          responses=_responses(201, UploadCreated, "The upload and one PUT URL per part", 400, 413, 415))
@tracer.capture_method
def create_upload(upload: UploadRequest) -> Response[UploadCreated]:
    settings = get_settings(*SETTINGS)
    created = uploads.create_upload(upload, s3=presigning_s3(), bucket=settings.ingest_bucket,
                                    max_size_bytes=settings.max_size_bytes, claims=UploadClaims(settings.uploads_table),
                                    owner=_caller().arn)
    metrics.add_metric(name="UploadsStarted", unit=MetricUnit.Count, value=1)
    logger.info("upload started", extra={"key": created.key, "size_bytes": upload.size_bytes,
                                         "parts": len(created.parts)})
    return _with_status(201, created)


@app.post("/uploads/complete", tags=["uploads"], summary="Complete an upload; returns the job it starts",
          responses=_responses(200, UploadCompleted, "The object and the id of the job it starts", 400, 404))
@tracer.capture_method
def complete_upload(completion: CompleteRequest) -> UploadCompleted:
    settings = get_settings(*SETTINGS)
    caller = _caller()
    owned = OwnedJobs(settings.jobs_table)
    completed = uploads.complete_upload(
        completion, s3=presigning_s3(), bucket=settings.ingest_bucket, claims=UploadClaims(settings.uploads_table),
        caller=caller,
        on_completed=lambda job_id, source: owned.record_owner(job_id, caller.arn, source.model_dump(
            mode="json", include={"bucket", "key", "version_id", "size_bytes"})),
    )
    logger.append_keys(job_id=completed.job_id)
    metrics.add_metric(name="UploadsCompleted", unit=MetricUnit.Count, value=1)
    logger.info("upload completed", extra={"key": completed.key})
    return completed


@app.get("/jobs", tags=["jobs"], summary="List the caller's jobs (an administrator's: all), newest first",
         responses=_responses(200, JobList, "One page of jobs", 400))
@tracer.capture_method
def list_jobs(
    limit: Annotated[int, Query(ge=1, le=logic.MAX_PAGE_SIZE, description="jobs per page")] = logic.DEFAULT_PAGE_SIZE,
    next_token: Annotated[str | None, Query(min_length=1, max_length=MAX_TOKEN_CHARS,
                                            description="the next_token of the previous page")] = None,
) -> JobList:
    settings = get_settings(*SETTINGS)
    return logic.list_jobs(limit, next_token, jobs=JobStore(settings.jobs_table), owned=OwnedJobs(settings.jobs_table),
                           caller=_caller())


@app.get("/jobs/<job_id>", tags=["jobs"], summary="One job: status, source, timestamps, reason, manifest",
         responses=_responses(200, JobDetail, "The job", 404))
@tracer.capture_method
def get_job(job_id: JobId) -> JobDetail:
    _follow(job_id)
    settings = get_settings(*SETTINGS)
    return logic.get_job(job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table),
                         ingest_bucket=settings.ingest_bucket, caller=_caller())


@app.get("/jobs/<job_id>/events", tags=["jobs"], summary="The job's events after a seq, in order",
         responses=_responses(200, EventsPage, "Events after `after`, and whether the job is done", 404))
@tracer.capture_method
def job_events(
    job_id: JobId,
    after: Annotated[int, Query(ge=0, description="the last seq already seen (0: from the start)")] = 0,
    limit: Annotated[int, Query(ge=1, le=logic.MAX_EVENTS_LIMIT,
                                description="at most this many events")] = logic.DEFAULT_EVENTS_LIMIT,
) -> EventsPage:
    _follow(job_id)
    settings = get_settings(*SETTINGS)
    return logic.job_events(job_id, after, limit, jobs=JobStore(settings.jobs_table),
                            events=EventLog(settings.events_table), caller=_caller())


@app.post("/jobs/<job_id>/retry", tags=["jobs"],
          summary="Retry a FAILED job from the step that failed (Step Functions redrive)",
          responses=_responses(202, JobActionResult, "The execution is redriven", 404, 409, 429))
@tracer.capture_method
def retry_job(job_id: JobId) -> Response[JobActionResult]:
    return _with_status(202, _act_on_execution(logic.retry_job, job_id, "JobsRetried"))


@app.post("/jobs/<job_id>/cancel", tags=["jobs"], summary="Cancel a RUNNING job (Step Functions StopExecution)",
          responses=_responses(200, JobActionResult, "The execution is stopped; the job is CANCELLED", 404, 409))
@tracer.capture_method
def cancel_job(job_id: JobId) -> JobActionResult:
    return _act_on_execution(logic.cancel_job, job_id, "JobsCancelled")


def _with_status(status: int, body: BaseModel) -> Response:
    # Not the route's status_code= argument: that needs Powertools 3.28, newer than the layer the stack deploys.
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _act_on_execution(action, job_id: str, metric: str) -> JobActionResult:
    """Retry or cancel: the job's execution, the stores, and who asked; counted by `metric`."""
    _follow(job_id)
    settings = get_settings(*SETTINGS)
    result = action(job_id, jobs=JobStore(settings.jobs_table), events=EventLog(settings.events_table),
                    sfn=step_functions(), state_machine_arn=settings.state_machine_arn, caller=_caller())
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return result


def _follow(job_id: str) -> None:
    logger.append_keys(job_id=job_id)
    tracer.put_annotation(key="job_id", value=job_id)


def _caller() -> Caller:
    """The IAM principal that signed the request, as API Gateway reports it, and whether it is an administrator."""
    try:
        return caller_from(app.current_event.raw_event.get("requestContext"), get_settings(*SETTINGS).admins)
    except NotSigned as error:
        raise NotSignedRequest(str(error)) from None


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(ApiError)
def _refused(error: ApiError) -> Response:
    logger.info("request refused", extra={"status": error.status, "error": type(error).__name__})
    return _json(error.status, ErrorBody(message=str(error)).model_dump())


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response:
    # Only where and what kind: pydantic's messages may echo the input back.
    issues = [{"loc": list(issue["loc"]), "type": issue["type"]} for issue in error.errors()]
    fields = ", ".join(".".join(str(part) for part in issue["loc"]) for issue in issues)
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY,
                 {"message": f"The request does not match the API: check {fields or 'the request'}.",
                  "detail": issues})


@app.not_found
def _no_route(error: Exception) -> Response:
    return _json(HTTPStatus.NOT_FOUND, {"message": "No such route."})


def step_functions():
    """The Step Functions client (a seam: moto has no RedriveExecution, so tests hand in a fake)."""
    return aws.client("stepfunctions")


@cache
def presigning_s3():
    """An S3 client that presigns for the bucket's own region (SigV4, regional virtual-host URLs).

    boto3's default client presigns with SigV2 against the global endpoint, which a bucket
    outside us-east-1 answers with a redirect. AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), which
    boto3 honours by itself, points it at a local S3 such as a moto server; URLs are then path-style.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    overridden = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5},
                    s3={"addressing_style": "auto" if overridden else "virtual"})
    return boto3.client("s3", region_name=region, config=config)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
