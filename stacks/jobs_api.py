"""Layer 01, interface: the jobs API and live push of job events.

JobsApi puts the jobs routes on the REST API that SearchApi made: one API, one stage (v1),
one authorization (IAM: every method is AWS_IAM, so an unsigned request gets 403 from API
Gateway before any function runs), one throttle, one access log. API Gateway validates the
request bodies (JSON Schema from the same pydantic models the function validates with) and
the query strings it can, so a malformed request costs no invocation.

LivePush is the WebSocket API: $connect is IAM-authorized, `subscribe` stores the connection
and replays the log after the client's last seq, and push_events forwards each new event from
the events table's stream. The event log stays the truth; push is a convenience.
"""

import json

import aws_cdk as cdk
import jsii
from aws_cdk import (
    aws_apigateway as apigw,
    aws_apigatewayv2 as apigwv2,
    aws_apigatewayv2_authorizers as authorizers,
    aws_apigatewayv2_integrations as integrations,
    aws_dynamodb as dynamodb,
    aws_lambda as lambda_,
    aws_lambda_event_sources as event_sources,
    aws_logs as logs,
)
from constructs import Construct
from pydantic import BaseModel

from lambdas.common.connections import BY_CONNECTION_INDEX
from lambdas.jobs_api.models import CompleteRequest, UploadRequest
from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction
from stacks.nag import acknowledge
from stacks.state import StateLayer

WEBSOCKET_STAGE = "v1"
# Query strings API Gateway checks for presence; their values are checked by the function.
QUERY_STRINGS = {"/jobs": ("limit", "next_token"), "/jobs/{job_id}/events": ("after", "limit")}


class JobsApi(Construct):
    """The jobs routes on the existing REST API, served by one function (a Powertools resolver).

    The function's permissions and environment come from its entry in stacks/steps.py."""

    def __init__(self, scope: Construct, construct_id: str, *, rest_api: apigw.RestApi, function: PipelineFunction):
        super().__init__(scope, construct_id)
        self.function = function
        self.methods = self._routes(rest_api)

    def _routes(self, rest_api: apigw.RestApi) -> dict[str, apigw.Method]:
        integration = apigw.LambdaIntegration(self.function.function, allow_test_invoke=False)
        validator = rest_api.add_request_validator(
            "JobsValidator", validate_request_body=True, validate_request_parameters=True,
        )
        models = {
            name: rest_api.add_model(f"{name}Model", content_type="application/json", model_name=name,
                                     schema=api_gateway_schema(model))
            for name, model in (("UploadRequest", UploadRequest), ("CompleteRequest", CompleteRequest))
        }
        routes = {
            ("POST", "/uploads"): models["UploadRequest"],
            ("POST", "/uploads/complete"): models["CompleteRequest"],
            ("GET", "/jobs"): None,
            ("GET", "/jobs/{job_id}"): None,
            ("GET", "/jobs/{job_id}/events"): None,
            ("POST", "/jobs/{job_id}/retry"): None,
            ("POST", "/jobs/{job_id}/cancel"): None,
        }
        methods = {}
        for (verb, path), model in routes.items():
            parameters = {f"method.request.querystring.{name}": False for name in QUERY_STRINGS.get(path, ())}
            if "{job_id}" in path:
                parameters["method.request.path.job_id"] = True
            methods[f"{verb} {path}"] = rest_api.root.resource_for_path(path).add_method(
                verb, integration,
                authorization_type=apigw.AuthorizationType.IAM,
                request_validator=validator,
                request_parameters=parameters or None,
                request_models={"application/json": model} if model else None,
            )
        return methods


