"""search_api handler: `GET /jobs/{job_id}/search?q=...&k=5` behind API Gateway (REST, proxy integration).

200 {"job_id", "query", "moments": [{start_s, end_s, text, score}]}, best first.
404 no index for the job, or a job the caller does not own (lambdas/common/owners.py: only its owner
and administrators may search it); 403 a request without an IAM principal; 400 a blank query or an index the endpoint's model cannot search;
422 q missing or over 1000 characters, k outside 1..50, a malformed job id (Powertools'
validation); 503 the inference endpoint failed (with Retry-After); 500 an unreadable index.
Every error body is JSON.

A query never waits for the endpoint to scale up from zero: while its model has no copy, the
query is embedded on this function's CPU with the same model (lambdas/common/embedding.py),
and the answer is the same. Whether it has a copy is asked at most every COPY_CHECK_S.

No `from __future__ import annotations` here: Powertools reads the route's Annotated
parameter types at runtime to validate them.
"""

import json
import time
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.embedding import CPU, ENDPOINT, cpu_embedder, endpoint_has_copy, get_embedder
from lambdas.common.job_ids import JOB_ID_PATTERN
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.owners import AccessSettings, NotSigned, caller_from
from lambdas.common.search import (
    DEFAULT_K,
    MAX_K,
    MAX_QUERY_CHARS,
    EmbeddingFailed,
    IndexInvalid,
    IndexNotFound,
    InvalidQuery,
    ModelMismatch,
    SearchError,
)
from lambdas.common.settings import EndpointSettings, Settings, get_settings
from lambdas.search_api.logic import IndexCache, SearchResponse, check_visible, search_job

SETTINGS = (Settings, EndpointSettings, AccessSettings)
RETRY_AFTER_S = 5

logger, tracer, metrics = instruments("search_api")
app = APIGatewayRestResolver(enable_validation=True)
cache = IndexCache()  # per warm environment: the API is latency-critical


@app.get("/jobs/<job_id>/search")
@tracer.capture_method
def search_moments(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the job id")],
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="how many moments")] = DEFAULT_K,
) -> SearchResponse:
    started = time.perf_counter()
    logger.append_keys(job_id=job_id)
    tracer.put_annotation(key="job_id", value=job_id)
    settings = get_settings(*SETTINGS)
    caller = caller_from(app.current_event.raw_event.get("requestContext"), settings.admins)
    check_visible(job_id, JobStore(settings.jobs_table).get(job_id), caller)
    embedder, embedded_on = _embedder()
    try:
        result, cached = search_job(job_id, q, k, bucket=settings.output_bucket, embedder=embedder, cache=cache)
    except EmbeddingFailed as error:
        if error.status != 429 or embedded_on == CPU:  # only a copy that went away falls back
            raise
        copy_checks[get_settings(EndpointSettings).inference_component_name] = (time.monotonic(), False)
        embedded_on = CPU
        result, cached = search_job(job_id, q, k, bucket=settings.output_bucket, embedder=cpu_embedder(),
                                    cache=cache)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    metrics.add_metric(name="SearchQueries", unit=MetricUnit.Count, value=1)
    if embedded_on == CPU:
        metrics.add_metric(name="SearchEmbeddedOnCpu", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="SearchLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    metrics.add_metric(name="SearchIndexCacheHits" if cached else "SearchIndexCacheMisses", unit=MetricUnit.Count,
                       value=1)
    logger.info("search answered", extra={"k": k, "query_chars": len(q), "moments": len(result.moments),
                                          "index_cached": cached, "embedded_on": embedded_on,
                                          "elapsed_ms": round(elapsed_ms, 1)})
    return result


COPY_CHECK_S = 30.0
copy_checks: dict[str, tuple[float, bool]] = {}  # component -> (when asked, whether it had a copy)


def _embedder():
    """The endpoint while its model has a copy, else this function's CPU; the answer is kept COPY_CHECK_S."""
    component, now = get_settings(EndpointSettings).inference_component_name, time.monotonic()
    asked_at, warm = copy_checks.get(component, (None, False))
    if asked_at is None or now - asked_at > COPY_CHECK_S:
        warm = endpoint_has_copy()
        copy_checks[component] = (now, warm)
    return (get_embedder(), ENDPOINT) if warm else (cpu_embedder(), CPU)


def _error(status: HTTPStatus, error: Exception, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, headers=headers,
                    body=json.dumps({"error": str(error), "code": type(error).__name__}))


@app.exception_handler(NotSigned)
def _not_signed(error: NotSigned) -> Response:
    return _error(HTTPStatus.FORBIDDEN, error)


@app.exception_handler(IndexNotFound)
def _index_not_found(error: IndexNotFound) -> Response:
    return _error(HTTPStatus.NOT_FOUND, error)


@app.exception_handler([InvalidQuery, ModelMismatch])
def _bad_query(error: SearchError) -> Response:
    if isinstance(error, ModelMismatch):
        logger.warning("index and endpoint models differ", extra={"error": str(error)})
    return _error(HTTPStatus.BAD_REQUEST, error)


@app.exception_handler(EmbeddingFailed)
def _embedding_failed(error: EmbeddingFailed) -> Response:
    logger.warning("the inference endpoint failed", extra={"error": str(error), "status": error.status})
    metrics.add_metric(name="SearchEmbeddingFailures", unit=MetricUnit.Count, value=1)
    return _error(HTTPStatus.SERVICE_UNAVAILABLE,
                  EmbeddingFailed("The inference endpoint is unavailable; try again shortly."),
                  headers={"Retry-After": str(RETRY_AFTER_S)})


@app.exception_handler(IndexInvalid)
def _index_invalid(error: IndexInvalid) -> Response:
    logger.error("the stored index is unreadable", extra={"error": str(error)})
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, IndexInvalid("The job's search index is unreadable."))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
