"""`videoflow serve` and its local S3 answer only their own page, or no page: no DNS rebinding, no cross-site request.

The server under test is the real request handler on a real socket, its /api routed to the
real jobs API handler over moto (as LocalServer.call_api routes it, without the workflow). The
local S3 is a real moto server with the guard the local runner puts in front of it. Requests
are sent as a browser sends them: the Host it connected to by name, the Origin of the page
behind a POST or a cross-origin request, Sec-Fetch-Site.
"""

import http.client
import json
import threading
from http.server import ThreadingHTTPServer

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from lambdas.jobs_api import handler as jobs_api
from tests.unit import test_jobs_api as base
from tests.unit.test_jobs_api import INGEST, _open_uploads
from videoflow.local.lambda_runtime import LocalLambdaContext
from videoflow.serve import apigw
from videoflow.serve.handler import RequestHandler
from videoflow.serve.origin import OriginPolicy, guard_moto_server

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
jobs_api_state = base.jobs_api_state  # the jobs API's moto account (tests/unit/test_jobs_api.py)

UPLOAD = json.dumps({"filename": "talk.mp4", "content_type": "video/mp4", "size_bytes": 1024}).encode()
EVIL = "http://attacker.example"


class ServedApi:
    """LocalServer's part the handler uses: its origin policy, and /api through API Gateway's proxy event."""

    def __init__(self, port: int):
        self.origin_policy = OriginPolicy.loopback("127.0.0.1", port, [f"http://127.0.0.1:{port}",
                                                                       f"http://localhost:{port}"])
        self.routes = apigw.Routes([apigw.Route("POST", "/uploads", "jobs_api"), apigw.Route("GET", "/jobs", "jobs_api")])
        self.stopping = threading.Event()

    def call_api(self, method, target, headers, body, source_ip):
        route, parameters = self.routes.find(method, target.partition("?")[0])
        event = apigw.proxy_event(method, target, headers, body, route=route, path_parameters=parameters,
                                  source_ip=source_ip)
        return apigw.http_response(True, jobs_api.handler(event, LocalLambdaContext("jobs_api")))


@pytest.fixture
def served(jobs_api_state):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    server.app = ServedApi(server.server_port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def send(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
         host: str | None = None) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", host or f"127.0.0.1:{server.server_port}")
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    if body is not None and "Content-Length" not in (headers or {}):
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data) if data else {}


def page(server) -> str:
    return f"http://127.0.0.1:{server.server_port}"


def test_the_page_may_start_an_upload_through_the_api(served, jobs_api_state):
    status, _, body = send(served, "POST", "/api/uploads", {"Origin": page(served), "Sec-Fetch-Site": "same-origin",
                                                           "Content-Type": "application/json"}, UPLOAD)

    assert status == 201 and body["key"].startswith("uploads/")
    assert len(_open_uploads(jobs_api_state)) == 1


def test_a_command_line_client_with_no_page_is_answered(served):
    status, _, _ = send(served, "GET", "/api/jobs")

    assert status == 200


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},  # another site's page posting (fetch, a form)
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame or a file
    {"Origin": "http://localhost:9999", "Sec-Fetch-Site": "same-site"},  # another local app
    {"Sec-Fetch-Site": "same-origin"},  # a browser that named no page for a POST
], ids=["other-site", "null-origin", "other-local-port", "no-origin"])
def test_a_cross_site_post_is_refused_and_starts_nothing(served, jobs_api_state, headers):
    status, response_headers, body = send(served, "POST", "/api/uploads", {**headers, "Content-Type": "text/plain"},
                                          UPLOAD)

    assert status == 403 and body["message"]
    assert response_headers["connection"] == "close"
    assert "access-control-allow-origin" not in response_headers
    assert _open_uploads(jobs_api_state) == []


@pytest.mark.parametrize("path", ["/", "/api/jobs", "/results/job1/manifest.json", "/api/jobs/job1/stream"])
def test_a_request_for_another_host_name_is_refused_so_dns_rebinding_reads_nothing(served, path):
    status, _, body = send(served, "GET", path, host=f"attacker.example:{served.server_port}")

    assert status == 403 and "not to Host 'attacker.example" in body["message"]


