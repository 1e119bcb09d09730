"""Orchestration (stacks/orchestration.py, stacks/workflow.py) as synthesized: the state machine, its task
states, the MediaConvert role it passes, and the EventBridge rules that start a job and follow its execution."""

from aws_cdk.assertions import Match

from lambdas.common.constants import DERIVATIVES_PREFIX, INGEST_PREFIX
from stacks.config import load_config
from tests.infra import cfn
from tests.synth import deploy_context

LAMBDA_TRANSIENT = {"Lambda.TooManyRequestsException", "TransientError"}
MEDIACONVERT_THROTTLED = "MediaConvert.TooManyRequestsException"
MEDIACONVERT_TASKS = {"Derivatives", "DerivativesRetry"}
HANDLE_FAILURE = "HandleFailure"
CONFIG = load_config(deploy_context()["videoflow"])


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


def test_given_the_workflow_definition_then_the_whole_execution_has_a_timeout_sized_for_the_longest_video(workflow):
    timeout = workflow.get("TimeoutSeconds")
    assert timeout == CONFIG.workflow_timeout_s == CONFIG.needed_workflow_timeout_s
    # Two MediaConvert attempts and the transcript of a video at the limit fit, and it is still a bound.
    longest = CONFIG.max_duration_s
    assert timeout > 2 * CONFIG.mediaconvert_timeout_s(longest) + CONFIG.transcribe_timeout_s(longest)
    assert timeout <= 24 * 3600, timeout


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
        if name in MEDIACONVERT_TASKS:
            assert task["TimeoutSecondsPath"] == "$.timeouts.mediaconvert_s", name  # sized per job
            continue
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
    from stacks.steps import STEPS

    rejecting = {step.state for step in STEPS if step.rejects}  # may find the input at fault: caught, REJECTED
    for name, state, _ in cfn.iter_states(workflow["States"]):
        if state["Type"] in ("Task", "Parallel", "Map") and name not in BEST_EFFORT | rejecting | {HANDLE_FAILURE,
                                                                                                   "Derivatives"}:
            assert "Catch" not in state, name


def test_given_a_mediaconvert_job_that_ends_in_error_then_only_that_is_caught_and_read(workflow):
    (catcher,) = workflow["States"]["Derivatives"]["Catch"]
    # A refused call, a timeout or a lost permission is not caught: it fails the execution at Derivatives.
    assert catcher["ErrorEquals"] == ["States.TaskFailed"]
    assert (catcher["ResultPath"], catcher["Next"]) == ("$.mediaconvert_error", "MediaConvertErrorReadable?")


def test_given_a_mediaconvert_job_error_then_it_ends_rejected_or_in_one_more_attempt_that_catches_nothing(workflow):
    states = workflow["States"]
    reachable, todo = set(), ["MediaConvertErrorReadable?"]
    while todo:
        name = todo.pop()
        if name in reachable or name in (HANDLE_FAILURE, "DerivativesRetry"):
            reachable.add(name)
            continue
        reachable.add(name)
        state = states[name]
        assert state["Type"] in ("Choice", "Pass"), name  # classified in the definition: no Lambda, no cost
        todo += [c["Next"] for c in state.get("Choices", [])] + [state[k] for k in ("Next", "Default") if k in state]
    assert {HANDLE_FAILURE, "DerivativesRetry"} <= reachable
    again = states["DerivativesRetry"]
    assert "Catch" not in again  # a second failure fails the execution there; a redrive runs it again
    assert again["Next"] == states["Derivatives"]["Next"] == "RecordDerivatives"
    assert {k: v for k, v in again.items() if k != "Catch"} == {
        k: v for k, v in states["Derivatives"].items() if k != "Catch"}  # the same job, the same bounds


def test_given_the_mediaconvert_tasks_then_their_timeout_is_sized_from_the_measured_duration_before_they_run(workflow):
    states = workflow["States"]
    sized = states["SizeTimeouts"]
    assert (sized["Type"], sized["ResultPath"], sized["Next"]) == ("Pass", "$.timeouts", "BuildMediaConvertJob")
    assert sized["Parameters"] == {
        "mediaconvert_s.$": f"States.MathAdd($.media.duration_s, {CONFIG.mediaconvert_timeout_base_s})",
        "transcribe_s.$": f"States.MathAdd($.media.duration_s, {CONFIG.transcribe_timeout_base_s})",
    }


