"""Operations: what tells someone that a job went wrong, and where an event that could not be handled waits.

The topics (alarms, job notifications) and the key they are encrypted with; the dead-letter
queue of the EventBridge-invoked functions; alarms on failed, timed-out and aborted
executions and on that queue; and the stall monitor, which every 5 minutes reports RUNNING
jobs whose log has gone quiet. Every alarm notifies the alarm topic.

The topics, the key and the queue were children of the pipeline layer before this construct
existed; they keep those logical ids (stacks/logical_ids.py), so nothing is replaced.
"""

import aws_cdk as cdk
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
    aws_cloudwatch_actions as cloudwatch_actions,
    aws_iam as iam,
    aws_kms as kms,
    aws_scheduler as scheduler,
    aws_scheduler_targets as scheduler_targets,
    aws_sns as sns,
    aws_sqs as sqs,
    aws_stepfunctions as sfn,
)
from constructs import Construct

from lambdas.common.constants import METRICS_NAMESPACE
from lambdas.stall_monitor.logic import DEFAULT_THRESHOLD_MIN
from stacks.functions import PipelineFunction
from stacks.logical_ids import keep_logical_id
from stacks.nag import acknowledge, checkov_skip, logical_id


class Operations(Construct):
    """The topics and their key, the dead-letter queue, and the alarms; `watch` and `watch_stalls` add
    the alarms on what is built after it (the workflow, the stall monitor's function)."""

    def __init__(self, scope: Construct, construct_id: str):
        super().__init__(scope, construct_id)
        self.topic_key = self._topic_key()
        self.notifications = self._topic("Notifications", "VideoFlow job notifications",
                                         kept=("PipelineNotifications6D4DD3FC", "PipelineNotificationsPolicyC6347C98"))
        self.alarm_topic = self._alarm_topic()
        self.dead_letters = self._dead_letters()
        self._alarm("UploadsDeadLettered", self.dead_letters.metric_approximate_number_of_messages_visible())

    def watch(self, state_machine: sfn.StateMachine) -> None:
        """Failed, timed-out and aborted executions notify the alarm topic."""
        self._alarm("ExecutionsFailed", state_machine.metric_failed())
        self._alarm("ExecutionsTimedOut", state_machine.metric_timed_out())
        self._alarm("ExecutionsAborted", state_machine.metric_aborted())

    def watch_stalls(self, function: PipelineFunction, *, threshold_min: float) -> None:
        self.stall_monitor = StallMonitor(self, "StallMonitor", function=function, alarm_topic=self.alarm_topic,
                                          threshold_min=threshold_min)

    def _alarm(self, name: str, metric: cloudwatch.IMetric) -> None:
        alarm_on(self, name, metric, topic=self.alarm_topic, description=f"VideoFlow: {name}")

    def _dead_letters(self) -> sqs.Queue:
        """Events whose function failed for good wait here (14 days) to be replayed: uploads whose start
        failed, and failed executions compensate could not record. An alarm says so."""
        queue = sqs.Queue(
            self, "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        keep_logical_id(queue, "PipelineTriggerDeadLettersF2E27A89")
        keep_logical_id(queue.node.find_child("Policy"), "PipelineTriggerDeadLettersPolicyCB6A871B")
        acknowledge(queue, {"AwsSolutions-SQS3": "This queue is itself the dead-letter queue of the upload trigger."})
        checkov_skip(queue, {"CKV_AWS_27": "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov's check knows "
                                           "KMS only, and EventBridge cannot deliver to a queue under aws/sqs."})
        return queue

    def _topic_key(self) -> kms.Key:
        """The topics' key. The AWS-managed aws/sns key admits only principals of the account calling
        through SNS, so a CloudWatch alarm could never publish to a topic it encrypts."""
        key = kms.Key(self, "TopicsKey", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY,
                      description="VideoFlow topics (alarms, notifications)")
        keep_logical_id(key, "PipelineTopicsKey8397233D")
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
        ))
        return key

    def _alarm_topic(self) -> sns.Topic:
        topic = self._topic("Alarms", "VideoFlow alarms", kept=("PipelineAlarms57000B52", "PipelineAlarmsPolicyF33BCD10"))
        account = cdk.Aws.ACCOUNT_ID
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccount",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"ArnLike": {"aws:SourceArn": f"arn:{cdk.Aws.PARTITION}:cloudwatch:{cdk.Aws.REGION}:"
                                                     f"{account}:alarm:*"},
                        "StringEquals": {"aws:SourceAccount": account}},
        ))
        return topic

    def _topic(self, name: str, display_name: str, *, kept: tuple[str, str]) -> sns.Topic:
        """`kept`: the logical ids of the topic and of its policy (enforce_ssl makes one)."""
        topic = sns.Topic(self, name, display_name=display_name, master_key=self.topic_key, enforce_ssl=True)
        topic_id, policy_id = kept
        keep_logical_id(topic, topic_id)
        keep_logical_id(topic.node.find_child("Policy"), policy_id)
        return topic


class StallMonitor(Construct):
    """Every 5 minutes: RUNNING jobs whose log is quiet get one job.stalled event; an alarm counts them."""

    def __init__(self, scope: Construct, construct_id: str, *, function: PipelineFunction, alarm_topic: sns.ITopic,
                 threshold_min: float = DEFAULT_THRESHOLD_MIN):
        super().__init__(scope, construct_id)
        self.function = function
        # One run at a time, so two runs never both flag the same job.
        self.function.function.node.default_child.reserved_concurrent_executions = 1
        # The scheduler's own role (not CDK's stack-wide singleton), for this one function.
        self.scheduler_role = iam.Role(
            self, "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}),
            description="VideoFlow stall monitor schedule: invoke the stall monitor only",
        )
        self.schedule = scheduler.Schedule(
            self, "Every5Minutes",
            description="VideoFlow: look for stalled jobs",
            schedule=scheduler.ScheduleExpression.rate(cdk.Duration.minutes(5)),
            # A missed run is not retried: the next one comes in 5 minutes.
            target=scheduler_targets.LambdaInvoke(self.function.function, retry_attempts=0,
                                                  max_event_age=cdk.Duration.minutes(5), role=self.scheduler_role),
        )
        acknowledge(self.scheduler_role, {
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.function.function)}.Arn>:*]":
                "Added by CDK's grantInvoke: qualified ARNs (versions, aliases) of this same function.",
        })
        self.alarm = alarm_on(
            self, "StalledJobs",
            cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name="StalledJobs",
                              dimensions_map={"service": "videoflow"}),
            topic=alarm_topic, description=f"VideoFlow: a RUNNING job wrote no event for {threshold_min:g} minutes",
        )


def alarm_on(scope: Construct, name: str, metric: cloudwatch.IMetric, *, topic: sns.ITopic,
             description: str) -> cloudwatch.Alarm:
    """An alarm that notifies `topic` when the metric's sum over 5 minutes reaches 1 (no data: no alarm)."""
    alarm = cloudwatch.Alarm(
        scope, name,
        metric=metric.with_(period=cdk.Duration.minutes(5), statistic="Sum"),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    alarm.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return alarm
