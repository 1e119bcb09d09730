"""The deployed wiring, enforced: every call of a local run is authorized as the principal that makes it
in AWS, by the synthesized template's policies. A permission missing from the template fails the job at
the step that needs it, with AccessDenied naming the action, as `cdk deploy`ed it would."""

import copy
import json
import shutil
from pathlib import Path

from tests.media import make_video
from tests.workflow.fakes import FailingMediaConvertFake
from videoflow.cli import EXIT_FAILED, main
from videoflow.local.mediaconvert import TaskFailed
from videoflow.local.synth import load_template
from videoflow.local.template import LocalTemplate

STACK_TEMPLATE = "VideoFlow.template.json"


def without_permission(template: dict, step: str, action: str) -> dict:
    """A copy of the template in which the role of function `step` no longer has `action`."""
    edited = copy.deepcopy(template)
    local = LocalTemplate(edited)
    function = next(lid for lid, r in local.of_type("AWS::Lambda::Function").items()
                    if r["Properties"].get("Handler") == f"lambdas.{step}.handler.handler")
    role = edited["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    removed = 0
    for policy in local.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                removed += 1
                statement["Action"] = [a for a in actions if a != action] or ["none:NoAction"]
    assert removed, f"{step}'s role has no {action} to remove"
    return edited


def test_the_unchanged_template_completes_with_no_call_denied_and_no_alarm_lost(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "a.mp4", seconds=2))

    assert job.manifest["status"] == "COMPLETED"
    assert [str(d) for d in job.pipeline.access.denials] == []


def test_a_template_missing_one_permission_fails_at_that_roles_step_with_access_denied(outdir, tmp_path, capsys):
    # Given a copy of the synthesized template, beside its assets, whose register_job role lacks UpdateItem
    copied = tmp_path / "cdk.out"
    shutil.copytree(outdir, copied, ignore=shutil.ignore_patterns("asset.*"))
    for asset in Path(outdir).glob("asset.*"):
        (copied / asset.name).symlink_to(asset)
    edited = copied / "edited.template.json"
    edited.write_text(json.dumps(without_permission(load_template(outdir), "register_job", "dynamodb:UpdateItem")))

    # When a user runs it
    status = main(["run", str(make_video(tmp_path / "a.mp4", seconds=2)), "--template", str(edited),
                   "--out", str(tmp_path / "out")])

    # Then the job fails at RegisterJob, and the reason names the principal and the action
    printed = capsys.readouterr()
    assert status == EXIT_FAILED
    assert "AccessDenied" in printed.err and "dynamodb:UpdateItem" in printed.err
    assert "function register_job" in printed.err
    (manifest,) = (tmp_path / "out").glob("*/manifest.json")
    failure = json.loads(manifest.read_text())
    assert failure["status"] == "FAILED"
    assert failure["reason"].startswith("RegisterJob failed")
    events = [json.loads(line) for line in (manifest.parent / "events.jsonl").read_text().splitlines()]
    assert events[-1]["detail"]["failed_step"] == "RegisterJob"


def test_a_failed_job_raises_its_alarm_and_the_alarm_reaches_its_encrypted_topic(run_job, tmp_path):
    broken = FailingMediaConvertFake(TaskFailed({"Id": "1-a", "Status": "ERROR", "ErrorCode": 1999,
                                                 "ErrorMessage": "Unknown Error"}), times=99)

    job = run_job(make_video(tmp_path / "a.mp4", seconds=2), adapters={"mediaconvert:createJob.sync": broken})

    assert job.manifest["status"] == "FAILED"
    delivery = job.pipeline.delivery
    assert [str(d) for d in delivery.undelivered] == []
    assert [alarm["Trigger"]["MetricName"] for alarm in delivery.alarms_raised] == ["ExecutionsFailed"]


class CompensateFailingForTest:
    """Stands in for compensate and always fails: the fault this test injects."""

    def __init__(self):
        self.calls = 0

    def __call__(self, event, context):
        self.calls += 1
        raise RuntimeError("compensate could not record the failure")


def test_a_compensate_that_keeps_failing_is_retried_twice_then_parked_with_the_dead_letters(outdir):
    from dataclasses import replace

    import boto3

    from videoflow.local.runner import LocalPipeline

    with LocalPipeline(outdir) as pipeline:
        name = pipeline.function_names["compensate"]
        failing = CompensateFailingForTest()
        pipeline.lambdas._functions[name] = replace(pipeline.lambdas._functions[name], run=failing)
        event = {"version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
                 "source": "aws.states", "account": "123456789012", "region": "us-east-1", "resources": [],
                 "detail": {"status": "FAILED", "stateMachineArn": pipeline.state_machine_arn,
                            "executionArn": f"{pipeline.state_machine_arn}:job".replace(":stateMachine:", ":execution:")}}

        (delivery,) = pipeline.delivery.put_event(event)

        assert (delivery.ok, failing.calls) == (False, 3)  # the first try and Lambda's two retries
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = delivery.dead_lettered_to.rsplit(":", 1)[-1]
        messages = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"])["Messages"]
        parked = json.loads(messages[0]["Body"])
        assert parked["requestPayload"] == event
        assert parked["requestContext"]["condition"] == "RetriesExhausted"
