"""Orchestration (stacks/orchestration.py, stacks/workflow.py) as synthesized: the state machine, its task
states, the MediaConvert role it passes, and the EventBridge rules that start a job and follow its execution."""

from aws_cdk.assertions import Match

from lambdas.common.constants import DERIVATIVES_PREFIX, INGEST_PREFIX
from tests.infra import cfn

LAMBDA_TRANSIENT = {"Lambda.TooManyRequestsException", "TransientError"}
MEDIACONVERT_THROTTLED = "MediaConvert.TooManyRequestsException"
HANDLE_FAILURE = "HandleFailure"


# --- the state machine -----------------------------------------------------------------------------------------


def test_given_the_state_machine_its_log_group_and_roles_then_they_keep_the_logical_ids_they_are_deployed_under(
    synth, template_dict, state_machine_id,
):
    # A new logical id would be a new resource: a new state machine without the executions the jobs API
    # redrives, or a new role while running executions and MediaConvert jobs still use the old one.
    machine = cfn.properties(template_dict, state_machine_id)
    (destination,) = machine["LoggingConfiguration"]["Destinations"]
    assert (state_machine_id, cfn.getatt_target(destination["CloudWatchLogsLogGroup"]["LogGroupArn"]),
            cfn.getatt_target(machine["RoleArn"]),
            synth.logical_id(synth.stack.pipeline.orchestration.mediaconvert_role)) == (
        "PipelineJobStateMachine48831808", "PipelineWorkflowLogs1AADE2D6",
        "PipelineJobStateMachineRoleC611A6B0", "PipelineMediaConvertRoleDFACCC9D")


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


# --- every task state ------------------------------------------------------------------------------------------


def test_given_the_workflow_then_it_has_lambda_tasks_and_the_mediaconvert_task(template_dict, workflow):
    tasks = cfn.task_states(workflow)
    functions = set(cfn.project_functions(template_dict))
    assert sum(cfn.lambda_function_of(t, functions) is not None for t in tasks.values()) >= 9
    assert "Derivatives" in tasks and HANDLE_FAILURE in tasks


def test_given_every_task_state_then_it_retries_on_error(workflow):
    for name, task in cfn.task_states(workflow).items():
        retriers = task.get("Retry", [])
        assert retriers and all(r["MaxAttempts"] >= 1 and r["ErrorEquals"] for r in retriers), name


def test_given_every_lambda_task_then_throttling_and_transient_errors_are_retried(template_dict, workflow):
    functions = set(cfn.project_functions(template_dict))
    for name, task in cfn.task_states(workflow).items():
        if cfn.lambda_function_of(task, functions) is None:
            continue
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert LAMBDA_TRANSIENT <= retried, (name, retried)


def test_given_every_task_state_then_it_has_a_timeout(workflow, template_dict):
    for name, task in cfn.task_states(workflow).items():
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
    role_id = synth.logical_id(synth.stack.pipeline.orchestration.mediaconvert_role)
    assert workflow["States"]["Derivatives"]["Parameters"]["Role"] == cfn.arn_of(role_id)


def test_given_the_derivatives_state_when_mediaconvert_throttles_then_the_call_is_retried(workflow):
    retried = {error for retrier in workflow["States"]["Derivatives"]["Retry"] for error in retrier["ErrorEquals"]}
    assert MEDIACONVERT_THROTTLED in retried


# --- the MediaConvert role and passing it ----------------------------------------------------------------------


def test_given_the_mediaconvert_role_then_only_mediaconvert_can_assume_it(synth):
    role = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.orchestration.mediaconvert_role))
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "mediaconvert.amazonaws.com"}}
    assert not role.get("ManagedPolicyArns")


def test_given_the_mediaconvert_role_then_it_reads_only_uploads_and_writes_only_derivatives(synth, bucket_ids):
    role_id = synth.logical_id(synth.stack.pipeline.orchestration.mediaconvert_role)
    ingest, output = bucket_ids["ingest"], bucket_ids["output"]
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
    mediaconvert_role = synth.logical_id(synth.stack.pipeline.orchestration.mediaconvert_role)
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
    for logical_id, statement in cfn.allow_statements(template_dict):
        if "iam:PassRole" in cfn.as_list(statement.get("Action", [])):
            roles = [cfn.placeholder(r) for r in cfn.properties(template_dict, logical_id).get("Roles", [])]
            assert roles == [state_machine_policy_roles], logical_id


# --- the trigger and the execution-status rules ----------------------------------------------------------------


def test_given_the_upload_rule_then_it_matches_objects_created_under_uploads_in_the_ingest_bucket(synth, bucket_ids):
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.orchestration.upload_rule))
    assert rule["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": bucket_ids["ingest"]}]},
            "object": {"key": [{"prefix": INGEST_PREFIX}]},
        },
    }
    assert rule.get("State", "ENABLED") == "ENABLED"


def test_given_the_upload_rule_then_it_invokes_start_pipeline_with_retries_and_a_dead_letter_queue(synth):
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.orchestration.upload_rule))
    (target,) = rule["Targets"]
    assert cfn.getatt_target(target["Arn"]) == synth.logical_id(synth.stack.pipeline.functions["start_pipeline"].function)
    dlq = cfn.getatt_target(target["DeadLetterConfig"]["Arn"])
    assert synth.template_dict["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600


def test_given_the_trigger_dead_letter_queue_then_eventbridge_may_send_only_from_the_upload_rule(synth, template):
    rule_id = synth.logical_id(synth.stack.pipeline.orchestration.upload_rule)
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


def test_given_a_failed_execution_then_compensate_hears_of_it_from_eventbridge(synth, template_dict):
    pipeline = synth.stack.pipeline
    rule = cfn.properties(template_dict, synth.logical_id(pipeline.orchestration.failure_rule))
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": synth.logical_id(pipeline.orchestration.state_machine)}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id(pipeline.functions["compensate"].function), "Arn"]}
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_given_a_redriven_execution_then_compensate_records_the_retry(synth, template_dict):
    pipeline = synth.stack.pipeline
    pattern = cfn.properties(template_dict, synth.logical_id(pipeline.orchestration.redrive_rule))["EventPattern"]
    assert pattern["detail"]["status"] == ["RUNNING"]
    assert pattern["detail"]["redriveCount"] == [{"numeric": [">", 0]}]
