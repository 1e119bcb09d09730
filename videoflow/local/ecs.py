"""The local stand-in for `arn:aws:states:::ecs:runTask.waitForTaskToken`: the task as a process.

RunTask starts the task definition's container entrypoint (its Dockerfile's ENTRYPOINT, run
by this interpreter from the image's staged folder) with the container overrides as its
environment and AWS_ENDPOINT_URL pointing at the local account's moto server, and returns
at once, as RunTask does. The process holds the real task token: it heartbeats and reports
success or failure to the local Step Functions engine itself, so HeartbeatSeconds, the
task timeout, Retry and Catch all behave as they do in AWS. A process that dies silently is
noticed by the missing heartbeats, nothing else.

RunTask fails the way Step Functions reports it: a call ECS refuses (no Fargate capacity, a
throttled API) is `ECS.<exception>`; an answer with `Failures` and no task fails the task state
with `AmazonECS.Unknown`.

A stopped execution (a user's cancel) stops the task here with SIGTERM, as a refused heartbeat
would. In AWS, Step Functions does not stop a callback task (that integration's role has no
ecs:StopTask); the render stops itself at its next heartbeat, which Step Functions refuses once
the execution has stopped, so within HEARTBEAT_S. moto's engine keeps accepting that token
until the task answers, so locally the adapter ends what the refusal would have ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from videoflow.local.batch import (
    _entrypoint,
    calling_execution,
    container_environment,
    keep_stopped_executions_aborted,
)
from videoflow.local.botocore_model import validate_request
from videoflow.local.template import ACCOUNT, REGION

_STDERR_TAIL_LINES = 40
_POLL_S = 0.2


class EcsInvalidParameterException(Exception):
    """RunTask refused the request itself: no task was started."""

    step_functions_error = "ECS.InvalidParameterException"


class EcsApiError(Exception):
    """The RunTask call failed (ECS threw `exception`, e.g. AmazonECSException for no Fargate capacity)."""

    def __init__(self, message: str, exception: str = "AmazonECSException"):
        super().__init__(message)
        self.step_functions_error = f"ECS.{exception}"


class EcsTaskNotStarted(Exception):
    """RunTask answered 200 with Failures and no task: Step Functions fails the state with AmazonECS.Unknown."""

    step_functions_error = "AmazonECS.Unknown"

    def __init__(self, failures: list[dict]):
        reasons = "; ".join(f"{f.get('Reason', 'unknown')}" + (f" ({f['Detail']})" if f.get("Detail") else "")
                            for f in failures)
        super().__init__(f"RunTask started no task: {reasons}. Failures: {json.dumps(failures)}")


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    command: list[str]
    workdir: Path
    container: str
    credentials: dict  # the task role's


@dataclass
class RunningTask:
    arn: str
    process: subprocess.Popen
    stderr_tail: list[str]


class LocalEcs:
    def __init__(self, pipeline):
        self.endpoint_url = pipeline.endpoint_url
        self.definitions: dict[str, TaskDefinition] = {}
        for logical_id, resource in pipeline.template.of_type("AWS::ECS::TaskDefinition").items():
            container = resource["Properties"]["ContainerDefinitions"][0]
            directory = pipeline.asset_directory(container["Image"])
            task_role = pipeline.template.resolve(resource["Properties"].get("TaskRoleArn"))
            credentials = pipeline.access.credentials(pipeline.access.assumed_by(
                task_role, "ecs-tasks.amazonaws.com", "the render task (ECS task role)")) if task_role else {}
            definition = TaskDefinition(family=pipeline.template.names[logical_id], command=_entrypoint(directory),
                                        workdir=directory, container=container["Name"], credentials=credentials)
            self.definitions[pipeline.template.arn(logical_id)] = definition
            self.definitions[definition.family] = definition
            # RunTask may name the definition by its family (CDK does), by ARN, or family:revision.
            family = resource["Properties"].get("Family")
            if isinstance(family, str):
                self.definitions[family] = definition
        self.tasks: list[RunningTask] = []
        self._lock = threading.Lock()
        pipeline._stack.append(self.stop_all)
        keep_stopped_executions_aborted(pipeline)

    def __call__(self, parameters: dict) -> dict:
        validate_request("ecs", "RunTask", parameters, EcsInvalidParameterException)
        reference = parameters["TaskDefinition"]
        definition = self.definitions.get(reference) or self.definitions.get(reference.split("/")[-1].split(":")[0])
        if definition is None:
            raise ValueError(f"no task definition {reference} in the template")
        environment = {}
        for override in parameters.get("Overrides", {}).get("ContainerOverrides", []):
            if override.get("Name") == definition.container:
                environment.update({item["Name"]: item["Value"] for item in override.get("Environment", [])})
        failures = self.placement_failures(definition, parameters)
        if failures:
            raise EcsTaskNotStarted(failures)
        task = self.start(definition, {**environment, **definition.credentials})
        self._stop_with_execution(calling_execution(), task)
        return {"Tasks": [{"TaskArn": task.arn, "TaskDefinitionArn": reference, "LastStatus": "PROVISIONING",
                           "Containers": [{"Name": definition.container}]}], "Failures": []}

    def placement_failures(self, definition: TaskDefinition, parameters: dict) -> list[dict]:
        """RunTask's `Failures` for this request (Arn, Reason, Detail): none here, where the task always fits;
        a fault-injecting test overrides this."""
        return []

    def start(self, definition: TaskDefinition, environment: dict) -> RunningTask:
        """Start one task (a fault-injecting test wraps this)."""
        return self.launch(definition, self.task_environment(environment))

    def task_environment(self, overrides: dict) -> dict:
        return container_environment(self.endpoint_url, overrides)

    def launch(self, definition: TaskDefinition, env: dict, stdout=subprocess.DEVNULL) -> RunningTask:
        arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/local/{uuid.uuid4().hex}"
        # Its own process group: stopping the task stops ffmpeg under it too, as a container would.
        process = subprocess.Popen(definition.command, cwd=definition.workdir, env=env, stdout=stdout,
                                   stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True)
        task = RunningTask(arn, process, [])
        threading.Thread(target=self._drain, args=(task,), daemon=True, name=f"ecs-{arn[-8:]}").start()
        with self._lock:
            self.tasks.append(task)
        return task

    @staticmethod
    def _stop_with_execution(environment, task: RunningTask) -> None:
        """SIGTERM the task (SIGKILL after 10 s) if the execution that started it is stopped while it runs."""
        if environment is None:
            return
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

        def follow() -> None:
            while task.process.poll() is None:
                if isinstance(environment.program_state(), ProgramStopped):
                    stop(task, signal.SIGTERM)
                    try:
                        task.process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        stop(task, signal.SIGKILL)
                    return
                time.sleep(_POLL_S)

        threading.Thread(target=follow, daemon=True, name=f"ecs-follows-{task.arn[-8:]}").start()

    @staticmethod
    def _drain(task: RunningTask) -> None:
        for line in task.process.stderr:
            task.stderr_tail.append(line.rstrip())
            del task.stderr_tail[:-_STDERR_TAIL_LINES]
        task.process.wait()

    def stop_all(self) -> None:
        """StopTask for whatever still runs when the local account closes."""
        for task in self.tasks:
            if task.process.poll() is None:
                stop(task, signal.SIGTERM)
                try:
                    task.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    stop(task, signal.SIGKILL)


def stop(task: RunningTask, how: signal.Signals) -> None:
    """Signal the task's whole process group (the render and its ffmpeg)."""
    try:
        os.killpg(task.process.pid, how)
    except ProcessLookupError:
        pass
