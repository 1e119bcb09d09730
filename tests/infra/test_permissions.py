"""The template's IAM, asked the questions AWS asks at run time (videoflow.local.iam, as the local run uses it).

Each test names a call the deployed stack makes and the principal that makes it; each of these was
denied by the template before its fix (see the README, "What the local run proves").
"""

import pytest

from tests.infra import cfn
from videoflow.local.access import LocalAccess, authorize_integration, dependent_requests
from videoflow.local.iam import AccessDenied
from videoflow.local.template import ACCOUNT, REGION, LocalTemplate


@pytest.fixture(scope="module")
def local(template_dict) -> LocalTemplate:
    return LocalTemplate(template_dict)


@pytest.fixture(scope="module")
def access(local) -> LocalAccess:
    return LocalAccess(local)


def function_id(local: LocalTemplate, step: str) -> str:
    return cfn.step_functions(local.template)[step]


def role_of(access: LocalAccess, local: LocalTemplate, step: str):
    return access.function_principal(function_id(local, step), f"function {step}")


def execution_arn(local: LocalTemplate) -> str:
    (machine,) = local.of_type("AWS::StepFunctions::StateMachine")
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{local.names[machine]}:0123abcd"


def test_record_cost_may_read_the_history_of_its_own_execution(access, local):
    access.check(role_of(access, local, "record_cost"), "states:GetExecutionHistory", execution_arn(local))


def test_record_cost_may_not_read_another_state_machines_executions(access, local):
    with pytest.raises(AccessDenied):
        access.check(role_of(access, local, "record_cost"), "states:GetExecutionHistory",
                     f"arn:aws:states:{REGION}:{ACCOUNT}:execution:SomethingElse:1")


def test_the_workflow_may_follow_and_terminate_its_frame_job(access, local):
    (queue,) = local.of_type("AWS::Batch::JobQueue")
    (definition,) = local.of_type("AWS::Batch::JobDefinition")
    authorize_integration(access, "batch:submitJob.sync",
                          {"JobQueue": local.arn(queue), "JobDefinition": local.arn(definition)})


def test_a_cloudwatch_alarm_may_publish_to_the_encrypted_alarm_topic(access, local):
    cloudwatch = access.service_principal("cloudwatch.amazonaws.com")
    topic = local.arn(local.find("AWS::SNS::Topic", "PipelineAlarms"))
    source = {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:ExecutionsFailed",
              "aws:SourceAccount": ACCOUNT}

    access.check(cloudwatch, "sns:Publish", topic, source)
    access.check_topic_key(cloudwatch, topic, source)


def test_an_alarm_of_another_account_may_not_publish_to_the_alarm_topic(access, local):
    cloudwatch = access.service_principal("cloudwatch.amazonaws.com")
    topic = local.arn(local.find("AWS::SNS::Topic", "PipelineAlarms"))
    with pytest.raises(AccessDenied):
        access.check(cloudwatch, "sns:Publish", topic, {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:999:alarm:x",
                                                        "aws:SourceAccount": "999"})


def test_notify_may_publish_to_the_encrypted_notification_topic(access, local):
    notify = role_of(access, local, "notify")
    topic = local.arn(local.find("AWS::SNS::Topic", "PipelineNotifications"))
    access.check(notify, "sns:Publish", topic)
    access.check_topic_key(notify, topic)


def test_compensate_is_retried_twice_then_parked_in_the_encrypted_dead_letter_queue(access, local, template_dict):
    compensate = function_id(local, "compensate")
    (config,) = [c["Properties"] for c in local.of_type("AWS::Lambda::EventInvokeConfig").values()
                 if c["Properties"]["FunctionName"] == {"Ref": compensate}]
    destination = local.resolve(config["DestinationConfig"]["OnFailure"]["Destination"])
    queue = next(lid for lid in local.of_type("AWS::SQS::Queue") if local.arn(lid) == destination)

    assert config["MaximumRetryAttempts"] == 2
    access.check(role_of(access, local, "compensate"), "sqs:SendMessage", destination)
    assert template_dict["Resources"][queue]["Properties"].get("SqsManagedSseEnabled") or \
        template_dict["Resources"][queue]["Properties"].get("KmsMasterKeyId")


def inference_component(local: LocalTemplate) -> tuple[str, str]:
    """The embedding model's inference component: its name and its ARN as SageMaker writes it."""
    (component,) = local.of_type("AWS::SageMaker::InferenceComponent").values()
    name = component["Properties"]["InferenceComponentName"]
    return name, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{name}"


