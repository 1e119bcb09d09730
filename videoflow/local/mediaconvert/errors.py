"""The errors of the local MediaConvert, named so that the workflow's Retry and Catch match them.

Step Functions matches errors by names that contain dots, which Python class names cannot, so
each class carries the name in `step_functions_error` and the local runner reports that (and
`str(exc)` as the cause). A job that ends in ERROR fails the task with States.TaskFailed and the
job as the cause, as run-a-job (`.sync`) integrations do; a refused CreateJob call fails it with
`MediaConvert.<exception>`, one class for each error shape of CreateJob in the botocore model
(only BadRequestException arises here; tests/workflow/fakes.py raises the others).
"""

from __future__ import annotations

import json


class MediaConvertError(Exception):
    """Base of the errors this stand-in raises; `step_functions_error` is the name Step Functions sees."""

    step_functions_error = "States.TaskFailed"


class TaskFailed(MediaConvertError):
    """The job ended in ERROR. `str(exc)` is the job JSON, as the `.sync` integration's cause."""

    step_functions_error = "States.TaskFailed"

    def __init__(self, job: dict):
        self.job = job
        super().__init__(json.dumps({"Job": job}, default=str))

    @property
    def error_code(self) -> int:
        return self.job["ErrorCode"]

    @property
    def error_message(self) -> str:
        return self.job["ErrorMessage"]


class _ApiError(MediaConvertError):
    def __init__(self, message: str):
        super().__init__(message)


class BadRequestException(_ApiError):
    step_functions_error = "MediaConvert.BadRequestException"


class ForbiddenException(_ApiError):
    step_functions_error = "MediaConvert.ForbiddenException"


class NotFoundException(_ApiError):
    step_functions_error = "MediaConvert.NotFoundException"


class ConflictException(_ApiError):
    step_functions_error = "MediaConvert.ConflictException"


class TooManyRequestsException(_ApiError):
    step_functions_error = "MediaConvert.TooManyRequestsException"


class InternalServerErrorException(_ApiError):
    step_functions_error = "MediaConvert.InternalServerErrorException"


class ServiceQuotaExceededException(_ApiError):
    step_functions_error = "MediaConvert.ServiceQuotaExceededException"


class UnprocessableEntityException(_ApiError):
    step_functions_error = "MediaConvert.UnprocessableEntityException"


class JobError(Exception):
    """Raised inside the run; becomes TaskFailed with the job's ids filled in."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# MediaConvert's error codes, and the title its ErrorMessage starts with.
ERROR_TITLES = {
    1010: "Input Error",
    1020: "Video Error",
    1021: "Audio Error",
    1040: "Settings Error",
    1401: "Permissions Issue",
    1404: "File Open Error",
    1999: "Unknown Error",
}


def unsupported(what: str) -> JobError:
    """A setting the stand-in cannot honour fails the job as MediaConvert's Settings Error, never silently."""
    return JobError(1040, f"{what} is not implemented by the local ffmpeg stand-in for MediaConvert")
