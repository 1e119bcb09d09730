"""search_api: the best moments of one job for a text query (`GET /jobs/{id}/search?q=...&k=5`).

Latency is what matters here: the index of a job (a few MB for an hour of video) is read
from S3 once per warm Lambda environment and kept in a small in-process cache; a warm query
then costs one embedding of the query (the inference endpoint) and one matrix-vector product.

Errors are the search module's named ones: IndexNotFound (no index: the job is unknown or
its analysis has not finished), InvalidQuery and ModelMismatch (the query cannot be answered
as asked), EmbeddingFailed (the endpoint refused or failed); handler.py maps them to HTTP.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pydantic import BaseModel

from lambdas.common.owners import Caller
from lambdas.common.search import Embedder, IndexNotFound, Moment, SearchIndex, load_index, search_text

CACHE_MAX_INDEXES = 16  # an hour of video is about 1.4 MB of embeddings: 16 fit a 1 GB function easily
CACHE_TTL_S = 900.0  # an index rebuilt by a re-run reaches warm environments within this time


class SearchResponse(BaseModel):
    job_id: str
    query: str
    moments: list[Moment]


class IndexCache:
    """The most recently used indexes of this process, by job id; a missing index is not cached."""

    def __init__(self, max_indexes: int = CACHE_MAX_INDEXES, ttl_s: float = CACHE_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.max_indexes, self.ttl_s, self.clock = max_indexes, ttl_s, clock
        self._entries: OrderedDict[str, tuple[float, SearchIndex]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, job_id: str, load: Callable[[str], SearchIndex]) -> tuple[SearchIndex, bool]:
        """The job's index and whether it came from the cache."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is not None and now - entry[0] < self.ttl_s:
                self._entries.move_to_end(job_id)
                self.hits += 1
                return entry[1], True
        index = load(job_id)
        with self._lock:
            self.misses += 1
            self._entries[job_id] = (now, index)
            self._entries.move_to_end(job_id)
            while len(self._entries) > self.max_indexes:
                self._entries.popitem(last=False)
        return index, False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


def check_visible(job_id: str, record: dict | None, caller: Caller) -> None:
    """A job the caller does not own (and is no administrator for) is answered like one with no index."""
    if not caller.may_see(record):
        raise IndexNotFound(f"No search index for job {job_id}: the job is unknown or its analysis "
                            "has not finished.")


def load_job_index(bucket: str, job_id: str) -> SearchIndex:
    """The job's index from S3; IndexNotFound says so without naming the bucket (the message reaches the caller)."""
    try:
        return load_index(bucket, job_id)
    except IndexNotFound:
        raise IndexNotFound(f"No search index for job {job_id}: the job is unknown or its analysis "
                            "has not finished.") from None


def search_job(job_id: str, query: str, k: int, *, bucket: str, embedder: Embedder,
               cache: IndexCache) -> tuple[SearchResponse, bool]:
    """The k best moments of the job for the query, and whether its index was already cached."""
    index, cached = cache.get(job_id, lambda job: load_job_index(bucket, job))
    moments = search_text(index, query, embedder, k=k)
    return SearchResponse(job_id=job_id, query=query.strip(), moments=moments), cached
