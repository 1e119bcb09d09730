"""Fixtures shared by the unit tests of more than one step (tests/conftest.py has the moto account).

- `bedrock`: judgment with a model configured, for plan_clips, summarize_video and the model gateway;
- `live`: the connections table, for push_events and ws_connections;
- `endpoint_floor`: the inference leases table and scalable target, for warm_inference and release_inference.
"""

import types
from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest

from lambdas.common import aws, model_gateway as gateway
from lambdas.common.connections import BY_CONNECTION_INDEX, Connections
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.settings import get_settings
from tests import vision
from tests.bedrock import MODEL_ID, RecordedBedrockFake
from tests.inference_floor import ENV as INFERENCE_ENV, EndpointFloor
from tests.media import make_video
from tests.websocket import CALLBACK_URL, CONNECTIONS_TABLE, REGION


@pytest.fixture
def bedrock(budget_table, monkeypatch):
    """Bedrock configured (model id, budget table), and a way to put a fake client in its place."""
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)

    def install(*answers) -> RecordedBedrockFake:
        fake = RecordedBedrockFake(*answers)
        gateway.register_client(fake)
        return fake

    yield install
    gateway.register_client(None)


@pytest.fixture
def live(aws_state, monkeypatch):
    """conftest's moto account plus the connections table (as stacks/jobs_api.py declares it)."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=CONNECTIONS_TABLE,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"},
                   {"AttributeName": "connection_id", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"},
                              {"AttributeName": "connection_id", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{
            "IndexName": BY_CONNECTION_INDEX,
            "KeySchema": [{"AttributeName": "connection_id", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("CONNECTIONS_TABLE", CONNECTIONS_TABLE)
    monkeypatch.setenv("WEBSOCKET_CALLBACK_URL", CALLBACK_URL)
    settings = get_settings()
    aws.websocket_management.cache_clear()
    yield types.SimpleNamespace(connections=Connections(CONNECTIONS_TABLE), events=EventLog(settings.events_table),
                                jobs=JobStore(settings.jobs_table))
    aws.websocket_management.cache_clear()


@pytest.fixture
def endpoint_floor(aws_state, monkeypatch, inference_url) -> Iterator[EndpointFloor]:
    """The leases table, the model's component at zero copies and its scalable target, and their variables."""
    for name, value in INFERENCE_ENV.items():
        monkeypatch.setenv(name, value)
    with ExitStack() as stack:
        yield EndpointFloor(inference_url, stack)


# The vision branch's footage (tests/vision.py): a video with hard cuts at known times, and one without. Made once
# per test worker for the worker's, aggregate_frames' and detect_shots' tests, which only read the frames.
@pytest.fixture(scope="session")
def cut_frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cut-frames")
    video = make_video(folder / "cuts.mp4", seconds=vision.DURATION_S, width=960, height=540, audio=False,
                       cuts=vision.CUTS_S)
    return vision.extract_frames(video, folder / "frames")


@pytest.fixture(scope="session")
def still_frames(tmp_path_factory):
    """One continuous shot of a moving test pattern: motion, no cut."""
    folder = tmp_path_factory.mktemp("one-shot-frames")
    video = make_video(folder / "one-shot.mp4", seconds=20, width=960, height=540, audio=False)
    return vision.extract_frames(video, folder / "frames")
