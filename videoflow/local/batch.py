"""The local stand-in for `arn:aws:states:::batch:submitJob.sync`: real processes, Batch's rules.

An array job of size N runs its container's own entrypoint N times as local processes, at
most one per core, each with AWS_BATCH_JOB_ARRAY_INDEX set and AWS_ENDPOINT_URL pointing
at the local account's moto server; a job without ArrayProperties runs it once. The container
sees the job definition's Environment with the submission's overrides over it, and the job
role's credentials; each attempt is bounded by the submission's Timeout, else the definition's. Each child is retried exactly as the synthesized job
definition's RetryStrategy says (Attempts, EvaluateOnExit matched in order on status
reason, reason and exit code; no match means retry) and killed after its attempt timeout.
The answer is DescribeJobs' shape; a failed array job fails the task as Batch does.

Before it runs, a job waits RUNNABLE while its queue cannot place it (`blocked_reason`: a
compute environment too small for it here; no Spot capacity when a fault-injecting test
says so). The queue's JobStateTimeLimitActions, read from the synthesized template, cancel
it after their MaxTimeSeconds with Batch's own status reason.

A job is terminated as `.sync` does when the execution that submitted it stops (a user's
cancel, a timeout, a failed sibling branch): its running children are stopped (SIGTERM, then
SIGKILL) and none is started or retried after that, so no worker outlives its execution.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from unittest import mock

from videoflow.local.botocore_model import validate_request
from videoflow.local.template import REGION

CONTAINER_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"
# Batch's status reasons for a job cancelled by its queue's JobStateTimeLimitAction, and for a job the
# workflow terminates because its execution stopped.
TIME_LIMIT_CANCELLED = "Canceled by JobStateTimeLimit action due to reason: {reason}"
EXECUTION_STOPPED = "Terminated because the Step Functions execution that submitted the job was stopped"
COMPUTE_TOO_SMALL = ("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - All compute environments have a maxVcpu "
                     "setting that is smaller than the job requirements.")
_STDERR_TAIL_CHARS = 1500
_POLL_S = 0.2
_STOP_GRACE_S = 5  # SIGTERM, then SIGKILL (ECS waits up to its stopTimeout, 30 s by default)


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
    vcpus: float = 1.0
    environment: dict = field(default_factory=dict)  # ContainerProperties.Environment

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


@dataclass(frozen=True)
class JobQueue:
    arn: str
    max_vcpus: float  # the largest MaxvCpus among its compute environments
    time_limits: dict[str, float]  # JobStateTimeLimitActions: RUNNABLE status reason -> seconds before CANCEL

    def limit_for(self, status_reason: str) -> float | None:
        """The seconds after which a job RUNNABLE for this reason is cancelled (the reason's code before " - ")."""
        return self.time_limits.get(status_reason.split(" - ", 1)[0].strip())


@dataclass
class BatchJob:
    """A submitted job as Batch tracks it: its status, its reason, and the processes of its running children."""

    job_id: str
    status: str = "RUNNABLE"
    status_reason: str = ""
    terminated: str | None = None  # the reason given when it was terminated or cancelled
    processes: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalBatch:
    def __init__(self, pipeline):
        self.endpoint_url = pipeline.endpoint_url
        self.definitions = {
            pipeline.template.arn(logical_id): _definition(pipeline, logical_id, resource["Properties"])
            for logical_id, resource in pipeline.template.of_type("AWS::Batch::JobDefinition").items()
        }
        self.queues = _queues(pipeline.template)
        self.jobs: dict[str, BatchJob] = {}
        keep_stopped_executions_aborted(pipeline)
        pipeline._stack.append(self.stop_all)

    def __call__(self, parameters: dict) -> dict:
        validate_request("batch", "SubmitJob", parameters, BatchClientException)
        definition = self.definitions[parameters["JobDefinition"]]
        if parameters.get("Timeout", {}).get("AttemptDurationSeconds"):  # SubmitJob's timeout overrides the definition's
            definition = replace(definition, timeout_s=float(parameters["Timeout"]["AttemptDurationSeconds"]))
        queue = self.queues[parameters["JobQueue"]]
        size = parameters.get("ArrayProperties", {}).get("Size", 1)
        job = BatchJob(str(uuid.uuid4()))
        self.jobs[job.job_id] = job
        environment = {**definition.environment,
                       **{e["Name"]: e["Value"] for e in parameters.get("ContainerOverrides", {}).get("Environment", [])}}
        started = int(time.time() * 1000)
        described = {"JobId": job.job_id, "JobName": parameters.get("JobName", ""), "JobQueue": parameters["JobQueue"],
                     "JobDefinition": parameters["JobDefinition"], "CreatedAt": started}
        done = threading.Event()
        watcher = _follow_execution(calling_execution(), done, lambda: self.terminate_job(job.job_id, EXECUTION_STOPPED))
        try:
            self._wait_until_placed(job, queue, definition, parameters, described)
            job.status = "RUNNING"
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                outcomes = list(pool.map(lambda index: self._child(definition, job, index, environment), range(size)))
        finally:
            done.set()
            if watcher is not None:
                watcher.join(timeout=5)
        failed = [(index, attempts[-1]) for index, attempts in enumerate(outcomes)
                  if not attempts or not attempts[-1].succeeded]
        described.update({
            "Status": "FAILED" if failed or job.terminated else "SUCCEEDED",
            "ArrayProperties": {"Size": size, "StatusSummary": {"SUCCEEDED": size - len(failed), "FAILED": len(failed)}},
            "StartedAt": started, "StoppedAt": int(time.time() * 1000),
            "Attempts": sum(len(attempts) for attempts in outcomes),
        })
        job.status = described["Status"]
        if job.terminated:
            job.status_reason = described["StatusReason"] = job.terminated
            raise BatchJobFailed(json.dumps(described))
        if failed:
            index, attempt = failed[0]
            job.status_reason = described["StatusReason"] = (
                f"Array child {index} failed after {len(outcomes[index])} attempt(s): {attempt.status_reason}"
                + (f" (exit code {attempt.exit_code})" if attempt.exit_code not in (None, 0) else "")
                + (f": {attempt.stderr_tail.strip().splitlines()[-1]}" if attempt.stderr_tail.strip() else "")
            )
            raise BatchJobFailed(json.dumps(described))
        return described

    # -- RUNNABLE: placement and the queue's time limits ---------------------------------------------
    def blocked_reason(self, queue: JobQueue, definition: JobDefinition, parameters: dict) -> str | None:
        """Why the queue cannot place the job now (Batch's RUNNABLE status reason), or None when it can.

        Here: a job that needs more vCPUs than any compute environment of the queue may run. A
        fault-injecting test overrides this (no Spot capacity, for example)."""
        return placement_problem(queue, definition, parameters)

    def _wait_until_placed(self, job: BatchJob, queue: JobQueue, definition: JobDefinition, parameters: dict,
                           described: dict) -> None:
        since: float | None = None
        while job.terminated is None:
            reason = self.blocked_reason(queue, definition, parameters)
            if reason is None:
                return
            if reason.split(" - ")[0] != job.status_reason.split(" - ")[0]:
                since = time.monotonic()  # the limit counts the time spent RUNNABLE for this reason
            job.status_reason = reason
            limit = queue.limit_for(reason)
            if limit is not None and since is not None and time.monotonic() - since >= limit:
                self.terminate_job(job.job_id, TIME_LIMIT_CANCELLED.format(reason=reason.split(" - ")[0].strip()))
                break
            time.sleep(_POLL_S)
        described.update({"Status": "FAILED", "StatusReason": job.terminated, "StoppedAt": int(time.time() * 1000),
                          "Attempts": 0})
        job.status, job.status_reason = "FAILED", job.terminated or ""
        raise BatchJobFailed(json.dumps(described))

    # -- TerminateJob --------------------------------------------------------------------------------
    def terminate_job(self, job_id: str, reason: str) -> None:
        """Batch's TerminateJob (CancelJob for a job not yet running): no child starts or retries after it;
        running children get SIGTERM, then SIGKILL after a grace period."""
        job = self.jobs[job_id]
        with job.lock:
            if job.terminated is not None:
                return
            job.terminated = reason
            running = list(job.processes)
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL)

    def stop_all(self) -> None:
        """TerminateJob for whatever still runs when the local account closes: no worker outlives it."""
        for job_id, job in list(self.jobs.items()):
            if job.status not in ("SUCCEEDED", "FAILED"):
                self.terminate_job(job_id, "Terminated because the local account was closed")

    # -- the children ---------------------------------------------------------------------------------
    def _child(self, definition: JobDefinition, job: BatchJob, index: int, environment: dict) -> list[Attempt]:
        attempts: list[Attempt] = []
        while job.terminated is None:
            attempt = self.run_attempt(definition, job.job_id, index, len(attempts) + 1, environment)
            attempts.append(attempt)
            if attempt.succeeded or len(attempts) >= definition.attempts or definition.action_after(attempt) == "EXIT":
                break
        return attempts

    def run_attempt(self, definition: JobDefinition, job_id: str, index: int, number: int,
                    environment: dict) -> Attempt:
        """One container attempt as a local process (a fault-injecting test overrides this)."""
        env = container_environment(self.endpoint_url, {
            **environment, **definition.credentials,
            "AWS_BATCH_JOB_ID": f"{job_id}:{index}", "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
            "AWS_BATCH_JOB_ATTEMPT": str(number),
        })
        job = self.jobs[job_id]
        with job.lock:
            if job.terminated is not None:
                return Attempt(None, job.terminated)
            # Its own process group: stopping the container stops whatever the worker started under it.
            process = subprocess.Popen(self.container_command(definition), cwd=definition.workdir, env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                                       start_new_session=True)
            job.processes.add(process)
        try:
            _, stderr = process.communicate(timeout=definition.timeout_s)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL)
            _, stderr = process.communicate()
            return Attempt(None, TIMED_OUT, _tail(stderr))
        finally:
            with job.lock:
                job.processes.discard(process)
        if job.terminated is not None:
            return Attempt(None, job.terminated, _tail(stderr))
        return Attempt(process.returncode, CONTAINER_EXITED if process.returncode else "", _tail(stderr))

    def container_command(self, definition: JobDefinition) -> list[str]:
        """What the container runs: the image's ENTRYPOINT (a fault-injecting test may run another process)."""
        return definition.command


