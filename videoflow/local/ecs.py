"""The local stand-in for `arn:aws:states:::ecs:runTask.waitForTaskToken`: the task as a process.

RunTask starts the task definition's container entrypoint (its Dockerfile's ENTRYPOINT, run
by this interpreter from the image's staged folder) with the container overrides as its
environment and AWS_ENDPOINT_URL pointing at the local account's moto server, and returns
at once, as RunTask does. The process holds the real task token: it heartbeats and reports
success or failure to the local Step Functions engine itself, so HeartbeatSeconds, the
task timeout, Retry and Catch all behave as they do in AWS. A process that dies silently is
noticed by the missing heartbeats, nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from videoflow.local.batch import _entrypoint, container_environment
from videoflow.local.botocore_model import validate_request
from videoflow.local.template import ACCOUNT, REGION

_STDERR_TAIL_LINES = 40


class EcsInvalidParameterException(Exception):
    """RunTask refused the request itself: no task was started."""

    step_functions_error = "ECS.InvalidParameterException"


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
        task = self.start(definition, {**environment, **definition.credentials})
        return {"Tasks": [{"TaskArn": task.arn, "TaskDefinitionArn": reference, "LastStatus": "PROVISIONING",
                           "Containers": [{"Name": definition.container}]}], "Failures": []}

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
