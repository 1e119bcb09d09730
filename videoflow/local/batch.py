"""The local stand-in for `arn:aws:states:::batch:submitJob.sync`: real processes, Batch's rules.

An array job of size N runs its container's own entrypoint N times as local processes, at
most one per core, each with AWS_BATCH_JOB_ARRAY_INDEX set and AWS_ENDPOINT_URL pointing
at the local account's moto server. Each child is retried exactly as the synthesized job
definition's RetryStrategy says (Attempts, EvaluateOnExit matched in order on status
reason, reason and exit code; no match means retry) and killed after its attempt timeout.
The answer is DescribeJobs' shape; a failed array job fails the task as Batch does.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from videoflow.local.botocore_model import validate_request
from videoflow.local.template import REGION

CONTAINER_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
_STDERR_TAIL_CHARS = 1500


class BatchClientException(Exception):
    """SubmitJob refused the request itself: no job was created."""

    step_functions_error = "Batch.ClientException"


class BatchJobFailed(Exception):
    """The array job ended FAILED; the message is the job description, as the .sync cause."""

    step_functions_error = "States.TaskFailed"


@dataclass(frozen=True)
class Attempt:
    exit_code: int | None
    status_reason: str
    stderr_tail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class JobDefinition:
    name: str
    command: list[str]
    workdir: Path  # the image's build folder, as staged by synth: what WORKDIR holds in the image
    attempts: int
    evaluate_on_exit: list[dict]
    timeout_s: float | None
    credentials: dict  # the job role's, as the container's credential provider would give them

    def action_after(self, attempt: Attempt) -> str:
        """RETRY or EXIT for a failed attempt, by the first EvaluateOnExit rule that matches."""
        if attempt.status_reason == TIMED_OUT:
            return "EXIT"  # Batch does not retry an attempt that timed out
        for rule in self.evaluate_on_exit:
            checks = [
                ("OnStatusReason", attempt.status_reason),
                ("OnReason", attempt.status_reason),
                ("OnExitCode", None if attempt.exit_code is None else str(attempt.exit_code)),
            ]
            if all(_batch_match(rule[key], value) for key, value in checks if key in rule):
                return rule["Action"].upper()
        return "RETRY"


class LocalBatch:
    def __init__(self, pipeline):
        self.endpoint_url = pipeline.endpoint_url
        self.definitions = {
            pipeline.template.arn(logical_id): _definition(pipeline, logical_id, resource["Properties"])
            for logical_id, resource in pipeline.template.of_type("AWS::Batch::JobDefinition").items()
        }

    def __call__(self, parameters: dict) -> dict:
        validate_request("batch", "SubmitJob", parameters, BatchClientException)
        definition = self.definitions[parameters["JobDefinition"]]
        size = parameters.get("ArrayProperties", {}).get("Size", 1)
        job_id = str(uuid.uuid4())
        environment = {e["Name"]: e["Value"] for e in parameters.get("ContainerOverrides", {}).get("Environment", [])}
        started = int(time.time() * 1000)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            outcomes = list(pool.map(lambda index: self._child(definition, job_id, index, environment), range(size)))
        failed = [(index, attempts[-1]) for index, attempts in enumerate(outcomes) if not attempts[-1].succeeded]
        job = {
            "JobId": job_id, "JobName": parameters.get("JobName", ""), "JobQueue": parameters.get("JobQueue", ""),
            "JobDefinition": parameters["JobDefinition"], "Status": "FAILED" if failed else "SUCCEEDED",
            "ArrayProperties": {"Size": size, "StatusSummary": {"SUCCEEDED": size - len(failed), "FAILED": len(failed)}},
            "CreatedAt": started, "StartedAt": started, "StoppedAt": int(time.time() * 1000),
            "Attempts": sum(len(attempts) for attempts in outcomes),
        }
        if failed:
            index, attempt = failed[0]
            job["StatusReason"] = (
                f"Array child {index} failed after {len(outcomes[index])} attempt(s): {attempt.status_reason}"
                + (f" (exit code {attempt.exit_code})" if attempt.exit_code not in (None, 0) else "")
                + (f": {attempt.stderr_tail.strip().splitlines()[-1]}" if attempt.stderr_tail.strip() else "")
            )
            raise BatchJobFailed(json.dumps(job))
        return job

    def _child(self, definition: JobDefinition, job_id: str, index: int, environment: dict) -> list[Attempt]:
        attempts: list[Attempt] = []
        while True:
            attempt = self.run_attempt(definition, job_id, index, len(attempts) + 1, environment)
            attempts.append(attempt)
            if attempt.succeeded or len(attempts) >= definition.attempts or definition.action_after(attempt) == "EXIT":
                return attempts

    def run_attempt(self, definition: JobDefinition, job_id: str, index: int, number: int,
                    environment: dict) -> Attempt:
        """One container attempt as a local process (a fault-injecting test overrides this)."""
        env = container_environment(self.endpoint_url, {
            **environment, **definition.credentials,
            "AWS_BATCH_JOB_ID": f"{job_id}:{index}", "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
            "AWS_BATCH_JOB_ATTEMPT": str(number),
        })
        try:
            done = subprocess.run(definition.command, cwd=definition.workdir, env=env, capture_output=True, text=True,
                                  timeout=definition.timeout_s)
        except subprocess.TimeoutExpired as expired:
            return Attempt(None, TIMED_OUT, _tail(expired.stderr))
        return Attempt(done.returncode, CONTAINER_EXITED if done.returncode else "", _tail(done.stderr))


def _definition(pipeline, logical_id: str, props: dict) -> JobDefinition:
    strategy = props.get("RetryStrategy", {})
    image_directory = pipeline.asset_directory(props["ContainerProperties"]["Image"])
    job_role = pipeline.template.resolve(props["ContainerProperties"].get("JobRoleArn"))
    credentials = pipeline.access.credentials(pipeline.access.assumed_by(
        job_role, "ecs-tasks.amazonaws.com", "the frame worker (Batch job role)")) if job_role else {}
    return JobDefinition(
        name=pipeline.template.names[logical_id],
        command=_entrypoint(image_directory),
        workdir=image_directory,
        attempts=strategy.get("Attempts", 1),
        evaluate_on_exit=strategy.get("EvaluateOnExit", []),
        timeout_s=props.get("Timeout", {}).get("AttemptDurationSeconds"),
        credentials=credentials,
    )


def container_environment(endpoint_url: str, overrides: dict) -> dict:
    """What a local container process sees: its overrides, and credentials for the local account
    (AWS_ENDPOINT_URL: the moto server), nothing else of this process's environment."""
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        **overrides,
    }


def _entrypoint(directory: Path) -> list[str]:
    """The image's ENTRYPOINT (+ CMD), exec form, from its Dockerfile; `python` is this interpreter."""
    command: list[str] = []
    for line in (directory / "Dockerfile").read_text().splitlines():
        for instruction in ("ENTRYPOINT", "CMD"):
            if line.strip().upper().startswith(instruction + " "):
                part = json.loads(line.strip()[len(instruction):].strip())
                command = part if instruction == "ENTRYPOINT" else command + part
    if not command:
        raise ValueError(f"{directory}/Dockerfile has no exec-form ENTRYPOINT")
    return [sys.executable if command[0] in ("python", "python3") else command[0], *command[1:]]


def _batch_match(pattern: str, value: str | None) -> bool:
    """Batch's EvaluateOnExit matching: exact, or a prefix when the pattern ends with *."""
    if value is None:
        return False
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-_STDERR_TAIL_CHARS:]
