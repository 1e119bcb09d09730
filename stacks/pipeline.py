"""Layers 02 and 03: the functions, the MediaConvert role, the workflow and its trigger."""


import aws_cdk as cdk
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
    aws_cloudwatch_actions as cloudwatch_actions,
    aws_events as events,
    aws_events_targets as targets,
    aws_iam as iam,
    aws_kms as kms,
    aws_lambda as lambda_,
    aws_lambda_destinations as destinations,
    aws_logs as logs,
    aws_sns as sns,
    aws_sqs as sqs,
    aws_stepfunctions as sfn,
)
from constructs import Construct

from lambdas.common.constants import (
    DERIVATIVES_PREFIX,
    INGEST_PREFIX,
    TRANSCRIPTS_PREFIX,
)
from lambdas.stall_monitor.logic import DEFAULT_LOOKBACK_H
from stacks.analysis import FRAME_WORKER_MEMORY_MB, FRAME_WORKER_VCPU, FrameWorkers, Network
from stacks.api import SearchApi
from stacks.config import VideoFlowConfig
from stacks.functions import RUNTIME, PipelineFunction, lambda_code
from stacks.inference import VARIANT, InferenceEndpoint
from stacks.jobs_api import JobsApi, LivePush, StallMonitor
from stacks.nag import acknowledge, any_task_definition_revision, checkov_skip, logical_id, object_wildcard
from stacks.render import Renderer
from stacks.state import StateLayer
from stacks.steps import INGEST, OUTPUT, STEPS
from stacks.wiring import OBJECT_REASONS, Wiring, function_memory_mb, unscoped_actions, wire
from stacks.workflow import JobWorkflow

READ_ORIGINAL = ["s3:GetObject", "s3:GetObjectVersion"]
# Invoked by EventBridge, asynchronously: retried by Lambda, then parked with the dead letters.
ASYNC_FUNCTIONS = ("start_pipeline", "compensate")


class PipelineLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, state: StateLayer, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        code = lambda_code()
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-{RUNTIME.name.replace('.', '')}-x86_64:{config.powertools_layer_version}",
        )
        # numpy for the functions that search or embed (the public AWS SDK for pandas layer).
        numpy_layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Numpy",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:336392948345:layer:"
            f"AWSSDKPandas-{RUNTIME.name.replace('python3.', 'Python3')}:{config.pandas_layer_version}",
        )
        self.topic_key = self._topic_key()
        self.dead_letters = self._dead_letters()
        # One function per entry of stacks/steps.py; its role and environment are wired below, once
        # everything they name exists. Those EventBridge invokes (asynchronously) are retried twice by
        # Lambda, then park the event with the dead letters (and their alarm): an upload whose start
        # failed, or a failed job compensate could not record, is never lost.
        self.functions = fns = {
            step.function: PipelineFunction(
                self, step.function, code=code, layer=powertools, config=config, description=step.description,
                extra_layers=[numpy_layer] if step.numpy else None, unscoped_actions=unscoped_actions(step),
                timeout=cdk.Duration.seconds(step.timeout_s), memory_mb=step.memory_mb,
                **({"async_retry_attempts": 2, "on_failure": destinations.SqsDestination(self.dead_letters)}
                   if step.function in ASYNC_FUNCTIONS else {}),
            )
            for step in STEPS
        }
        self.start_pipeline, self.search = fns["start_pipeline"], fns["search_api"]

        self.mediaconvert_role = self._mediaconvert_role(state)
        self.network = Network(self, "Network")
        self.inference = InferenceEndpoint(self, "Inference", network=self.network, config=config,
                                           capture_bucket=state.output_bucket)
        self.notifications = self._topic("Notifications", "VideoFlow job notifications")
        self.renderer = Renderer(self, "Render", network=self.network, state=state, config=config)
        fns["render_short_clip"] = self.renderer.short_clip
        self.frame_workers = FrameWorkers(self, "FrameWorkers", network=self.network, state=state, config=config)
        workflow = JobWorkflow(self, "Workflow", functions=fns, mediaconvert_role=self.mediaconvert_role,
                               frame_workers=self.frame_workers, renderer=self.renderer,
                               output_bucket=state.output_bucket, config=config)
        self.state_machine = sfn.StateMachine(
            self, "JobStateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(workflow.chain),
            timeout=cdk.Duration.hours(config.workflow_timeout_h),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=logs.LogGroup(
                    self, "WorkflowLogs",
                    retention=logs.RetentionDays[config.log_retention],
                    removal_policy=cdk.RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
        )
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject"], resources=workflow.transcribe_s3_resources,
        ))
        # batch:submitJob.sync follows the array job and terminates it when the execution is stopped or
        # times out (Step Functions developer guide, "IAM policies for AWS Batch"); CDK grants SubmitJob only.
        self.state_machine.add_to_role_policy(iam.PolicyStatement(actions=["batch:DescribeJobs"], resources=["*"]))
        self.state_machine.add_to_role_policy(iam.PolicyStatement(
            actions=["batch:TerminateJob"],
            resources=[cdk.Stack.of(self).format_arn(service="batch", resource="job", resource_name="*")],
        ))
        # The MediaConvert task already grants iam:PassRole on exactly that role, conditioned on
        # iam:PassedToService = mediaconvert.amazonaws.com (asserted in tests/infra).
        acknowledge(self.state_machine.role, {
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]":
                "batch:TerminateJob on this account's Batch jobs: the frame job's id exists only at run time.",
            "AwsSolutions-IAM5[Resource::*]": "mediaconvert:CreateJob/GetJob/CancelJob, batch:DescribeJobs, X-Ray and CloudWatch Logs delivery actions have no "
                                              "resource-level permissions; ecs:StopTask/DescribeTasks (added by "
                                              "CDK's EcsRunTask) act on render tasks whose ARNs exist only at run "
                                              "time.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:"
            "transcription-job/*]": "Transcription job names are made per run (job id + uuid).",
            any_task_definition_revision(self.renderer.task_definition):
                "Added by CDK's EcsRunTask: ecs:RunTask on any revision of the render task definition's family.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:"
            "job-definition/*]": "Added by CDK's BatchSubmitJob so a .sync job can use any revision of the "
                                 "frame worker's job definition.",
            object_wildcard(state.output_bucket, DERIVATIVES_PREFIX):
                "Amazon Transcribe reads the job's audio with the workflow's permissions (per-job prefix).",
            object_wildcard(state.output_bucket, TRANSCRIPTS_PREFIX):
                "Amazon Transcribe writes its output with the workflow's permissions (per-job prefix).",
            **{
                f"AwsSolutions-IAM5[Resource::<{logical_id(fn.function)}.Arn>:*]":
                    "Invoking a pipeline function by qualified ARN (version or alias) of that same function."
                for fn in [*(fns[step.function] for step in STEPS if step.state), fns["render_short_clip"]]
            },
        })

        self.alarm_topic = self._alarm_topic()
        self.api = SearchApi(self, "Api", search=self.search, config=config)
        self.jobs_api = JobsApi(self, "JobsApi", rest_api=self.api.api, function=fns["jobs_api"])
        self.live_push = LivePush(self, "LivePush", routes=fns["ws_connections"], push=fns["push_events"],
                                  state=state, config=config)
        self.stall_monitor = StallMonitor(self, "StallMonitor", function=fns["stall_monitor"],
                                          alarm_topic=self.alarm_topic, threshold_min=config.stall_after_min)
        wire(self, fns, Wiring(
            config=config,
            buckets={INGEST: state.ingest_bucket, OUTPUT: state.output_bucket},
            tables={"jobs": state.jobs_table, "events": state.events_table, "budget": state.budget_table,
                    "leases": self.inference.leases, "idempotency": state.idempotency_table,
                    "connections": self.live_push.connections},
            environment=self._environment(state, config),
            state_machine=self.state_machine, endpoint_arn=self.inference.endpoint_arn,
            notifications=self.notifications, manage_connections_arn=self.live_push.manage_connections_arn,
            manage_connections_finding=self.live_push.manage_connections_finding,
            bedrock_model_arns=bedrock_model_arns(config.bedrock_model_id) if config.bedrock_model_id else [],
        ))
        self.upload_rule = self._trigger(state)
        self.failure_rule, self.redrive_rule = self._on_execution_status(fns["compensate"])
        self._alarms()

    def _environment(self, state: StateLayer, config: VideoFlowConfig) -> dict[str, str]:
        """Every variable a function may be given; each gets those its settings models name (steps.py)."""
        return {
            "JOBS_TABLE": state.jobs_table.table_name,
            "EVENTS_TABLE": state.events_table.table_name,
            "INGEST_BUCKET": state.ingest_bucket.bucket_name,
            "OUTPUT_BUCKET": state.output_bucket.bucket_name,
            "IDEMPOTENCY_TABLE": state.idempotency_table.table_name,
            "BUDGET_TABLE": state.budget_table.table_name,
            "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
            **config.function_environment(),
            "BEDROCK_MODEL_ID": config.bedrock_model_id,
            "INFERENCE_ENDPOINT_NAME": self.inference.endpoint_name,
            "INFERENCE_VARIANT": VARIANT,
            "INFERENCE_LEASES_TABLE": self.inference.leases.table_name,
            "INFERENCE_IDLE_INSTANCES": str(config.inference_idle_instances),
            "INFERENCE_WARM_INSTANCES": str(config.inference_warm_instances),
            "INFERENCE_MAX_INSTANCES": str(config.inference_max_instances),
            **config.render_environment(),
            "RENDER_TASK_VCPU": str(config.render_task_vcpu),
            "RENDER_TASK_MEMORY_MB": str(config.render_task_memory_mb),
            "NOTIFY_TOPIC_ARN": self.notifications.topic_arn,
            "FUNCTION_MEMORY_MB": function_memory_mb(config),
            "INFERENCE_INSTANCE_TYPE": config.inference_instance_type,
            "FRAME_WORKER_VCPU": str(FRAME_WORKER_VCPU),
            "FRAME_WORKER_MEMORY_MB": str(FRAME_WORKER_MEMORY_MB),
            "CONNECTIONS_TABLE": self.live_push.connections.table_name,
            "WEBSOCKET_CALLBACK_URL": self.live_push.stage.callback_url,
            "STALL_THRESHOLD_MIN": str(config.stall_after_min),
            "STALL_LOOKBACK_H": str(DEFAULT_LOOKBACK_H),
        }

    def _mediaconvert_role(self, state: StateLayer) -> iam.Role:
        """MediaConvert reads the upload prefix and writes the derivatives prefix, nothing else."""
        role = iam.Role(
            self, "MediaConvertRole",
            assumed_by=iam.ServicePrincipal("mediaconvert.amazonaws.com"),
            description="VideoFlow MediaConvert: read originals, write derivatives",
        )
        role.add_to_policy(iam.PolicyStatement(
            actions=READ_ORIGINAL, resources=[state.ingest_bucket.arn_for_objects(f"{INGEST_PREFIX}*")],
        ))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[state.output_bucket.arn_for_objects(f"{DERIVATIVES_PREFIX}*")],
        ))
        acknowledge(role, {
            object_wildcard(state.ingest_bucket, INGEST_PREFIX): OBJECT_REASONS[INGEST],
            object_wildcard(state.output_bucket, DERIVATIVES_PREFIX): OBJECT_REASONS[OUTPUT],
        })
        return role

    def _on_execution_status(self, compensate: PipelineFunction) -> tuple[events.Rule, events.Rule]:
        """The execution's status changes -> compensate, which records them (the workflow does not):
        failed, timed out or stopped; and running again after a redrive (job.retried)."""
        def status_change(rule_id: str, description: str, detail: dict) -> events.Rule:
            pattern = events.EventPattern(
                source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                detail={**detail, "stateMachineArn": [self.state_machine.state_machine_arn]},
            )
            return self._rule(rule_id, description, pattern, compensate)

        return (
            status_change("ExecutionFailed", "A VideoFlow execution that failed, timed out or was stopped is "
                                             "recorded and cleaned up",
                          {"status": ["FAILED", "TIMED_OUT", "ABORTED"]}),
            status_change("ExecutionRedriven", "A VideoFlow execution redriven by the jobs API's retry is recorded "
                                               "in the job's log",
                          {"status": ["RUNNING"], "redriveCount": [{"numeric": [">", 0]}]}),
        )

    def _trigger(self, state: StateLayer) -> events.Rule:
        """S3 Object Created under the upload prefix -> start_pipeline."""
        return self._rule(
            "UploadCreated", "A new original under the upload prefix starts one VideoFlow job",
            events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [state.ingest_bucket.bucket_name]},
                    "object": {"key": [{"prefix": INGEST_PREFIX}]},
                },
            ),
            self.start_pipeline,
        )

    def _rule(self, rule_id: str, description: str, pattern: events.EventPattern,
              target: PipelineFunction) -> events.Rule:
        """An EventBridge rule to a function; EventBridge retries, then parks an undeliverable event in the DLQ."""
        rule = events.Rule(self, rule_id, description=description, event_pattern=pattern)
        rule.add_target(targets.LambdaFunction(
            target.function,
            dead_letter_queue=self.dead_letters,
            retry_attempts=8,
            max_event_age=cdk.Duration.hours(24),
        ))
        return rule

    def _dead_letters(self) -> sqs.Queue:
        """Events whose function failed for good wait here (14 days) to be replayed: uploads whose start
        failed, and failed executions compensate could not record. An alarm says so."""
        queue = sqs.Queue(
            self, "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(queue, {"AwsSolutions-SQS3": "This queue is itself the dead-letter queue of the upload trigger."})
        checkov_skip(queue, {"CKV_AWS_27": "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov's check knows "
                                           "KMS only, and EventBridge cannot deliver to a queue under aws/sqs."})
        return queue

    def _topic_key(self) -> kms.Key:
        """The topics' key. The AWS-managed aws/sns key admits only principals of the account calling
        through SNS, so a CloudWatch alarm could never publish to a topic it encrypts."""
        key = kms.Key(self, "TopicsKey", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY,
                      description="VideoFlow topics (alarms, notifications)")
        key.add_to_resource_policy(iam.PolicyStatement(
            sid="CloudWatchAlarmsPublishToEncryptedTopics",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
        ))
        return key

    def _alarm_topic(self) -> sns.Topic:
        topic = self._topic("Alarms", "VideoFlow alarms")
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

    def _topic(self, name: str, display_name: str) -> sns.Topic:
        return sns.Topic(self, name, display_name=display_name, master_key=self.topic_key, enforce_ssl=True)

    def _alarms(self) -> None:
        """Failed, timed-out and aborted executions, and parked uploads, notify the alarm topic."""
        for metric, name in (
            (self.state_machine.metric_failed(), "ExecutionsFailed"),
            (self.state_machine.metric_timed_out(), "ExecutionsTimedOut"),
            (self.state_machine.metric_aborted(), "ExecutionsAborted"),
            (self.dead_letters.metric_approximate_number_of_messages_visible(), "UploadsDeadLettered"),
        ):
            alarm = cloudwatch.Alarm(
                self, name,
                metric=metric.with_(period=cdk.Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"VideoFlow: {name}",
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))


def bedrock_model_arns(model_id: str) -> list[str]:
    """What bedrock:InvokeModel needs for `model_id`: the model itself, or a cross-Region inference
    profile and the foundation model it routes to (in any Region the profile may choose)."""
    if model_id.startswith("arn:"):
        return [model_id]
    partition, region, account = cdk.Aws.PARTITION, cdk.Aws.REGION, cdk.Aws.ACCOUNT_ID
    prefix, _, rest = model_id.partition(".")
    if prefix in {"us", "eu", "apac", "us-gov", "global", "ca", "jp", "au"} and rest:
        return [f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}",
                f"arn:{partition}:bedrock:*::foundation-model/{rest}"]
    return [f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"]
