"""Triggered by the events table's DynamoDB stream (INSERT records only, filtered by the event source)."""


from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecordEventName
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common import aws
from lambdas.common.connections import Connections
from lambdas.common.observability import instruments
from lambdas.common.settings import ConnectionSettings, get_settings
from lambdas.push_events.logic import events_from_stream, push

logger, tracer, metrics = instruments("push_events")
SETTINGS = (ConnectionSettings,)



@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_source(data_class=DynamoDBStreamEvent)
def handler(event: DynamoDBStreamEvent, context: LambdaContext) -> dict:
    inserted = [record.dynamodb.new_image for record in event.records
                if record.event_name == DynamoDBRecordEventName.INSERT and record.dynamodb]
    settings = get_settings(*SETTINGS)
    result = push(events_from_stream(inserted), connections=Connections(settings.connections_table),
                  management=aws.websocket_management(settings.websocket_callback_url), logger=logger)
    for name, value in (("EventsPushed", result.deliveries), ("PushConnectionsGone", result.gone),
                        ("PushFailures", result.failed)):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("pushed", extra=result.model_dump())
    return result.model_dump()
