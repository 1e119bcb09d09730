"""Run Lambda invocations in-process: the seam between moto's engine and our handlers.

moto's Step Functions engine invokes Lambda through moto's Lambda API; with Docker off,
that ends in `LambdaSimpleBackend.invoke`, which we route to the real handler module (or
to a local adapter) and answer like the Lambda service does: the return value as the
payload, or an unhandled error with errorType and errorMessage, which Retry and Catch
then match by name.
"""

import contextvars
import importlib
import json
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from lambdas.common.settings import scoped_environment
from videoflow.local.access import acting_as
from videoflow.local.iam import Principal

Invocable = Callable[[dict, object], object]


class ServiceTaskFailed(Exception):
    """Raised through moto's Lambda API so the engine records States.TaskFailed."""


@dataclass
class LocalLambdaContext:
    """The Lambda context object, as much of it as Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_s: int = 60
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_s * 1000


def error_name(error: BaseException) -> str:
    """The Step Functions error name: an adapter can carry the real service's dotted name."""
    return getattr(error, "step_functions_error", None) or type(error).__name__


def import_handler(handler: str) -> Invocable:
    """"lambdas.probe_media.handler.handler" -> the function, as the Lambda runtime resolves it."""
    module, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class LocalFunction:
    run: Invocable
    context: LocalLambdaContext
    principal: Principal | None  # the role it runs as; None: unrestricted (a test's own function)
    environment: dict[str, str] | None  # its own variables; None: this process's


class LocalLambdas:
    """Function name -> callable; installed as moto's Lambda invoke while active.

    Every function runs in this one process, so each invocation gets what its own Lambda
    process would have: its environment variables and its role (as the caller of every AWS
    request it makes, threads it starts included)."""

    def __init__(self):
        self._functions: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()
        self.invocations: list[str] = []

    def register(self, name: str, function: Invocable, *, memory_mb: int = 256, timeout_s: int = 60,
                 principal: Principal | None = None, environment: dict[str, str] | None = None) -> None:
        self._functions[name] = LocalFunction(function, LocalLambdaContext(name, memory_mb, timeout_s), principal,
                                              environment)

    def principal(self, name: str) -> Principal | None:
        return self._functions[name].principal

    def invoke(self, name_or_arn: str, event: dict) -> tuple[bool, object]:
        """Returns (ok, payload) the way the Lambda service would report it."""
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        if name not in self._functions:
            return False, {"errorType": "ResourceNotFoundException", "errorMessage": f"no local function {name}"}
        function = self._functions[name]
        with self._lock:
            self.invocations.append(name)
        try:
            context = LocalLambdaContext(**{**function.context.__dict__, "aws_request_id": str(uuid.uuid4())})
            with acting_as(function.principal), scoped_environment(function.environment):
                return True, function.run(event, context)
        except Exception as error:  # the Lambda runtime reports any unhandled exception this way
            return False, {
                "errorType": error_name(error),
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-5:],
            }

    @contextmanager
    def installed(self):
        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            event = json.loads(body) if body else {}
            ok, payload = self.invoke(function_name, event)
            if not ok and payload["errorType"] == "States.TaskFailed":
                # A service task that failed (a MediaConvert job in ERROR). The engine refuses
                # function errors named States.*, and reports any other exception raised here as
                # States.TaskFailed with the message as its cause, like the real integration.
                raise ServiceTaskFailed(payload["errorMessage"])
            if not ok:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(payload).encode()

        original_submit = ThreadPoolExecutor.submit

        def submit(executor, fn, /, *args, **kwargs):
            # A thread a function starts acts as that function, as it would in its own process.
            return original_submit(executor, contextvars.copy_context().run, fn, *args, **kwargs)

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke), \
                mock.patch.object(ThreadPoolExecutor, "submit", submit):
            yield self
