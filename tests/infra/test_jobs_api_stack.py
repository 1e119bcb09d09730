"""The jobs API and live push (stacks/jobs_api.py), read from the synthesized template."""

import json
import re

import pytest

from lambdas.common.connections import BY_CONNECTION_INDEX
from lambdas.common.jobs import LISTING_ATTRIBUTES, LISTING_INDEX, LISTING_KEY
from lambdas.common.owners import OWNER_INDEX
from lambdas.jobs_api.models import CompleteRequest, UploadRequest
from lambdas.jobs_api.openapi import DOCUMENT
from tests.infra import cfn

METHOD = "AWS::ApiGateway::Method"


def _paths(template: dict) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path ("/jobs/{job_id}/events")."""
    resources = cfn.resources(template, "AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def _routes(template: dict) -> dict[tuple[str, str], dict]:
    """(verb, path) -> method properties, for every method of the REST API."""
    paths = _paths(template)
    return {(m["Properties"]["HttpMethod"], paths[m["Properties"]["ResourceId"]["Ref"]]): m["Properties"]
            for m in cfn.resources(template, METHOD).values()}


def _function_of(method: dict) -> str:
    uri = cfn.placeholder(method["Integration"]["Uri"])
    return re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)


def _statements_of(synth, construct) -> list[dict]:
    return cfn.role_statements(synth.template_dict, synth.logical_id(construct.role))


def _resources_of(statements: list[dict], action: str) -> list[str]:
    return [cfn.placeholder(resource) for s in statements if action in cfn.as_list(s["Action"])
            for resource in cfn.as_list(s["Resource"])]


# --- the REST API ------------------------------------------------------------------------------------------------


def test_every_method_of_the_rest_api_requires_a_sigv4_signature_so_unsigned_requests_get_403(template_dict):
    methods = cfn.resources(template_dict, METHOD)

    assert len(methods) >= 8
    assert {m["Properties"]["AuthorizationType"] for m in methods.values()} == {"AWS_IAM"}


def test_every_operation_of_openapi_json_is_a_route_served_by_the_jobs_api_function(synth):
    routes = _routes(synth.template_dict)
    spec = json.loads(DOCUMENT.read_text())
    jobs_api = synth.logical_id(synth.stack.pipeline.jobs_api.function.function)

    documented = {(verb.upper(), path) for path, operations in spec["paths"].items() for verb in operations}

    assert documented <= set(routes)
    assert {_function_of(routes[route]) for route in documented} == {jobs_api}
    assert {route for route, method in routes.items() if _function_of(method) == jobs_api} == documented


@pytest.mark.parametrize(("path", "model"), [("/uploads", UploadRequest), ("/uploads/complete", CompleteRequest)])
def test_api_gateway_validates_upload_bodies_against_the_same_model_the_function_uses(synth, path, model):
    method = _routes(synth.template_dict)[("POST", path)]
    (model_ref,) = method["RequestModels"].values()
    schema = cfn.properties(synth.template_dict, model_ref["Ref"])["Schema"]
    validator = cfn.properties(synth.template_dict, method["RequestValidatorId"]["Ref"])

    assert validator["ValidateRequestBody"] is True
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    pydantic = model.model_json_schema()
    assert sorted(schema["required"]) == sorted(pydantic["required"])
    assert {name: prop["type"] for name, prop in schema["properties"].items()} == {
        name: prop["type"] for name, prop in pydantic["properties"].items()}


def test_the_events_route_knows_its_query_strings_and_path_parameter(synth):
    method = _routes(synth.template_dict)[("GET", "/jobs/{job_id}/events")]

    assert method["RequestParameters"] == {"method.request.querystring.after": False,
                                           "method.request.querystring.limit": False,
                                           "method.request.path.job_id": True}


def test_the_jobs_api_may_touch_only_uploads_its_tables_and_the_workflows_executions(synth):
    pipeline = synth.stack.pipeline
    statements = _statements_of(synth, pipeline.jobs_api.function)
    ingest = synth.logical_id(synth.stack.state.ingest_bucket)
    jobs = synth.logical_id(synth.stack.state.jobs_table)
    machine = synth.logical_id(pipeline.orchestration.state_machine)

    uploads = synth.logical_id(synth.stack.state.uploads_table)

    for action in ("s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"):
        assert _resources_of(statements, action) == [f"${{{ingest}.Arn}}/uploads/*"], action
    assert not [action for s in statements for action in cfn.as_list(s["Action"])
                if action.startswith(("s3:Get", "s3:Delete"))]  # it never reads nor deletes an original
    assert _resources_of(statements, "states:RedriveExecution") == _resources_of(statements, "states:StopExecution") \
        == [f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:${{{machine}.Name}}:*"]
    assert _resources_of(statements, "dynamodb:Query").count(f"${{{jobs}.Arn}}/index/{LISTING_INDEX}") == 1
    assert _resources_of(statements, "dynamodb:Query").count(f"${{{jobs}.Arn}}/index/{OWNER_INDEX}") == 1
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert f"${{{uploads}.Arn}}" in _resources_of(statements, action), action
    assert not any(action.startswith("states:Start") for s in statements for action in cfn.as_list(s["Action"]))


def test_given_the_jobs_api_then_it_may_read_the_event_log_but_never_write_it(synth, template_dict):
    role = synth.logical_id(synth.stack.pipeline.jobs_api.function.role)
    events_table = cfn.arn_of(synth.logical_id(synth.stack.state.events_table))
    on_events = {action for statement in cfn.role_statements(template_dict, role)
                 for action in cfn.as_list(statement["Action"])
                 if events_table in [cfn.placeholder(r) for r in cfn.as_list(statement["Resource"])]}
    assert on_events == {"dynamodb:Query"}


def test_the_jobs_table_lists_every_job_newest_first_through_its_listing_index(synth):
    props = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.state.jobs_table))

    (index,) = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == LISTING_INDEX]
    assert index["KeySchema"] == [{"AttributeName": LISTING_KEY, "KeyType": "HASH"},
                                  {"AttributeName": "created_at", "KeyType": "RANGE"}]
    assert sorted(index["Projection"]["NonKeyAttributes"]) == sorted(LISTING_ATTRIBUTES)


# --- live push ---------------------------------------------------------------------------------------------------


def test_the_websocket_api_authorizes_connect_with_iam(synth):
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in cfn.resources(synth.template_dict, "AWS::ApiGatewayV2::Route").values()}

    assert set(routes) == {"$connect", "$disconnect", "$default", "subscribe"}
    assert routes["$connect"]["AuthorizationType"] == "AWS_IAM"


def test_the_websocket_stage_is_throttled_and_logs_every_connection(synth):
    (stage,) = [s["Properties"] for s in cfn.resources(synth.template_dict, "AWS::ApiGatewayV2::Stage").values()]

    assert stage["StageName"] == "v1" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "connectionId", "routeKey", "status"} <= set(log_format)


def test_the_connections_table_expires_subscriptions_and_is_encrypted_and_recoverable(synth):
    props = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.live_push.connections))

    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"},
                                  {"AttributeName": "connection_id", "KeyType": "RANGE"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert [i["IndexName"] for i in props["GlobalSecondaryIndexes"]] == [BY_CONNECTION_INDEX]


def test_push_events_reads_only_new_events_from_the_events_stream_with_bounded_retries(synth):
    (mapping,) = [m["Properties"] for m in cfn.resources(synth.template_dict, "AWS::Lambda::EventSourceMapping")
                  .values()]
    events = synth.logical_id(synth.stack.state.events_table)

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [events, "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": synth.logical_id(synth.stack.pipeline.live_push.push_function.function)}
    assert mapping["StartingPosition"] == "LATEST"
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == {"eventName": ["INSERT"]}
    assert mapping["MaximumRetryAttempts"] == 2 and mapping["BisectBatchOnFunctionError"] is True


def test_pushing_to_connections_is_allowed_only_on_this_apis_stage(synth):
    live = synth.stack.pipeline.live_push
    api = synth.logical_id(live.api)

    for fn in (live.push_function, live.routes_function):
        assert _resources_of(_statements_of(synth, fn), "execute-api:ManageConnections") == [
            f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/v1/POST/@connections/*"]


# --- whose jobs: every route of both APIs is signed, and each function knows the administrators ---------------


def test_every_websocket_route_but_connect_is_reached_only_through_the_connection_connect_authorized(synth):
    routes = {r["Properties"]["RouteKey"]: r["Properties"].get("AuthorizationType", "NONE")
              for r in cfn.resources(synth.template_dict, "AWS::ApiGatewayV2::Route").values()}

    # API Gateway authorizes a WebSocket API on $connect only; ws_connections stores that signer for the others.
    assert routes == {"$connect": "AWS_IAM", "$disconnect": "NONE", "$default": "NONE", "subscribe": "NONE"}


def test_the_functions_that_answer_callers_are_told_the_administrators_and_no_other_is(synth, template_dict):
    functions = cfn.project_functions(template_dict)
    told = sorted(cfn.step_of(props) for props in functions.values()
                  if "ADMIN_PRINCIPAL_ARNS" in props.get("Environment", {}).get("Variables", {}))

    assert told == ["jobs_api", "search_api", "ws_connections"]


def test_the_search_api_may_read_job_records_to_know_their_owner_and_nothing_more(synth):
    statements = _statements_of(synth, synth.stack.pipeline.functions["search_api"])
    jobs = f"${{{synth.logical_id(synth.stack.state.jobs_table)}.Arn}}"

    on_jobs = sorted(action for s in statements for action in cfn.as_list(s["Action"])
                     if jobs in [cfn.placeholder(r) for r in cfn.as_list(s["Resource"])])
    assert on_jobs == ["dynamodb:GetItem"]
