"""Layers 02 and 03: the functions, the MediaConvert role, the workflow and its trigger."""

import json

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
    ANALYSIS_PREFIX,
    CAPTIONS_PREFIX,
    CLIPS_PREFIX,
    DERIVATIVES_PREFIX,
    INGEST_PREFIX,
    MANIFESTS_PREFIX,
    OUTPUTS_PREFIX,
    TRANSCRIPTS_PREFIX,
)
from lambdas.common.jobs import FINGERPRINT_INDEX
from stacks.analysis import FRAME_WORKER_MEMORY_MB, FRAME_WORKER_VCPU, FrameWorkers, Network
from stacks.api import SearchApi
from stacks.config import VideoFlowConfig
from stacks.functions import RUNTIME, PipelineFunction, lambda_code
from stacks.inference import VARIANT, InferenceEndpoint
from stacks.jobs_api import JobsApi, LivePush, StallMonitor
from stacks.nag import acknowledge, any_task_definition_revision, logical_id, object_wildcard
from stacks.render import Renderer
from stacks.state import StateLayer
from stacks.workflow import JobWorkflow

READ_ORIGINAL = ["s3:GetObject", "s3:GetObjectVersion"]
ORIGINALS_WILDCARD = "Reads any original under the upload prefix: object names are chosen by uploaders."
PER_JOB_WILDCARD = "Objects live under a per-job prefix (the job id is decided at run time)."

NEEDS_NUMPY = {"keyframe_inference", "search_api"}

# Actions AWS offers on Resource "*" only, per function, with the reason.
UNSCOPED_ACTIONS = {
    "probe_media": {"mediaconvert:Probe": "MediaConvert Probe has no resource-level permissions."},
}
# The functions that move the endpoint's instance floor (RegisterScalableTarget).
FLOOR_SETTERS = ("warm_inference", "release_inference", "compensate")

# name -> (timeout s, memory MB, purpose)
STEP_FUNCTIONS = {
    "validate_upload": (30, 256, "Checks the key, the size and the magic bytes of an upload"),
    "probe_media": (120, 256, "Reads duration, streams and orientation with MediaConvert Probe"),
    "enforce_limits": (10, 128, "Rejects media beyond the configured limits"),
    "register_job": (10, 128, "Creates the job record"),
    "check_duplicate": (10, 128, "Finds an earlier completed job with the same content"),
    "build_mediaconvert_job": (10, 128, "Builds the one MediaConvert job for the three derivatives"),
    "record_derivatives": (60, 256, "Checks and records the proxy, audio and frames"),
    "build_frame_manifest": (60, 256, "Splits the frames into chunks for the vision work"),
    "normalize_transcript": (60, 512, "Turns Transcribe output into the canonical transcript"),
    "build_captions": (30, 256, "Writes WebVTT and SRT captions from the transcript"),
    "aggregate_frames": (120, 1024, "Merges the frame workers' chunk results into one timeline"),
    "detect_shots": (60, 512, "Finds the hard cuts in the frame timeline"),
    "warm_inference": (30, 128, "Raises the inference endpoint's floor while the job runs"),
    "keyframe_inference": (300, 1024, "Embeds transcript segments and shot descriptions into a search index"),
    "release_inference": (30, 128, "Lets the inference endpoint scale back when no job needs it"),
    "check_budget": (15, 128, "Opens the job's model budget (tokens, calls, time) and reports what is left"),
    "summarize_video": (150, 512, "Titles and summarizes the video (Bedrock within budget, else extractive)"),
    "plan_clips": (150, 512, "Drafts the clip plan (Bedrock within budget, else the local planner)"),
    "validate_plan": (30, 256, "Clamps or rejects the drafted clips: inside the video, no overlaps, bounded"),
    "build_render_specs": (30, 256, "Writes one render spec per clip and chooses Lambda or Fargate for it"),
    "record_render": (60, 256, "Checks each rendered clip's length, codec and size from its MP4 header"),
    "record_cost": (60, 256, "Computes the job's cost by service and stores it with the job"),
    "publish_results": (30, 256, "Writes the job manifest and completes the job"),
    "notify": (30, 128, "Announces a completed job on EventBridge and SNS"),
    "compensate": (60, 256, "Records a failed execution, removes half-written renders, releases the endpoint"),
    "handle_failure": (30, 256, "Records why a job was rejected or failed"),
}

JUDGMENT_FUNCTIONS = ("check_budget", "summarize_video", "plan_clips")


