"""Faults injected into AWS calls: into moto's DynamoDB, and through botocore's event hooks on the real client.

- `DynamoDBThrottleFake`: moto's DynamoDB answers the first calls to a table
  ProvisionedThroughputExceededException (writing nothing), as DynamoDB does when a partition is
  over its throughput. The code under test, its botocore retry configuration and the workflow's
  Retry must do the rest.
- `LambdaKilledAtDeadline`: raised after a call has succeeded, as when the Lambda runtime kills an
  invocation at its timeout: no `except Exception` in the function (nor in Powertools) sees it,
  so nothing it would clean up on an error is cleaned up.
- `no_client_backoff`: botocore's retry delays cut to nothing, so a test that makes the client
  retry does not wait for its exponential backoff (the attempts and their order are unchanged).
"""

import threading

import botocore.retries.standard
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodb.models import DynamoDBBackend

_METHODS = {"PutItem": "put_item", "UpdateItem": "update_item"}


class DynamoDBThrottleFake:
    """Throttles the first `times` calls of `operation` (PutItem, UpdateItem) on one table, then lets them through."""

    def __init__(self, operation: str, times: int, table_name: str):
        self.method, self.times, self.table_name = _METHODS[operation], times, table_name
        self.throttled = 0
        self.passed = 0
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> "DynamoDBThrottleFake":
        original = getattr(DynamoDBBackend, self.method)
        fake = self

        def answer(backend, table_name, *args, **kwargs):
            if table_name == fake.table_name:
                with fake._lock:
                    throttle = fake.throttled < fake.times
                    fake.throttled += throttle
                    fake.passed += not throttle
                if throttle:
                    raise DynamodbException(ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException",
                                            "The level of configured provisioned throughput for the table was exceeded.")
            return original(backend, table_name, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, self.method, answer)
        return self


class LambdaKilledAtDeadline(BaseException):  # noqa: N818 - named for what it stands for, like KeyboardInterrupt
    """The invocation was killed at its timeout (a BaseException: nothing in the function handles it)."""

    @classmethod
    def after(cls, client, service: str, operation: str) -> None:
        """Kill the invocation right after `operation` has succeeded (its side effect happened)."""
        def kill(**kwargs):
            raise cls(f"Task timed out after {operation}")

        client.meta.events.register(f"after-call.{service}.{operation}", kill)


def no_client_backoff(monkeypatch) -> None:
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
