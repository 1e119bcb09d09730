"""What AWS delivers on the project's behalf, locally: EventBridge rules to functions, and alarms.

EventBridge invokes a rule's Lambda target asynchronously, as the service events.amazonaws.com:
the function's resource policy (its AWS::Lambda::Permission) must let the rule in; a failed
invocation is retried as the function's EventInvokeConfig says (Lambda's default is 2 retries)
and then, if it names one, sent to its on-failure destination, with the function's own role.

A CloudWatch alarm on the workflow's failed, timed-out or aborted executions publishes to its
actions' topics as the service cloudwatch.amazonaws.com: the topic policy and, for an encrypted
topic, the KMS key policy must let it. An alarm that cannot reach its topic is recorded in
`undelivered`, which is how a dead alarm shows here; in AWS it fails without a word.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import boto3
from moto.events.models import EventPattern

from videoflow.local.access import LocalAccess, acting_as
from videoflow.local.iam import AccessDenied
from videoflow.local.template import ACCOUNT, REGION, LocalTemplate

DEFAULT_ASYNC_RETRIES = 2  # Lambda's, for a function with no EventInvokeConfig
STATUS_METRICS = {"FAILED": "ExecutionsFailed", "TIMED_OUT": "ExecutionsTimedOut", "ABORTED": "ExecutionsAborted"}
_log = logging.getLogger(__name__)


@dataclass
class Delivery:
    """One async invocation: how it ended, after how many attempts, and where a failure went."""

    ok: bool
    result: object
    attempts: int
    dead_lettered_to: str | None = None


@dataclass
class LocalDelivery:
    template: LocalTemplate
    access: LocalAccess
    lambdas: object  # videoflow.local.lambda_runtime.LocalLambdas
    alarms_raised: list[dict] = field(default_factory=list)
    undelivered: list[AccessDenied] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)

    # -- EventBridge -------------------------------------------------------------------------
    def put_event(self, event: dict) -> list[Delivery]:
        """The default bus: every rule whose pattern matches invokes its Lambda targets, in turn."""
        deliveries = []
        for rule_id, rule in self.matching_rules(event):
            for target in rule["Properties"].get("Targets", []):
                deliveries.append(self.invoke_async(self.template.resolve(target["Arn"]), event,
                                                    source_arn=self.template.arn(rule_id)))
        return deliveries

    def matching_rules(self, event: dict) -> list[tuple[str, dict]]:
        # moto's TestEventPattern API answers nothing; its rule matcher is the one it delivers with.
        return [(rule_id, rule) for rule_id, rule in self.template.of_type("AWS::Events::Rule").items()
                if "EventPattern" in rule["Properties"]
                and EventPattern.load(json.dumps(self.template.resolve(rule["Properties"]["EventPattern"])))
                .matches_event(event)]

    def invoke_async(self, function_arn: str, event: dict, source_arn: str) -> Delivery:
        events = self.access.service_principal("events.amazonaws.com")
        self.access.check(events, "lambda:InvokeFunction", function_arn,
                          {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT})
        retries, destination = self._invoke_config(function_arn)
        for attempt in range(1, retries + 2):
            ok, result = self.lambdas.invoke(function_arn, event)
            if ok:
                return Delivery(True, result, attempt)
        delivery = Delivery(False, result, retries + 1)
        if destination:
            self._send_to_destination(function_arn, destination, event, result, delivery)
        return delivery

    def _invoke_config(self, function_arn: str) -> tuple[int, str | None]:
        for config in self.template.of_type("AWS::Lambda::EventInvokeConfig").values():
            props = self.template.resolve(config["Properties"])
            if function_arn.endswith(f":function:{props['FunctionName']}"):
                destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                return props.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES), destination
        return DEFAULT_ASYNC_RETRIES, None

    def _send_to_destination(self, function_arn: str, destination: str, event: dict, result: object,
                             delivery: Delivery) -> None:
        """Lambda sends the failed event on with the function's execution role, as AWS does."""
        name = function_arn.split(":function:")[-1]
        record = {
            "version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": f"{function_arn}:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": delivery.attempts},
            "requestPayload": event, "responsePayload": result,
        }
        if not destination.startswith("arn:aws:sqs:"):
            raise NotImplementedError(f"on-failure destination {destination} is not modelled locally")
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"]
        with acting_as(self.lambdas.principal(name)):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
        delivery.dead_lettered_to = destination
        self.dead_letters.append(record)

    # -- CloudWatch alarms -------------------------------------------------------------------
    def execution_ended(self, execution: dict) -> None:
        """The alarms on this status of the workflow's executions go off and notify their topics."""
        metric = STATUS_METRICS.get(execution["status"])
        for alarm_id, alarm in self.template.of_type("AWS::CloudWatch::Alarm").items():
            props = self.template.resolve(alarm["Properties"])
            dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            if props.get("MetricName") != metric or dimensions.get("StateMachineArn") != execution["stateMachineArn"]:
                continue
            for topic_arn in props.get("AlarmActions", []):
                self._notify(self.template.arn(alarm_id), props, topic_arn, execution)

    def _notify(self, alarm_arn: str, alarm: dict, topic_arn: str, execution: dict) -> None:
        cloudwatch = self.access.service_principal("cloudwatch.amazonaws.com")
        source = {"aws:SourceArn": alarm_arn, "aws:SourceAccount": ACCOUNT}
        try:
            self.access.check(cloudwatch, "sns:Publish", topic_arn, source)
            self.access.check_topic_key(cloudwatch, topic_arn, source)
        except AccessDenied as denied:
            _log.warning("alarm %s cannot notify %s: %s", alarm.get("AlarmDescription"), topic_arn, denied)
            self.undelivered.append(denied)
            return
        message = {"AlarmName": alarm_arn.rsplit(":", 1)[-1], "AlarmDescription": alarm.get("AlarmDescription"),
                   "NewStateValue": "ALARM", "Trigger": {"MetricName": alarm.get("MetricName")},
                   "execution": execution["executionArn"]}
        boto3.client("sns", region_name=REGION).publish(TopicArn=topic_arn, Message=json.dumps(message))
        self.alarms_raised.append({"topic": topic_arn, **message})
