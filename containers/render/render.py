"""The render task's process: run one clip's render and tell Step Functions how it ended.

    python -m containers.render.render        (from the repository)
    python render.py                          (inside the image: ENTRYPOINT)

The workflow starts it as a Fargate task with `.waitForTaskToken` (long clips) and waits for
this process's SendTaskSuccess or SendTaskFailure, so whatever happens it must answer once,
in one readable line. Settings: config.py; the render: clip.py; heartbeats: heartbeat.py.

Output: the render's document (clip.render_clip) as SendTaskSuccess's output, and on stdout.
Failures: SendTaskFailure(error="RenderFailed", cause=<one readable line>) and exit 1. SIGTERM
(ECS StopTask, a Spot reclaim) stops ffmpeg, deletes the partial and sends
SendTaskFailure(error="RenderInterrupted"), which the workflow may retry; exit 143. A token
Step Functions no longer knows: nothing is sent or published; exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping

import boto3

if __package__:
    from containers.render.clip import render_clip
    from containers.render.config import RenderConfig, client_config, load_spec
    from containers.render.errors import ERROR_FAILED, Interrupted, RenderError, TaskLost, log, one_line
    from containers.render.heartbeat import Heartbeat
else:  # run as a script inside the image: the modules sit beside this file
    from clip import render_clip  # type: ignore[no-redef]
    from config import RenderConfig, client_config, load_spec  # type: ignore[no-redef]
    from errors import ERROR_FAILED, Interrupted, RenderError, TaskLost, log, one_line  # type: ignore[no-redef]
    from heartbeat import Heartbeat  # type: ignore[no-redef]

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 143


def main(environ: Mapping[str, str] | None = None, s3=None, sfn=None, stdout=None) -> int:
    """The process entrypoint; returns the exit code (see the module docstring)."""
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    token = (environ.get("TASK_TOKEN") or "").strip() or None
    restore = _handle_sigterm()
    try:
        if token and sfn is None:
            sfn = boto3.client("stepfunctions", config=client_config())
        try:
            config = RenderConfig.from_env(environ)
            s3 = s3 or boto3.client("s3", config=client_config())
            with Heartbeat(sfn, token, config.heartbeat_s) as heartbeat:
                spec = load_spec(config, s3)
                document = render_clip(spec, s3, attempt_id=config.attempt_id, work_dir=config.work_dir,
                                       preset=config.preset, ffmpeg=config.ffmpeg, ffprobe=config.ffprobe,
                                       stop=heartbeat.stop)
            if token:
                _send(sfn, "send_task_success", taskToken=token, output=json.dumps(document))
            print(json.dumps(document), file=stdout, flush=True)
            return EXIT_OK
        except TaskLost as lost:
            log(f"error: {lost}")
            return EXIT_FAILED
        except RenderError as error:
            return _fail(sfn, token, error.error, str(error),
                         EXIT_INTERRUPTED if isinstance(error, Interrupted) else EXIT_FAILED)
        except Exception as error:  # noqa: BLE001 - the workflow must hear why, in one line
            return _fail(sfn, token, ERROR_FAILED, f"unexpected {type(error).__name__}: {error}", EXIT_FAILED)
    finally:
        restore()


def _fail(sfn, token: str | None, error: str, cause: str, code: int) -> int:
    cause = one_line(cause)
    log(f"error: {cause}")
    if token:
        _send(sfn, "send_task_failure", taskToken=token, error=error, cause=cause)
    return code


def _send(sfn, method: str, **arguments) -> None:
    try:
        getattr(sfn, method)(**arguments)
    except Exception as error:  # noqa: BLE001 - nothing more can be done; the heartbeat timeout will tell
        log(f"{method} failed: {type(error).__name__}: {error}")


def _handle_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into Interrupted in the main thread (python is PID 1 in the container: without a
    handler the signal would be ignored until SIGKILL). Returns a function that restores the old one."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupted(signum, frame):
        raise Interrupted("the render was stopped (SIGTERM) before it finished")

    previous = signal.signal(signal.SIGTERM, interrupted)
    return lambda: signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
