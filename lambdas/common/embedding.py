"""Where embeddings come from: the SageMaker inference endpoint in AWS.

An embedder turns texts into unit-length vectors (see lambdas/common/search.py). In AWS it
is `SageMakerEmbedder`, calling the endpoint named by INFERENCE_ENDPOINT_NAME through
sagemaker-runtime InvokeEndpoint; the local runner registers an `HttpEmbedder` pointing at
the local inference server (containers/inference/server.py), which speaks the same
/invocations contract, so keyframe_inference and search_api are the same code in both places.

The endpoint's model is an inference component that scales to zero copies when no job holds
it (lambdas/common/inference_floor.py). `choose_embedder` waits a bound for a copy, then falls
back to `CpuEmbedder`: the same model code and weights, run in the function on its CPU, so an
index built either way is searched either way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lambdas.common.settings import EndpointSettings, get_settings

if TYPE_CHECKING:  # the search module imports numpy: only the functions that embed load it
    from lambdas.common.search import Embedder

ENDPOINT_ENV = "INFERENCE_ENDPOINT_NAME"

_registered: Embedder | None = None
_default: Embedder | None = None


def register(embedder: Embedder | None) -> None:
    """Replace the embedder (the local runner and tests do; None restores the SageMaker endpoint)."""
    global _registered
    _registered = embedder


def get_embedder() -> Embedder:
    """The registered embedder, else the SageMaker endpoint's (one per process: it learns the model
    name and dimension on its first call, and its client keeps its connections warm)."""
    global _default
    if _registered is not None:
        return _registered
    endpoint_name = get_settings(EndpointSettings).inference_endpoint_name
    if not endpoint_name:
        raise RuntimeError(f"{ENDPOINT_ENV} is not set: no inference endpoint to embed with")
    if _default is None or getattr(_default, "endpoint_name", None) != endpoint_name:
        from lambdas.common.search import SageMakerEmbedder

        _default = SageMakerEmbedder(endpoint_name=endpoint_name,
                                     inference_component_name=get_settings(EndpointSettings).inference_component_name)
    return _default


# -- The endpoint's model scales to zero copies: when there is none, embed on CPU in the function ---------

ENDPOINT, CPU = "endpoint", "cpu"  # where a function's embeddings were computed (recorded in its events)
COPY_POLL_S = 10.0


def copies(settings: EndpointSettings | None = None) -> tuple[bool, int]:
    """(a copy is in service, copies on their way), from DescribeInferenceComponent. No component (a plain
    endpoint): (True, 1)."""
    settings = settings or get_settings(EndpointSettings)
    if not settings.inference_component_name:
        return True, 1
    from lambdas.common import aws

    described = aws.client("sagemaker").describe_inference_component(
        InferenceComponentName=settings.inference_component_name)
    runtime, status = described.get("RuntimeConfig", {}), described.get("InferenceComponentStatus")
    in_service = status == "InService" and runtime.get("CurrentCopyCount", 0) >= 1
    return in_service, 0 if status == "Failed" else runtime.get("DesiredCopyCount", 0)  # a failed copy is not coming


def endpoint_has_copy(settings: EndpointSettings | None = None) -> bool:
    return copies(settings)[0]


def wait_for_copy(settings: EndpointSettings, wait_s: float, sleep=time.sleep, clock=time.monotonic) -> float | None:
    """Seconds waited until the model had a copy in service, or None: none within wait_s, or none asked for
    (the job's scheduled ask has not come yet: waiting would only delay it)."""
    started = clock()
    while True:
        in_service, desired = copies(settings)
        if in_service:
            return clock() - started
        remaining = wait_s - (clock() - started)
        if remaining <= 0 or not desired:
            return None
        sleep(min(COPY_POLL_S, remaining))


def cpu_embedder() -> Embedder:
    """The same model, run on this function's CPU (the function's image ships it; containers/embedding)."""
    from lambdas.common.embedders import CpuEmbedder

    return CpuEmbedder()


def choose_embedder(wait_s: float, settings: EndpointSettings | None = None) -> tuple[Embedder, str, float]:
    """(embedder, ENDPOINT or CPU, seconds waited): the endpoint once it has a copy, within wait_s; else CPU."""
    settings = settings or get_settings(EndpointSettings)
    started = time.monotonic()
    waited = wait_for_copy(settings, wait_s)
    if waited is None:
        return cpu_embedder(), CPU, time.monotonic() - started
    return get_embedder(), ENDPOINT, waited
