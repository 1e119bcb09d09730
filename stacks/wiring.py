"""Each function's role and environment, from its declaration in stacks/steps.py.

`Wiring` holds what the stack has built (buckets, tables, the endpoint, the state machine,
the topics, the WebSocket stage). `wire` gives every function exactly what its `Step` names:
its S3 prefixes, its tables, its capabilities (each on its one resource) and the variables of
its settings models, taken from the values the stack provides. A required variable the
stack cannot provide fails the synth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import (
    aws_dynamodb as dynamodb,
    aws_iam as iam,
    aws_s3 as s3,
    aws_sns as sns,
    aws_stepfunctions as sfn,
)

from lambdas.common.settings import variables
from stacks.config import VideoFlowConfig
from stacks.nag import acknowledge, logical_id, object_wildcard
from stacks.steps import INGEST, STEPS, Capability, Step

if TYPE_CHECKING:  # stacks.functions builds the functions and wires them with this module
    from stacks.functions import PipelineFunction

OBJECT_REASONS = {
    INGEST: "Originals live under the upload prefix, each under a key chosen when it is uploaded.",
    "output": "Objects live under a per-job prefix (the job id is decided at run time).",
}
# Actions AWS offers on Resource "*" only, with the reason (PipelineFunction acknowledges them).
UNSCOPED = {Capability.PROBE_MEDIA: {"mediaconvert:Probe": "MediaConvert Probe has no resource-level permissions."}}


def unscoped_actions(step: Step) -> dict[str, str]:
    return {action: why for capability in step.capabilities for action, why in UNSCOPED.get(capability, {}).items()}


@dataclass
class Wiring:
    config: VideoFlowConfig
    buckets: dict[str, s3.IBucket]  # INGEST, OUTPUT
    tables: dict[str, dynamodb.ITable]  # jobs, events, budget, leases, idempotency, connections
    environment: dict[str, str]  # every variable the stack can provide, by name
    state_machine: sfn.StateMachine
    endpoint_arn: str  # the embedding endpoint
    component_arn: str  # its model, the inference component
    notifications: sns.Topic
    manage_connections_arn: str
    manage_connections_finding: str


def wire(scope, functions: dict[str, PipelineFunction], wiring: Wiring) -> None:
    for step in STEPS:
        function = functions[step.function]
        _environment(step, function, wiring.environment)
        _s3(step, function, wiring)
        for access in step.tables:
            table = wiring.tables[access.table].table_arn
            function.allow(list(access.actions), [f"{table}/index/{access.index}" if access.index else table])
        for capability in step.capabilities:
            _CAPABILITIES[capability](scope, function, wiring)


def function_memory_mb(config: VideoFlowConfig) -> str:
    """FUNCTION_MEMORY_MB for record_cost: every function's memory size, as deployed."""
    return json.dumps({step.function: step.memory_mb for step in STEPS} |
                      {"render_short_clip": config.render_lambda_memory_mb})


def _environment(step: Step, function: PipelineFunction, provided: dict[str, str]) -> None:
    for name, required in variables(*step.settings).items():
        if name in provided:
            function.function.add_environment(name, provided[name])
        elif required:
            raise ValueError(f"{step.function} reads {name}, which the stack does not provide")


def _s3(step: Step, function: PipelineFunction, wiring: Wiring) -> None:
    for access in step.s3:
        bucket = wiring.buckets[access.bucket]
        if access.actions:
            function.allow(list(access.actions), [bucket.arn_for_objects(f"{access.prefix}*")])
            acknowledge(function.role, {object_wildcard(bucket, access.prefix): OBJECT_REASONS[access.bucket]})
        if access.listing:
            function.allow(["s3:ListBucket"], [bucket.bucket_arn], {"StringLike": {"s3:prefix": [f"{access.prefix}*"]}})


def _executions(wiring: Wiring) -> tuple[str, str]:
    """This workflow's executions (each named by its job id), and their cdk-nag finding."""
    machine = wiring.state_machine
    arn = cdk.Stack.of(machine).format_arn(
        service="states", resource="execution", resource_name=f"{machine.state_machine_name}:*",
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )
    finding = ("AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
               f"execution:<{logical_id(machine)}.Name>:*]")
    return arn, finding