def test_given_the_transcript_wait_loop_then_it_stops_after_the_sized_time_not_a_fixed_poll_count(workflow):
    (branch,) = [b for b in workflow["States"]["Analysis"]["Branches"] if "StartTranscription" in b["States"]]
    (keep_waiting,) = branch["States"]["Transcribed?"]["Choices"]
    bound = [c for c in keep_waiting["And"] if "NumericLessThanPath" in c]
    assert bound == [{"Variable": "$.transcription.waited_s", "NumericLessThanPath": "$.timeouts.transcribe_s"}]
    adds = branch["States"]["BackOff"]["Parameters"]["waited_s.$"]
    assert adds == "States.MathAdd($.transcription.waited_s, $.transcription.wait_s)"


def test_given_transcript_required_by_default_then_the_transcript_states_catch_nothing_and_a_failure_fails_the_job(
        workflow):
    assert CONFIG.transcript_required is True
    (branch,) = [b for b in workflow["States"]["Analysis"]["Branches"] if "StartTranscription" in b["States"]]
    for name in ("StartTranscription", "GetTranscription", "NormalizeTranscript"):
        assert "Catch" not in branch["States"][name], name


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


# --- many uploads at once: throttling and quotas are waited out for minutes -------------------------------------

THROTTLED = {
    "Lambda.TooManyRequestsException", "MediaConvert.TooManyRequestsException",
    "MediaConvert.ServiceQuotaExceededException", "Transcribe.LimitExceededException", "Batch.TooManyRequestsException",
}


def retry_window_s(retrier: dict) -> int:
    """The longest a retrier waits in all: IntervalSeconds x BackoffRate^n, each capped at MaxDelaySeconds
    (full jitter waits a random part of each, never more)."""
    interval, total = retrier.get("IntervalSeconds", 1), 0
    for attempt in range(retrier.get("MaxAttempts", 3)):
        total += min(interval * retrier.get("BackoffRate", 2.0) ** attempt, retrier.get("MaxDelaySeconds", 10**9))
    return int(total)


def test_given_a_throttling_or_quota_error_when_any_task_meets_it_then_the_workflow_backs_off_for_minutes(workflow):
    met = set()
    for name, task in cfn.task_states(workflow).items():
        for retrier in task.get("Retry", []):
            throttled = THROTTLED & set(retrier["ErrorEquals"])
            if throttled:
                met |= throttled
                assert retry_window_s(retrier) >= 30 * 60, (name, retrier)  # not 75 s: half an hour at most
                assert retrier["JitterStrategy"] == "FULL", name  # many jobs do not retry in lockstep
                assert retrier["MaxDelaySeconds"] <= 300, name  # and never sleep past a freed slot for long
    assert met == THROTTLED


def test_given_the_tasks_that_wait_on_a_quota_then_each_names_its_services_throttling(workflow, template_dict):
    tasks = cfn.task_states(workflow)
    functions = set(cfn.project_functions(template_dict))

    def throttled(name: str) -> set[str]:
        return {e for r in tasks[name]["Retry"] for e in r["ErrorEquals"] if e in THROTTLED}

    assert throttled("Derivatives") == throttled("DerivativesRetry") == {
        "MediaConvert.TooManyRequestsException", "MediaConvert.ServiceQuotaExceededException"}
    assert throttled("StartTranscription") == throttled("GetTranscription") == {"Transcribe.LimitExceededException"}
    assert throttled("AnalyzeFrames") == {"Batch.TooManyRequestsException"}
    for name, task in tasks.items():
        if cfn.lambda_function_of(task, functions) is not None:
            assert throttled(name) == {"Lambda.TooManyRequestsException"}, name


def test_given_the_frame_job_definition_then_its_attempts_are_those_the_workflow_timeout_counts(template_dict):
    from stacks.config import FRAME_ATTEMPTS

    (definition,) = cfn.resources(template_dict, "AWS::Batch::JobDefinition").values()
    assert definition["Properties"]["RetryStrategy"]["Attempts"] == FRAME_ATTEMPTS


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


def test_given_the_render_task_then_a_runtask_that_answers_with_failures_is_retried(workflow):
    """RunTask's Failures (no task started) reach the workflow as AmazonECS.Unknown: retried like a refusal."""
    render = cfn.task_states(workflow)["RenderOnFargate"]
    retried = {error for retrier in render["Retry"] for error in retrier["ErrorEquals"]}
    assert {"ECS.AmazonECSException", "AmazonECS.Unknown"} <= retried
