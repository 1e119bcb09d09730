"""Triggered by EventBridge for each new original under the upload prefix."""


from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common import aws
from lambdas.common.events import EventLog
from lambdas.common.observability import instruments
from lambdas.common.settings import IdempotencySettings, Settings, WorkflowSettings, get_settings
from lambdas.start_pipeline.logic import start_pipeline

logger, tracer, metrics = instruments("start_pipeline")
SETTINGS = (Settings, WorkflowSettings, IdempotencySettings)

# A layer of idempotency before Step Functions' own name check: a redelivered event gets
# the first answer back without calling anything. The in-progress record expires at the
# Lambda deadline (register_lambda_context), so a crashed attempt can be retried.
_idempotency = IdempotencyConfig(
    event_key_jmespath='detail.[bucket.name, object.key, object."version-id", object.etag]',
    expires_after_seconds=24 * 3600,
)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    _idempotency.register_lambda_context(context)
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings(*SETTINGS).idempotency_table, boto3_client=aws.client("dynamodb")
    )
    once = idempotent_function(data_keyword_argument="event", config=_idempotency, persistence_store=persistence)
    return once(_start)(event=event)


def _start(event: dict) -> dict:
    settings = get_settings(*SETTINGS)
    upload = parse(event=event, model=S3EventNotificationEventBridgeModel)
    result = start_pipeline(upload, aws.client("stepfunctions"), settings.state_machine_arn,
                            EventLog(settings.events_table))
    logger.append_keys(job_id=result.job_id)
    metrics.add_metric(name="JobsStarted" if result.started else "DuplicateUploadEvents", unit="Count", value=1)
    return result.model_dump(mode="json")
