"""The VideoFlow stack, read from its synthesized template: properties, not only counts.

Each test states one behaviour a reviewer expects of the deployed stack.
"""

import re

import pytest
from aws_cdk.assertions import Match

from lambdas.common.constants import DERIVATIVES_PREFIX, INGEST_PREFIX
from tests.infra import cfn

LAMBDA_TRANSIENT = {"Lambda.TooManyRequestsException", "TransientError"}
MEDIACONVERT_THROTTLED = "MediaConvert.TooManyRequestsException"
HANDLE_FAILURE = "HandleFailure"
# Actions with no resource-level permissions: the only ones allowed on Resource "*".
RESOURCE_STAR_ACTIONS = {
    "mediaconvert:CreateJob", "mediaconvert:GetJob", "mediaconvert:CancelJob", "mediaconvert:Probe",
    # Step Functions' vended-logs delivery to CloudWatch Logs.
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    # Pulling the frame worker's image; following and stopping a Batch .sync job.
    "ecr:GetAuthorizationToken", "batch:DescribeJobs", "batch:TerminateJob",
    # The events stream's event source (push_events): CDK grants ListStreams on "*", as it must.
    "dynamodb:ListStreams",
    # The inference endpoint's floor; what SageMaker needs in a VPC and for its metrics.
    "application-autoscaling:RegisterScalableTarget", "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    # A render task reports on itself by its token; SendTask* take no resource.
    "states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
    # Added by CDK's EcsRunTask: a render task's ARN exists only once it runs.
    "ecs:StopTask", "ecs:DescribeTasks",
}
RESOURCE_STAR_SERVICES = {"xray"}  # X-Ray trace and sampling calls: no resource-level permissions at all
# What Powertools' DynamoDB idempotency persistence layer calls, and nothing else.
POWERTOOLS_IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


# --- helpers ---------------------------------------------------------------------------------------------------


def _bucket_id(synth, name: str) -> str:
    state = synth.stack.state
    bucket = {"ingest": state.ingest_bucket, "output": state.output_bucket, "access_logs": state.access_logs}[name]
    return synth.logical_id(bucket)


def _table_id(synth, name: str) -> str:
    state = synth.stack.state
    table = {"jobs": state.jobs_table, "events": state.events_table, "idempotency": state.idempotency_table}[name]
    return synth.logical_id(table)


