"""Who follows which job over the WebSocket API, and how one message reaches a connection.

ws_connections subscribes and sends a job's backlog; push_events sends what is new. Both post
the same message shapes and forget a connection that is gone (410).
"""

from __future__ import annotations

import json
import time

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from lambdas.common import aws
from lambdas.common.models import Event

BY_CONNECTION_INDEX = "by_connection"
# API Gateway closes a WebSocket connection after 2 hours; a subscription outlives it a little,
# so one that missed its $disconnect is deleted by TTL.
SUBSCRIPTION_TTL_S = 2 * 3600 + 600
MAX_MESSAGE_BYTES = 128 * 1024  # PostToConnection's limit



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
