"""Wrappers around the real local MediaConvert adapter: one injects faults, one counts calls."""

from videoflow.local.mediaconvert import create_job_sync


class FailingMediaConvertFake:
    """Raises `error` on the first `times` calls, then runs the real ffmpeg adapter."""

    def __init__(self, error: Exception, times: int = 1):
        self.error, self.times, self.calls = error, times, 0

    def __call__(self, parameters: dict) -> dict:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return create_job_sync(parameters)


class MediaConvertHeldFake:
    """Holds the MediaConvert job open until `release()` (a long transcode), then runs the real adapter."""

    def __init__(self):
        import threading

        self.started, self._released = threading.Event(), threading.Event()

    def release(self) -> None:
        self._released.set()

    def __call__(self, parameters: dict) -> dict:
        self.started.set()
        self._released.wait(timeout=120)
        return create_job_sync(parameters)


class MediaConvertCallCounter:
    """Not a fake: runs the real adapter and counts the jobs, to prove a job ran once or not at all."""

    def __init__(self):
        self.calls = 0

    def __call__(self, parameters: dict) -> dict:
        self.calls += 1
        return create_job_sync(parameters)


# --- AWS Batch: fault-injecting subclasses of the real local Batch (videoflow.local.batch) ----------------
# Imported here, not at the top, so the classes above stay exactly as they were.
import threading  # noqa: E402
from collections import Counter  # noqa: E402

from videoflow.local.batch import CONTAINER_EXITED, Attempt, LocalBatch  # noqa: E402

HOST_LOST = "Host EC2 (instance i-0123456789abcdef0) terminated."


class _AttemptCountingBatch(LocalBatch):
    """The real local Batch, plus a count of the attempts made per array index (over the whole run).

    The pipeline builds the adapter itself (`cls(pipeline)`), so each instance is kept in its class's
    `instances`; `recording()` gives a subclass with a list of its own, so a test sees only its own run.
    """

    instances: list = []

    def __init__(self, pipeline):
        super().__init__(pipeline)
        self.attempts: Counter[int] = Counter()
        self._lock = threading.Lock()
        type(self).instances.append(self)

    @classmethod
    def recording(cls) -> type:
        return type(cls.__name__, (cls,), {"instances": []})

    def _count(self, index: int) -> None:
        with self._lock:  # array children run on a thread pool
            self.attempts[index] += 1


class HostLostOnFirstAttemptFake(_AttemptCountingBatch):
    """Array child 0 loses its EC2 host on its first attempt (no exit code, as Batch reports it); real runs otherwise."""

    def run_attempt(self, definition, job_id, index, number, environment) -> Attempt:
        self._count(index)
        if index == 0 and number == 1:
            return Attempt(None, HOST_LOST)
        return super().run_attempt(definition, job_id, index, number, environment)


class WorkerCrashFake(_AttemptCountingBatch):
    """Array child 0's worker exits 1 on every attempt, a decoder error as its last stderr line; others run."""

    STDERR = "chunk 0: 0/5 frames\nerror: cannot decode frame frames/frame.0000000.jpg: invalid JPEG data\n"

    def run_attempt(self, definition, job_id, index, number, environment) -> Attempt:
        self._count(index)
        if index == 0:
            return Attempt(1, CONTAINER_EXITED, self.STDERR)
        return super().run_attempt(definition, job_id, index, number, environment)


# --- ECS (the render task): fault-injecting subclasses of the real local ECS (videoflow.local.ecs) --------------
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import boto3  # noqa: E402

from videoflow.local.ecs import LocalEcs, stop  # noqa: E402
from videoflow.local.template import REGION  # noqa: E402


class _RecordingEcs(LocalEcs):
    instances: list = []

    def __init__(self, pipeline):
        super().__init__(pipeline)
        self.starts: list[str] = []  # RENDER_SPEC_S3 of every task started, in order
        type(self).instances.append(self)

    @classmethod
    def recording(cls) -> type:
        return type(cls.__name__, (cls,), {"instances": []})


class RenderWorkerKilledMidClipFake(_RecordingEcs):
    """The real local ECS, except that the first render task dies (SIGKILL, no goodbye) while it encodes."""

    def __init__(self, pipeline):
        super().__init__(pipeline)
        self.killed: list[str] = []

    def start(self, definition, environment):
        task = super().start(definition, environment)
        self.starts.append(environment["RENDER_SPEC_S3"])
        if not self.killed:
            self.killed.append(environment["RENDER_SPEC_S3"])
            threading.Thread(target=self._kill_while_encoding, args=(task,), daemon=True).start()
        return task

    @staticmethod
    def _kill_while_encoding(task) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and task.process.poll() is None:
            if any(": rendering " in line for line in task.stderr_tail):
                time.sleep(0.5)  # ffmpeg is writing the clip now
                stop(task, signal.SIGKILL)
                return
            time.sleep(0.02)


