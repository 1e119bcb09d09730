"""The functions (stacks/functions.py) as synthesized: every one that runs project code, and how it is invoked."""

import re

from tests.infra import cfn

# CDK's own deploy-time handlers: the ingest bucket's EventBridge notifications, and, when cdk.json turns on
# @aws-cdk/aws-ec2:restrictDefaultSecurityGroup, the one that removes every rule of the VPC's default security group.
CDK_HANDLERS = ("BucketNotificationsHandler", "CustomVpcRestrictDefaultSGCustomResourceProvider")


def test_given_the_stack_then_every_function_runs_project_code_except_cdks_deploy_time_handlers(template_dict):
    functions = cfn.resources(template_dict, cfn.LAMBDA_FUNCTION)
    project = cfn.project_functions(template_dict)
    others = set(functions) - set(project)
    assert len(project) >= 11
    assert all(other.startswith(CDK_HANDLERS) for other in others), others


def test_given_every_function_then_timeout_and_memory_are_set_explicitly(template_dict):
    for logical_id, props in cfn.project_functions(template_dict).items():
        assert 1 <= props.get("Timeout", 0) <= 900, logical_id
        assert 128 <= props.get("MemorySize", 0) <= 10240, logical_id


def test_given_every_function_then_xray_tracing_is_active(template_dict):
    for logical_id, props in cfn.project_functions(template_dict).items():
        assert props.get("TracingConfig") == {"Mode": "Active"}, logical_id


def test_given_every_function_then_it_has_a_role_of_its_own(template_dict, state_machine_id):
    functions = cfn.project_functions(template_dict)
    roles = {logical_id: cfn.getatt_target(props["Role"]) for logical_id, props in functions.items()}
    assert len(set(roles.values())) == len(roles), roles
    state_machine_role = cfn.getatt_target(cfn.properties(template_dict, state_machine_id)["RoleArn"])
    assert state_machine_role not in roles.values()
    for role in roles.values():
        (trust,) = cfn.properties(template_dict, role)["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}, role


def test_given_every_function_then_it_logs_to_its_own_log_group_with_a_retention(template_dict):
    log_groups = {}
    for logical_id, props in cfn.project_functions(template_dict).items():
        log_group = cfn.getatt_target(props["LoggingConfig"]["LogGroup"])
        assert cfn.properties(template_dict, log_group)["RetentionInDays"] > 0, logical_id
        log_groups[logical_id] = log_group
    assert len(set(log_groups.values())) == len(log_groups), log_groups


def test_given_every_function_then_the_powertools_layer_for_its_runtime_and_architecture_is_attached(template_dict):
    for logical_id, props in cfn.project_functions(template_dict).items():
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
    functions = cfn.project_functions(template_dict)
    for name, task in cfn.task_states(workflow).items():
        function = cfn.lambda_function_of(task, set(functions))
        if function is not None:
            assert task["TimeoutSeconds"] >= functions[function]["Timeout"], name


def test_given_start_pipeline_when_its_asynchronous_invoke_fails_then_the_event_is_kept_for_replay(synth):
    start_id = synth.logical_id(synth.stack.pipeline.functions["start_pipeline"].function)
    configs = [
        props for props in (r.get("Properties", {}) for r in
                            cfn.resources(synth.template_dict, "AWS::Lambda::EventInvokeConfig").values())
        if cfn.getatt_target(props["FunctionName"]) == start_id
    ]
    function = cfn.properties(synth.template_dict, start_id)
    on_failure = [c["DestinationConfig"]["OnFailure"] for c in configs if "DestinationConfig" in c]
    assert on_failure or function.get("DeadLetterConfig")
