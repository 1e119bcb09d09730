"""Shared fixtures: a moto account with the buckets and tables the stack declares."""


import functools
import os

import boto3
import botocore.session
import pytest
from moto import mock_aws

from lambdas.common import aws as common_aws, settings as common_settings
from tests.synth import synth  # noqa: F401  (one synthesis per session, for tests/infra and tests/deploy)

REGION = "us-east-1"
BUDGET_TABLE = "videoflow-budget"
ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "JOBS_TABLE": "videoflow-jobs",
    "EVENTS_TABLE": "videoflow-events",
    "INGEST_BUCKET": "videoflow-ingest",
    "OUTPUT_BUCKET": "videoflow-output",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
}


def _one_botocore_loader_per_process() -> None:
    """Every botocore session of the test process shares one data loader, so each service's JSON model is parsed
    once per process instead of once per session: moto starts a fresh boto3 session per account (every test's
    aws_state, every local run), and parsing the s3 and dynamodb models again cost about 0.5 s a test. The loader
    only reads botocore's (and boto3's) packaged files; one session already shares what it loads among its clients."""
    create_loader = botocore.session.create_loader
    boto3_data = os.path.join(os.path.dirname(boto3.__file__), "data")

    class SearchPaths(list):  # each boto3 session appends its data folder to the loader's paths: keep it once
        def append(self, path):
            if path not in self:
                super().append(path)

    @functools.cache
    def shared_loader(search_path_string=None):
        loader = create_loader(search_path_string)
        loader._search_paths = SearchPaths(loader._search_paths)
        loader.search_paths.append(boto3_data)
        return loader

    botocore.session.create_loader = shared_loader


_one_botocore_loader_per_process()


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    common_settings.get_settings.cache_clear()
    common_aws.reset()
    yield
    common_settings.get_settings.cache_clear()
    common_aws.reset()


@pytest.fixture
def aws_state():
    """moto with the ingest and output buckets and the jobs and events tables."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ENV["INGEST_BUCKET"], ENV["OUTPUT_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=ENV["INGEST_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=ENV["EVENTS_TABLE"],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=ENV["JOBS_TABLE"],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "fingerprint", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_fingerprint",
                "KeySchema": [
                    {"AttributeName": "fingerprint", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        yield s3


@pytest.fixture
def budget_table(aws_state, monkeypatch) -> str:
    """Judgment's per-job budget table in moto, named in BUDGET_TABLE."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=BUDGET_TABLE,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("BUDGET_TABLE", BUDGET_TABLE)
    return BUDGET_TABLE


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Small generated files, made once per test module: media(name, make_function, **options)."""
    folder = tmp_path_factory.mktemp("media")
    made = {}

    def get(name: str, make, **options):
        if name not in made:
            made[name] = make(folder / name, **options)
        return made[name]

    return get


@pytest.fixture(scope="session")
def server_url():
    """The inference container's server, in a thread on a free port, with the packaged model loaded."""
    import threading

    from containers.inference.model import shared_encoder
    from containers.inference.server import ModelState, make_server

    state = ModelState()
    state.load(shared_encoder)
    server = make_server(state, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def moto_server_url(monkeypatch):
    """A moto server on localhost, as the local runner starts one for container processes."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    common_aws.reset()
    try:
        yield endpoint
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=5)
        server.stop()
        common_aws.reset()


# The longest files first: each test worker takes the next file when it is free, so the many short unit
# files fill the end instead of one worker finishing a long render alone while the other waits. (pyproject's
# --no-loadscope-reorder keeps this order: by default xdist hands out the files with the most tests first.)
_FIRST = ("tests/workflow/test_render.py", "tests/workflow/test_render_faults.py", "tests/e2e/", "tests/workflow/")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.replace("\\", "/")
        return next((index for index, prefix in enumerate(_FIRST) if path.startswith(prefix)), len(_FIRST))

    items.sort(key=rank)  # stable: each file's tests keep their order
    for item in items:  # whole local runs on real media: `pytest -m "not slow"` is the quick loop
        if item.nodeid.startswith(("tests/workflow/", "tests/e2e/")):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def inference_url():
    """One inference server per test worker, shared by its runs: the model server holds no job's state,
    and loading the model once instead of once per run keeps the suite inside its time."""
    from videoflow.search import local_inference_server

    with local_inference_server() as url:
        yield url
