"""`videoflow serve`'s API Gateway stand-in: HTTP requests become REST proxy events, and answers come back."""

import base64
import json

import pytest

from videoflow.local.template import LocalTemplate
from videoflow.serve import apigw, files
from videoflow.serve.app import local_s3_url

JOB = "65b2a1c7d4737de620c77d5a33e866a6"
EVENTS_ROUTE = apigw.Route("GET", "/jobs/{job_id}/events", "jobs_api")


def test_a_get_with_a_query_becomes_a_rest_proxy_event_with_single_and_multi_value_parameters():
    event = apigw.proxy_event(
        "GET", f"/jobs/{JOB}/events?after=4&limit=50&tag=a&tag=b",
        [("Host", "127.0.0.1:8000"), ("Accept", "application/json"), ("X-Seen", "1"), ("X-Seen", "2")], b"",
        route=EVENTS_ROUTE, path_parameters={"job_id": JOB})

    assert event["httpMethod"] == "GET"
    assert event["path"] == f"/jobs/{JOB}/events"
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/jobs/{job_id}/events"
    assert event["pathParameters"] == {"job_id": JOB}
    assert event["queryStringParameters"] == {"after": "4", "limit": "50", "tag": "b"}  # the last value wins
    assert event["multiValueQueryStringParameters"]["tag"] == ["a", "b"]
    assert event["headers"]["X-Seen"] == "2"
    assert event["multiValueHeaders"]["X-Seen"] == ["1", "2"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["requestContext"]["httpMethod"] == "GET"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


def test_a_json_post_keeps_its_body_as_text_and_a_binary_body_is_base64_encoded():
    body = json.dumps({"filename": "été.mp4", "content_type": "video/mp4", "size_bytes": 1}).encode()
    text = apigw.proxy_event("POST", "/uploads", [("Content-Type", "application/json")], body, route=None,
                             path_parameters=None)
    binary = apigw.proxy_event("POST", "/uploads", [("Content-Type", "application/octet-stream")], b"\x00\xff",
                               route=None, path_parameters=None)

    assert json.loads(text["body"])["filename"] == "été.mp4" and text["isBase64Encoded"] is False
    assert text["queryStringParameters"] is None and text["pathParameters"] is None
    assert base64.b64decode(binary["body"]) == b"\x00\xff" and binary["isBase64Encoded"] is True


def test_an_encoded_path_is_decoded_as_api_gateway_does():
    route = apigw.Route("GET", "/jobs/{job_id}", "jobs_api")

    found = apigw.Routes([route]).find("GET", "/jobs/a%2Db")

    assert found == (route, {"job_id": "a-b"})
    event = apigw.proxy_event("GET", "/jobs/a%2Db", [], b"", route=route, path_parameters=found[1])
    assert event["path"] == "/jobs/a-b"


def test_the_most_specific_resource_wins_and_a_wrong_method_is_told_apart_from_a_missing_route():
    routes = apigw.Routes([
        apigw.Route("ANY", "/{proxy+}", "fallback"),
        apigw.Route("GET", "/jobs/{job_id}", "jobs_api"),
        apigw.Route("GET", "/jobs/{job_id}/search", "search_api"),
        apigw.Route("POST", "/uploads/complete", "jobs_api"),
    ])

    assert routes.find("GET", f"/jobs/{JOB}/search")[0].function == "search_api"
    assert routes.find("GET", f"/jobs/{JOB}")[0].function == "jobs_api"
    assert routes.find("DELETE", "/anything/else")[0].function == "fallback"
    only = apigw.Routes([apigw.Route("POST", "/uploads/complete", "jobs_api")])
    assert only.find("GET", "/uploads/complete") is None
    assert apigw.not_found("/uploads/complete", resource_exists=True)[0] == 405
    assert apigw.not_found("/nothing", resource_exists=False)[0] == 404


def test_the_handlers_answer_becomes_the_http_response_and_a_crash_is_a_502():
    answer = {"statusCode": 201, "headers": {"Content-Type": "application/json"},
              "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": '{"ok": true}', "isBase64Encoded": False}

    status, headers, body = apigw.http_response(True, answer)

    assert status == 201 and json.loads(body) == {"ok": True}
    assert ("Set-Cookie", "a=1") in headers and ("Set-Cookie", "b=2") in headers
    assert ("Content-Type", "application/json") in headers
    assert apigw.http_response(True, {"statusCode": 200, "body": base64.b64encode(b"\x01").decode(),
                                      "isBase64Encoded": True})[2] == b"\x01"
    crashed = apigw.http_response(False, {"errorType": "KeyError", "errorMessage": "'x'"})
    assert crashed[0] == 502 and json.loads(crashed[2]) == {"message": "Internal server error"}


def test_routes_are_read_from_the_synthesized_rest_api():
    template = LocalTemplate({"Resources": {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Jobs": {"Type": "AWS::ApiGateway::Resource",
                 "Properties": {"ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]}, "PathPart": "jobs"}},
        "JobId": {"Type": "AWS::ApiGateway::Resource", "Properties": {"ParentId": {"Ref": "Jobs"},
                                                                      "PathPart": "{job_id}"}},
        "Search": {"Type": "AWS::ApiGateway::Resource", "Properties": {"ParentId": {"Ref": "JobId"},
                                                                       "PathPart": "search"}},
        "SearchFn": {"Type": "AWS::Lambda::Function", "Properties": {"Handler": "lambdas.search_api.handler.handler"}},
        "SearchGet": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "HttpMethod": "GET", "ResourceId": {"Ref": "Search"},
            "Integration": {"Type": "AWS_PROXY", "Uri": {"Fn::Join": ["", [
                "arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"},
                ":lambda:path/2015-03-31/functions/", {"Fn::GetAtt": ["SearchFn", "Arn"]}, "/invocations"]]}}}},
        "Options": {"Type": "AWS::ApiGateway::Method", "Properties": {
            "HttpMethod": "OPTIONS", "ResourceId": {"Ref": "Search"}, "Integration": {"Type": "MOCK"}}},
    }})

    [route] = apigw.routes_from_template(template)

    assert (route.method, route.resource, route.function) == ("GET", "/jobs/{job_id}/search",
                                                              template.names["SearchFn"])


