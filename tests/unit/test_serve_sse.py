"""`videoflow serve`'s live status: a job's event log as server-sent events, resumed exactly where a client left.

The log is the real EventLog on moto. The stream is read as a browser would: message by
message, then the connection drops, then a reconnect sends back the last id it saw.
"""

import http.client
import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from lambdas.common.events import EventLog
from videoflow.serve import sse
from videoflow.serve.handler import RequestHandler
from videoflow.serve.origin import OriginPolicy

JOB = "job-0123456789abcdef"
EVENTS_TABLE = "videoflow-events"


def parse(chunks) -> list[dict]:
    """SSE text -> messages: {"id", "event", "data"} (comments kept as {"comment"})."""
    messages = []
    for block in "".join(chunks).split("\n\n"):
        if not block.strip():
            continue
        message = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if line.startswith(":"):
                message["comment"] = line[1:].strip()
            elif field == "data":
                message["data"] = json.loads(value)
            else:
                message[field] = value
        messages.append(message)
    return messages


class Job:
    """A job's log, and a final status the test sets when the job is over."""

    def __init__(self, log: EventLog):
        self.log, self.status, self.transitions = log, None, []

    def feed(self) -> sse.JobFeed:
        return sse.JobFeed(
            events=lambda job_id, after: [e.model_dump(mode="json") for e in self.log.read(job_id, after)],
            final_status=lambda job_id: self.status,
            states=lambda job_id: list(self.transitions),
        )

    def append(self, count: int, step: str = "Step") -> None:
        for number in range(count):
            self.log.append(JOB, f"step.{number}", step, number=number)


@pytest.fixture
def job(aws_state) -> Job:
    return Job(EventLog(EVENTS_TABLE))


def take(stream, count: int) -> list[str]:
    """The first `count` messages of a stream (the `retry:` line is not one), then the connection drops."""
    chunks, seen = [], 0
    for chunk in stream:
        chunks.append(chunk)
        if not chunk.startswith("retry:"):
            seen += 1
        if seen == count:
            stream.close()
            return chunks
    return chunks


def test_given_a_client_that_saw_three_events_when_it_reconnects_with_last_event_id_then_it_gets_exactly_the_rest(job):
    job.append(5)
    first = parse(take(sse.stream(job.feed(), JOB, 0, threading.Event(), poll_s=0.01), 3))
    job.append(2)  # written while the client was away
    job.status = "COMPLETED"

    last_event_id = first[-1]["id"]
    after = sse.resume_point(last_event_id, after="0")
    second = parse(sse.stream(job.feed(), JOB, after, threading.Event(), poll_s=0.01))

    seen = [int(m["id"]) for m in first + second if "id" in m]
    assert seen == [1, 2, 3, 4, 5, 6, 7]  # no gap, no duplicate
    assert [m["data"]["seq"] for m in second if "id" in m] == [4, 5, 6, 7]
    assert second[-1]["event"] == "done"
    assert second[-1]["data"] == {"job_id": JOB, "status": "COMPLETED", "last_seq": 7}


def test_given_a_running_job_when_events_arrive_while_streaming_then_each_is_sent_once_and_done_comes_after_the_last(job):
    job.append(1)
    stop = threading.Event()
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(sse.stream(job.feed(), JOB, 0, stop, poll_s=0.01)))
    reader.start()
    job.append(3, step="Later")
    job.status = "FAILED"  # the job's last events are written before its status is final
    reader.join(timeout=10)

    messages = parse(chunks)
    assert [int(m["id"]) for m in messages if "id" in m] == [1, 2, 3, 4]
    assert messages[-1]["event"] == "done" and messages[-1]["data"]["status"] == "FAILED"
    stop.set()


def test_given_an_event_id_header_and_an_after_parameter_then_the_header_of_the_reconnect_wins():
    assert sse.resume_point("12", "3") == 12
    assert sse.resume_point(None, "3") == 3
    assert sse.resume_point("", None) == 0
    with pytest.raises(sse.BadResumePoint):
        sse.resume_point("twelve", None)
    with pytest.raises(sse.BadResumePoint):
        sse.resume_point(None, "-1")


