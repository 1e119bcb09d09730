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
