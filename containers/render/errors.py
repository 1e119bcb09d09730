"""How a render fails: the errors the workflow tells apart, and the one-line causes it is sent.

Step Functions retries RenderInterrupted (the task was stopped) and not RenderFailed (the clip
cannot be made), so every failure is one of these, with a cause a person can read. Progress
and errors go to stderr, one line each: that is the task's log stream.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

if __package__:
    from containers import s3_errors
else:  # run as a script inside the image: the modules sit beside this file
    import s3_errors  # type: ignore[no-redef]

T = TypeVar("T")

ERROR_FAILED = "RenderFailed"
ERROR_INTERRUPTED = "RenderInterrupted"
MAX_CAUSE_CHARS = 1000


class RenderError(Exception):
    """A render that cannot succeed; the message is the readable cause."""

    error = ERROR_FAILED


class Interrupted(RenderError):
    """SIGTERM: the task is being stopped. Not the clip's fault; a retry can succeed."""

    error = ERROR_INTERRUPTED


class TaskLost(RenderError):
    """Step Functions no longer waits for this attempt; nothing may be published."""


def s3_call(action: Callable[[], T], what: str) -> T:
    """`action()`, with any S3 failure raised as RenderError: every one of them fails the render alike."""
    try:
        return s3_errors.call_s3(action, what, role="task role")
    except s3_errors.S3Error as error:
        raise RenderError(str(error)) from None


def one_line(text: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """Whitespace and line breaks collapsed to single spaces, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
