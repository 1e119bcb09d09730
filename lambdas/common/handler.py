"""The thin handler every workflow step shares: parse, call the pure logic, return a model.

Powertools Logger (job id as correlation id), Tracer and Metrics wrap each call; the
request model validates the workflow state on the way in, the result model on the way out.

Throttling is retried twice over: botocore's standard retry mode (lambdas/common/aws.py) backs
off within the call, and a throttle that outlasts it leaves the step as TransientError, which
the workflow retries by name (stacks/workflow.py), so a burst of writes delays a job but
never fails it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import BaseModel

from lambdas.common.errors import TransientError
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.settings import Settings, get_settings

Request = TypeVar("Request", bound=BaseModel)
# The error codes AWS answers a throttled request with (botocore's standard mode retries each).
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "TooManyRequestsException", "RequestThrottled", "SlowDown", "TransactionInProgressException",
})


@dataclass(frozen=True)
class Step:
    """What a step's logic may use besides its request: configuration, the stores, metrics."""

    settings: Settings
    events: EventLog
    jobs: JobStore
    metrics: Metrics
    logger: Logger


def step_handler(
    function_name: str,
    request_model: type[Request],
    run: Callable[[Request, Step], BaseModel],
    settings: tuple[type[BaseModel], ...] = (),
) -> Callable[[dict, LambdaContext], dict]:
    """`settings`: the models of the step's environment beyond the base Settings (stacks/steps.py
    gives the function exactly their variables)."""
    logger, tracer, metrics = instruments(function_name)
    models = (Settings, *settings)

    @logger.inject_lambda_context(correlation_id_path="job_id")
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def handler(event: dict, context: LambdaContext) -> dict:
        settings = get_settings(*models)
        step = Step(settings, EventLog(settings.events_table), JobStore(settings.jobs_table), metrics, logger)
        request = request_model.model_validate(event)
        try:
            return run(request, step).model_dump(mode="json")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING_CODES:
                raise
            attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            logger.warning("throttled after retries; the workflow retries the step",
                           extra={"code": code, "operation": error.operation_name, "attempts": attempts})
            raise TransientError(f"{error.operation_name} was throttled ({code}) {attempts} times.") from error

    handler.settings_models = models
    return handler
