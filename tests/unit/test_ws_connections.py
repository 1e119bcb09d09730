"""ws_connections: the WebSocket routes ($connect, subscribe, $disconnect) and what subscribing does.

A subscription is stored before the backlog is read (so no event falls between), replays the
events after the last seq the client saw, then confirms; it expires with the connection, and a
connection gone during the backlog is not kept. Posts go to ConnectionsRecordingFake
(tests/websocket.py) or, through the handler, to moto's Management API. Only the job's owner
(OWNER here) or an administrator may subscribe.
"""

import json
import re

import boto3
import pytest
from hypothesis import given, settings, strategies as st
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from lambdas.common.connections import SUBSCRIPTION_TTL_S
from lambdas.common.events import EventLog
from lambdas.common.job_ids import JOB_ID_PATTERN
from lambdas.common.owners import OWNER_ATTRIBUTE, Caller
from lambdas.common.settings import get_settings
from lambdas.ws_connections import handler as ws_handler
from lambdas.ws_connections.logic import CONNECT_KEY, SubscribeMessage, parse_subscribe, subscribe
from tests.websocket import API_HOST, CONNECTIONS_TABLE, JOB, OTHER_JOB, REGION, ConnectionsRecordingFake
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

OWNER_ARN = "arn:aws:iam::123456789012:user/maria"
OWNER = Caller(OWNER_ARN, admin=False)


def _ws_event(route: str, connection_id: str, body: dict | str | None = None, caller: str | None = OWNER_ARN) -> dict:
    event = {
        "requestContext": {
            "routeKey": route, "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id, "domainName": API_HOST, "stage": "v1", "apiId": "abc123defg",
            "requestId": "r-1", "connectedAt": 1795688065123,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "python-websockets"},
        },
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    if route == "$connect":  # IAM authorization names the signer on $connect
        event["requestContext"]["identity"] |= {"userArn": caller, "accountId": "123456789012"}
    return event


def _own(live, job_id: str = JOB, owner: str | None = OWNER_ARN, **fields) -> None:
    live.jobs.upsert(job_id, status="RUNNING", **fields, **({OWNER_ATTRIBUTE: owner} if owner else {}))


def test_subscribing_replays_the_events_after_the_last_seq_seen_then_confirms(live):
    _own(live)
    for n in range(5):
        live.events.append(JOB, f"step.{n}", "X")
    fake = ConnectionsRecordingFake()

    result = subscribe("c1", SubscribeMessage(job_id=JOB, after=2), connections=live.connections,
                       events=live.events, jobs=live.jobs, management=fake, caller=OWNER)

    assert fake.events("c1") == [(JOB, 3), (JOB, 4), (JOB, 5)]
    assert fake.sent["c1"][-1] == {"type": "subscribed", "job_id": JOB, "after": 2, "last_seq": 5, "more": False}
    assert (result.subscribed, result.backlog, result.last_seq) == (True, 3, 5)
    assert live.connections.following(JOB) == ["c1"]


def test_the_subscription_is_stored_before_the_backlog_is_read_so_nothing_falls_between(live):
    _own(live)
    seen_at_read = []

    class WatchingEventLog(EventLog):
        def read(self, job_id, after_seq=0, limit=None):
            seen_at_read.append(live.connections.following(job_id))
            return super().read(job_id, after_seq, limit)

    subscribe("c1", SubscribeMessage(job_id=JOB), connections=live.connections,
              events=WatchingEventLog(get_settings().events_table), jobs=live.jobs,
              management=ConnectionsRecordingFake(), caller=OWNER)

    assert seen_at_read[-1] == ["c1"]


def test_a_subscription_expires_with_the_connection(live):
    live.connections.subscribe("c1", JOB, 0, now_s=1_000_000)

    item = boto3.resource("dynamodb", region_name=REGION).Table(CONNECTIONS_TABLE).get_item(
        Key={"job_id": JOB, "connection_id": "c1"})["Item"]

    assert item["expires_at"] == 1_000_000 + SUBSCRIPTION_TTL_S > 1_000_000 + 2 * 3600


def test_subscribing_to_an_unknown_job_says_so_and_stores_nothing(live):
    fake = ConnectionsRecordingFake()

    result = subscribe("c1", SubscribeMessage(job_id="unknownjob001"), connections=live.connections,
                       events=live.events, jobs=live.jobs, management=fake, caller=OWNER)

    assert result.subscribed is False
    assert fake.sent["c1"] == [{"type": "error", "message": "There is no job unknownjob001."}]
    assert live.connections.following("unknownjob001") == []


def test_a_connection_gone_during_the_backlog_is_not_kept(live):
    _own(live)
    live.events.append(JOB, "job.started", "StartPipeline")

    result = subscribe("c1", SubscribeMessage(job_id=JOB), connections=live.connections, events=live.events,
                       jobs=live.jobs, management=ConnectionsRecordingFake(gone={"c1"}), caller=OWNER)

    assert (result.subscribed, result.gone) == (False, True)
    assert live.connections.following(JOB) == []


