"""Operations (stacks/operations.py) as synthesized: the alarms on the workflow, the dead-letter queue and
stalled jobs, and who they notify."""

import pytest

from tests.infra import cfn

# --- what keeps its deployed identity --------------------------------------------------------------------------


def test_given_the_topics_their_key_and_the_dead_letter_queue_then_they_keep_the_logical_ids_they_are_deployed_under(
    template_dict,
):
    # A new logical id would be a new resource: new topic ARNs for subscribers, a new key, messages left behind.
    kept = {
        "PipelineTopicsKey8397233D": "AWS::KMS::Key",
        "PipelineNotifications6D4DD3FC": "AWS::SNS::Topic",
        "PipelineNotificationsPolicyC6347C98": "AWS::SNS::TopicPolicy",
        "PipelineAlarms57000B52": "AWS::SNS::Topic",
        "PipelineAlarmsPolicyF33BCD10": "AWS::SNS::TopicPolicy",
        "PipelineTriggerDeadLettersF2E27A89": "AWS::SQS::Queue",
        "PipelineTriggerDeadLettersPolicyCB6A871B": "AWS::SQS::QueuePolicy",
    }
    assert {logical_id: template_dict["Resources"].get(logical_id, {}).get("Type") for logical_id in kept} == kept


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
    rule = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.orchestration.upload_rule))
    (target,) = rule["Targets"]
    dlq = cfn.getatt_target(target["DeadLetterConfig"]["Arn"])
    watching = [
        a["Properties"] for a in cfn.resources(synth.template_dict, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "AWS/SQS"
        and a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}} in a["Properties"].get("Dimensions", [])
    ]
    assert watching, f"no alarm on {dlq}"


# --- stall monitor ---------------------------------------------------------------------------------------------


def test_the_stall_monitor_runs_every_5_minutes_one_run_at_a_time(synth):
    monitor = synth.stack.pipeline.operations.stall_monitor
    function = synth.logical_id(monitor.function.function)
    (schedule,) = [s["Properties"] for s in cfn.resources(synth.template_dict, "AWS::Scheduler::Schedule").values()]

    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert cfn.properties(synth.template_dict, function)["ReservedConcurrentExecutions"] == 1


def test_a_stalled_job_raises_an_alarm_on_the_alarm_topic(synth):
    alarm = cfn.properties(synth.template_dict, synth.logical_id(synth.stack.pipeline.operations.stall_monitor.alarm))
    topic = synth.logical_id(synth.stack.pipeline.operations.alarm_topic)

    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("VideoFlow", "StalledJobs", "Sum")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "videoflow"}]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": topic}]
