"""ws_connections: the WebSocket routes ($connect, subscribe, $disconnect) and what subscribing does.

A subscription is stored before the backlog is read (so no event falls between), replays the
events after the last seq the client saw, then confirms; it expires with the connection, and a
connection gone during the backlog is not kept. Posts go to ConnectionsRecordingFake
(tests/websocket.py) or, through the handler, to moto's Management API.
"""

import json

import boto3
import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from lambdas.common.connections import SUBSCRIPTION_TTL_S
from lambdas.common.events import EventLog
from lambdas.common.settings import get_settings
from lambdas.ws_connections import handler as ws_handler
from lambdas.ws_connections.logic import SubscribeMessage, parse_subscribe, subscribe
from tests.websocket import API_HOST, CONNECTIONS_TABLE, JOB, OTHER_JOB, REGION, ConnectionsRecordingFake
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


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
