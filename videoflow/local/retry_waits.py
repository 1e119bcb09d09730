"""Shorter waits between a state's retries, for tests of backoffs that last minutes in AWS.

moto's engine waits between two attempts of a state in its Retrier, with `time.sleep` of the
interval the definition's Retry computed (IntervalSeconds, BackoffRate, MaxDelaySeconds, then
the jitter). While installed, that wait is `scale` times as long, and each interval asked for is
appended to `asked`: the definition and its retry policy stay exactly as synthesized.
"""

import time
from contextlib import contextmanager
from unittest.mock import patch


@contextmanager
def scaled_retry_waits(scale: float, asked: list[float]):
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    class ScaledTime:
        @staticmethod
        def sleep(seconds: float) -> None:
            asked.append(float(seconds))
            time.sleep(float(seconds) * scale)

    with patch.object(retrier_decl, "time", ScaledTime):
        yield asked
