"""push_events: each new event of the log, pushed to the WebSocket connections that follow its job.

The events table's stream (NEW_IMAGE) triggers this function; for each job in the batch it
reads who follows the job from the connections table and posts the job's new events to each
connection, in seq order, through the API Gateway Management API (PostToConnection).

Push is a convenience on top of the event log, never the only copy. A connection that is gone
(410 GoneException) is forgotten; any other failed post is counted and skipped, not retried:
a client resumes from the log with the last seq it saw, over GET /jobs/{id}/events or by
subscribing again. Messages are JSON:

    {"type": "event", "event": {job_id, seq, at, type, step, detail}}
    {"type": "subscribed", "job_id", "after", "last_seq", "more"}   (ws_connections, after the backlog)
    {"type": "error", "message"}                                    (ws_connections)

A client may get an event twice (a subscription's backlog and the stream can overlap) and
must ignore a seq it has already seen.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from lambdas.common import aws
from lambdas.common.dynamo import from_dynamo
from lambdas.common.models import Event

BY_CONNECTION_INDEX = "by_connection"
# API Gateway closes a WebSocket connection after 2 hours; a subscription outlives it a little,
# so one that missed its $disconnect is deleted by TTL.
SUBSCRIPTION_TTL_S = 2 * 3600 + 600
MAX_MESSAGE_BYTES = 128 * 1024  # PostToConnection's limit


class PushResult(BaseModel):
    events: int
    deliveries: int
    gone: int
    failed: int


class Connections:
    """The connections table: one item per (job_id, connection_id) subscription, deleted by TTL at the latest."""

    def __init__(self, table_name: str):
        self._table = aws.table(table_name)

    def subscribe(self, connection_id: str, job_id: str, after: int, now_s: float | None = None) -> None:
        now_s = time.time() if now_s is None else now_s
        self._table.put_item(Item={
            "job_id": job_id, "connection_id": connection_id, "after": after,
            "subscribed_at": int(now_s), "expires_at": int(now_s) + SUBSCRIPTION_TTL_S,
        })

    def following(self, job_id: str) -> list[str]:
        """The connections subscribed to the job."""
        query = {"KeyConditionExpression": Key("job_id").eq(job_id), "ProjectionExpression": "connection_id"}
        found: list[str] = []
        while True:
            page = self._table.query(**query)
            found += [item["connection_id"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unsubscribe(self, connection_id: str, job_id: str) -> None:
        self._table.delete_item(Key={"job_id": job_id, "connection_id": connection_id})

    def forget(self, connection_id: str) -> int:
        """Delete every subscription of a connection (it disconnected); returns how many there were."""
        query = {"IndexName": BY_CONNECTION_INDEX, "KeyConditionExpression": Key("connection_id").eq(connection_id)}
        count = 0
        while True:
            page = self._table.query(**query)
            for item in page["Items"]:
                self.unsubscribe(connection_id, item["job_id"])
                count += 1
            if "LastEvaluatedKey" not in page:
                return count
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def events_from_stream(records: Iterable[dict]) -> list[Event]:
    """The events inserted, from DynamoDB stream records already deserialized to plain items."""
    return [Event.model_validate(from_dynamo(item)) for item in records]


def event_message(event: Event) -> dict:
    return {"type": "event", "event": event.model_dump(mode="json")}


def post(management, connection_id: str, message: dict) -> bool:
    """Send one message; False when the connection is gone (410), other errors raise."""
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE_BYTES:
        data = json.dumps({"type": "truncated", "message": "Too large to push; read it from the event log.",
                           "seq": (message.get("event") or {}).get("seq")}).encode()
    try:
        management.post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as error:
        if is_gone(error):
            return False
        raise
    return True


def is_gone(error: ClientError) -> bool:
    return (error.response.get("Error", {}).get("Code") == "GoneException"
            or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410)


def push(events: list[Event], *, connections: Connections, management, logger=None) -> PushResult:
    """Post each job's new events, in seq order, to every connection following that job."""
    by_job: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_job[event.job_id].append(event)
    deliveries = gone = failed = 0
    for job_id, job_events in by_job.items():
        job_events.sort(key=lambda event: event.seq)
        for connection_id in connections.following(job_id):
            for event in job_events:
                try:
                    delivered = post(management, connection_id, event_message(event))
                except ClientError as error:
                    # Throttled or failing: skip this connection for this batch; the client resumes from the log.
                    failed += 1
                    if logger:
                        logger.warning("push failed", extra={"job_id": job_id, "connection_id": connection_id,
                                                             "error": error.response.get("Error", {}).get("Code")})
                    break
                if not delivered:
                    connections.unsubscribe(connection_id, job_id)
                    gone += 1
                    break
                deliveries += 1
    return PushResult(events=len(events), deliveries=deliveries, gone=gone, failed=failed)
