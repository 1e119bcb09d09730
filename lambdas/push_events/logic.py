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

from collections import defaultdict
from collections.abc import Iterable

from botocore.exceptions import ClientError
from pydantic import BaseModel

from lambdas.common.connections import Connections, event_message, post
from lambdas.common.dynamo import from_dynamo
from lambdas.common.models import Event


class PushResult(BaseModel):
    events: int
    deliveries: int
    gone: int
    failed: int


def events_from_stream(records: Iterable[dict]) -> list[Event]:
    """The events inserted, from DynamoDB stream records already deserialized to plain items."""
    return [Event.model_validate(from_dynamo(item)) for item in records]


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