def test_another_sites_page_cannot_embed_the_results_but_a_link_may_open_the_page(served):
    embedded, _, _ = send(served, "GET", "/results/job1/clip.mp4", {"Sec-Fetch-Site": "cross-site",
                                                                    "Sec-Fetch-Mode": "no-cors"})
    listed, _, _ = send(served, "GET", "/api/jobs", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    opened, headers, _ = send(served, "GET", "/app.js", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})

    assert (embedded, listed, opened) == (403, 403, 200)
    assert "javascript" in headers["content-type"]


@pytest.mark.parametrize(("headers", "words"), [
    ({"Content-Length": "abc"}, "whole number"),
    ({"Content-Length": "-5"}, "whole number"),
    ({"Content-Length": "5, 7"}, "whole number"),
    ({"Content-Length": "99999999999999999999999"}, "whole number"),
    ({"Transfer-Encoding": "chunked"}, "Chunked"),
])
def test_a_malformed_or_ambiguous_content_length_is_400_and_the_connection_closes(served, jobs_api_state, headers,
                                                                                  words):
    status, response_headers, body = send(served, "POST", "/api/uploads", headers, b"")

    assert status == 400 and words in body["message"]
    assert response_headers["connection"] == "close"
    assert _open_uploads(jobs_api_state) == []


def test_two_different_content_lengths_are_refused(served):
    connection = http.client.HTTPConnection("127.0.0.1", served.server_port, timeout=10)
    connection.putrequest("POST", "/api/uploads")
    connection.putheader("Content-Length", str(len(UPLOAD)))
    connection.putheader("Content-Length", "3")
    connection.endheaders(UPLOAD)
    response = connection.getresponse()

    assert response.status == 400 and b"Conflicting" in response.read()


# --- the local S3 (moto server) -----------------------------------------------------------------------------------


@pytest.fixture
def local_s3(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    policy = guard_moto_server(server)
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}", policy
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=5)
    server.stop()


def test_no_web_page_can_read_the_local_s3_and_its_own_clients_still_can(local_s3):
    url, _ = local_s3
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local")
    s3.create_bucket(Bucket=INGEST)  # boto3, as the containers use it: no page, answered

    rebound = requests.get(f"{url}/moto-api/data.json", headers={"Host": "attacker.example"}, timeout=5)
    cross_site = requests.get(f"{url}/{INGEST}", headers={"Origin": EVIL}, timeout=5)
    preflight = requests.options(f"{url}/{INGEST}/uploads/x", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "PUT"}, timeout=5)

    assert [r.status_code for r in (rebound, cross_site, preflight)] == [403, 403, 403]
    assert all("Access-Control-Allow-Origin" not in r.headers for r in (rebound, cross_site, preflight))
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == [INGEST]


def test_the_served_page_may_put_upload_parts_into_the_local_s3(local_s3):
    url, policy = local_s3
    page_origin = "http://127.0.0.1:8000"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local")
    s3.create_bucket(Bucket=INGEST)
    s3.put_bucket_cors(Bucket=INGEST, CORSConfiguration={"CORSRules": [{  # as videoflow serve sets it
        "AllowedOrigins": [page_origin], "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"]}]})
    policy.allow_origins([page_origin])

    preflight = requests.options(f"{url}/{INGEST}/uploads/x", headers={
        "Origin": page_origin, "Sec-Fetch-Site": "same-site", "Access-Control-Request-Method": "PUT"}, timeout=5)
    other = requests.options(f"{url}/{INGEST}/uploads/x", headers={
        "Origin": "http://127.0.0.1:8001", "Access-Control-Request-Method": "PUT"}, timeout=5)

    assert (preflight.status_code, preflight.headers["Access-Control-Allow-Origin"]) == (200, page_origin)
    assert other.status_code == 403 and "not allowed" in other.json()["message"]