def calling_execution():
    """The moto Step Functions environment of the task state that called this adapter, or None.

    The engine invokes the adapter synchronously in the task's own thread (through moto's Lambda
    API, as the runner routes it), so the innermost `Environment` on this thread's stack is the
    task's frame: it stops running when the execution is stopped, times out or its branch fails.
    """
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    frame = sys._getframe(1)
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, Environment):
                return value
        frame = frame.f_back
    return None


def keep_stopped_executions_aborted(pipeline) -> None:
    """A stopped execution stays ABORTED in AWS whatever its running task does next. moto's engine lets a task
    that fails after the stop (a terminated job, a render answering SIGTERM) turn it FAILED: while the local
    account is open, an error or a timeout no longer overrides a stopped program."""
    if getattr(pipeline, "_keeps_stopped_aborted", False):
        return
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    def unless_stopped(original):
        def method(environment, *args, **kwargs):
            if not isinstance(environment._program_state, ProgramStopped):
                original(environment, *args, **kwargs)
        return method

    for name in ("set_error", "set_timed_out"):
        patcher = mock.patch.object(Environment, name, unless_stopped(getattr(Environment, name)))
        patcher.start()
        pipeline._stack.append(patcher.stop)
    pipeline._keeps_stopped_aborted = True


def _follow_execution(environment, done: threading.Event, on_stop) -> threading.Thread | None:
    """Call `on_stop` once if the task's execution stops before `done` is set (what .sync does with TerminateJob)."""
    if environment is None:
        return None

    def follow() -> None:
        while not done.wait(_POLL_S):
            if not environment.is_running():
                on_stop()
                return

    thread = threading.Thread(target=follow, name="batch-follows-execution", daemon=True)
    thread.start()
    return thread


