"""RedriveExecution on moto's Step Functions engine: the same execution restarts at the state that failed.

Every test runs small state machines whose Lambda tasks are plain Python functions in
LocalLambdas; moto runs executions on worker threads, so the tests poll describe_execution.
"""

import json
import logging
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from videoflow.local.lambda_runtime import LocalLambdas
from videoflow.local.redrive import LocalRedrive, RestartPoint, restart_point

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/videoflow-states"
TIMEOUT_S = 5


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def task(name: str, **rest) -> dict:
    return {"Type": "Task", "Resource": function_arn(name), **rest}


A_B_C = {
    "StartAt": "A",
    "States": {"A": task("a", Next="B"), "B": task("b", Next="C"), "C": {"Type": "Pass", "End": True}},
}


class Functions:
    """The Lambdas: each counts its calls; "b" and "flaky" raise on their first call only, "flaky"
    once "left" has run (a failed branch stops the Parallel); "blocked" waits for release."""

    def __init__(self, lambdas: LocalLambdas):
        self.calls: Counter[str] = Counter()
        self.release = threading.Event()
        self.left_ran = threading.Event()
        for name in ("a", "b", "left", "flaky", "blocked"):
            lambdas.register(name, lambda event, context, name=name: self._call(name, event))

    def _call(self, name: str, event: dict) -> dict:
        self.calls[name] += 1
        if name == "left":
            self.left_ran.set()
        if name == "flaky":
            self.left_ran.wait(TIMEOUT_S)
        if name in ("b", "flaky") and self.calls[name] == 1:
            raise RuntimeError(f"{name} is not ready yet")
        if name == "blocked":
            self.release.wait(TIMEOUT_S)
        return {**event, name: self.calls[name]} if isinstance(event, dict) else event


@pytest.fixture
def functions():
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)  # the engine logs each failure
    lambdas = LocalLambdas()
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config), lambdas.installed(), LocalRedrive().installed():
        found = Functions(lambdas)
        yield found
        found.release.set()


@pytest.fixture
def sfn(functions):
    return boto3.client("stepfunctions", region_name=REGION)


def start(sfn, definition: dict, name: str = "job-1", execution_input: dict | None = None) -> str:
    machine = sfn.create_state_machine(name=f"machine-{name}", definition=json.dumps(definition), roleArn=ROLE)
    return sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps(execution_input or {"job_id": name})
    )["executionArn"]


def finished(sfn, arn: str) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running after {TIMEOUT_S} s"
        time.sleep(0.02)
    return execution


def history(sfn, arn: str) -> list[dict]:
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def entered(events: list[dict]) -> list[str]:
    return [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]


def error_code(raised: pytest.ExceptionInfo) -> str:
    return raised.value.response["Error"]["Code"]


def test_a_failed_execution_restarts_at_the_failed_state_and_succeeds(sfn, functions):
    # Given an execution that failed at B after A succeeded
    arn = start(sfn, A_B_C)
    assert finished(sfn, arn)["status"] == "FAILED"

    # When it is redriven
    answer = sfn.redrive_execution(executionArn=arn)

    # Then the same execution runs B again with B's original input and goes on to C, A is not rerun
    execution = finished(sfn, arn)
    assert execution["status"] == "SUCCEEDED"
    assert execution["executionArn"] == arn and execution["name"] == "job-1"
    assert json.loads(execution["output"]) == {"job_id": "job-1", "a": 1, "b": 2}
    assert functions.calls == Counter({"a": 1, "b": 2})
    assert execution["redriveCount"] == 1
    assert execution["redriveDate"] == answer["redriveDate"]
    assert "error" not in execution


def test_the_history_keeps_the_first_run_then_the_redriven_run(sfn, functions):
    arn = start(sfn, A_B_C)
    finished(sfn, arn)

    sfn.redrive_execution(executionArn=arn)
    finished(sfn, arn)

    events = history(sfn, arn)
    types = [event["type"] for event in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    redriven = types.index("ExecutionRedriven")
    assert types[redriven - 1] == "ExecutionFailed"
    assert events[redriven]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert entered(events[:redriven]) == ["A", "B"]
    assert entered(events[redriven:]) == ["B", "C"]
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))


def test_a_succeeded_execution_is_not_redrivable(sfn, functions):
    functions.calls["b"] = 1  # b no longer fails
    arn = start(sfn, A_B_C)
    assert finished(sfn, arn)["status"] == "SUCCEEDED"

    with pytest.raises(ClientError) as raised:
        sfn.redrive_execution(executionArn=arn)

    assert error_code(raised) == "ExecutionNotRedrivable"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sfn.describe_execution(executionArn=arn)["redriveStatus"] == "NOT_REDRIVABLE"


