"""ws_connections: the WebSocket API's routes ($connect, $disconnect, subscribe).

$connect is authorized by API Gateway (IAM, SigV4-signed upgrade request) before this runs.
A client then sends

    {"action": "subscribe", "job_id": "<job id>", "after": <last seq seen, 0 for all>}

and receives the job's events after `after` from the event log, then {"type": "subscribed"},
then every new event as push_events sees it on the stream. The subscription is stored
*before* the backlog is read, so nothing falls between the two (an event may come twice;
clients ignore a seq they have seen). $disconnect deletes the connection's subscriptions.

Only the job's owner, or an administrator, may subscribe (lambdas/common/owners.py). API
Gateway authorizes $connect with IAM and names the signer there; the connection's caller is
stored then (an item of the connections table under the reserved key CONNECT_KEY, never a job
id) and read back for each subscribe. A job the caller may not see is answered as unknown.
"""

from __future__ import annotations

import time

from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, Field, ValidationError

from lambdas.common import aws
from lambdas.common.connections import SUBSCRIPTION_TTL_S, Connections, event_message, post
from lambdas.common.events import EventLog
from lambdas.common.job_ids import JOB_ID_PATTERN
from lambdas.common.jobs import JobStore
from lambdas.common.owners import Caller, is_admin

CONNECT_KEY = "$connect"  # no job id has a '$' (JOB_ID_PATTERN): this partition holds who opened each connection
MAX_BACKLOG_EVENTS = 1000  # a longer history is read with GET /jobs/{id}/events ("more": true says so)


class SubscribeMessage(BaseModel):
    action: str = "subscribe"
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    after: int = Field(0, ge=0)


class SubscribeResult(BaseModel):
    subscribed: bool
    backlog: int = 0
    last_seq: int = 0
    gone: bool = False


def parse_subscribe(body: str | None) -> SubscribeMessage | str:
    """The message, or what is wrong with it in words for the client."""
    try:
        return SubscribeMessage.model_validate_json(body or "")
    except ValidationError as error:
        fields = ", ".join(".".join(str(part) for part in issue["loc"]) or "the message" for issue in error.errors())
        return ('Send {"action": "subscribe", "job_id": "<job id>", "after": <last seq seen>}; '
                f"check {fields}.")


class ConnectionCallers:
    """Who opened each connection ($connect's IAM principal), kept in the connections table until it closes."""

    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def opened(self, connection_id: str, caller_arn: str, now_s: float | None = None) -> None:
        now_s = time.time() if now_s is None else now_s
        self._table.put_item(Item={"job_id": CONNECT_KEY, "connection_id": connection_id, "caller": caller_arn,
                                   "expires_at": int(now_s) + SUBSCRIPTION_TTL_S})

    def caller(self, connection_id: str, admins: tuple[str, ...]) -> Caller | None:
        page = self._table.query(KeyConditionExpression=Key("job_id").eq(CONNECT_KEY)
                                 & Key("connection_id").eq(connection_id), ConsistentRead=True)
        arn = next((item.get("caller") for item in page["Items"]), None)
        return Caller(arn=arn, admin=is_admin(arn, admins)) if arn else None


def subscribe(connection_id: str, message: SubscribeMessage, *, connections: Connections, events: EventLog,
              jobs: JobStore, management, caller: Caller | None) -> SubscribeResult:
    record = jobs.get(message.job_id)
    visible = caller is not None and caller.may_see(record) and (
        record is not None or bool(events.read(message.job_id, limit=1)))
    if not visible:
        post(management, connection_id, {"type": "error", "message": f"There is no job {message.job_id}."})
        return SubscribeResult(subscribed=False)
    connections.subscribe(connection_id, message.job_id, message.after)
    backlog = events.read(message.job_id, after_seq=message.after, limit=MAX_BACKLOG_EVENTS + 1)
    more, backlog = len(backlog) > MAX_BACKLOG_EVENTS, backlog[:MAX_BACKLOG_EVENTS]
    for event in backlog:
        if not post(management, connection_id, event_message(event)):
            connections.unsubscribe(connection_id, message.job_id)
            return SubscribeResult(subscribed=False, gone=True)
    last_seq = backlog[-1].seq if backlog else message.after
    post(management, connection_id, {"type": "subscribed", "job_id": message.job_id, "after": message.after,
                                     "last_seq": last_seq, "more": more})
    return SubscribeResult(subscribed=True, backlog=len(backlog), last_seq=last_seq)


def reject(connection_id: str, reason: str, *, management) -> None:
    post(management, connection_id, {"type": "error", "message": reason})


def disconnect(connection_id: str, *, connections: Connections) -> int:
    return connections.forget(connection_id)
