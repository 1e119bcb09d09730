"""Step Functions heartbeats while a render runs, and the stop signal they raise when nobody waits.

The workflow starts the task with `.waitForTaskToken` and a heartbeat timeout, so a task that
dies is noticed in that time and retried. When Step Functions answers a heartbeat with
TaskTimedOut, InvalidToken or TaskDoesNotExist, the workflow has stopped waiting for this
attempt (a retry may already be running): the render must stop and publish nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

if __package__:
    from containers.render.errors import TaskLost, log as log_to_stderr
else:  # run as a script inside the image: the modules sit beside this file
    from errors import TaskLost, log as log_to_stderr  # type: ignore[no-redef]

# Step Functions' answers that mean nobody waits for this token any more.
TOKEN_GONE_CODES = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class StopSignal:
    """Set when the render must stop: the task token is gone (or the caller wants it stopped)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def check(self) -> None:
        if self.event.is_set():
            raise TaskLost(self.reason)


class Heartbeat:
    """SendTaskHeartbeat now and then at least every `interval_s`, from a daemon thread, while in the `with`.

    Throttling and network errors are logged and the next beat goes out on time; a token that
    Step Functions no longer knows sets `stop`.
    """

    def __init__(self, sfn, token: str | None, interval_s: float, log: Callable[[str], None] | None = None):
        self.sfn, self.token, self.interval_s = sfn, token, interval_s
        self.log = log or log_to_stderr
        self.stop = StopSignal()
        self.sent = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.token:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 10)

    def _run(self) -> None:
        next_beat = time.monotonic()
        while not self._done.is_set():
            next_beat += self.interval_s
            self._beat()
            if self.stop.is_set():
                return
            # Scheduled from the previous beat's start, so a slow call does not stretch the gap.
            self._done.wait(max(0.0, next_beat - time.monotonic()))

    def _beat(self) -> None:
        try:
            self.sfn.send_task_heartbeat(taskToken=self.token)
            self.sent += 1
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in TOKEN_GONE_CODES:
                self.stop.set(f"Step Functions no longer waits for this render ({code}); stopped without publishing")
                self.log(f"heartbeat: {code}: the workflow stopped waiting; stopping")
            else:
                self.log(f"heartbeat failed ({code or error}); the next one is due in {self.interval_s:g} s")
        except Exception as error:  # noqa: BLE001 - a missed beat must not kill the render
            self.log(f"heartbeat failed ({type(error).__name__}: {error}); the next one is due in {self.interval_s:g} s")