class ClipCorruptedAfterRenderFake(_RecordingEcs):
    """Runs the real render, then truncates the published clip before reporting success with the task token:
    what record_render must catch (a clip that is not what the renderer said it wrote)."""

    def start(self, definition, environment):
        self.starts.append(environment["RENDER_SPEC_S3"])
        token = environment["TASK_TOKEN"]
        quiet = {name: value for name, value in environment.items() if name != "TASK_TOKEN"}
        task = self.launch(definition, self.task_environment(quiet), stdout=subprocess.PIPE)
        threading.Thread(target=self._corrupt_then_succeed, args=(task, token), daemon=True).start()
        return task

    @staticmethod
    def _corrupt_then_succeed(task, token: str) -> None:
        output = task.process.stdout.read()
        task.process.wait()
        document = json.loads(output.strip().splitlines()[-1])
        s3 = boto3.client("s3", region_name=REGION)
        body = s3.get_object(Bucket=document["bucket"], Key=document["key"])["Body"].read()
        s3.put_object(Bucket=document["bucket"], Key=document["key"], Body=body[: len(body) // 2])
        boto3.client("stepfunctions", region_name=REGION).send_task_success(taskToken=token,
                                                                            output=json.dumps(document))


# --- Worker faults (tests/workflow/test_worker_faults.py): no Spot capacity, a hung worker, RunTask refused ----------
import sys  # noqa: E402

from videoflow.local.ecs import EcsApiError  # noqa: E402

FARGATE_SPOT_NO_CAPACITY = ("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested "
                            "for instance type [FARGATE_SPOT]")


class NoSpotCapacityFake(_AttemptCountingBatch):
    """The real local Batch, except that Fargate Spot never has capacity: the job waits RUNNABLE with Batch's reason,
    and the queue's own JobStateTimeLimitActions must end it."""

    def blocked_reason(self, queue, definition, parameters):
        return FARGATE_SPOT_NO_CAPACITY

    def run_attempt(self, definition, job_id, index, number, environment) -> Attempt:
        self._count(index)
        return super().run_attempt(definition, job_id, index, number, environment)


class FrameWorkerHangsFake(_AttemptCountingBatch):
    """Every array child's container hangs (a worker stuck on a read) until it is stopped; the adapter runs and
    tracks the processes as its own."""

    HANG = [sys.executable, "-c", "import time\nprint('frame worker stuck', flush=True)\ntime.sleep(600)"]

    def container_command(self, definition) -> list[str]:
        return self.HANG

    def running(self) -> list:
        return [process for job in list(self.jobs.values()) for process in list(job.processes)]


class RunTaskNoCapacityOnceFake(_RecordingEcs):
    """The first RunTask finds no Fargate capacity: ECS throws, which Step Functions names ECS.AmazonECSException
    (AWS knowledge center, "ecs-fargate-runtask-capacity"); later calls start the real render."""

    MESSAGE = "Capacity is unavailable at this time. Please try again later or in a different availability zone"

    def __init__(self, pipeline):
        super().__init__(pipeline)
        self.refused: list[str] = []

    def start(self, definition, environment):
        if not self.refused:
            self.refused.append(environment["RENDER_SPEC_S3"])
            raise EcsApiError(self.MESSAGE)
        self.starts.append(environment["RENDER_SPEC_S3"])
        return super().start(definition, environment)


# --- MediaConvert that never finishes, and Amazon Transcribe throttled or down (tests/workflow/test_service_faults.py)
from videoflow.local.transcribe import (  # noqa: E402
    InternalFailureException,
    LimitExceededException,
    start_transcription_job,
)


class MediaConvertNeverFinishesFake:
    """A MediaConvert job that is accepted and then never ends (stuck in the service): the call blocks until the
    test releases it, and then reports nothing the workflow could use."""

    def __init__(self):
        self.started, self._released = threading.Event(), threading.Event()
        self.calls = 0

    def release(self) -> None:
        self._released.set()

    def __call__(self, parameters: dict) -> dict:
        self.calls += 1
        self.started.set()
        self._released.wait(timeout=300)
        raise RuntimeError("MediaConvertNeverFinishesFake released: the workflow had stopped waiting long before")


class TranscribeThrottledFake:
    """StartTranscriptionJob refused with LimitExceededException (too many jobs at once) `times` times, then the
    real local Transcribe."""

    MESSAGE = "You have exceeded the limit for concurrent transcription jobs. Try your request again later."

    def __init__(self, times: int):
        self.times, self.calls = times, 0

    def __call__(self, parameters: dict) -> dict:
        self.calls += 1
        if self.calls <= self.times:
            raise LimitExceededException(self.MESSAGE)
        return start_transcription_job(parameters)


class TranscribeUnavailableFake:
    """Amazon Transcribe is down: every StartTranscriptionJob fails with InternalFailureException."""

    MESSAGE = "We encountered an internal error. Try your request again."

    def __init__(self):
        self.calls = 0

    def __call__(self, parameters: dict) -> dict:
        self.calls += 1
        raise InternalFailureException(self.MESSAGE)


class RenderTasksRecorded(_RecordingEcs):
    """Not a fake: the real local ECS, keeping each instance (and so its tasks) for the test to look at."""