def _project_functions(template_dict) -> dict[str, dict]:
    """Every function that runs this project's code (CDK's own custom-resource handlers excluded)."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in cfn.resources(template_dict, cfn.LAMBDA_FUNCTION).items()
        if str(resource["Properties"].get("Handler", "")).startswith("lambdas.")
        # render_short_clip: the render image behind the Lambda runtime interface client
        or resource["Properties"].get("ImageConfig", {}).get("Command") == ["lambda_handler.handler"]
    }


def _task_states(workflow) -> dict[str, dict]:
    return {name: state for name, state, _ in cfn.iter_states(workflow["States"]) if state["Type"] == "Task"}


def _lambda_function_of(task: dict, function_ids: set[str]) -> str | None:
    """The logical id of the function a Task invokes (plain ARN or lambda:invoke form), else None."""
    resource = task["Resource"]
    if resource.endswith(":states:::lambda:invoke") or resource.endswith(":states:::lambda:invoke.waitForTaskToken"):
        resource = task["Parameters"].get("FunctionName", "")
    match = re.fullmatch(r"\$\{(\w+)\.Arn\}(:.*)?", resource)
    if match and match.group(1) in function_ids:
        return match.group(1)
    return None


def _allow_statements(template_dict):
    for logical_id, statement in cfn.statements(template_dict):
        if statement["Effect"] == "Allow":
            yield logical_id, statement


# --- state: buckets --------------------------------------------------------------------------------------------


def test_given_the_ingest_bucket_then_object_versioning_is_enabled(synth):
    props = cfn.properties(synth.template_dict, _bucket_id(synth, "ingest"))
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_then_objects_are_encrypted_at_rest(synth, bucket):
    props = cfn.properties(synth.template_dict, _bucket_id(synth, bucket))
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert [rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules] in (["AES256"], ["aws:kms"])


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_then_all_public_access_is_blocked(synth, bucket):
    props = cfn.properties(synth.template_dict, _bucket_id(synth, bucket))
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }


@pytest.mark.parametrize("bucket", ["ingest", "output", "access_logs"])
def test_given_a_bucket_when_a_request_is_not_over_tls_then_its_bucket_policy_denies_it(synth, template, bucket):
    bucket_id = _bucket_id(synth, bucket)
    template.has_resource_properties("AWS::S3::BucketPolicy", {
        "Bucket": {"Ref": bucket_id},
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Deny",
            "Action": "s3:*",
            "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            # The bucket and every object in it.
            "Resource": [{"Fn::GetAtt": [bucket_id, "Arn"]},
                         {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]}],
        })])},
    })


@pytest.mark.parametrize("bucket", ["ingest", "output"])
def test_given_a_data_bucket_then_server_access_logs_go_to_the_access_log_bucket(synth, bucket):
    logging = cfn.properties(synth.template_dict, _bucket_id(synth, bucket))["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": _bucket_id(synth, "access_logs")}
    assert logging["LogFilePrefix"].endswith("/")


def test_given_the_two_data_buckets_then_their_access_logs_do_not_share_a_prefix(synth):
    prefixes = [
        cfn.properties(synth.template_dict, _bucket_id(synth, b))["LoggingConfiguration"]["LogFilePrefix"]
        for b in ("ingest", "output")
    ]
    assert len(set(prefixes)) == 2, prefixes


@pytest.mark.parametrize("bucket", ["ingest", "output"])
def test_given_a_data_bucket_then_data_is_retained_when_the_stack_is_deleted(synth, bucket):
    resource = synth.template_dict["Resources"][_bucket_id(synth, bucket)]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_given_the_ingest_bucket_when_an_object_is_created_then_s3_sends_the_event_to_eventbridge(synth, template):
    template.has_resource_properties("Custom::S3BucketNotifications", {
        "BucketName": {"Ref": _bucket_id(synth, "ingest")},
        "NotificationConfiguration": Match.object_like({"EventBridgeConfiguration": {}}),
    })


# --- state: tables ---------------------------------------------------------------------------------------------


def test_given_the_jobs_table_then_it_is_keyed_by_job_id(synth):
    props = cfn.properties(synth.template_dict, _table_id(synth, "jobs"))
    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert {"AttributeName": "job_id", "AttributeType": "S"} in props["AttributeDefinitions"]


def test_given_the_events_table_then_it_is_keyed_by_job_id_and_a_numeric_seq(synth):
    props = cfn.properties(synth.template_dict, _table_id(synth, "events"))
    assert props["KeySchema"] == [
        {"AttributeName": "job_id", "KeyType": "HASH"},
        {"AttributeName": "seq", "KeyType": "RANGE"},
    ]
    definitions = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert definitions == {"job_id": "S", "seq": "N"}


@pytest.mark.parametrize("table", ["jobs", "events", "idempotency"])
def test_given_a_table_then_point_in_time_recovery_is_on(synth, table):
    props = cfn.properties(synth.template_dict, _table_id(synth, table))
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize("table", ["jobs", "events", "idempotency"])
def test_given_a_table_then_server_side_encryption_is_on(synth, table):
    props = cfn.properties(synth.template_dict, _table_id(synth, table))
    assert props["SSESpecification"]["SSEEnabled"] is True


# --- orchestration: the state machine --------------------------------------------------------------------------


def test_given_the_state_machine_then_it_is_a_standard_workflow(template):
    template.has_resource_properties(cfn.STATE_MACHINE, {"StateMachineType": "STANDARD"})


def test_given_the_workflow_definition_then_the_whole_execution_has_a_timeout(workflow):
    timeout = workflow.get("TimeoutSeconds")
    assert isinstance(timeout, int) and 0 < timeout <= 24 * 3600, timeout


def test_given_the_state_machine_then_it_logs_all_events_with_execution_data(synth, state_machine_id):
    logging = cfn.properties(synth.template_dict, state_machine_id)["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True


def test_given_the_state_machine_then_its_log_group_has_a_retention(synth, state_machine_id):
    logging = cfn.properties(synth.template_dict, state_machine_id)["LoggingConfiguration"]
    (destination,) = logging["Destinations"]
    log_group = cfn.getatt_target(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    assert cfn.properties(synth.template_dict, log_group)["RetentionInDays"] > 0


def test_given_the_state_machine_then_xray_tracing_is_enabled(synth, state_machine_id):
    assert cfn.properties(synth.template_dict, state_machine_id)["TracingConfiguration"] == {"Enabled": True}


# --- compute: every function -----------------------------------------------------------------------------------


# CDK's own deploy-time handlers: the ingest bucket's EventBridge notifications, and, when cdk.json turns on
# @aws-cdk/aws-ec2:restrictDefaultSecurityGroup, the one that removes every rule of the VPC's default security group.
CDK_HANDLERS = ("BucketNotificationsHandler", "CustomVpcRestrictDefaultSGCustomResourceProvider")


def test_given_the_stack_then_every_function_runs_project_code_except_cdks_deploy_time_handlers(template_dict):
    functions = cfn.resources(template_dict, cfn.LAMBDA_FUNCTION)
    project = _project_functions(template_dict)
    others = set(functions) - set(project)
    assert len(project) >= 11
    assert all(other.startswith(CDK_HANDLERS) for other in others), others


def test_given_every_function_then_timeout_and_memory_are_set_explicitly(template_dict):
    for logical_id, props in _project_functions(template_dict).items():
        assert 1 <= props.get("Timeout", 0) <= 900, logical_id
        assert 128 <= props.get("MemorySize", 0) <= 10240, logical_id


def test_given_every_function_then_xray_tracing_is_active(template_dict):
    for logical_id, props in _project_functions(template_dict).items():
        assert props.get("TracingConfig") == {"Mode": "Active"}, logical_id


def test_given_every_function_then_it_has_a_role_of_its_own(template_dict, state_machine_id):
    functions = _project_functions(template_dict)
    roles = {logical_id: cfn.getatt_target(props["Role"]) for logical_id, props in functions.items()}
    assert len(set(roles.values())) == len(roles), roles
    state_machine_role = cfn.getatt_target(cfn.properties(template_dict, state_machine_id)["RoleArn"])
    assert state_machine_role not in roles.values()
    for role in roles.values():
        (trust,) = cfn.properties(template_dict, role)["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}, role


def test_given_every_function_then_it_logs_to_its_own_log_group_with_a_retention(template_dict):
    log_groups = {}
    for logical_id, props in _project_functions(template_dict).items():
        log_group = cfn.getatt_target(props["LoggingConfig"]["LogGroup"])
        assert cfn.properties(template_dict, log_group)["RetentionInDays"] > 0, logical_id
        log_groups[logical_id] = log_group
    assert len(set(log_groups.values())) == len(log_groups), log_groups


def test_given_every_function_then_the_powertools_layer_for_its_runtime_and_architecture_is_attached(template_dict):
    for logical_id, props in _project_functions(template_dict).items():
        if "ImageConfig" in props:
            continue  # the render image carries its own runtime and needs no Powertools
        layers = [cfn.placeholder(layer) for layer in props.get("Layers", [])]
        runtime = props["Runtime"].replace(".", "")  # python3.13 -> python313
        (architecture,) = props.get("Architectures", ["x86_64"])
        powertools = [
            layer for layer in layers
            if re.search(rf":017000801446:layer:AWSLambdaPowertoolsPythonV3-{runtime}-{architecture}:\d+$", layer)
        ]
        assert len(powertools) == 1, (logical_id, layers)


def test_given_every_function_then_each_lambda_task_waits_at_least_as_long_as_the_function_may_run(
    template_dict, workflow
):
    functions = _project_functions(template_dict)
    for name, task in _task_states(workflow).items():
        function = _lambda_function_of(task, set(functions))
        if function is not None:
            assert task["TimeoutSeconds"] >= functions[function]["Timeout"], name


# --- orchestration: every task state ---------------------------------------------------------------------------


def test_given_the_workflow_then_it_has_lambda_tasks_and_the_mediaconvert_task(template_dict, workflow):
    tasks = _task_states(workflow)
    functions = set(_project_functions(template_dict))
    assert sum(_lambda_function_of(t, functions) is not None for t in tasks.values()) >= 9
    assert "Derivatives" in tasks and HANDLE_FAILURE in tasks


def test_given_every_task_state_then_it_retries_on_error(workflow):
    for name, task in _task_states(workflow).items():
        retriers = task.get("Retry", [])
        assert retriers and all(r["MaxAttempts"] >= 1 and r["ErrorEquals"] for r in retriers), name


def test_given_every_lambda_task_then_throttling_and_transient_errors_are_retried(template_dict, workflow):
    functions = set(_project_functions(template_dict))
    for name, task in _task_states(workflow).items():
        if _lambda_function_of(task, functions) is None:
            continue
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert LAMBDA_TRANSIENT <= retried, (name, retried)


def test_given_every_task_state_then_it_has_a_timeout(workflow, template_dict):
    for name, task in _task_states(workflow).items():
        if task["Resource"].endswith(":batch:submitJob.sync"):
            continue  # bounded by the job definition instead (next test)
        assert isinstance(task.get("TimeoutSeconds"), int) and task["TimeoutSeconds"] > 0, name


def test_given_the_batch_job_then_every_attempt_has_a_timeout_and_attempts_are_bounded(template_dict):
    (definition,) = [r["Properties"] for r in template_dict["Resources"].values()
                     if r["Type"] == "AWS::Batch::JobDefinition"]
    assert definition["Timeout"]["AttemptDurationSeconds"] > 0
    assert 1 <= definition["RetryStrategy"]["Attempts"] <= 10


# Steps that only tune capacity or count cost: their failure skips them, not the job.
BEST_EFFORT = {"WarmInference", "ReleaseInference", "RecordCost", "Notify"}
# The steps that may find the input at fault.
INPUT_CHECKS = {"ValidateUpload", "ProbeMedia", "EnforceLimits"}


def test_given_a_step_that_checks_the_input_when_it_rejects_then_handle_failure_records_it(workflow):
    from lambdas.common.errors import rejection_error_names

    for name in INPUT_CHECKS:
        (catcher,) = workflow["States"][name]["Catch"]
        assert (catcher["ErrorEquals"], catcher["Next"]) == (rejection_error_names(), HANDLE_FAILURE), name
    assert workflow["States"]["Rejected?"]["Choices"][0]["Next"] == "Rejected"


def test_given_any_other_step_when_it_fails_then_the_execution_fails_there_so_a_redrive_resumes_it(workflow):
    for name, state in workflow["States"].items():
        if state["Type"] in ("Task", "Parallel", "Map") and name not in BEST_EFFORT | INPUT_CHECKS | {HANDLE_FAILURE}:
            assert "Catch" not in state, name


def test_given_a_failed_execution_then_compensate_hears_of_it_from_eventbridge(synth, template_dict):
    pipeline = synth.stack.pipeline
    rule = cfn.properties(template_dict, synth.logical_id(pipeline.failure_rule))
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": synth.logical_id(pipeline.state_machine)}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(pipeline.functions["compensate"].function), "Arn"]}
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_given_a_capacity_step_when_it_fails_then_the_job_goes_on_without_it(workflow):
    for name in BEST_EFFORT:
        state = workflow["States"][name]
        (catcher,) = state["Catch"]
        assert catcher["ErrorEquals"] == ["States.ALL"]
        assert workflow["States"][catcher["Next"]]["Next"] == state["Next"]  # skipped, then the same way on


def test_given_handle_failure_when_it_fails_itself_then_the_execution_ends_in_the_fail_state(workflow):
    catchers = workflow["States"][HANDLE_FAILURE]["Catch"]
    targets = {c["Next"] for c in catchers if "States.ALL" in c["ErrorEquals"]}
    assert len(targets) == 1
    assert workflow["States"][targets.pop()]["Type"] == "Fail"


def test_given_the_derivatives_state_then_it_runs_one_mediaconvert_job_and_waits_for_it(workflow):
    derivatives = workflow["States"]["Derivatives"]
    assert derivatives["Resource"] == "arn:${AWS::Partition}:states:::mediaconvert:createJob.sync"


def test_given_the_derivatives_state_then_the_job_settings_come_from_build_mediaconvert_job(workflow):
    parameters = workflow["States"]["Derivatives"]["Parameters"]
    assert parameters["Settings.$"] == "$.mediaconvert.settings"
    assert "Settings" not in parameters


def test_given_the_derivatives_state_then_the_job_runs_as_the_mediaconvert_role(synth, workflow):
    role_id = synth.logical_id(synth.stack.pipeline.mediaconvert_role)
    assert workflow["States"]["Derivatives"]["Parameters"]["Role"] == cfn.arn_of(role_id)


def test_given_the_derivatives_state_when_mediaconvert_throttles_then_the_call_is_retried(workflow):
    retried = {error for retrier in workflow["States"]["Derivatives"]["Retry"] for error in retrier["ErrorEquals"]}
    assert MEDIACONVERT_THROTTLED in retried


# --- the MediaConvert role and passing it ----------------------------------------------------------------------


def test_given_the_mediaconvert_role_then_only_mediaconvert_can_assume_it(synth):
    role = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.mediaconvert_role))
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "mediaconvert.amazonaws.com"}}
    assert not role.get("ManagedPolicyArns")


def test_given_the_mediaconvert_role_then_it_reads_only_uploads_and_writes_only_derivatives(synth):
    role_id = synth.logical_id(synth.stack.pipeline.mediaconvert_role)
    ingest, output = _bucket_id(synth, "ingest"), _bucket_id(synth, "output")
    granted = set()
    for statement in cfn.role_statements(synth.template_dict, role_id):
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for action in cfn.as_list(statement["Action"]):
            for resource in cfn.as_list(statement["Resource"]):
                granted.add((action, cfn.placeholder(resource)))
    reads = f"{cfn.arn_of(ingest)}/{INGEST_PREFIX}*"
    writes = f"{cfn.arn_of(output)}/{DERIVATIVES_PREFIX}*"
    assert ("s3:GetObject", reads) in granted
    assert ("s3:PutObject", writes) in granted
    # Reading a specific version of the same original is the only other thing it may do.
    assert granted - {("s3:GetObjectVersion", reads)} == {("s3:GetObject", reads), ("s3:PutObject", writes)}


def test_given_the_state_machine_role_then_it_passes_only_the_mediaconvert_role_and_the_render_task_roles(
    synth, template_dict, state_machine_id
):
    role_id = cfn.getatt_target(cfn.properties(template_dict, state_machine_id)["RoleArn"])
    mediaconvert_role = synth.logical_id(synth.stack.pipeline.mediaconvert_role)
    task = synth.stack.pipeline.renderer.task_definition
    render_roles = sorted(cfn.arn_of(synth.logical_id(role)) for role in (task.task_role, task.execution_role))
    pass_role = [s for s in cfn.role_statements(template_dict, role_id) if "iam:PassRole" in cfn.as_list(s["Action"])]
    assert pass_role
    # RunTask passes the render task's own two roles (added by CDK's EcsRunTask), nothing else.
    render = [s for s in pass_role if "Condition" not in s]
    assert [sorted(cfn.placeholder(r) for r in cfn.as_list(s["Resource"])) for s in render] == [render_roles]
    for statement in (s for s in pass_role if "Condition" in s):
        assert cfn.as_list(statement["Action"]) == ["iam:PassRole"]
        assert [cfn.placeholder(r) for r in cfn.as_list(statement["Resource"])] == [cfn.arn_of(mediaconvert_role)]
        (operator, condition), = statement["Condition"].items()
        assert operator in ("StringEquals", "StringLike")
        assert condition == {"iam:PassedToService": "mediaconvert.amazonaws.com"}


def test_given_the_stack_then_no_other_policy_can_pass_a_role(template_dict, state_machine_id):
    state_machine_policy_roles = cfn.ref(cfn.getatt_target(cfn.properties(template_dict, state_machine_id)["RoleArn"]))
    for logical_id, statement in _allow_statements(template_dict):
        if "iam:PassRole" in cfn.as_list(statement.get("Action", [])):
            roles = [cfn.placeholder(r) for r in cfn.properties(template_dict, logical_id).get("Roles", [])]
            assert roles == [state_machine_policy_roles], logical_id


# --- the trigger -----------------------------------------------------------------------------------------------


def test_given_the_upload_rule_then_it_matches_objects_created_under_uploads_in_the_ingest_bucket(synth):
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.upload_rule))
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": _bucket_id(synth, "ingest")}]},
            "object": {"key": [{"prefix": INGEST_PREFIX}]},
        },
    }
    assert rule.get("State", "ENABLED") == "ENABLED"


def test_given_the_upload_rule_then_it_invokes_start_pipeline_with_retries_and_a_dead_letter_queue(synth):
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.upload_rule))
    (target,) = rule["Targets"]
    assert cfn.getatt_target(target["Arn"]) == synth.logical_id(synth.stack.pipeline.start_pipeline.function)
    dlq = cfn.getatt_target(target["DeadLetterConfig"]["Arn"])
    assert synth.template_dict["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600


def test_given_the_trigger_dead_letter_queue_then_eventbridge_may_send_only_from_the_upload_rule(synth, template):
    rule_id = synth.logical_id(synth.stack.pipeline.upload_rule)
    (target,) = cfn.properties(synth.template_dict, rule_id)["Targets"]
    dlq = cfn.getatt_target(target["DeadLetterConfig"]["Arn"])
    template.has_resource_properties("AWS::SQS::QueuePolicy", {
        "Queues": [{"Ref": dlq}],
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Principal": {"Service": "events.amazonaws.com"},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
        })])},
    })


def test_given_start_pipeline_when_its_asynchronous_invoke_fails_then_the_event_is_kept_for_replay(synth):
    start_id = synth.logical_id(synth.stack.pipeline.start_pipeline.function)
    configs = [
        props for props in (r.get("Properties", {}) for r in
                            cfn.resources(synth.template_dict, "AWS::Lambda::EventInvokeConfig").values())
        if cfn.getatt_target(props["FunctionName"]) == start_id
    ]
    function = cfn.properties(synth.template_dict, start_id)
    on_failure = [c["DestinationConfig"]["OnFailure"] for c in configs if "DestinationConfig" in c]
    assert on_failure or function.get("DeadLetterConfig")


# --- alarms ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
def test_given_the_state_machine_when_an_execution_ends_badly_then_an_alarm_fires(template, state_machine_id, metric):
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "AWS/States",
        "MetricName": metric,
        "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": state_machine_id}}],
        "Statistic": "Sum",
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    })


def test_given_a_workflow_alarm_when_it_fires_then_someone_is_notified(template_dict, state_machine_id):
    alarms = [
        a["Properties"] for a in cfn.resources(template_dict, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/States"
    ]
    assert alarms
    for alarm in alarms:
        assert alarm.get("AlarmActions"), alarm["MetricName"]


def test_given_the_trigger_dead_letter_queue_when_a_message_lands_in_it_then_an_alarm_fires(synth):
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.upload_rule))
    (target,) = rule["Targets"]
    dlq = cfn.getatt_target(target["DeadLetterConfig"]["Arn"])
    watching = [
        a["Properties"] for a in cfn.resources(synth.template_dict, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}} in a["Properties"].get("Dimensions", [])
    ]
    assert watching, f"no alarm on {dlq}"


# --- least privilege -------------------------------------------------------------------------------------------


def test_given_every_policy_statement_then_no_allowed_action_is_a_wildcard(template_dict):
    for logical_id, statement in _allow_statements(template_dict):
        assert "NotAction" not in statement, logical_id
        for action in cfn.as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


def test_given_every_policy_statement_then_resource_star_is_only_for_actions_without_resource_permissions(
    template_dict,
):
    for logical_id, statement in _allow_statements(template_dict):
        assert "NotResource" not in statement, logical_id
        if "*" not in cfn.as_list(statement.get("Resource", [])):
            continue
        for action in cfn.as_list(statement["Action"]):
            allowed = action in RESOURCE_STAR_ACTIONS or action.split(":")[0] in RESOURCE_STAR_SERVICES
            assert allowed, (logical_id, action)


def test_given_start_pipeline_then_it_may_only_do_what_powertools_idempotency_does_on_its_table(synth):
    table = cfn.arn_of(_table_id(synth, "idempotency"))
    role = synth.logical_id(synth.stack.pipeline.start_pipeline.role)
    actions = set()
    for statement in cfn.role_statements(synth.template_dict, role):
        if any(cfn.placeholder(r).startswith(table) for r in cfn.as_list(statement["Resource"])):
            actions.update(cfn.as_list(statement["Action"]))
    assert actions == POWERTOOLS_IDEMPOTENCY_ACTIONS


def test_given_the_jobs_api_then_it_may_read_the_event_log_but_never_write_it(synth, template_dict):
    role = synth.logical_id(synth.stack.pipeline.jobs_api.function.role)
    events_table = cfn.arn_of(synth.logical_id(synth.stack.state.events_table))
    on_events = {action for statement in cfn.role_statements(template_dict, role)
                 for action in cfn.as_list(statement["Action"])
                 if events_table in [cfn.placeholder(r) for r in cfn.as_list(statement["Resource"])]}
    assert on_events == {"dynamodb:Query"}


def test_given_a_redriven_execution_then_compensate_records_the_retry(synth, template_dict):
    pipeline = synth.stack.pipeline
    pattern = cfn.properties(template_dict, synth.logical_id(pipeline.redrive_rule))["EventPattern"]
    assert pattern["detail"]["status"] == ["RUNNING"]
    assert pattern["detail"]["redriveCount"] == [{"numeric": [">", 0]}]
