"""EventLog: per job, seq runs 1, 2, 3, ... with no gaps, and a reader that resumes misses nothing."""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.models import DynamoDBBackend

from lambdas.common.events import EventLog

JOB_ID = "job-events-00000001"
OTHER_JOB_ID = "job-events-00000002"


@pytest.fixture
def log(aws_state):
    return EventLog("videoflow-events")


@pytest.fixture
def atomic_conditional_puts(monkeypatch):
    """Make moto's PutItem atomic, as DynamoDB's is.

    moto checks a ConditionExpression and then writes without a lock, so two threads can both
    pass `attribute_not_exists(seq)` and the second silently overwrites the first (seen here
    about once in 30 runs of the test below). DynamoDB evaluates the condition and writes as
    one step; serializing PutItem alone restores that and leaves the seq race itself intact
    (each writer still reads the last seq concurrently, so claims still collide and retry).
    """
    put_item = DynamoDBBackend.put_item
    lock = threading.Lock()

    @functools.wraps(put_item)
    def atomic_put_item(self, *args, **kwargs):
        with lock:
            return put_item(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", atomic_put_item)


def _append(log: EventLog, count: int, job_id: str = JOB_ID, start: int = 0) -> list:
    return [log.append(job_id, "step.progress", "Test", n=start + n) for n in range(count)]


def test_given_a_new_job_when_the_first_event_is_appended_then_its_seq_is_1(log):
    event = log.append(JOB_ID, "job.started", "StartPipeline", key="uploads/a.mp4")

    assert event.seq == 1


def test_given_several_appends_when_read_then_seqs_run_from_1_without_gaps(log):
    _append(log, 7)

    assert [event.seq for event in log.read(JOB_ID)] == [1, 2, 3, 4, 5, 6, 7]


def test_given_several_appends_when_read_then_events_come_back_in_append_order(log):
    _append(log, 5)

    assert [event.detail["n"] for event in log.read(JOB_ID)] == [0, 1, 2, 3, 4]


def test_given_two_jobs_when_events_are_appended_then_each_job_counts_its_own_seq_from_1(log):
    _append(log, 3, JOB_ID)
    _append(log, 2, OTHER_JOB_ID)

    assert [event.seq for event in log.read(OTHER_JOB_ID)] == [1, 2]
    assert [event.seq for event in log.read(JOB_ID)] == [1, 2, 3]


def test_given_an_appended_event_when_read_then_type_step_and_detail_round_trip(log):
    appended = log.append(JOB_ID, "derivatives.recorded", "RecordDerivatives",
                          proxy="960x540", audio=None, frames=31, duration_s=62.5, sizes=[1, 2.5], nested={"ok": True})

    [read] = log.read(JOB_ID)

    assert read == appended
    assert read.detail == {"proxy": "960x540", "audio": None, "frames": 31, "duration_s": 62.5, "sizes": [1, 2.5],
                           "nested": {"ok": True}}


def test_given_ten_events_when_read_after_seq_4_then_exactly_seqs_5_to_10_are_returned(log):
    _append(log, 10)

    assert [event.seq for event in log.read(JOB_ID, after_seq=4)] == [5, 6, 7, 8, 9, 10]


def test_given_a_reader_at_the_last_seq_when_it_reads_again_then_nothing_is_returned(log):
    _append(log, 3)

    assert log.read(JOB_ID, after_seq=3) == []


def test_given_a_reader_that_resumes_from_its_last_seq_when_more_were_appended_then_it_gets_exactly_the_rest(log):
    _append(log, 4)
    seen = log.read(JOB_ID)
    _append(log, 3, start=4)

    resumed = log.read(JOB_ID, after_seq=seen[-1].seq)

    assert seen + resumed == log.read(JOB_ID)
    assert [event.detail["n"] for event in resumed] == [4, 5, 6]


def test_given_a_limit_when_read_then_only_the_first_events_after_the_seq_are_returned(log):
    _append(log, 6)

    assert [event.seq for event in log.read(JOB_ID, after_seq=1, limit=3)] == [2, 3, 4]


def test_given_more_events_than_one_query_page_when_read_then_every_event_is_returned(log):
    # DynamoDB returns at most 1 MB per query page: 12 events of ~100 KB need two pages.
    for n in range(12):
        log.append(JOB_ID, "step.progress", "Test", n=n, padding="x" * 100_000)

    assert [event.seq for event in log.read(JOB_ID)] == list(range(1, 13))


def test_given_two_writers_appending_at_once_when_read_then_seqs_are_1_to_50_without_gaps_or_duplicates(
    log, atomic_conditional_puts
):
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        start.wait()
        for n in range(25):
            log.append(JOB_ID, "step.progress", name, n=n)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(writer, name) for name in ("Transcript", "Vision")]:
            done.result()  # re-raises a writer's error here

    events = log.read(JOB_ID)
    assert [event.seq for event in events] == list(range(1, 51))
    assert sorted((event.step, event.detail["n"]) for event in events) == sorted(
        (name, n) for name in ("Transcript", "Vision") for n in range(25)
    )
