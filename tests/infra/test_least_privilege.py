"""Least privilege across the whole template: every policy statement of every principal, as synthesized."""

from tests.infra import cfn

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
    "application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScheduledAction",
    "application-autoscaling:DeleteScheduledAction", "cloudwatch:PutMetricData",
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


def test_given_every_policy_statement_then_no_allowed_action_is_a_wildcard(template_dict):
    for logical_id, statement in cfn.allow_statements(template_dict):
        assert "NotAction" not in statement, logical_id
        for action in cfn.as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


def test_given_every_policy_statement_then_resource_star_is_only_for_actions_without_resource_permissions(
    template_dict,
):
    for logical_id, statement in cfn.allow_statements(template_dict):
        assert "NotResource" not in statement, logical_id
        if "*" not in cfn.as_list(statement.get("Resource", [])):
            continue
        for action in cfn.as_list(statement["Action"]):
            allowed = action in RESOURCE_STAR_ACTIONS or action.split(":")[0] in RESOURCE_STAR_SERVICES
            assert allowed, (logical_id, action)


def test_given_start_pipeline_then_it_may_only_do_what_powertools_idempotency_does_on_its_table(synth, table_ids):
    table = cfn.arn_of(table_ids["idempotency"])
    role = synth.logical_id(synth.stack.pipeline.functions["start_pipeline"].role)
    actions = set()
    for statement in cfn.role_statements(synth.template_dict, role):
        if any(cfn.placeholder(r).startswith(table) for r in cfn.as_list(statement["Resource"])):
            actions.update(cfn.as_list(statement["Action"]))
    assert actions == POWERTOOLS_IDEMPOTENCY_ACTIONS
