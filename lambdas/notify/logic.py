"""notify: tell the world a job completed, on EventBridge and by SNS.

EventBridge (the account's default bus) gets one `VideoFlow Job Completed` event from source
`videoflow` for other systems to route on; the SNS topic gets a short message for people
and simple subscribers. Both carry the job id, its manifest key and what it made. A
PutEvents entry that fails is an error (raised, so the workflow retries), not a silent loss.

The event carries the key exactly (other systems act on it); the message for people adds the
file's name as it may be shown (lambdas/common/display.py: a direction override or a line
separator in a name is made visible), and is ASCII JSON, so no raw control character reaches
a mail client.
"""

from __future__ import annotations

import json

from pydantic import Field

from lambdas.common import aws
from lambdas.common.display import shown
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, Model

EVENT_SOURCE = "videoflow"
DETAIL_TYPE = "VideoFlow Job Completed"


class NotifyRequest(JobRequest):
    result: dict = Field(description="publish_results' output: status and manifest_key")
    clips: dict | None = None


class NotifySettings(Model):
    topic_arn: str = Field(alias="NOTIFY_TOPIC_ARN")
    event_bus: str = Field("default", alias="NOTIFY_EVENT_BUS")


class Notified(Model):
    event_id: str
    message_id: str


def notify(request: NotifyRequest, settings: NotifySettings, events: EventLog) -> Notified:
    clips = (request.clips or {}).get("clips", [])
    detail = {
        "job_id": request.job_id,
        "status": request.result.get("status", "COMPLETED"),
        "manifest_key": request.result.get("manifest_key"),
        "source_key": request.source.key,
        "clips": [clip.get("path") for clip in clips],
    }
    answer = aws.client("events").put_events(Entries=[{
        "Source": EVENT_SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail),
        "EventBusName": settings.event_bus, "Resources": [],
    }])
    entry = answer["Entries"][0]
    if answer.get("FailedEntryCount") or "EventId" not in entry:
        raise RuntimeError(f"EventBridge refused the completion event: {entry.get('ErrorCode')} "
                           f"{entry.get('ErrorMessage')}")
    message = aws.client("sns").publish(
        TopicArn=settings.topic_arn,
        Subject=f"VideoFlow job {request.job_id[:12]} completed"[:100],
        Message=json.dumps({"file": shown(request.source.name), **detail}, indent=2, ensure_ascii=True),
        MessageAttributes={"status": {"DataType": "String", "StringValue": detail["status"]}},
    )
    events.append(request.job_id, "job.notified", "Notify", event_id=entry["EventId"],
                  message_id=message["MessageId"], clips=len(clips))
    return Notified(event_id=entry["EventId"], message_id=message["MessageId"])