class LivePush(Construct):
    """WebSocket API (IAM on $connect): subscribe to a job, get its backlog, then each new event."""

    def __init__(self, scope: Construct, construct_id: str, *, routes: PipelineFunction, push: PipelineFunction,
                 state: StateLayer, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        self.connections = dynamodb.Table(
            self, "Connections",
            partition_key=dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="connection_id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=cdk.RemovalPolicy.DESTROY,  # live subscriptions only; nothing to keep
        )
        self.connections.add_global_secondary_index(
            index_name=BY_CONNECTION_INDEX,
            partition_key=dynamodb.Attribute(name="connection_id", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        self.routes_function, self.push_function = routes, push
        routes = integrations.WebSocketLambdaIntegration("Routes", self.routes_function.function)
        self.api = apigwv2.WebSocketApi(
            self, "Api",
            api_name="videoflow-live-events",
            description="VideoFlow live job events (IAM-signed $connect)",
            route_selection_expression="$request.body.action",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=routes, authorizer=authorizers.WebSocketIamAuthorizer()),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=routes),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=routes),
        )
        self.api.add_route("subscribe", integration=routes)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays[config.log_retention],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.stage = apigwv2.WebSocketStage(
            self, "Stage", web_socket_api=self.api, stage_name=WEBSOCKET_STAGE, auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=50, burst_limit=100),
            access_log_settings=_AccessLogs(access_logs),
        )
        self.url = self.stage.url
        # Only new events; a failing batch is retried twice (halved each time), then skipped: the
        # log keeps every event, and clients resume from it.
        self.push_function.function.add_event_source(event_sources.DynamoEventSource(
            state.events_table, starting_position=lambda_.StartingPosition.LATEST, batch_size=100,
            max_batching_window=cdk.Duration.seconds(0), retry_attempts=2, bisect_batch_on_error=True,
            max_record_age=cdk.Duration.hours(1),
            filters=[lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})],
        ))
        # CDK's DynamoEventSource grants dynamodb:ListStreams, which has no resource-level permissions.
        acknowledge(push, {"AwsSolutions-IAM5[Resource::*]": "dynamodb:ListStreams has no resource-level "
                                                             "permissions; the stream event source needs it."})
        for route_key in ("$disconnect", "$default", "subscribe"):
            acknowledge(self.api.node.find_child(f"{route_key}-Route"), {
                "AwsSolutions-APIG4": "A WebSocket API authorizes its $connect route only (IAM here); every later "
                                      "message travels on that authorized connection.",
            })

    @property
    def manage_connections_arn(self) -> str:
        """Posting to this stage's connections (push_events, ws_connections: stacks/steps.py)."""
        return cdk.Stack.of(self).format_arn(service="execute-api", resource=self.api.api_id,
                                             resource_name=f"{WEBSOCKET_STAGE}/POST/@connections/*")

    @property
    def manage_connections_finding(self) -> str:
        return ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                f"<{cdk.Stack.of(self).get_logical_id(self.api.node.default_child)}>/{WEBSOCKET_STAGE}/POST/"
                "@connections/*]")


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """JSON access logs of the WebSocket stage: one line per connect, message and disconnect."""

    def __init__(self, log_group: logs.ILogGroup):
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps({
            "requestId": "$context.requestId", "connectionId": "$context.connectionId",
            "eventType": "$context.eventType", "routeKey": "$context.routeKey", "status": "$context.status",
            "caller": "$context.identity.caller", "user": "$context.identity.user",
            "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
            "error": "$context.error.message", "integrationError": "$context.integrationErrorMessage",
        }))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def api_gateway_schema(model: type[BaseModel]) -> apigw.JsonSchema:
    """The pydantic model's JSON Schema as an API Gateway model (draft 4): types, bounds, required fields."""
    schema = model.model_json_schema()
    return _json_schema(schema, schema.get("$defs", {}), top=True)


def _json_schema(node: dict, definitions: dict, top: bool = False) -> apigw.JsonSchema:
    if "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[-1]]
    kind = node["type"]
    options = {
        "title": node.get("title") if top else None,
        "min_length": node.get("minLength"), "max_length": node.get("maxLength"), "pattern": node.get("pattern"),
        "minimum": node.get("minimum"), "maximum": node.get("maximum"),
        "min_items": node.get("minItems"), "max_items": node.get("maxItems"),
        "required": node.get("required"),
    }
    if kind == "object":
        options["properties"] = {name: _json_schema(child, definitions)
                                 for name, child in node.get("properties", {}).items()}
    if kind == "array":
        options["items"] = _json_schema(node["items"], definitions)
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4 if top else None, type=getattr(apigw.JsonSchemaType, kind.upper()),
        **{name: value for name, value in options.items() if value is not None},
    )
