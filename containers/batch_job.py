"""What the two Batch workers (containers/frames, containers/transcribe) share: exit codes, errors, S3, logging.

Batch retries a job by its exit code (stacks/analysis.py, stacks/transcriber.py: a passing fault is
tried again, the input's or the role's fault is not), so both workers must mean the same by each
code, and sort S3's failures into them the same way. Each image copies this file, with
s3_errors.py, beside its own modules (stacks/images.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import boto3
from botocore.config import Config

if __package__:
    from containers import s3_errors
else:  # inside an image: s3_errors.py sits beside this file
    import s3_errors  # type: ignore[no-redef]

EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_INPUT, EXIT_TRANSIENT = 0, 1, 2, 3, 4


class JobError(Exception):
    exit_code = EXIT_UNEXPECTED


class ConfigError(JobError):
    exit_code = EXIT_CONFIG


class InputError(JobError):
    exit_code = EXIT_INPUT


class TransientError(JobError):
    exit_code = EXIT_TRANSIENT


def s3_client():
    """S3 with the SDK's standard retries, more of them: a worker's reads are many and a retry is cheap."""
    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 8}))


def call_s3(action: Callable, what: str):
    """S3's failures as the exit codes Batch retries by: the input, the role, or a passing fault."""
    try:
        return s3_errors.call_s3(action, what, role="job role")
    except s3_errors.S3Missing as error:
        raise InputError(str(error)) from None
    except s3_errors.S3Denied as error:
        raise ConfigError(str(error)) from None
    except s3_errors.S3Failed as error:
        raise TransientError(str(error)) from None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(job: Callable[[], object]) -> int:
    """The process's exit code for `job`: its error's, or EXIT_UNEXPECTED with what happened as the last log line."""
    try:
        job()
        return EXIT_OK
    except JobError as error:
        log(f"error: {error}")
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - the last line a Batch log shows must say what happened
        log(f"error: unexpected {type(error).__name__}: {error}")
        return EXIT_UNEXPECTED