# -- results: byte ranges, so a <video> can seek --------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    (None, (0, 999, False)),
    ("bytes=0-", (0, 999, True)),
    ("bytes=100-199", (100, 199, True)),
    ("bytes=900-5000", (900, 999, True)),
    ("bytes=-100", (900, 999, True)),
    ("bytes=0-1,5-6", (0, 999, False)),  # several ranges: the whole file, which a server may answer
    ("items=0-1", (0, 999, False)),
])
def test_a_range_header_selects_the_bytes_a_player_asks_for(header, expected):
    part = files.byte_range(header, 1000)

    assert (part.start, part.end, part.partial) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=500-100", "bytes=-0"])
def test_a_range_outside_the_file_is_not_satisfiable(header):
    with pytest.raises(files.RangeNotSatisfiable):
        files.byte_range(header, 1000)


def test_a_result_path_cannot_leave_the_jobs_folder(tmp_path):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "proxy.mp4").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("no")

    assert files.inside(tmp_path / "job", "proxy.mp4") == (tmp_path / "job" / "proxy.mp4").resolve()
    assert files.inside(tmp_path / "job", "../secret.txt") is None
    assert files.inside(tmp_path / "job", "missing.mp4") is None
    assert files.content_type(tmp_path / "captions.vtt").startswith("text/vtt")
    assert files.content_type(tmp_path / "proxy.mp4") == "video/mp4"


# -- uploads: the presigned part URLs reach the local S3 ------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://ingest-bucket.s3.us-east-1.amazonaws.com/uploads/ab/talk.mp4?uploadId=U&partNumber=2&X-Amz-Signature=s",
    "https://s3.amazonaws.com/ingest-bucket/uploads/ab/talk.mp4?uploadId=U&partNumber=2&X-Amz-Signature=s",
])
def test_a_presigned_part_url_is_sent_to_the_local_s3_with_the_same_bucket_key_and_query(url):
    local = local_s3_url(url, "ingest-bucket", "http://127.0.0.1:5123")

    assert local == "http://127.0.0.1:5123/ingest-bucket/uploads/ab/talk.mp4?uploadId=U&partNumber=2&X-Amz-Signature=s"


def test_a_part_url_that_already_names_the_local_s3_is_left_alone():
    url = "http://127.0.0.1:5123/ingest-bucket/uploads/a.mp4?partNumber=1"

    assert local_s3_url(url, "ingest-bucket", "http://127.0.0.1:5123") == url
