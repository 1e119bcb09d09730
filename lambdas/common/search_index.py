"""The search index of a job: what it holds, how it is built from segments, and how it is stored in S3.

The index is built once per job (keyframe_inference) and read on every query (search_api, the
CLI), by different code and possibly a later release: its JSON format is versioned and checked
on load, and it records the model it was built with so a query is never scored against another
model's vectors. Stored at s3://<bucket>/analysis/<job_id>/index.json.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.common.keys import index_key

INDEX_FORMAT = "videoflow.search-index"
INDEX_VERSION = 1


class SearchError(Exception):
    """Base of the search errors (search.py re-exports them all)."""


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


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, np.float32(1e-12))