def _definition(pipeline, logical_id: str, props: dict) -> JobDefinition:
    strategy = props.get("RetryStrategy", {})
    image_directory = pipeline.asset_directory(props["ContainerProperties"]["Image"])
    job_role = pipeline.template.resolve(props["ContainerProperties"].get("JobRoleArn"))
    name = pipeline.template.names[logical_id]
    credentials = pipeline.access.credentials(pipeline.access.assumed_by(
        job_role, "ecs-tasks.amazonaws.com", f"the Batch job {name} (its job role)")) if job_role else {}
    return JobDefinition(
        name=name,
        command=_entrypoint(image_directory),
        workdir=image_directory,
        attempts=strategy.get("Attempts", 1),
        evaluate_on_exit=strategy.get("EvaluateOnExit", []),
        timeout_s=props.get("Timeout", {}).get("AttemptDurationSeconds"),
        credentials=credentials,
        vcpus=_vcpus(props["ContainerProperties"].get("ResourceRequirements", []), 1.0),
        environment={e["Name"]: str(e["Value"]) for e in
                     pipeline.template.resolve(props["ContainerProperties"].get("Environment", []))},
    )


def _queues(template) -> dict[str, JobQueue]:
    """Each job queue of the template, by ARN and by name (SubmitJob takes either)."""
    environments = {template.arn(lid): resource["Properties"]
                    for lid, resource in template.of_type("AWS::Batch::ComputeEnvironment").items()}
    found = {}
    for logical_id, resource in template.of_type("AWS::Batch::JobQueue").items():
        props = resource["Properties"]
        attached = [environments.get(template.resolve(order["ComputeEnvironment"]), {})
                    for order in props.get("ComputeEnvironmentOrder", [])]
        queue = JobQueue(
            arn=template.arn(logical_id),
            max_vcpus=max((float(e.get("ComputeResources", {}).get("MaxvCpus", 0)) for e in attached), default=0.0),
            time_limits={action["Reason"]: float(action["MaxTimeSeconds"])
                         for action in props.get("JobStateTimeLimitActions", [])
                         if action.get("State") == "RUNNABLE" and action.get("Action") == "CANCEL"},
        )
        found[queue.arn] = found[template.names[logical_id]] = queue
    return found


def placement_problem(queue: JobQueue, definition: JobDefinition, parameters: dict) -> str | None:
    """Batch's RUNNABLE status reason for a job no compute environment of the queue is big enough for, else None."""
    return COMPUTE_TOO_SMALL if _job_vcpus(definition, parameters) > queue.max_vcpus else None


def _vcpus(requirements: list[dict], default: float) -> float:
    return next((float(r["Value"]) for r in requirements if r.get("Type") == "VCPU"), default)


def _job_vcpus(definition: JobDefinition, parameters: dict) -> float:
    """Each child's vCPUs: the submission's override, else the job definition's."""
    return _vcpus(parameters.get("ContainerOverrides", {}).get("ResourceRequirements", []), definition.vcpus)


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


def _signal(process: subprocess.Popen, how: signal.Signals) -> None:
    """Signal a container's whole process group."""
    try:
        os.killpg(process.pid, how)
    except ProcessLookupError:
        pass


def _batch_match(pattern: str, value: str | None) -> bool:
    """Batch's EvaluateOnExit matching: exact, or a prefix when the pattern ends with *."""
    if value is None:
        return False
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-_STDERR_TAIL_CHARS:]
