"""Semantic search over a job's transcript: build an embedding index, store it in S3, find moments.

Pure logic shared by the search Lambda (`GET /jobs/{id}/search?q=...`), the step that builds
the index (`keyframe_inference`) and the CLI (`videoflow search JOB "query"`). It lives in
lambdas/common because the Lambda code asset holds only the `lambdas` package;
videoflow/search.py re-exports it for local tools.

numpy: this is the only module under lambdas/ that imports it. The Lambda runtime has no
numpy, so in AWS the functions that import this module (keyframe_inference, search_api) get
the public "AWS SDK for pandas" layer (AWSSDKPandas-Python313, which contains numpy) next to
the Powertools layer; the other functions never import it and need no extra layer.

    index = build_index(job_id, segments, embedder)       # segments: [{start_s, end_s, text}]
    save_index(index, bucket)                              # s3://bucket/analysis/<job_id>/index.json
    index = load_index(bucket, job_id)
    moments = search_text(index, "query", embedder, k=5)   # [Moment(start_s, end_s, text, score)]

An `Embedder` turns texts into unit-length float32 vectors. Three implementations:
`HttpEmbedder` posts to the inference server's /invocations (the local server, or any
SageMaker-contract container), `SageMakerEmbedder` calls the deployed endpoint through
sagemaker-runtime InvokeEndpoint (the search Lambda in AWS), and `LocalEmbedder` runs the
model in this process. All three speak the one request/response shape of
containers/inference/server.py, so an index built through one is searched through another.

Scores are cosine similarities (the embeddings are unit length, so a matrix-vector product).
Adjacent segments that both match are merged into one moment, so five results are five
different places in the video rather than five consecutive sentences of one answer.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.common.keys import index_key

__all__ = [
    "DEFAULT_K", "DEFAULT_MAX_MOMENT_S", "DEFAULT_MERGE_GAP_S", "DEFAULT_MERGE_MARGIN", "EMBED_BATCH",
    "EMBED_PARALLEL", "INDEX_FORMAT", "INDEX_VERSION", "MAX_K", "MAX_QUERY_CHARS",
    "EmbeddingFailed", "Embedder", "HttpEmbedder", "IndexInvalid", "IndexNotFound", "InvalidQuery",
    "LocalEmbedder", "ModelMismatch", "Moment", "SageMakerEmbedder", "SearchError", "SearchIndex", "Segment",
    "build_index", "index_from_json", "index_key", "index_to_json", "load_index", "save_index", "search",
    "search_text",
]

INDEX_FORMAT = "videoflow.search-index"
INDEX_VERSION = 1
DEFAULT_K = 5
MAX_K = 50
MAX_QUERY_CHARS = 1000
DEFAULT_MERGE_GAP_S = 1.0  # segments this close in time are one passage
DEFAULT_MERGE_MARGIN = 0.15  # a neighbour joins a moment if it scores within this of the moment's best
DEFAULT_MAX_MOMENT_S = 30.0
EMBED_BATCH = 128  # texts per /invocations request (the server takes at most 256)
EMBED_PARALLEL = 2  # requests in flight while building an index (the server encodes 2 at a time)


class SearchError(Exception):
    """Base of this module's errors."""


class IndexInvalid(SearchError):
    """The stored index is not one this code can read (format, version, shapes)."""


class IndexNotFound(SearchError):
    """No index has been built for the job (yet)."""


class ModelMismatch(SearchError):
    """The query embedder is not the model the index was built with: the scores would be meaningless."""


class EmbeddingFailed(SearchError):
    """The embedding service refused or failed the request; `status` is its HTTP status when known."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InvalidQuery(SearchError):
    """The query is blank or too long."""


class Segment(BaseModel):
    """A stretch of the video with its text: a transcript sentence, or a keyframe description."""

    model_config = ConfigDict(frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _ends_after_start(self) -> Segment:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        return self


class Moment(BaseModel):
    """A search result: where in the video, what is said there, and how well it matches (cosine, -1..1)."""

    start_s: float
    end_s: float
    text: str
    score: float


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into embeddings: shape (len(texts), dim), float32, unit length."""

    @property
    def model(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class SearchIndex:
    job_id: str
    model: str
    segments: list[Segment]  # in time order; row i of embeddings is segment i
    embeddings: np.ndarray  # (len(segments), dim) float32, unit rows

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.segments)


