"""The workflow's Wait states at a fraction of their length in the tests' local runs, as its retry waits are.

WaitForTranscript polls Transcribe after 1, 2, 4, 8 ... s (stacks/workflow.py). moto's engine sleeps
each one in WaitFunction._wait_interval; while installed, the sleep is `scale` times as long. The
state's input and output, the number of polls and the seconds the loop counts as waited (its bound
is sized from the video in nominal seconds) are exactly as synthesized: only the real sleep is
shorter, so a run no longer idles up to a few seconds after its transcript is ready.
"""

import time
from contextlib import contextmanager
from unittest.mock import patch


@contextmanager
def scaled_wait_states(scale: float):
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def wait_interval(self, env, wait_seconds) -> None:
        # moto's own loop: wait on the program's event, keep waiting after an unrelated wake-up, and end at once
        # when the execution stops.
        deadline = time.monotonic() + float(wait_seconds) * scale
        while env.is_running() and (remaining := deadline - time.monotonic()) > 0:
            env.program_state_event.wait(remaining)

    with patch.object(WaitFunction, "_wait_interval", wait_interval):
        yield
