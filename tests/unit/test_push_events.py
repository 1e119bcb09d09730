"""Live push: push_events (the events stream -> WebSocket connections) and ws_connections (subscribe, disconnect).

moto's API Gateway Management API accepts every post and never answers 410, so most tests
use ConnectionsRecordingFake, which records each message per connection and raises the real
GoneException / LimitExceededException ClientErrors; one test goes through moto's own API
to check the real call shape.
"""

import json
import types

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from lambdas.common import aws
from lambdas.common.connections import BY_CONNECTION_INDEX, SUBSCRIPTION_TTL_S, Connections
from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.settings import get_settings
from lambdas.push_events import handler as push_handler
from lambdas.push_events.logic import push
from lambdas.ws_connections import handler as ws_handler
from lambdas.ws_connections.logic import SubscribeMessage, parse_subscribe, subscribe
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REGION = "us-east-1"
CONNECTIONS_TABLE = "videoflow-connections"
API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
CALLBACK_URL = f"https://{API_HOST}/v1"
JOB, OTHER_JOB = "pushjob000001", "otherjob00001"


class ConnectionsRecordingFake:
    """PostToConnection: records messages per connection; `gone` answer 410, `throttled` LimitExceeded."""

    def __init__(self, gone=(), throttled=()):
        self.gone, self.throttled = set(gone), set(throttled)
        self.sent: dict[str, list[dict]] = {}

    def post_to_connection(self, ConnectionId: str, Data: bytes):  # noqa: N803 (boto3's argument names)
        for ids, code, status in ((self.gone, "GoneException", 410), (self.throttled, "LimitExceededException", 429)):
            if ConnectionId in ids:
                raise ClientError({"Error": {"Code": code, "Message": code},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, "PostToConnection")
        self.sent.setdefault(ConnectionId, []).append(json.loads(Data))
        return {}

    def events(self, connection_id: str) -> list[tuple[str, int]]:
        return [(m["event"]["job_id"], m["event"]["seq"]) for m in self.sent.get(connection_id, [])
                if m["type"] == "event"]


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


def _stream_record(event, name: str = "INSERT") -> dict:
    """One DynamoDB stream record (NEW_IMAGE) of the events table, as Lambda delivers it."""
    detail = {key: {"S": str(value)} for key, value in event.detail.items()}
    return {
        "eventID": f"{event.job_id}-{event.seq}", "eventName": name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": REGION,
        "dynamodb": {
            "Keys": {"job_id": {"S": event.job_id}, "seq": {"N": str(event.seq)}},
            "NewImage": {"job_id": {"S": event.job_id}, "seq": {"N": str(event.seq)},
                         "at": {"S": event.at.isoformat()}, "type": {"S": event.type}, "step": {"S": event.step},
                         "detail": {"M": detail}},
            "SequenceNumber": f"{event.seq:021d}", "SizeBytes": 200, "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:123456789012:table/videoflow-events/stream/2026-11-26T00:00:00.000",
    }


def _ws_event(route: str, connection_id: str, body: dict | str | None = None) -> dict:
    return {
        "requestContext": {
            "routeKey": route, "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id, "domainName": API_HOST, "stage": "v1", "apiId": "abc123defg",
            "requestId": "r-1", "connectedAt": 1795688065123,
        },
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


# --- push_events -------------------------------------------------------------------------------------------------


def test_each_new_event_goes_to_every_connection_following_its_job_in_seq_order(live):
    for connection in ("c1", "c2"):
        live.connections.subscribe(connection, JOB, 0)
    live.connections.subscribe("c3", OTHER_JOB, 0)
    events = [live.events.append(JOB, f"step.{n}", "Derivatives") for n in range(3)]
    fake = ConnectionsRecordingFake()

    result = push(list(reversed(events)), connections=live.connections, management=fake)

    assert fake.events("c1") == fake.events("c2") == [(JOB, 1), (JOB, 2), (JOB, 3)]
    assert "c3" not in fake.sent
    assert (result.events, result.deliveries, result.gone, result.failed) == (3, 6, 0, 0)
    assert fake.sent["c1"][0] == {"type": "event", "event": events[0].model_dump(mode="json")}


def test_a_gone_connection_is_forgotten_and_the_others_still_get_the_event(live):
    for connection in ("alive", "gone"):
        live.connections.subscribe(connection, JOB, 0)
    event = live.events.append(JOB, "job.registered", "RegisterJob")
    fake = ConnectionsRecordingFake(gone={"gone"})

    result = push([event], connections=live.connections, management=fake)

    assert result.gone == 1 and fake.events("alive") == [(JOB, 1)]
    assert live.connections.following(JOB) == ["alive"]


def test_a_throttled_post_is_counted_and_skipped_not_raised(live):
    for connection in ("slow", "fast"):
        live.connections.subscribe(connection, JOB, 0)
    events = [live.events.append(JOB, "step", "X") for _ in range(2)]
    fake = ConnectionsRecordingFake(throttled={"slow"})

    result = push(events, connections=live.connections, management=fake)

    assert (result.failed, result.deliveries) == (1, 2)
    assert sorted(live.connections.following(JOB)) == ["fast", "slow"]  # not gone: kept


def test_a_job_nobody_follows_costs_one_query_and_no_post(live):
    fake = ConnectionsRecordingFake()

    result = push([live.events.append(JOB, "step", "X")], connections=live.connections, management=fake)

    assert (result.deliveries, fake.sent) == (0, {})


def test_the_handler_reads_inserts_from_the_stream_and_posts_through_the_management_api(live):
    live.connections.subscribe("conn-1", JOB, 0)
    inserted = live.events.append(JOB, "job.registered", "RegisterJob", status="RUNNING")
    stream = {"Records": [_stream_record(inserted), _stream_record(inserted, "MODIFY")]}

    result = push_handler.handler(stream, LocalLambdaContext("push_events"))

    assert result["deliveries"] == 1
    data = apigatewaymanagementapi_backends["123456789012"][REGION].connections["conn-1"].data
    message = json.loads(data)
    assert message["type"] == "event"
    assert (message["event"]["seq"], message["event"]["type"], message["event"]["detail"]) == (
        1, "job.registered", {"status": "RUNNING"})


# --- ws_connections ----------------------------------------------------------------------------------------------


def test_subscribing_replays_the_events_after_the_last_seq_seen_then_confirms(live):
    live.jobs.upsert(JOB, status="RUNNING")
    for n in range(5):
        live.events.append(JOB, f"step.{n}", "X")
    fake = ConnectionsRecordingFake()

    result = subscribe("c1", SubscribeMessage(job_id=JOB, after=2), connections=live.connections,
                       events=live.events, jobs=live.jobs, management=fake)

    assert fake.events("c1") == [(JOB, 3), (JOB, 4), (JOB, 5)]
    assert fake.sent["c1"][-1] == {"type": "subscribed", "job_id": JOB, "after": 2, "last_seq": 5, "more": False}
    assert (result.subscribed, result.backlog, result.last_seq) == (True, 3, 5)
    assert live.connections.following(JOB) == ["c1"]


def test_the_subscription_is_stored_before_the_backlog_is_read_so_nothing_falls_between(live):
    live.jobs.upsert(JOB, status="RUNNING")
    seen_at_read = []

    class WatchingEventLog(EventLog):
        def read(self, job_id, after_seq=0, limit=None):
            seen_at_read.append(live.connections.following(job_id))
            return super().read(job_id, after_seq, limit)

    subscribe("c1", SubscribeMessage(job_id=JOB), connections=live.connections,
              events=WatchingEventLog(get_settings().events_table), jobs=live.jobs,
              management=ConnectionsRecordingFake())

    assert seen_at_read[-1] == ["c1"]


def test_a_subscription_expires_with_the_connection(live):
    live.connections.subscribe("c1", JOB, 0, now_s=1_000_000)

    item = boto3.resource("dynamodb", region_name=REGION).Table(CONNECTIONS_TABLE).get_item(
        Key={"job_id": JOB, "connection_id": "c1"})["Item"]

    assert item["expires_at"] == 1_000_000 + SUBSCRIPTION_TTL_S > 1_000_000 + 2 * 3600


def test_subscribing_to_an_unknown_job_says_so_and_stores_nothing(live):
    fake = ConnectionsRecordingFake()

    result = subscribe("c1", SubscribeMessage(job_id="unknownjob001"), connections=live.connections,
                       events=live.events, jobs=live.jobs, management=fake)

    assert result.subscribed is False
    assert fake.sent["c1"] == [{"type": "error", "message": "There is no job unknownjob001."}]
    assert live.connections.following("unknownjob001") == []


def test_a_connection_gone_during_the_backlog_is_not_kept(live):
    live.events.append(JOB, "job.started", "StartPipeline")

    result = subscribe("c1", SubscribeMessage(job_id=JOB), connections=live.connections, events=live.events,
                       jobs=live.jobs, management=ConnectionsRecordingFake(gone={"c1"}))

    assert (result.subscribed, result.gone) == (False, True)
    assert live.connections.following(JOB) == []


@pytest.mark.parametrize("body", ['{"action": "subscribe"}', '{"action": "subscribe", "job_id": "a/b"}',
                                  '{"action": "subscribe", "job_id": "abc", "after": -1}', "not json", None])
def test_a_malformed_subscribe_message_gets_an_error_that_shows_the_right_form(body):
    reason = parse_subscribe(body)

    assert isinstance(reason, str) and '"action": "subscribe"' in reason


def test_the_routes_connect_subscribe_and_disconnect_through_the_handler(live):
    live.jobs.upsert(JOB, status="RUNNING")
    live.events.append(JOB, "job.registered", "RegisterJob")
    live.connections.subscribe("conn-9", OTHER_JOB, 0)
    context = LocalLambdaContext("ws_connections")

    connected = ws_handler.handler(_ws_event("$connect", "conn-9"), context)
    subscribed = ws_handler.handler(_ws_event("subscribe", "conn-9", {"action": "subscribe", "job_id": JOB}), context)
    following = sorted(live.connections.following(JOB) + live.connections.following(OTHER_JOB))
    disconnected = ws_handler.handler(_ws_event("$disconnect", "conn-9"), context)

    assert connected == subscribed == disconnected == {"statusCode": 200}
    assert following == ["conn-9", "conn-9"]
    assert live.connections.following(JOB) == live.connections.following(OTHER_JOB) == []
    data = apigatewaymanagementapi_backends["123456789012"][REGION].connections["conn-9"].data.decode()
    assert '"type":"event"' in data and '"type":"subscribed"' in data


def test_an_unknown_action_gets_an_error_message(live):
    answer = ws_handler.handler(_ws_event("$default", "conn-7", {"action": "dance"}), LocalLambdaContext("ws"))

    assert answer == {"statusCode": 400}
    data = apigatewaymanagementapi_backends["123456789012"][REGION].connections["conn-7"].data
    assert json.loads(data)["type"] == "error"