def test_a_running_execution_is_not_redrivable(sfn, functions):
    arn = start(sfn, {"StartAt": "Wait", "States": {"Wait": task("blocked", End=True)}})

    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=arn)

    functions.release.set()
    assert finished(sfn, arn)["status"] == "SUCCEEDED"


def test_an_unknown_execution_does_not_exist(sfn):
    finished(sfn, start(sfn, A_B_C))  # its machine exists; a run left going would call the next test's Lambdas
    unknown = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:machine-job-1:no-such-job"

    with pytest.raises(ClientError) as raised:
        sfn.redrive_execution(executionArn=unknown)

    assert error_code(raised) == "ExecutionDoesNotExist"


def test_the_same_client_token_restarts_once(sfn, functions):
    arn = start(sfn, A_B_C)
    finished(sfn, arn)

    first = sfn.redrive_execution(executionArn=arn, clientToken="retry-1")
    again = sfn.redrive_execution(executionArn=arn, clientToken="retry-1")
    finished(sfn, arn)
    after_success = sfn.redrive_execution(executionArn=arn, clientToken="retry-1")

    assert first["redriveDate"] == again["redriveDate"] == after_success["redriveDate"]
    assert functions.calls["b"] == 2
    assert [event["type"] for event in history(sfn, arn)].count("ExecutionRedriven") == 1
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1


def test_a_failed_parallel_state_runs_again_as_a_whole(sfn, functions):
    # Given A, then a Parallel whose second branch fails, then C
    definition = {
        "StartAt": "A",
        "States": {
            "A": task("a", Next="Fan"),
            "Fan": {
                "Type": "Parallel",
                "Next": "C",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": task("left", End=True)}},
                    {"StartAt": "Right", "States": {"Right": task("flaky", End=True)}},
                ],
            },
            "C": {"Type": "Pass", "End": True},
        },
    }
    arn = start(sfn, definition)
    assert finished(sfn, arn)["status"] == "FAILED"

    # When it is redriven
    sfn.redrive_execution(executionArn=arn)

    # Then both branches run again (AWS would rerun only the failed one), A does not
    execution = finished(sfn, arn)
    assert execution["status"] == "SUCCEEDED"
    assert functions.calls == Counter({"a": 1, "left": 2, "flaky": 2})
    assert [branch["a"] for branch in json.loads(execution["output"])] == [1, 1]
    redriven = [event["type"] for event in history(sfn, arn)].index("ExecutionRedriven")
    assert entered(history(sfn, arn)[redriven:])[0] == "Fan"


def test_an_aborted_execution_can_be_redriven(sfn, functions):
    definition = {
        "StartAt": "A",
        "States": {"A": task("a", Next="Pause"), "Pause": {"Type": "Wait", "Seconds": 1, "End": True}},
    }
    arn = start(sfn, definition)
    deadline = time.monotonic() + TIMEOUT_S
    while "Pause" not in entered(history(sfn, arn)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sfn.stop_execution(executionArn=arn)
    assert finished(sfn, arn)["status"] == "ABORTED"

    sfn.redrive_execution(executionArn=arn)

    assert finished(sfn, arn)["status"] == "SUCCEEDED"
    assert functions.calls["a"] == 1


def test_redrive_works_through_the_moto_server(functions):
    # Given a client that reaches moto over HTTP, as the jobs API's container does
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("stepfunctions", region_name=REGION, endpoint_url=f"http://{host}:{port}")
        arn = start(client, A_B_C)
        assert finished(client, arn)["status"] == "FAILED"

        # When it redrives the failed execution
        answer = client.redrive_execution(executionArn=arn, clientToken="http-retry")

        # Then the execution succeeds, and errors come back as the service's error codes
        execution = finished(client, arn)
        assert execution["status"] == "SUCCEEDED"
        assert execution["redriveDate"] == answer["redriveDate"]
        assert functions.calls == Counter({"a": 1, "b": 2})
        with pytest.raises(client.exceptions.ExecutionNotRedrivable):
            client.redrive_execution(executionArn=arn)
    finally:
        server.stop()


def test_the_restart_point_is_the_last_top_level_state_entered():
    definition = {"StartAt": "A", "States": {"A": {}, "Fan": {}}}
    events = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "A", "input": "{}"}},
        {"type": "ParallelStateEntered", "stateEnteredEventDetails": {"name": "Fan", "input": '{"n":1}'}},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Inner", "input": '{"n":2}'}},
        {"type": "ExecutionFailed"},
    ]

    assert restart_point(definition, events, {"n": 0}) == RestartPoint("Fan", {"n": 1})
    assert restart_point(definition, events[-1:], {"n": 0}) == RestartPoint("A", {"n": 0})
