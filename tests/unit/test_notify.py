"""notify: a completed job is announced on EventBridge (default bus) and by SNS.

Against moto: an EventBridge rule on the default bus routes VideoFlow's completion events to an
SQS queue, and a second queue subscribes to the SNS topic, so both deliveries are read back
as a subscriber would see them. A PutEvents entry that EventBridge refuses (which moto never
does) is injected with botocore's Stubber.
"""

import json

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.common import aws
from lambdas.common.events import EventLog
from lambdas.common.models import SourceObject
from lambdas.notify.handler import handler
from lambdas.notify.logic import DETAIL_TYPE, EVENT_SOURCE, NotifyRequest, NotifySettings, notify
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REGION = "us-east-1"
JOB_ID = "job-notify-00000001"
SOURCE = SourceObject(bucket="videoflow-ingest", key="uploads/talk.mp4", version_id="v1", size_bytes=1_000)
CLIPS = [f"clips/{JOB_ID}/clip-00.mp4", f"clips/{JOB_ID}/clip-01.mp4"]
RESULT = {"status": "COMPLETED", "manifest_key": f"outputs/{JOB_ID}/manifest.json"}


class Subscribers:
    """The topic, and two queues: one fed by an EventBridge rule on the default bus, one subscribed to the topic."""

    def __init__(self):
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.bus_queue = self._queue("bus-subscriber")
        self.topic_queue = self._queue("topic-subscriber")
        sns = boto3.client("sns", region_name=REGION)
        self.topic_arn = sns.create_topic(Name="videoflow-jobs")["TopicArn"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self._arn(self.topic_queue),
                      Attributes={"RawMessageDelivery": "false"})
        bus = boto3.client("events", region_name=REGION)
        bus.put_rule(Name="videoflow-completed", EventBusName="default",
                     EventPattern=json.dumps({"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}))
        bus.put_targets(Rule="videoflow-completed", EventBusName="default",
                        Targets=[{"Id": "queue", "Arn": self._arn(self.bus_queue)}])

    def _queue(self, name: str) -> str:
        return self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def received(self, url: str) -> list[dict]:
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(message["Body"]) for message in messages.get("Messages", [])]


@pytest.fixture
def subscribers(aws_state):
    return Subscribers()


@pytest.fixture
def events(aws_state):
    return EventLog("videoflow-events")


def _request(clips: list[str] = CLIPS) -> NotifyRequest:
    return NotifyRequest(job_id=JOB_ID, source=SOURCE, result=RESULT,
                         clips={"clips": [{"path": path, "start_s": 0, "end_s": 20} for path in clips]})


def _notify(subscribers: Subscribers, events: EventLog, request: NotifyRequest | None = None):
    return notify(request or _request(), NotifySettings(NOTIFY_TOPIC_ARN=subscribers.topic_arn), events)


def test_given_a_completed_job_when_notified_then_a_rule_on_the_default_bus_receives_the_completion_event(
        subscribers, events):
    _notify(subscribers, events)

    [event] = subscribers.received(subscribers.bus_queue)
    assert event["source"] == "videoflow"
    assert event["detail-type"] == "VideoFlow Job Completed"
    assert event["detail"] == {"job_id": JOB_ID, "status": "COMPLETED", "manifest_key": f"outputs/{JOB_ID}/manifest.json",
                               "source_key": "uploads/talk.mp4", "clips": CLIPS}


def test_given_a_completed_job_when_notified_then_the_topics_subscribers_get_the_same_facts(subscribers, events):
    result = _notify(subscribers, events)

    [envelope] = subscribers.received(subscribers.topic_queue)
    assert envelope["MessageId"] == result.message_id
    assert envelope["Subject"] == f"VideoFlow job {JOB_ID[:12]} completed"
    assert envelope["MessageAttributes"]["status"]["Value"] == "COMPLETED"
    assert json.loads(envelope["Message"])["clips"] == CLIPS
    assert json.loads(envelope["Message"])["job_id"] == JOB_ID


def test_given_a_job_without_clips_when_notified_then_the_event_lists_none(subscribers, events):
    request = NotifyRequest(job_id=JOB_ID, source=SOURCE, result=RESULT)

    _notify(subscribers, events, request)

    [event] = subscribers.received(subscribers.bus_queue)
    assert event["detail"]["clips"] == []


def test_given_a_completed_job_when_notified_then_job_notified_is_logged_with_both_ids(subscribers, events):
    result = _notify(subscribers, events)

    [logged] = [event for event in events.read(JOB_ID) if event.type == "job.notified"]
    assert logged.step == "Notify"
    assert logged.detail == {"event_id": result.event_id, "message_id": result.message_id, "clips": 2}


def test_given_eventbridge_refuses_the_entry_when_notified_then_it_raises_and_sends_no_message(subscribers, events):
    with Stubber(aws.client("events")) as events_refusing_entries:  # moto accepts every entry
        events_refusing_entries.add_response("put_events", {"FailedEntryCount": 1, "Entries": [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service error"}]})

        with pytest.raises(RuntimeError, match="EventBridge refused the completion event: InternalFailure Internal"):
            _notify(subscribers, events)

    assert subscribers.received(subscribers.topic_queue) == []
    assert [event.type for event in events.read(JOB_ID)] == []


def test_given_the_topic_in_the_environment_when_the_handler_runs_then_it_notifies_that_topic(
        subscribers, monkeypatch):
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", subscribers.topic_arn)
    state = {"job_id": JOB_ID, "source": SOURCE.model_dump(mode="json"), "result": RESULT,
             "clips": {"clips": [{"path": CLIPS[0]}]}}

    result = handler(state, LocalLambdaContext("notify"))

    assert result["message_id"] == subscribers.received(subscribers.topic_queue)[0]["MessageId"]
    assert subscribers.received(subscribers.bus_queue)[0]["detail"]["clips"] == [CLIPS[0]]


def test_given_a_file_name_with_a_direction_override_then_people_see_it_neutralized_and_systems_get_the_key(
        subscribers, events):
    import unicodedata

    key = "uploads/invoice\u202egnp.mp4\u2028line two"
    request = _request().model_copy(update={"source": SOURCE.model_copy(update={"key": key})})

    _notify(subscribers, events, request)

    [envelope] = subscribers.received(subscribers.topic_queue)
    [event] = subscribers.received(subscribers.bus_queue)
    assert json.loads(envelope["Message"])["file"] == "invoice<U+202E>gnp.mp4<U+2028>line two"
    assert not [c for c in envelope["Message"] + envelope["Subject"] if unicodedata.category(c) in ("Cc", "Cf", "Zl")
                and c != "\n"]
    assert event["detail"]["source_key"] == key  # exact, for the systems that act on it