def _read_history(scope, function: PipelineFunction, wiring: Wiring) -> None:
    # A policy of its own, not the role's default one: a function the workflow invokes (record_cost)
    # must not wait for a policy that names the workflow (a cycle).
    executions, finding = _executions(wiring)
    policy = iam.Policy(scope, f"{function.name}ReadsHistory", roles=[function.role], statements=[
        iam.PolicyStatement(actions=["states:GetExecutionHistory"], resources=[executions])])
    acknowledge(policy, {finding: "Reads the history of this workflow's executions only; each is named by its job id."})


def _redrive_and_stop(scope, function: PipelineFunction, wiring: Wiring) -> None:
    executions, finding = _executions(wiring)
    function.allow(["states:RedriveExecution", "states:StopExecution"], [executions])
    acknowledge(function.role, {finding: "Executions of the job workflow only; an execution's name is its job id, "
                                         "known at request time."})


def _set_inference_floor(scope, function: PipelineFunction, wiring: Wiring) -> None:
    # RegisterScalableTarget on an inference component: Application Auto Scaling also checks that the caller
    # may describe the component and update its copies (Application Auto Scaling user guide, "Permissions
    # required for API actions on target services"); the functions call both themselves too.
    targets = cdk.Stack.of(scope).format_arn(service="application-autoscaling", resource="scalable-target",
                                             resource_name="*")
    # A long job's copy is asked for later, by a scheduled action on the same target (inference_floor.hold).
    function.allow(["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScheduledAction",
                    "application-autoscaling:DeleteScheduledAction"], [targets])
    function.allow(["sagemaker:DescribeInferenceComponent", "sagemaker:UpdateInferenceComponentRuntimeConfig"],
                   [wiring.component_arn])
    acknowledge(function.role, {
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:application-autoscaling:<AWS::Region>:<AWS::AccountId>:"
        "scalable-target/*]": "A scalable target's ARN ends in an id Application Auto Scaling assigns when the stack "
                              "registers it; the SageMaker permissions beside it name the one inference component.",
    })


def _invoke_endpoint(scope, function: PipelineFunction, wiring: Wiring) -> None:
    # InvokeEndpoint with InferenceComponentName: granted on the endpoint and on the component it names;
    # DescribeInferenceComponent tells whether the component has a copy (else the function embeds on CPU).
    function.allow(["sagemaker:InvokeEndpoint"], [wiring.endpoint_arn, wiring.component_arn])
    function.allow(["sagemaker:DescribeInferenceComponent"], [wiring.component_arn])


def _publish_notification(scope, function: PipelineFunction, wiring: Wiring) -> None:
    topic = wiring.notifications
    function.allow(["sns:Publish"], [topic.topic_arn])
    # Publishing to an encrypted topic: SNS asks the topic's key for a data key, as the publisher.
    function.allow(["kms:GenerateDataKey", "kms:Decrypt"], [topic.master_key.key_arn])


def _manage_connections(scope, function: PipelineFunction, wiring: Wiring) -> None:
    function.allow(["execute-api:ManageConnections"], [wiring.manage_connections_arn])
    acknowledge(function.role, {wiring.manage_connections_finding: "Posting to connections of this API's stage only; "
                                "connection ids are assigned by API Gateway at connect time."})


def _invoke_model(scope, function: PipelineFunction, wiring: Wiring) -> None:
    if wiring.config.bedrock_model_id:  # no model configured: the local planner, and no permission
        function.allow(["bedrock:InvokeModel"], bedrock_model_arns(wiring.config.bedrock_model_id))


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


_CAPABILITIES = {
    Capability.PROBE_MEDIA: lambda scope, fn, wiring: None,  # on "*": granted with the function (unscoped)
    Capability.INVOKE_ENDPOINT: _invoke_endpoint,
    Capability.SET_INFERENCE_FLOOR: _set_inference_floor,
    Capability.READ_EXECUTION_HISTORY: _read_history,
    Capability.START_EXECUTION: lambda scope, fn, wiring: wiring.state_machine.grant_start_execution(fn.role),
    Capability.REDRIVE_AND_STOP: _redrive_and_stop,
    Capability.INVOKE_MODEL: _invoke_model,
    Capability.PUBLISH_NOTIFICATION: _publish_notification,
    Capability.PUT_EVENTS: lambda scope, fn, wiring: fn.allow(["events:PutEvents"], [cdk.Stack.of(scope).format_arn(
        service="events", resource="event-bus", resource_name="default")]),
    Capability.MANAGE_CONNECTIONS: _manage_connections,
}
