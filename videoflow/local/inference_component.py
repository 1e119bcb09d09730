"""The endpoint's inference component, locally: its one copy is the local inference server process.

moto 5.2.5 knows neither SageMaker inference components nor their scalable dimension. While
`installed()`, the account answers for the component the template declares:

- DescribeInferenceComponent: its status and copies (DesiredCopyCount, CurrentCopyCount);
- UpdateInferenceComponentRuntimeConfig: CopyCount 1 or more starts the server (in the
  background, as SageMaker starts an instance: status Updating until it answers /ping, then
  InService with one copy); 0 stops it and the component has no copy;
- Application Auto Scaling accepts `sagemaker:inference-component:DesiredCopyCount` targets, and
  a scheduled action on one (`at(...)`, as warm_inference asks for a copy ahead of a long job)
  runs at its time: the copies rise to its MinCapacity, as Application Auto Scaling scales out;
- `embedder()`, what the functions reach instead of InvokeEndpoint, answers 429 "model not
  ready" while there is no copy in service, as the endpoint does.

So the local run has the deployed life cycle: warm_inference starts the server, the analysis
embeds through it, release_inference stops it, and a job whose copy never comes embeds on CPU.
Tests that share one server per worker pass `shared_url`: a copy then attaches to that server
instead of starting a process (no process is started or stopped, the states are the same).
Every change is kept in `history` ((monotonic time, what happened)).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from unittest import mock

from moto.applicationautoscaling import models as autoscaling_models
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

from lambdas.common.inference_floor import SCALABLE_DIMENSION
from lambdas.common.search_index import EmbeddingFailed
from videoflow.local.botocore_model import validate_request
from videoflow.local.template import ACCOUNT, REGION


class LocalInferenceComponent:
    def __init__(self, name: str, endpoint_name: str, copies: int = 0, shared_url: str | None = None,
                 start_server: Callable[[], AbstractContextManager[str]] | None = None):
        self.name, self.endpoint_name = name, endpoint_name
        self.shared_url = shared_url
        self._start_server = start_server
        self.desired = 0
        self.url: str | None = None
        self.status = "InService"
        self.history: list[tuple[float, str]] = []
        self._server: AbstractContextManager[str] | None = None
        self._starting: threading.Thread | None = None
        self._lock = threading.RLock()
        self._created = self._modified = datetime.now(UTC)
        self._scheduled: dict[str, threading.Timer] = {}
        self.set_copies(copies)

    # -- the component's state --------------------------------------------------------------
    @property
    def current(self) -> int:
        return 1 if self.url else 0

    def set_copies(self, copies: int) -> None:
        with self._lock:
            self.desired, self._modified = copies, datetime.now(UTC)
            self.history.append((time.monotonic(), f"copies {copies}"))
            if copies and not self.url and self._starting is None:
                self.status = "Updating"
                self._starting = threading.Thread(target=self._start, name="local-inference-copy", daemon=True)
                self._starting.start()
            elif not copies:
                self._stop()

    def _start(self) -> None:
        try:
            if self.shared_url:
                url = self.shared_url
            else:
                server = (self._start_server or _default_server)()
                url = server.__enter__()
        except Exception as error:  # noqa: BLE001 - the component says why, as SageMaker's FailureReason does
            with self._lock:
                self.status, self._starting = "Failed", None
                self.history.append((time.monotonic(), f"failed: {error}"))
            return
        with self._lock:
            self._starting = None
            if not self.shared_url:
                self._server = server
            self.url, self.status = url, "InService"
            self.history.append((time.monotonic(), "copy in service" + ("" if self.shared_url else " (server started)")))
            if not self.desired:  # released while it was starting
                self._stop()

    def _stop(self) -> None:
        starting = self._starting
        if starting is not None:
            return  # _start sees desired == 0 when it ends and stops the copy then
        if self._server is not None:
            server, self._server = self._server, None
            server.__exit__(None, None, None)
            self.history.append((time.monotonic(), "server stopped"))
        if self.url:
            self.url = None
            self.history.append((time.monotonic(), "no copy"))
        self.status = "InService"

    def wait_until_in_service(self, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.status != "Updating":
                return self.status == "InService" and self.current >= min(1, self.desired)
            time.sleep(0.02)
        return False

    def schedule(self, name: str, schedule: str, min_capacity: int) -> None:
        """A scheduled action `at(YYYY-MM-DDThh:mm:ss)` (UTC) raising the minimum: the copies follow at its time."""
        at = datetime.fromisoformat(schedule.removeprefix("at(").removesuffix(")")).replace(tzinfo=UTC)
        self.unschedule(name)
        timer = threading.Timer(max(0.0, (at - datetime.now(UTC)).total_seconds()),
                                lambda: self.set_copies(max(self.desired, min_capacity)))
        timer.daemon = True
        self._scheduled[name] = timer
        self.history.append((time.monotonic(), f"scheduled {name} at {at.isoformat()}"))
        timer.start()

    def unschedule(self, name: str) -> None:
        timer = self._scheduled.pop(name, None)
        if timer is not None:
            timer.cancel()
            self.history.append((time.monotonic(), f"unscheduled {name}"))

    def wait_until_copies(self, desired: int, timeout_s: float = 30.0) -> bool:
        """Until `desired` copies are asked for and the component has settled (a scheduled action's time came)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.desired >= desired:
                return self.wait_until_in_service(max(0.0, deadline - time.monotonic()))
            time.sleep(0.05)
        return False

    def close(self) -> None:
        for name in list(self._scheduled):
            self.unschedule(name)
        with self._lock:
            self.desired = 0
        if self._starting is not None:
            self._starting.join(timeout=30)
        with self._lock:
            self._stop()

    # -- the API ------------------------------------------------------------------------------
    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{self.name.lower()}"

    def describe(self) -> dict:
        return {
            "InferenceComponentName": self.name, "InferenceComponentArn": self.arn,
            "EndpointName": self.endpoint_name,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{self.endpoint_name.lower()}",
            "InferenceComponentStatus": self.status,
            "RuntimeConfig": {"DesiredCopyCount": self.desired, "CurrentCopyCount": self.current},
            "CreationTime": self._created.isoformat(), "LastModifiedTime": self._modified.isoformat(),
        }

    def _known(self, name: str) -> None:
        if name != self.name:
            raise ValidationError(f"Could not find inference component \"{name}\".")

    def embedder(self):
        return _ComponentEmbedder(self)

    @contextmanager
    def installed(self) -> Iterator[LocalInferenceComponent]:
        component = self

        def describe_inference_component(response: SageMakerResponse) -> ActionResult:
            validate_request("sagemaker", "DescribeInferenceComponent", json.loads(response.body), ValidationError)
            component._known(response._get_param("InferenceComponentName"))
            return ActionResult(component.describe())

        def update_inference_component_runtime_config(response: SageMakerResponse) -> ActionResult:
            request = json.loads(response.body)
            validate_request("sagemaker", "UpdateInferenceComponentRuntimeConfig", request, ValidationError)
            component._known(request["InferenceComponentName"])
            component.set_copies(int(request["DesiredRuntimeConfig"]["CopyCount"]))
            return ActionResult({"InferenceComponentArn": component.arn})

        valid, validate_params = autoscaling_models._target_params_are_valid, ApplicationAutoScalingResponse._validate_params

        def validate_autoscaling_params(response: ApplicationAutoScalingResponse) -> None:
            if response._get_param("ScalableDimension") != SCALABLE_DIMENSION:
                validate_params(response)

        def target_params_are_valid(namespace: str, r_id: str, dimension: str) -> bool:
            if namespace == "sagemaker" and dimension == SCALABLE_DIMENSION and r_id.startswith("inference-component/"):
                return True
            return valid(namespace, r_id, dimension)

        put_scheduled_action = ApplicationAutoScalingResponse.put_scheduled_action
        delete_scheduled_action = ApplicationAutoScalingResponse.delete_scheduled_action

        def put_scheduled_action_that_runs(response: ApplicationAutoScalingResponse) -> str:
            answer = put_scheduled_action(response)
            if response._get_param("ScalableDimension") == SCALABLE_DIMENSION:
                component.schedule(response._get_param("ScheduledActionName"), response._get_param("Schedule"),
                                   int(response._get_param("ScalableTargetAction")["MinCapacity"]))
            return answer

        def delete_scheduled_action_and_its_timer(response: ApplicationAutoScalingResponse) -> str:
            answer = delete_scheduled_action(response)
            component.unschedule(response._get_param("ScheduledActionName"))
            return answer

        # moto dispatches a JSON action to the response method of the same name (snake case).
        with (
            mock.patch.object(SageMakerResponse, "describe_inference_component", describe_inference_component,
                              create=True),
            mock.patch.object(SageMakerResponse, "update_inference_component_runtime_config",
                              update_inference_component_runtime_config, create=True),
            mock.patch.object(autoscaling_models, "_target_params_are_valid", target_params_are_valid),
            mock.patch.object(ApplicationAutoScalingResponse, "_validate_params", validate_autoscaling_params),
            mock.patch.object(ApplicationAutoScalingResponse, "put_scheduled_action", put_scheduled_action_that_runs),
            mock.patch.object(ApplicationAutoScalingResponse, "delete_scheduled_action",
                              delete_scheduled_action_and_its_timer),
        ):
            try:
                yield self
            finally:
                self.close()


class _ComponentEmbedder:
    """InvokeEndpoint on the component: the copy's server, or 429 while there is no copy in service."""

    def __init__(self, component: LocalInferenceComponent):
        self._component = component
        self._embedders: dict[str, object] = {}

    def _inner(self):
        from videoflow.search import HttpEmbedder

        url = self._component.url
        if not url:
            raise EmbeddingFailed(f"endpoint {self._component.endpoint_name}: ModelNotReadyException: inference "
                                  f"component {self._component.name} has no copy in service", status=429)
        if url not in self._embedders:
            self._embedders[url] = HttpEmbedder(url)
        return self._embedders[url]

    @property
    def model(self) -> str:
        return self._inner().model

    @property
    def dim(self) -> int:
        return self._inner().dim

    def embed(self, texts):
        return self._inner().embed(texts)


def _default_server() -> AbstractContextManager[str]:
    from videoflow.search import local_inference_server

    return local_inference_server()
