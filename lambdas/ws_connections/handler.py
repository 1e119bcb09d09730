"""The WebSocket API's integration: $connect (already IAM-authorized), $disconnect, subscribe, $default."""


from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common import aws
from lambdas.common.connections import Connections
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.owners import AccessSettings, NotSigned, caller_from
from lambdas.common.settings import ConnectionSettings, Settings, get_settings
from lambdas.ws_connections.logic import ConnectionCallers, disconnect, parse_subscribe, reject, subscribe

logger, tracer, metrics = instruments("ws_connections")
SETTINGS = (Settings, ConnectionSettings, AccessSettings)
OK = {"statusCode": 200}



@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    request = event["requestContext"]
    route, connection_id = request["routeKey"], request["connectionId"]
    logger.append_keys(route=route, connection_id=connection_id)
    settings = get_settings(*SETTINGS)
    if route == "$connect":
        try:
            caller = caller_from(request, settings.admins)
        except NotSigned:
            logger.warning("connect refused: no IAM principal")
            return {"statusCode": 403}
        ConnectionCallers(settings.connections_table).opened(connection_id, caller.arn)
        metrics.add_metric(name="WebSocketConnects", unit=MetricUnit.Count, value=1)
        return OK
    connections = Connections(settings.connections_table)
    if route == "$disconnect":
        logger.info("disconnected", extra={"subscriptions": disconnect(connection_id, connections=connections)})
        return OK
    management = aws.websocket_management(f"https://{request['domainName']}/{request['stage']}")
    message = parse_subscribe(event.get("body")) if route == "subscribe" else (
        'Unknown action: send {"action": "subscribe", "job_id": "<job id>", "after": <last seq seen>}.')
    if isinstance(message, str):
        reject(connection_id, message, management=management)
        return {"statusCode": 400}
    logger.set_correlation_id(message.job_id)
    logger.append_keys(job_id=message.job_id)
    caller = ConnectionCallers(settings.connections_table).caller(connection_id, settings.admins)
    result = subscribe(connection_id, message, connections=connections, events=EventLog(settings.events_table),
                       jobs=JobStore(settings.jobs_table), management=management, caller=caller)
    metrics.add_metric(name="WebSocketSubscriptions", unit=MetricUnit.Count, value=int(result.subscribed))
    logger.info("subscribe", extra=result.model_dump())
    return OK if result.subscribed else {"statusCode": 404 if not result.gone else 410}
