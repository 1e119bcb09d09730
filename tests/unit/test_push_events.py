"""push_events: each new event of the events stream goes to every WebSocket connection following its job.

Most tests post through ConnectionsRecordingFake (tests/websocket.py), which raises the real
GoneException / LimitExceededException that moto's Management API never does: a gone
connection is forgotten, a throttled one kept. One test goes through moto's own API to check
the real call shape. Subscribing is ws_connections' (test_ws_connections.py).
"""

import json

import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from lambdas.push_events import handler as push_handler
from lambdas.push_events.logic import push
from tests.websocket import JOB, OTHER_JOB, REGION, ConnectionsRecordingFake
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


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
