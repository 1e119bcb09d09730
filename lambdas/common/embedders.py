"""Two ways to turn texts into embeddings, both speaking the inference server's /invocations shape.

`HttpEmbedder` posts to a SageMaker-contract server (the local one), `SageMakerEmbedder` calls
the deployed endpoint through sagemaker-runtime (the Lambdas in AWS; embedding.py picks it),
and `CpuEmbedder` runs the same model in this process on its CPU (a function whose endpoint has
no copy; tests and tools). One model and one response shape (containers/inference/server.py)
means an index built through one is searched through another. Batches go out a few at a time, since indexing an hour of transcript is many requests.

How `SageMakerEmbedder` meets the endpoint's faults (sagemaker-runtime InvokeEndpoint):

- throttling (ThrottlingException) and 5xx (ServiceUnavailable, InternalFailure): botocore's
  standard retry mode backs off and tries again (lambdas/common/aws.py, 5 attempts); what is
  still failing after that is EmbeddingFailed, which the workflow retries (KeyframeInference)
  and the search API answers 503 with Retry-After;
- an endpoint whose capacity is still starting (429 ModelNotReadyException): waited for with
  backoff, at most NOT_READY_WAIT_S per call, then EmbeddingFailed saying it was not ready;
- the model container's own error (424 ModelError): a 5xx from the container (overloaded,
  crashed) is EmbeddingFailed, retried; a 4xx means the container refuses this request, which
  gives the same answer every time: EmbeddingModelError (not retried), with the container's
  status, its message and its log stream.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from lambdas.common.search_index import EmbeddingFailed

EMBED_BATCH = 128  # texts per /invocations request (the server takes at most 256)
EMBED_PARALLEL = 2  # requests in flight while building an index (the server encodes 2 at a time)
# An endpoint whose capacity is still starting answers 429 ModelNotReadyException: wait this long at most per call
# (inside API Gateway's 29 s for the search API), backing off from the first wait, doubling up to the last.
NOT_READY_WAIT_S = 20.0
NOT_READY_BACKOFF_S = (0.5, 4.0)


class EmbeddingModelError(EmbeddingFailed):
    """The model container refused the request (InvokeEndpoint's 424 ModelError with a 4xx from the container):
    the same request gets the same answer, so it is not retried."""


def _embed_in_batches(post, texts: list[str], batch_size: int, parallel: int) -> list[np.ndarray]:
    """post(batch) for each batch of at most batch_size texts, up to `parallel` at a time, in order."""
    batches = [texts[start:start + batch_size] for start in range(0, len(texts), batch_size)]
    if parallel <= 1 or len(batches) <= 1:
        return [post(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=min(parallel, len(batches)), thread_name_prefix="embed") as pool:
        return list(pool.map(post, batches))


def _parse_invocation_response(body: bytes, expected: int) -> tuple[str, int, np.ndarray]:
    try:
        payload = json.loads(body)
        matrix = np.asarray(payload["embeddings"], dtype=np.float32)
        model, dim = str(payload["model"]), int(payload["dim"])
    except (ValueError, KeyError, TypeError) as error:
        raise EmbeddingFailed(f"unexpected response from the inference server: {error}") from error
    if matrix.shape != (expected, dim):
        raise EmbeddingFailed(f"asked for {expected} embeddings, got shape {matrix.shape}")
    return model, dim, matrix


def _error_message(body: bytes) -> str:
    try:
        return json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


class HttpEmbedder:
    """Posts to a SageMaker-contract server's /invocations over a kept-alive connection (one per thread)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0, batch_size: int = EMBED_BATCH,
                 parallel: int = EMBED_PARALLEL):
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be http(s)://host:port, not {base_url!r}")
        self._scheme, self._host, self._port = parsed.scheme, parsed.hostname, parsed.port
        self._path = parsed.path.rstrip("/") + "/invocations"
        self.timeout_s, self.batch_size, self.parallel = timeout_s, batch_size, parallel
        self._local = threading.local()
        self._model: str | None = None
        self._dim: int | None = None

    @property
    def model(self) -> str:
        if self._model is None:
            self._describe()
        return self._model  # type: ignore[return-value]

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._describe()
        return self._dim  # type: ignore[return-value]

    def _describe(self) -> None:
        self.embed(["model description probe"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        parts = _embed_in_batches(self._post, list(texts), self.batch_size, self.parallel)
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _post(self, texts: list[str]) -> np.ndarray:
        body = json.dumps({"inputs": texts}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                break
            except (ConnectionError, http.client.HTTPException) as error:
                # A kept-alive connection the server closed meanwhile: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise EmbeddingFailed(f"inference server unreachable: {error}") from error
            except OSError as error:  # timeouts, refused connections
                connection.close()
                self._local.connection = None
                raise EmbeddingFailed(f"inference server unreachable: {error}") from error
        if response.status != 200:
            raise EmbeddingFailed(f"inference server answered {response.status}: {_error_message(payload)}",
                                  status=response.status)
        model, dim, matrix = _parse_invocation_response(payload, len(texts))
        self._model, self._dim = model, dim
        return matrix

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self.timeout_s)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class SageMakerEmbedder:
    """Calls the deployed endpoint (sagemaker-runtime InvokeEndpoint) with the /invocations body."""

    def __init__(self, endpoint_name: str, client: Any = None, batch_size: int = EMBED_BATCH,
                 parallel: int = EMBED_PARALLEL, not_ready_wait_s: float = NOT_READY_WAIT_S, sleep=time.sleep,
                 inference_component_name: str = ""):
        self.endpoint_name, self.batch_size, self.parallel = endpoint_name, batch_size, parallel
        self.inference_component_name = inference_component_name
        self.not_ready_wait_s = not_ready_wait_s
        self._client = client
        self._sleep = sleep
        self._model: str | None = None
        self._dim: int | None = None

    @property
    def model(self) -> str:
        if self._model is None:
            self.embed(["model description probe"])
        return self._model  # type: ignore[return-value]

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed(["model description probe"])
        return self._dim  # type: ignore[return-value]

    def _runtime(self):
        if self._client is None:
            from lambdas.common import aws

            self._client = aws.client("sagemaker-runtime")
        return self._client

    def _invoke(self, chunk: list[str]) -> np.ndarray:
        body = json.dumps({"inputs": chunk}).encode()
        waited, wait = 0.0, NOT_READY_BACKOFF_S[0]
        while True:
            try:
                component = {"InferenceComponentName": self.inference_component_name} \
                    if self.inference_component_name else {}
                response = self._runtime().invoke_endpoint(
                    EndpointName=self.endpoint_name, ContentType="application/json", Accept="application/json",
                    Body=body, **component,
                )
                break
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code != "ModelNotReadyException" or waited + wait > self.not_ready_wait_s:
                    raise self._failure(error, waited) from error
                self._sleep(wait)
                waited, wait = waited + wait, min(wait * 2, NOT_READY_BACKOFF_S[1])
        model, dim, matrix = _parse_invocation_response(response["Body"].read(), len(chunk))
        self._model, self._dim = model, dim
        return matrix

    def _failure(self, error: ClientError, waited_s: float) -> EmbeddingFailed:
        """The exception an InvokeEndpoint error becomes: EmbeddingModelError when retrying cannot help."""
        details = error.response.get("Error", {})
        code, message = details.get("Code"), details.get("Message")
        if code == "ModelError":  # the container's own status, message and log stream
            status = error.response.get("OriginalStatusCode")
            text = (f"endpoint {self.endpoint_name}: ModelError: the model answered {status}: "
                    f"{error.response.get('OriginalMessage') or message}"
                    + (f" (log stream {error.response['LogStreamArn']})" if error.response.get("LogStreamArn") else ""))
            if isinstance(status, int) and 400 <= status < 500:
                return EmbeddingModelError(text, status=status)
            return EmbeddingFailed(text, status=status)
        if code == "ModelNotReadyException":
            return EmbeddingFailed(f"endpoint {self.endpoint_name}: still not ready after {waited_s:g} s: {message}",
                                   status=429)
        return EmbeddingFailed(f"endpoint {self.endpoint_name}: {code}: {message}",
                               status=error.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        parts = _embed_in_batches(self._invoke, list(texts), self.batch_size, self.parallel)
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class CpuEmbedder:
    """The inference container's own encoder (containers/inference/model.py), run in this process.

    Only where that module and the model ship: the functions built from containers/embedding
    (keyframe_inference, search_api), the local run, tests. The weights load once per process."""

    def __init__(self, encoder: Any = None):
        if encoder is None:
            from containers.inference.model import shared_encoder

            encoder = shared_encoder()
        self.encoder = encoder

    @property
    def model(self) -> str:
        return self.encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(list(texts))
