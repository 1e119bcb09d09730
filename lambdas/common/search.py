"""Semantic search over a job's transcript: the moments that best match a query, best first.

Pure logic shared by the search Lambda (`GET /jobs/{id}/search?q=...`), the step that builds
the index (`keyframe_inference`) and the CLI (`videoflow search JOB "query"`). It lives in
lambdas/common because the Lambda code asset holds only the `lambdas` package;
videoflow/search.py re-exports it for local tools. The index is search_index.py, the
embedders embedders.py; both are re-exported here, so callers import one module.

numpy: this module, search_index.py and embedders.py are the only ones under lambdas/ that
import it. The Lambda runtime has no numpy, so in AWS the functions that import them
(keyframe_inference, search_api) get the public "AWS SDK for pandas" layer
(AWSSDKPandas-Python313, which contains numpy) next to the Powertools layer.

    index = build_index(job_id, segments, embedder)       # segments: [{start_s, end_s, text}]
    save_index(index, bucket)                              # s3://bucket/analysis/<job_id>/index.json
    index = load_index(bucket, job_id)
    moments = search_text(index, "query", embedder, k=5)   # [Moment(start_s, end_s, text, score)]

Scores are cosine similarities (the embeddings are unit length, so a matrix-vector product).
Adjacent segments that both match are merged into one moment, so five results are five
different places in the video rather than five consecutive sentences of one answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel

from lambdas.common.embedders import EMBED_BATCH, EMBED_PARALLEL, HttpEmbedder, SageMakerEmbedder
from lambdas.common.keys import index_key
from lambdas.common.search_index import (
    INDEX_FORMAT,
    INDEX_VERSION,
    Embedder,
    EmbeddingFailed,
    IndexInvalid,
    IndexNotFound,
    ModelMismatch,
    SearchError,
    SearchIndex,
    Segment,
    build_index,
    index_from_json,
    index_to_json,
    load_index,
    save_index,
)

__all__ = [
    "DEFAULT_K", "DEFAULT_MAX_MOMENT_S", "DEFAULT_MERGE_GAP_S", "DEFAULT_MERGE_MARGIN", "EMBED_BATCH",
    "EMBED_PARALLEL", "INDEX_FORMAT", "INDEX_VERSION", "MAX_K", "MAX_QUERY_CHARS",
    "EmbeddingFailed", "Embedder", "HttpEmbedder", "IndexInvalid", "IndexNotFound", "InvalidQuery",
    "ModelMismatch", "Moment", "SageMakerEmbedder", "SearchError", "SearchIndex", "Segment",
    "build_index", "index_from_json", "index_key", "index_to_json", "load_index", "save_index", "search",
    "search_text",
]

DEFAULT_K = 5
MAX_K = 50
MAX_QUERY_CHARS = 1000
DEFAULT_MERGE_GAP_S = 1.0  # segments this close in time are one passage
DEFAULT_MERGE_MARGIN = 0.15  # a neighbour joins a moment if it scores within this of the moment's best
DEFAULT_MAX_MOMENT_S = 30.0


class InvalidQuery(SearchError):
    """The query is blank or too long."""


class Moment(BaseModel):
    """A search result: where in the video, what is said there, and how well it matches (cosine, -1..1)."""

    start_s: float
    end_s: float
    text: str
    score: float


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