def endpoint_arn(local: LocalTemplate) -> str:
    (endpoint,) = local.of_type("AWS::SageMaker::Endpoint")
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{local.names[endpoint]}"


FLOOR_SETTERS = ["warm_inference", "release_inference", "compensate", "handle_failure", "stall_monitor"]


@pytest.mark.parametrize("step", FLOOR_SETTERS)
def test_the_steps_that_hold_or_release_the_model_may_set_its_copies_and_its_lease(access, local, step):
    name, component = inference_component(local)
    leases = local.arn(local.find("AWS::DynamoDB::Table", "PipelineInferenceLeases"))
    principal = role_of(access, local, step)

    # RegisterScalableTarget on inference-component/<name>: Application Auto Scaling also asks for the two
    # SageMaker actions on the component, which the step calls itself as well.
    for action in ("RegisterScalableTarget", "PutScheduledAction", "DeleteScheduledAction"):
        access.check(principal, f"application-autoscaling:{action}",
                     f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/0123456789ab")
    params = {"ServiceNamespace": "sagemaker", "ResourceId": f"inference-component/{name}"}
    assert dependent_requests("application-autoscaling", "RegisterScalableTarget", params)
    for action, resource in dependent_requests("application-autoscaling", "RegisterScalableTarget", params):
        access.check(principal, action, resource)
    for action in ("sagemaker:DescribeInferenceComponent", "sagemaker:UpdateInferenceComponentRuntimeConfig"):
        access.check(principal, action, component)
    for action in ("dynamodb:GetItem", "dynamodb:UpdateItem"):
        access.check(principal, action, leases)
    assert name == name.lower()


@pytest.mark.parametrize("step", FLOOR_SETTERS)
def test_the_steps_that_hold_or_release_the_model_may_not_touch_another_component_nor_invoke(access, local, step):
    _, component = inference_component(local)
    principal = role_of(access, local, step)

    with pytest.raises(AccessDenied):
        access.check(principal, "sagemaker:UpdateInferenceComponentRuntimeConfig",
                     f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/someone-elses")
    with pytest.raises(AccessDenied):
        access.check(principal, "sagemaker:InvokeEndpoint", component)


@pytest.mark.parametrize("step", ["keyframe_inference", "search_api"])
def test_the_steps_that_embed_may_invoke_the_model_by_its_lower_case_arns_and_ask_whether_it_has_a_copy(
        access, local, step):
    _, component = inference_component(local)
    principal = role_of(access, local, step)

    for resource in (endpoint_arn(local), component):
        access.check(principal, "sagemaker:InvokeEndpoint", resource)
    access.check(principal, "sagemaker:DescribeInferenceComponent", component)
    assert endpoint_arn(local) == endpoint_arn(local).lower()


@pytest.mark.parametrize("step", ["keyframe_inference", "search_api"])
def test_the_steps_that_embed_may_not_change_the_copies_nor_invoke_another_endpoint(access, local, step):
    _, component = inference_component(local)
    principal = role_of(access, local, step)

    with pytest.raises(AccessDenied):
        access.check(principal, "sagemaker:UpdateInferenceComponentRuntimeConfig", component)
    with pytest.raises(AccessDenied):
        access.check(principal, "sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/other")


def test_eventbridge_may_start_the_pipeline_only_from_the_upload_rule(access, local):
    events = access.service_principal("events.amazonaws.com")
    start = local.arn(function_id(local, "start_pipeline"))
    upload_rule = local.arn(local.find("AWS::Events::Rule", "PipelineOrchestrationUploadCreated"))

    access.check(events, "lambda:InvokeFunction", start, {"aws:SourceArn": upload_rule})
    with pytest.raises(AccessDenied):
        access.check(events, "lambda:InvokeFunction", start,
                     {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/someone-elses"})


def test_the_frame_job_is_cancelled_if_it_cannot_start_instead_of_waiting_runnable_for_ever(template_dict):
    (queue,) = [r["Properties"] for r in template_dict["Resources"].values() if r["Type"] == "AWS::Batch::JobQueue"]
    actions = queue["JobStateTimeLimitActions"]

    assert {a["Reason"] for a in actions} >= {"MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
                                              "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"}
    assert all(a["Action"] == "CANCEL" and a["State"] == "RUNNABLE" and a["MaxTimeSeconds"] <= 3600 for a in actions)
