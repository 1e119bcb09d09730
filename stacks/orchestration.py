"""Layer 02, orchestration: the job's state machine and the EventBridge rules that start and follow it.

The state machine runs the workflow of stacks/workflow.py (standard, X-Ray traced, every event
logged with its data, a timeout on the whole execution). Its role gets what CDK's tasks do not
grant, each acknowledgement with its reason; MediaConvert runs as a role of its own. An object
created under the upload prefix starts a job (start_pipeline); an execution that fails, times
out, is stopped or is redriven is recorded by compensate. EventBridge retries each delivery,
then parks the event in the dead-letter queue (stacks/operations.py).

The state machine, its log group and the two roles work in flight runs as were children of the
pipeline layer before this construct existed; they keep those logical ids (stacks/logical_ids.py).
The executions are the jobs' history (the jobs API redrives them, record_cost reads them, the local
runner finds the machine by its id); a running execution keeps the role it started with, and a
MediaConvert job the role it was given, so a replaced role would fail the jobs running at deploy time.
"""

import aws_cdk as cdk
from aws_cdk import (
    aws_events as events,
    aws_events_targets as targets,
    aws_iam as iam,
    aws_logs as logs,
    aws_sqs as sqs,
    aws_stepfunctions as sfn,
)
from constructs import Construct

from lambdas.common.constants import DERIVATIVES_PREFIX, INGEST_PREFIX, TRANSCRIPTS_PREFIX
from stacks.analysis import FrameWorkers
from stacks.config import VideoFlowConfig
from stacks.functions import PipelineFunction
from stacks.logical_ids import keep_logical_id
from stacks.nag import acknowledge, any_task_definition_revision, logical_id, object_wildcard
from stacks.render import Renderer
from stacks.state import StateLayer
from stacks.steps import INGEST, OUTPUT, STEPS
from stacks.transcriber import WhisperTranscriber
from stacks.wiring import OBJECT_REASONS
from stacks.workflow import JobWorkflow

READ_ORIGINAL = ["s3:GetObject", "s3:GetObjectVersion"]


class Orchestration(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: dict[str, PipelineFunction],
                 state: StateLayer, renderer: Renderer, frame_workers: FrameWorkers, dead_letters: sqs.IQueue,
                 config: VideoFlowConfig, transcriber: WhisperTranscriber | None = None):
        """`functions`: every step's function by name, and render_short_clip (the renderer's)."""
        super().__init__(scope, construct_id)
        self._dead_letters = dead_letters
        self.mediaconvert_role = self._mediaconvert_role(state)
        workflow = JobWorkflow(self, "Workflow", functions=functions, mediaconvert_role=self.mediaconvert_role,
                               frame_workers=frame_workers, renderer=renderer,
                               output_bucket=state.output_bucket, config=config, transcriber=transcriber)
        log_group = logs.LogGroup(
            self, "WorkflowLogs",
            retention=logs.RetentionDays[config.log_retention],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        keep_logical_id(log_group, "PipelineWorkflowLogs1AADE2D6")
        self.state_machine = sfn.StateMachine(
            self, "JobStateMachine",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(workflow.chain),
            timeout=cdk.Duration.seconds(config.workflow_timeout_s),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        keep_logical_id(self.state_machine, "PipelineJobStateMachine48831808")
        keep_logical_id(self.state_machine.role, "PipelineJobStateMachineRoleC611A6B0")
        self._complete_role(workflow, functions, renderer, state)
        self.upload_rule = self._trigger(state, functions["start_pipeline"])
        self.failure_rule, self.redrive_rule = self._on_execution_status(functions["compensate"])

    def _complete_role(self, workflow: JobWorkflow, functions: dict[str, PipelineFunction], renderer: Renderer,
                       state: StateLayer) -> None:
        """What the workflow's tasks need beyond CDK's own grants, and the reason for each wildcard."""
        if workflow.transcribe_s3_resources:  # none with transcriber: whisper (its job role reads and writes)
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
            any_task_definition_revision(renderer.task_definition):
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
                for fn in [*(functions[step.function] for step in STEPS if step.state), functions["render_short_clip"]]
            },
        })

    def _mediaconvert_role(self, state: StateLayer) -> iam.Role:
        """MediaConvert reads the upload prefix and writes the derivatives prefix, nothing else."""
        role = iam.Role(
            self, "MediaConvertRole",
            assumed_by=iam.ServicePrincipal("mediaconvert.amazonaws.com"),
            description="VideoFlow MediaConvert: read originals, write derivatives",
        )
        keep_logical_id(role, "PipelineMediaConvertRoleDFACCC9D")
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

    def _trigger(self, state: StateLayer, start_pipeline: PipelineFunction) -> events.Rule:
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
            start_pipeline,
        )

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

    def _rule(self, rule_id: str, description: str, pattern: events.EventPattern,
              target: PipelineFunction) -> events.Rule:
        """An EventBridge rule to a function; EventBridge retries, then parks an undeliverable event in the DLQ."""
        rule = events.Rule(self, rule_id, description=description, event_pattern=pattern)
        rule.add_target(targets.LambdaFunction(
            target.function,
            dead_letter_queue=self._dead_letters,
            retry_attempts=8,
            max_event_age=cdk.Duration.hours(24),
        ))
        return rule
