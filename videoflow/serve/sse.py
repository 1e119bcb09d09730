"""A job's event log as server-sent events, resumable exactly after the last seq a client saw.

Each log event is one message whose `id:` is its seq. A browser's EventSource sends that id
back as `Last-Event-ID` when it reconnects, and the stream continues with seq + 1: no gap,
no duplicate. Transitions of the workflow's states (entered, exited, failed) come from the
execution history as `event: state` messages without an id, so they never move the resume
point; every connection sends them all again, each with a `key` the page deduplicates on.
When the job has reached a final status and nothing is left to read, `event: done` ends the
stream. A comment line keeps the connection alive while nothing happens.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

POLL_S = 0.25
KEEPALIVE_S = 15.0
RETRY_MS = 1000


class BadResumePoint(ValueError):
    pass


@dataclass(frozen=True)
class JobFeed:
    """Where a stream reads from; each callable takes the job id.

    `events(job_id, after_seq)` -> log events (dicts with `seq`) after `after_seq`, in order;
    `final_status(job_id)` -> COMPLETED, REJECTED or FAILED once nothing more will be written, else None;
    `states(job_id)` -> the state transitions so far, an append-only list of dicts with a `key`;
    `done_detail(job_id)` -> more fields for the `done` message (a reason the log cannot hold).
    """

    events: Callable[[str, int], list[dict]]
    final_status: Callable[[str], str | None]
    states: Callable[[str], list[dict]] = lambda job_id: []
    done_detail: Callable[[str], dict] = lambda job_id: {}


def resume_point(last_event_id: str | None, after: str | None) -> int:
    """The seq to continue after: the Last-Event-ID header of a reconnect wins over ?after= of a first connect."""
    for value in (last_event_id, after):
        if value is None or value.strip() == "":
            continue
        try:
            seq = int(value.strip())
        except ValueError:
            raise BadResumePoint(f"not a sequence number: {value!r}") from None
        if seq < 0:
            raise BadResumePoint(f"not a sequence number: {value!r}")
        return seq
    return 0


def message(data: dict, *, id: int | None = None, event: str | None = None) -> str:
    lines = []
    if event:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def stream(feed: JobFeed, job_id: str, after_seq: int, stop: threading.Event, *, poll_s: float = POLL_S,
           keepalive_s: float = KEEPALIVE_S, clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """SSE text chunks for `job_id` from `after_seq` on, until the job is over (or `stop` is set)."""
    yield f"retry: {RETRY_MS}\n\n"
    last_seq, states_sent, quiet_since = after_seq, 0, clock()
    while not stop.is_set():
        # The status first: once it is final, the reads after it see everything that will ever be written.
        final = feed.final_status(job_id)
        events = feed.events(job_id, last_seq)
        for event in events:
            yield message(event, id=event["seq"])
            last_seq = event["seq"]
        states = feed.states(job_id)
        for state in states[states_sent:]:
            yield message(state, event="state")
        sent_something = bool(events) or len(states) > states_sent
        states_sent = len(states)
        if final and not events:
            done = {**feed.done_detail(job_id), "job_id": job_id, "status": final, "last_seq": last_seq}
            yield message(done, event="done")
            return
        if sent_something:
            quiet_since = clock()
        elif clock() - quiet_since >= keepalive_s:
            yield ": keep-alive\n\n"
            quiet_since = clock()
        if not events:  # more may be waiting right away when a read was cut short
            stop.wait(poll_s)