class PipelineLayer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, state: StateLayer, config: VideoFlowConfig):
        super().__init__(scope, construct_id)
        code = lambda_code()
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-{RUNTIME.name.replace('.', '')}-x86_64:{config.powertools_layer_version}",
        )
        environment = {
            "JOBS_TABLE": state.jobs_table.table_name,
            "EVENTS_TABLE": state.events_table.table_name,
            "INGEST_BUCKET": state.ingest_bucket.bucket_name,
            "OUTPUT_BUCKET": state.output_bucket.bucket_name,
            **config.function_environment(),
        }

        # numpy for the functions that search or embed (the public AWS SDK for pandas layer).
        numpy_layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Numpy",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:336392948345:layer:"
            f"AWSSDKPandas-{RUNTIME.name.replace('python3.', 'Python3')}:{config.pandas_layer_version}",
        )

        def function(name: str, timeout_s: int, memory_mb: int, description: str, extra_env=None,
                     **options) -> PipelineFunction:
            return PipelineFunction(
                self, name, code=code, layer=layer, config=config, description=description,
                extra_layers=[numpy_layer] if name in NEEDS_NUMPY else None,
                environment={**environment, **(extra_env or {})}, unscoped_actions=UNSCOPED_ACTIONS.get(name),
                timeout=cdk.Duration.seconds(timeout_s), memory_mb=memory_mb, **options,
            )

        self.mediaconvert_role = self._mediaconvert_role(state)
        self.network = Network(self, "Network")
        self.inference = InferenceEndpoint(self, "Inference", network=self.network, config=config,
                                           capture_bucket=state.output_bucket)
        environment.update({
            "INFERENCE_ENDPOINT_NAME": self.inference.endpoint_name,
            "INFERENCE_VARIANT": VARIANT,
            "INFERENCE_LEASES_TABLE": self.inference.leases.table_name,
            "INFERENCE_IDLE_INSTANCES": str(config.inference_idle_instances),
            "INFERENCE_WARM_INSTANCES": str(config.inference_warm_instances),
            "INFERENCE_MAX_INSTANCES": str(config.inference_max_instances),
        })
        environment.update({
            "BUDGET_TABLE": state.budget_table.table_name,
            "BEDROCK_MODEL_ID": config.bedrock_model_id,
            **config.render_environment(),
            "RENDER_TASK_VCPU": str(config.render_task_vcpu),
            "RENDER_TASK_MEMORY_MB": str(config.render_task_memory_mb),
        })
        self.topic_key = self._topic_key()
        self.dead_letters = self._dead_letters()
        self.notifications = self._topic("Notifications", "VideoFlow job notifications")
        environment["NOTIFY_TOPIC_ARN"] = self.notifications.topic_arn
        # compensate runs from EventBridge (asynchronously): Lambda retries it twice, then parks the
        # event with the dead letters (and their alarm), so a failed job is never left RUNNING unseen.
        async_options = {"compensate": {"async_retry_attempts": 2,
                                        "on_failure": destinations.SqsDestination(self.dead_letters)}}
        fns = {name: function(name, *spec, **async_options.get(name, {})) for name, spec in STEP_FUNCTIONS.items()}
        self.renderer = Renderer(self, "Render", network=self.network, state=state, config=config,
                                 environment=environment)
        fns["render_short_clip"] = self.renderer.short_clip
        fns["build_mediaconvert_job"].function.add_environment("MEDIACONVERT_ROLE_ARN", self.mediaconvert_role.role_arn)
        for name, value in {
            "FUNCTION_MEMORY_MB": json.dumps({n: spec[1] for n, spec in STEP_FUNCTIONS.items()}
                                             | {"start_pipeline": 256, "search_api": 1024,
                                                "render_short_clip": config.render_lambda_memory_mb}),
            "INFERENCE_INSTANCE_TYPE": config.inference_instance_type,
            "FRAME_WORKER_VCPU": str(FRAME_WORKER_VCPU),
            "FRAME_WORKER_MEMORY_MB": str(FRAME_WORKER_MEMORY_MB),
        }.items():
            fns["record_cost"].function.add_environment(name, value)
        self.functions = fns
        self._grant(fns, state)
        self._grant_judgment(fns, state, config)

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
                for fn in fns.values()
            },
        })

        self.alarm_topic = self._alarm_topic()
        self.start_pipeline = function(
            "start_pipeline", 30, 256, "Starts one workflow per uploaded object version",
            extra_env={
                "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "IDEMPOTENCY_TABLE": state.idempotency_table.table_name,
            },
            # EventBridge invokes it asynchronously: Lambda retries, then parks the event here.
            async_retry_attempts=2,
            on_failure=destinations.SqsDestination(self.dead_letters),
        )
        self.state_machine.grant_start_execution(self.start_pipeline.role)
        self.start_pipeline.allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [state.idempotency_table.table_arn],
        )
        self.start_pipeline.allow(["dynamodb:Query", "dynamodb:PutItem"], [state.events_table.table_arn])
        self.functions["start_pipeline"] = self.start_pipeline
        self.search = function("search_api", 15, 1024, "Answers GET /jobs/{id}/search from the job's index")
        self.search.allow(["sagemaker:InvokeEndpoint"], [self.inference.endpoint_arn])
        self.search.allow(["s3:GetObject"], [state.output_bucket.arn_for_objects(f"{ANALYSIS_PREFIX}*")])
        acknowledge(self.search.role, {object_wildcard(state.output_bucket, ANALYSIS_PREFIX): PER_JOB_WILDCARD})
        self.functions["search_api"] = self.search
        self.api = SearchApi(self, "Api", search=self.search, config=config)
        self.jobs_api = JobsApi(self, "JobsApi", rest_api=self.api.api, make_function=function, state=state,
                                state_machine=self.state_machine)
        self.live_push = LivePush(self, "LivePush", make_function=function, state=state, config=config)
        self.stall_monitor = StallMonitor(self, "StallMonitor", make_function=function, state=state,
                                          alarm_topic=self.alarm_topic, threshold_min=config.stall_after_min)
        self.upload_rule = self._trigger(state)
        self.failure_rule, self.redrive_rule = self._on_execution_status(fns["compensate"])
        self._alarms()

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
            object_wildcard(state.ingest_bucket, INGEST_PREFIX): ORIGINALS_WILDCARD,
            object_wildcard(state.output_bucket, DERIVATIVES_PREFIX): PER_JOB_WILDCARD,
        })
        return role

    def _grant(self, fns: dict[str, PipelineFunction], state: StateLayer) -> None:
        """Each function gets the exact actions its logic calls, on the exact resources."""
        events_table, jobs_table = state.events_table.table_arn, state.jobs_table.table_arn
        ingest, output = state.ingest_bucket, state.output_bucket
        for fn in fns.values():
            fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [events_table])
        for name in ("validate_upload", "probe_media"):
            fns[name].allow(READ_ORIGINAL, [ingest.arn_for_objects(f"{INGEST_PREFIX}*")])
            acknowledge(fns[name].role, {object_wildcard(ingest, INGEST_PREFIX): ORIGINALS_WILDCARD})
        scalable_targets = cdk.Stack.of(self).format_arn(service="application-autoscaling", resource="scalable-target",
                                                         resource_name="*")
        for name in FLOOR_SETTERS:
            fns[name].allow(["dynamodb:UpdateItem"], [self.inference.leases.table_arn])
            # Registering a SageMaker variant's target also needs these on the endpoint itself
            # (Application Auto Scaling user guide, "Permissions for registering scalable targets").
            fns[name].allow(["application-autoscaling:RegisterScalableTarget"], [scalable_targets])
            fns[name].allow(["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
                            [self.inference.endpoint_arn])
            acknowledge(fns[name].role, {
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:application-autoscaling:<AWS::Region>:"
                "<AWS::AccountId>:scalable-target/*]": "A scalable target's ARN ends in an id Application Auto "
                                                      "Scaling assigns when the stack registers it; the endpoint "
                                                      "permissions beside it name the one endpoint.",
            })
        fns["keyframe_inference"].allow(["sagemaker:InvokeEndpoint"], [self.inference.endpoint_arn])
        # Without ListBucket S3 answers 403 rather than 404 for a missing key.
        fns["validate_upload"].allow(
            ["s3:ListBucket"], [ingest.bucket_arn], {"StringLike": {"s3:prefix": [f"{INGEST_PREFIX}*"]}}
        )
        for name in ("register_job", "publish_results", "handle_failure", "record_derivatives", "record_cost",
                     "compensate"):
            fns[name].allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [jobs_table])
        fns["check_duplicate"].allow(
            ["dynamodb:GetItem", "dynamodb:Query"], [jobs_table, f"{jobs_table}/index/{FINGERPRINT_INDEX}"]
        )
        for name in ("record_derivatives", "build_frame_manifest"):
            fns[name].allow(
                ["s3:ListBucket"], [output.bucket_arn], {"StringLike": {"s3:prefix": [f"{DERIVATIVES_PREFIX}*"]}}
            )
        for name, actions, prefix in (
            ("normalize_transcript", ["s3:GetObject", "s3:PutObject"], TRANSCRIPTS_PREFIX),
            ("build_captions", ["s3:GetObject"], TRANSCRIPTS_PREFIX),
            ("build_captions", ["s3:PutObject"], CAPTIONS_PREFIX),
            ("aggregate_frames", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("aggregate_frames", ["s3:GetObject"], MANIFESTS_PREFIX),  # which chunks to merge
            ("detect_shots", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("publish_results", ["s3:GetObject"], ANALYSIS_PREFIX),
            ("keyframe_inference", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("keyframe_inference", ["s3:GetObject"], TRANSCRIPTS_PREFIX),
            ("record_derivatives", ["s3:GetObject"], DERIVATIVES_PREFIX),
            ("build_frame_manifest", ["s3:PutObject"], MANIFESTS_PREFIX),
            ("publish_results", ["s3:GetObject"], MANIFESTS_PREFIX),
            ("publish_results", ["s3:PutObject"], OUTPUTS_PREFIX),
            ("handle_failure", ["s3:PutObject"], OUTPUTS_PREFIX),
            ("compensate", ["s3:PutObject"], OUTPUTS_PREFIX),
        ):
            fns[name].allow(actions, [output.arn_for_objects(f"{prefix}*")])
            acknowledge(fns[name].role, {object_wildcard(output, prefix): PER_JOB_WILDCARD})

    def _grant_judgment(self, fns: dict[str, PipelineFunction], state: StateLayer, config: VideoFlowConfig) -> None:
        """Judgment, render bookkeeping and notification: the budget table, the model, the clips prefix."""
        output = state.output_bucket
        for name in JUDGMENT_FUNCTIONS:
            fns[name].allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [state.budget_table.table_arn])
        if config.bedrock_model_id:
            for name in ("summarize_video", "plan_clips"):
                fns[name].allow(["bedrock:InvokeModel"], bedrock_model_arns(config.bedrock_model_id))
        for name, actions, prefix in (
            ("summarize_video", ["s3:GetObject"], TRANSCRIPTS_PREFIX),
            ("summarize_video", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("plan_clips", ["s3:GetObject"], TRANSCRIPTS_PREFIX),
            ("plan_clips", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("validate_plan", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("build_render_specs", ["s3:GetObject", "s3:PutObject"], ANALYSIS_PREFIX),
            ("record_render", ["s3:GetObject"], CLIPS_PREFIX),
            ("compensate", ["s3:DeleteObject"], CLIPS_PREFIX),
        ):
            fns[name].allow(actions, [output.arn_for_objects(f"{prefix}*")])
            acknowledge(fns[name].role, {object_wildcard(output, prefix): PER_JOB_WILDCARD})
        for name in ("record_render", "compensate"):
            fns[name].allow(["s3:ListBucket"], [output.bucket_arn], {"StringLike": {"s3:prefix": [f"{CLIPS_PREFIX}*"]}})
        fns["notify"].allow(["events:PutEvents"], [cdk.Stack.of(self).format_arn(
            service="events", resource="event-bus", resource_name="default")])
        self.notifications.grant_publish(fns["notify"].role)  # sns:Publish and the topic key's data keys
        acknowledge(fns["notify"].role, {"AwsSolutions-IAM5[Action::kms:GenerateDataKey*]":
                                         "Added by CDK's grantPublish on the topics' own key: publishing to an "
                                         "encrypted topic needs a data key of any kind from that one key."})

    def _on_execution_status(self, compensate: PipelineFunction) -> tuple[events.Rule, events.Rule]:
        """The execution's status changes -> compensate, which records them (the workflow does not):
        failed, timed out or stopped; and running again after a redrive (job.retried)."""
        executions = cdk.Stack.of(self).format_arn(
            service="states", resource="execution", resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        finding = ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                   f"execution:<{logical_id(self.state_machine)}.Name>:*]")
        reason = "Reads the history of this workflow's executions only; each is named by its job id."
        # compensate reads why an execution failed.
        compensate.allow(["states:GetExecutionHistory"], [executions])
        acknowledge(compensate.role, {finding: reason})
        # record_cost reads what its own execution used. A policy of its own, not the role's default one:
        # the function must not wait for a policy that names the state machine that invokes it (a cycle).
        history = iam.Policy(self, "RecordCostReadsHistory", roles=[self.functions["record_cost"].role],
                             statements=[iam.PolicyStatement(actions=["states:GetExecutionHistory"],
                                                             resources=[executions])])
        acknowledge(history, {finding: reason})

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