# --- the index -----------------------------------------------------------------------------------

def build_index(job_id: str, segments: Iterable[Segment | dict], embedder: Embedder) -> SearchIndex:
    """Embed the segments' texts; segments with blank text are left out (there is nothing to find)."""
    parsed = [segment if isinstance(segment, Segment) else Segment.model_validate(segment) for segment in segments]
    kept = sorted((s for s in parsed if s.text.strip()), key=lambda s: (s.start_s, s.end_s))
    if kept:
        embeddings = _unit_rows(np.asarray(embedder.embed([s.text for s in kept]), dtype=np.float32))
        if embeddings.shape != (len(kept), embedder.dim):
            raise EmbeddingFailed(f"expected {len(kept)} embeddings of {embedder.dim}, got shape {embeddings.shape}")
    else:
        embeddings = np.zeros((0, embedder.dim), dtype=np.float32)
    return SearchIndex(job_id=job_id, model=embedder.model, segments=kept, embeddings=embeddings)


def index_to_json(index: SearchIndex) -> dict:
    matrix = np.ascontiguousarray(index.embeddings, dtype="<f4")
    return {
        "format": INDEX_FORMAT,
        "version": INDEX_VERSION,
        "job_id": index.job_id,
        "model": index.model,
        "dim": index.dim,
        "count": len(index),
        "segments": [segment.model_dump() for segment in index.segments],
        "embeddings": {
            "dtype": "float32",
            "byte_order": "little",
            "shape": list(matrix.shape),
            "base64": base64.b64encode(matrix.tobytes()).decode("ascii"),
        },
    }


def index_from_json(document: dict) -> SearchIndex:
    if document.get("format") != INDEX_FORMAT or document.get("version") != INDEX_VERSION:
        raise IndexInvalid(f"not a {INDEX_FORMAT} v{INDEX_VERSION} document "
                           f"(format={document.get('format')!r}, version={document.get('version')!r})")
    try:
        stored = document["embeddings"]
        rows, dim = (int(n) for n in stored["shape"])
        if stored.get("dtype") != "float32" or stored.get("byte_order") != "little":
            raise IndexInvalid(f"embeddings must be little-endian float32, not {stored.get('dtype')}")
        matrix = np.frombuffer(base64.b64decode(stored["base64"]), dtype="<f4")
        if matrix.size != rows * dim:
            raise IndexInvalid(f"embeddings hold {matrix.size} values, shape says {rows}x{dim}")
        segments = [Segment.model_validate(segment) for segment in document["segments"]]
    except (KeyError, TypeError, ValueError) as error:
        raise IndexInvalid(f"malformed index: {error}") from error
    if len(segments) != rows or document.get("dim", dim) != dim:
        raise IndexInvalid(f"{len(segments)} segments but {rows} embeddings of {dim}")
    return SearchIndex(job_id=document["job_id"], model=document["model"], segments=segments,
                       embeddings=matrix.reshape(rows, dim).astype(np.float32))


def save_index(index: SearchIndex, bucket: str, s3: Any = None) -> str:
    """Write the index to s3://bucket/analysis/<job_id>/index.json; returns the key."""
    key = index_key(index.job_id)
    body = json.dumps(index_to_json(index), separators=(",", ":")).encode()
    _s3(s3).put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def load_index(bucket: str, job_id: str, s3: Any = None) -> SearchIndex:
    client = _s3(s3)
    try:
        body = client.get_object(Bucket=bucket, Key=index_key(job_id))["Body"].read()
    except client.exceptions.NoSuchKey:
        raise IndexNotFound(f"no search index for job {job_id} (s3://{bucket}/{index_key(job_id)})") from None
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise IndexInvalid(f"index of job {job_id} is not JSON: {error}") from error
    return index_from_json(document)


def _s3(s3: Any):
    if s3 is not None:
        return s3
    from lambdas.common import aws

    return aws.client("s3")


# --- search --------------------------------------------------------------------------------------

