"""The synthesized state machine definition: asl-validator (pinned, tools/package.json) accepts it, and pieces of it
run on moto's Step Functions engine do what they say (MediaConvert job errors sorted, timeouts sized).

The definition is read from the template as it deploys; its CloudFormation tokens (function and
role ARNs, the partition) are resolved to placeholder ARNs the way the local runner resolves them.
"""

import copy
import json
import subprocess
import time

import pytest

from stacks.config import load_config
from stacks.derivatives import INPUT_FAULT_CODES
from tests.infra.tools import NODE_BIN, node_env, tool
from tests.synth import deploy_context
from videoflow.local.template import LocalTemplate


def test_given_the_synthesized_state_machine_when_asl_validator_reads_it_then_it_is_valid(
    synth, state_machine_id, tmp_path
):
    definition = LocalTemplate(synth.template_dict).state_machine_definition(state_machine_id)
    path = tmp_path / "definition.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    result = subprocess.run(
        [tool(NODE_BIN / "asl-validator"), "--json-path", str(path)],
        env=node_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the synthesized states, executed by moto's Step Functions engine -------------------------------------------
# Small pieces of the definition as it deploys, cut at the states named in `stop_at` (each replaced by a Pass that
# records that it was reached), run on the inputs a real execution would give them.

CONFIG = load_config(deploy_context()["videoflow"])
CLASSIFY = "MediaConvertErrorReadable?"  # where the Catch of Derivatives goes


@pytest.fixture(scope="module")
def deployed(synth, state_machine_id) -> dict:
    return LocalTemplate(synth.template_dict).state_machine_definition(state_machine_id)


@pytest.fixture(scope="module")
def engine():
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


def run_piece(engine, deployed: dict, start: str, stop_at: set[str], state_input: dict) -> dict:
    """Run the states reachable from `start` up to `stop_at`; returns the output, with `reached` naming the stop."""
    states, todo = {}, [start]
    while todo:
        name = todo.pop()
        if name in states:
            continue
        if name in stop_at:
            states[name] = {"Type": "Pass", "Result": name, "ResultPath": "$.reached", "End": True}
            continue
        state = copy.deepcopy(deployed["States"][name])
        state.pop("Retry", None)
        nexts = [state.get("Next"), state.get("Default"), *(c["Next"] for c in state.get("Choices", [])),
                 *(c["Next"] for c in state.get("Catch", []))]
        todo += [n for n in nexts if n]
        states[name] = state
    arn = engine.create_state_machine(name=f"piece-{time.monotonic_ns()}", roleArn="arn:aws:iam::123456789012:role/r",
                                      definition=json.dumps({"StartAt": start, "States": states}))["stateMachineArn"]
    execution = engine.start_execution(stateMachineArn=arn, input=json.dumps(state_input))["executionArn"]
    deadline = time.monotonic() + 30
    while (described := engine.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def caught(cause) -> dict:
    """The state after Derivatives' Catch: States.TaskFailed with the job as the Cause."""
    return {"job_id": "j", "mediaconvert_error": {"Error": "States.TaskFailed",
                                                  "Cause": cause if isinstance(cause, str) else json.dumps(cause)}}


def job(code: int, message: str = "Input Error: something about the file") -> dict:
    return {"Job": {"Id": "1700000000000-abcdef", "Status": "ERROR", "ErrorCode": code, "ErrorMessage": message}}


@pytest.mark.parametrize("code", sorted(INPUT_FAULT_CODES))
def test_given_a_mediaconvert_job_that_ended_in_an_input_error_when_the_workflow_reads_it_then_the_input_is_rejected(
        engine, deployed, code):
    out = run_piece(engine, deployed, CLASSIFY, {"HandleFailure", "DerivativesRetry"}, caught(job(code)))

    assert out["reached"] == "HandleFailure"
    # HandleFailure records REJECTED for these names, with MediaConvert's job (its ErrorMessage) as the cause.
    assert out["error"] == {"Error": INPUT_FAULT_CODES[code], "Cause": json.dumps(job(code))}


@pytest.mark.parametrize("cause", [
    job(1040, "Settings Error"), job(1401, "Permissions Issue"), job(1550, "Acceleration Fault"),
    job(1999, "Unknown Error"), job(3450, "HTTP Server Error"), {"Job": {"Status": "ERROR"}},
    "Internal error (not JSON)", json.dumps(job(1030))[:40],  # truncated: not an object that can be read
], ids=["settings", "permissions", "acceleration", "unknown", "http", "no-code", "text", "truncated"])
def test_given_any_other_mediaconvert_job_error_when_the_workflow_reads_it_then_it_tries_once_more(
        engine, deployed, cause):
    out = run_piece(engine, deployed, CLASSIFY, {"HandleFailure", "DerivativesRetry"}, caught(cause))

    assert out["reached"] == "DerivativesRetry"
    assert "error" not in out


@pytest.mark.parametrize("cause", [
    {"status": "ERROR", "errorCode": 1030, "errorMessage": "Unsupported codec"},  # the job's state-change event detail
    {"Status": "ERROR", "ErrorCode": 1076, "ErrorMessage": "Source Read Error"},  # the job without its wrapper
], ids=["event-detail", "bare-job"])
def test_given_the_error_code_in_another_shape_of_cause_when_the_workflow_reads_it_then_it_still_finds_it(
        engine, deployed, cause):
    out = run_piece(engine, deployed, CLASSIFY, {"HandleFailure", "DerivativesRetry"}, caught(cause))

    assert out["reached"] == "HandleFailure"


@pytest.mark.parametrize("duration_s", [0.45, 10, 10.5, 3 * 3600, CONFIG.max_duration_s])
def test_given_a_measured_duration_when_the_workflow_sizes_its_timeouts_then_they_are_the_configured_bounds(
        engine, deployed, duration_s):
    out = run_piece(engine, deployed, "SizeTimeouts", {deployed["States"]["SizeTimeouts"]["Next"]},
                    {"media": {"duration_s": duration_s}})

    assert out["timeouts"] == {"mediaconvert_s": CONFIG.mediaconvert_timeout_s(duration_s),
                               "transcribe_s": CONFIG.transcribe_timeout_s(duration_s)}
