"""Where embeddings come from: the SageMaker inference endpoint in AWS.

An embedder turns texts into unit-length vectors (see lambdas/common/search.py). In AWS it
is `SageMakerEmbedder`, calling the endpoint named by INFERENCE_ENDPOINT_NAME through
sagemaker-runtime InvokeEndpoint; the local runner registers an `HttpEmbedder` pointing at
the local inference server (containers/inference/server.py), which speaks the same
/invocations contract, so keyframe_inference and search_api are the same code in both places.
"""

from __future__ import annotations

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

        _default = SageMakerEmbedder(endpoint_name=endpoint_name)
    return _default