def search(index: SearchIndex, query_embedding: np.ndarray, k: int = DEFAULT_K, *,
           merge_gap_s: float | None = DEFAULT_MERGE_GAP_S, merge_margin: float = DEFAULT_MERGE_MARGIN,
           max_moment_s: float = DEFAULT_MAX_MOMENT_S) -> list[Moment]:
    """The k best moments for a query embedding, best first, by cosine similarity.

    With `merge_gap_s` set, a segment next to a moment already found (a gap of at most
    merge_gap_s seconds) and scoring within `merge_margin` of it extends that moment instead
    of becoming a result of its own, up to `max_moment_s` long; `merge_gap_s=None` returns
    single segments.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if len(index) == 0:
        return []
    query = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    if query.shape[0] != index.dim:
        raise ModelMismatch(f"query embedding has {query.shape[0]} dimensions, the index {index.dim}")
    norm = float(np.linalg.norm(query))
    if norm == 0.0 or not np.isfinite(norm):
        raise InvalidQuery("the query embedding is zero or not finite")
    scores = index.embeddings @ (query / norm)

    pool = min(len(index), k if merge_gap_s is None else 4 * k)
    candidates = np.argpartition(-scores, pool - 1)[:pool] if pool < len(index) else np.arange(len(index))
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
    if merge_gap_s is None:
        return [_moment(index, int(i), int(i), float(scores[i])) for i in candidates]

    moments: list[list[int]] = []  # [first, last, best] segment indices, in order of discovery
    owner: dict[int, int] = {}  # segment index -> moment number
    for i in (int(c) for c in candidates):
        if i in owner:
            continue
        joined = False
        for neighbour in (i - 1, i + 1):
            number = owner.get(neighbour)
            if number is None:
                continue
            first, last, best = moments[number]
            new_first, new_last = min(first, i), max(last, i)
            if (scores[best] - scores[i] <= merge_margin
                    and _gap_s(index, min(i, neighbour), max(i, neighbour)) <= merge_gap_s
                    and index.segments[new_last].end_s - index.segments[new_first].start_s <= max_moment_s):
                moments[number][:2] = [new_first, new_last]
                owner[i] = number
                joined = True
                break
        if not joined and len(moments) < k:
            owner[i] = len(moments)
            moments.append([i, i, i])
    return [_moment(index, first, last, float(scores[best])) for first, last, best in moments]


def search_text(index: SearchIndex, query: str, embedder: Embedder, k: int = DEFAULT_K, **options: Any) -> list[Moment]:
    """Embed the query with the index's model, then search."""
    query = (query or "").strip()
    if not query:
        raise InvalidQuery("the query is blank")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery(f"the query has {len(query)} characters; at most {MAX_QUERY_CHARS}")
    if embedder.model != index.model:
        raise ModelMismatch(f"the index was built with {index.model}, the query embedder is {embedder.model}")
    if len(index) == 0:
        return []
    return search(index, embedder.embed([query])[0], k=k, **options)


def _gap_s(index: SearchIndex, earlier: int, later: int) -> float:
    return index.segments[later].start_s - index.segments[earlier].end_s


def _moment(index: SearchIndex, first: int, last: int, score: float) -> Moment:
    span = index.segments[first:last + 1]
    return Moment(start_s=span[0].start_s, end_s=max(s.end_s for s in span),
                  text=" ".join(s.text.strip() for s in span), score=round(score, 6))


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.float32(1e-12))


# --- embedders -----------------------------------------------------------------------------------

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
                 parallel: int = EMBED_PARALLEL):
        self.endpoint_name, self.batch_size, self.parallel = endpoint_name, batch_size, parallel
        self._client = client
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
        try:
            response = self._runtime().invoke_endpoint(
                EndpointName=self.endpoint_name, ContentType="application/json", Accept="application/json",
                Body=json.dumps({"inputs": chunk}).encode(),
            )
        except ClientError as error:  # ModelError carries the container's own status and message
            details = error.response.get("Error", {})
            raise EmbeddingFailed(f"endpoint {self.endpoint_name}: {details.get('Code')}: {details.get('Message')}",
                                  status=error.response.get("OriginalStatusCode")) from error
        model, dim, matrix = _parse_invocation_response(response["Body"].read(), len(chunk))
        self._model, self._dim = model, dim
        return matrix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        parts = _embed_in_batches(self._invoke, list(texts), self.batch_size, self.parallel)
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class LocalEmbedder:
    """Runs the inference container's model in this process (tests, tools; no server needed).

    It imports containers.inference, which is not in the Lambda code asset: never the default
    of a deployed function (lambdas/common/embedding.py defaults to SageMakerEmbedder).
    """

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