def test_given_state_transitions_then_they_carry_no_id_so_the_resume_point_stays_the_last_log_seq(job):
    job.append(2)
    job.transitions = [{"key": "x:2", "kind": "entered", "state": "ValidateUpload"}]
    job.status = "COMPLETED"

    messages = parse(sse.stream(job.feed(), JOB, 0, threading.Event(), poll_s=0.01))

    states = [m for m in messages if m.get("event") == "state"]
    assert states == [{"event": "state", "data": {"key": "x:2", "kind": "entered", "state": "ValidateUpload"}}]
    assert [m.get("id") for m in messages if "data" in m] == ["1", "2", None, None]  # events, the state, done


def test_given_a_job_that_could_not_start_then_done_carries_the_reason_the_log_cannot_hold(job):
    feed = sse.JobFeed(events=job.feed().events, final_status=lambda job_id: "FAILED",
                       done_detail=lambda job_id: {"reason": "The upload could not start a job: boom"})

    [done] = [m for m in parse(sse.stream(feed, JOB, 0, threading.Event(), poll_s=0.01)) if "data" in m]

    assert done["event"] == "done"
    assert done["data"] == {"reason": "The upload could not start a job: boom", "job_id": JOB, "status": "FAILED",
                            "last_seq": 0}


def test_given_a_quiet_job_then_a_keep_alive_comment_is_sent_and_stop_ends_the_stream(job):
    ticks = iter(range(0, 1000, 10))
    stop = threading.Event()
    stream = sse.stream(job.feed(), JOB, 0, stop, poll_s=0, keepalive_s=15, clock=lambda: next(ticks))

    assert next(stream) == f"retry: {sse.RETRY_MS}\n\n"
    assert next(stream) == ": keep-alive\n\n"
    stop.set()
    assert list(stream) == []


# -- over HTTP, as a browser's EventSource does it ------------------------------------------------------------


class App:
    """The part of LocalServer the stream handler uses."""

    def __init__(self, job: Job, port: int):
        self.job, self.stopping = job, threading.Event()
        self.origin_policy = OriginPolicy.loopback("127.0.0.1", port)

    def feed(self) -> sse.JobFeed:
        return self.job.feed()


@pytest.fixture
def http_server(job):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    server.app = App(job, server.server_port)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.app.stopping.set()
    server.shutdown()
    server.server_close()


def open_stream(server, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    connection.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
    return connection.getresponse()


def read_messages(response, count: int) -> list[dict]:
    messages, block = [], []
    while len(messages) < count:
        line = response.fp.readline().decode()
        if not line:
            break
        if line != "\n":
            block.append(line)
            continue
        parsed = parse(["".join(block) + "\n"])
        block = []
        if parsed and "data" in parsed[0]:
            messages.append(parsed[0])
    return messages


def test_given_a_browser_that_lost_its_connection_when_it_reconnects_with_last_event_id_then_the_stream_continues_exactly(
        job, http_server):
    job.append(4)
    response = open_stream(http_server, f"/api/jobs/{JOB}/stream?after=0")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    first = read_messages(response, 2)
    response.close()  # the connection drops after seq 2

    job.append(1)
    job.status = "COMPLETED"
    again = open_stream(http_server, f"/api/jobs/{JOB}/stream?after=0", {"Last-Event-ID": first[-1]["id"]})
    rest = read_messages(again, 10)

    assert [m["id"] for m in first] == ["1", "2"]
    assert [m.get("id") for m in rest] == ["3", "4", "5", None]
    assert rest[-1]["event"] == "done"


def test_given_a_malformed_resume_point_then_the_stream_answers_400(http_server):
    response = open_stream(http_server, f"/api/jobs/{JOB}/stream", {"Last-Event-ID": "abc"})

    assert response.status == 400
    assert "sequence number" in json.loads(response.read())["message"]