@pytest.mark.parametrize("body", ['{"action": "subscribe"}', '{"action": "subscribe", "job_id": "a/b"}',
                                  '{"action": "subscribe", "job_id": "abc", "after": -1}', "not json", None])
def test_a_malformed_subscribe_message_gets_an_error_that_shows_the_right_form(body):
    reason = parse_subscribe(body)

    assert isinstance(reason, str) and '"action": "subscribe"' in reason


def test_the_routes_connect_subscribe_and_disconnect_through_the_handler(live):
    _own(live)
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
    assert live.connections.following(CONNECT_KEY) == []  # who opened it is forgotten with it
    data = apigatewaymanagementapi_backends["123456789012"][REGION].connections["conn-9"].data.decode()
    assert '"type":"event"' in data and '"type":"subscribed"' in data


def test_an_unknown_action_gets_an_error_message(live):
    answer = ws_handler.handler(_ws_event("$default", "conn-7", {"action": "dance"}), LocalLambdaContext("ws"))

    assert answer == {"statusCode": 400}
    data = apigatewaymanagementapi_backends["123456789012"][REGION].connections["conn-7"].data
    assert json.loads(data)["type"] == "error"


# --- whose job: only its owner and administrators may subscribe --------------------------------------------------


def _posted(connection_id: str) -> list[dict]:
    connection = apigatewaymanagementapi_backends["123456789012"][REGION].connections.get(connection_id)
    return [json.loads(line) for line in connection.data.decode().replace("}{", "}\n{").splitlines()] if connection else []


def test_a_connect_without_an_iam_principal_is_refused_and_nothing_is_stored(live):
    answer = ws_handler.handler(_ws_event("$connect", "conn-1", caller=None), LocalLambdaContext("ws"))

    assert answer == {"statusCode": 403}
    assert live.connections.following(CONNECT_KEY) == []


def test_another_principal_subscribing_to_a_job_is_told_it_does_not_exist_and_gets_no_event(live):
    _own(live)
    live.events.append(JOB, "job.registered", "RegisterJob", key="uploads/secret-plans.mp4")
    context = LocalLambdaContext("ws_connections")
    ws_handler.handler(_ws_event("$connect", "conn-2", caller="arn:aws:iam::123456789012:user/tom"), context)

    answer = ws_handler.handler(_ws_event("subscribe", "conn-2", {"action": "subscribe", "job_id": JOB}), context)

    assert answer == {"statusCode": 404}
    assert _posted("conn-2") == [{"type": "error", "message": f"There is no job {JOB}."}]
    assert live.connections.following(JOB) == []


def test_a_subscribe_on_a_connection_whose_opener_is_unknown_is_refused(live):
    _own(live)

    answer = ws_handler.handler(_ws_event("subscribe", "conn-3", {"action": "subscribe", "job_id": JOB}),
                                LocalLambdaContext("ws"))

    assert answer == {"statusCode": 404}
    assert live.connections.following(JOB) == []


def test_an_administrator_may_follow_any_job_even_one_with_no_owner(live, monkeypatch):
    monkeypatch.setenv("ADMIN_PRINCIPAL_ARNS", "arn:aws:iam::123456789012:role/VideoFlowAdmins")
    get_settings.cache_clear()
    _own(live, owner=None)  # uploaded straight into the bucket
    live.events.append(JOB, "job.registered", "RegisterJob")
    context = LocalLambdaContext("ws_connections")
    ws_handler.handler(_ws_event("$connect", "conn-4",
                                 caller="arn:aws:sts::123456789012:assumed-role/VideoFlowAdmins/oncall"), context)
    ws_handler.handler(_ws_event("$connect", "conn-5"), context)  # the uploader of other jobs, not an admin

    admin = ws_handler.handler(_ws_event("subscribe", "conn-4", {"action": "subscribe", "job_id": JOB}), context)
    other = ws_handler.handler(_ws_event("subscribe", "conn-5", {"action": "subscribe", "job_id": JOB}), context)

    assert (admin, other) == ({"statusCode": 200}, {"statusCode": 404})
    assert live.connections.following(JOB) == ["conn-4"]


# --- bad input: any message gets an answer, never an exception; the reserved key is no job id --------------------


def test_the_key_that_records_who_opened_a_connection_cannot_be_subscribed_to():
    assert isinstance(parse_subscribe(json.dumps({"action": "subscribe", "job_id": CONNECT_KEY})), str)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(body=st.one_of(
    st.none(), st.text(max_size=300),
    st.dictionaries(st.sampled_from(["action", "job_id", "after", "extra"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=100)),
                    max_size=4).map(json.dumps)))
def test_any_message_body_is_either_a_valid_subscription_or_a_message_saying_what_to_send(body):
    parsed = parse_subscribe(body)

    if isinstance(parsed, str):
        assert '"action": "subscribe"' in parsed
    else:
        assert re.fullmatch(JOB_ID_PATTERN, parsed.job_id) and parsed.after >= 0
