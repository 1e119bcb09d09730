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
