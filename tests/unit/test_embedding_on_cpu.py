"""A function whose endpoint has no copy of the model embeds on its own CPU: keyframe_inference after a bounded
wait, the search API at once. The component is the local one (videoflow/local/inference_component.py): its copy
is the worker's inference server, so "warm" and "cold" are real states of a real server, asked for through
DescribeInferenceComponent as in AWS; the CPU path is the same model in the function's own process.
"""

import json
import time
from contextlib import contextmanager

import pytest

from lambdas.common import embedding
from lambdas.common.events import EventLog
from lambdas.common.search import load_index, search_text
from lambdas.keyframe_inference.handler import handler as keyframe_handler
from lambdas.search_api import handler as search_api
from tests.inference_floor import COMPONENT, ENDPOINT
from tests.unit.test_keyframe_inference import CONTEXT, JOB_ID, OUTPUT_BUCKET, _step_event
from tests.unit.test_search_api import _call, _event
from videoflow.local.inference_component import LocalInferenceComponent
from videoflow.search import HttpEmbedder, LocalEmbedder

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


@pytest.fixture
def component(aws_state, inference_url, monkeypatch):
    """The model's component at zero copies, named in the functions' variables, reached as InvokeEndpoint."""
    monkeypatch.setenv("INFERENCE_ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("INFERENCE_COMPONENT_NAME", COMPONENT)
    monkeypatch.setattr(embedding, "COPY_POLL_S", 0.05)
    with LocalInferenceComponent(COMPONENT, ENDPOINT, copies=0, shared_url=inference_url).installed() as local:
        embedding.register(local.embedder())
        search_api.copy_checks.clear()
        yield local
        embedding.register(None)
        search_api.copy_checks.clear()


def _indexed_event() -> tuple[str, dict]:
    (event,) = [e for e in EventLog("videoflow-events").read(JOB_ID) if e.type == "search.indexed"]
    return event.detail["embedded_on"], event.detail


def test_given_no_copy_asked_for_then_the_index_is_built_on_cpu_at_once_and_the_event_says_so(
        component, aws_state, monkeypatch):
    """Nobody asked for a copy (a long job's scheduled ask has not come yet): waiting would only delay the job."""
    monkeypatch.setenv("INFERENCE_WARM_WAIT_S", "30")

    answer = keyframe_handler(_step_event(aws_state), CONTEXT)

    embedded_on, detail = _indexed_event()
    assert answer["embedded_on"] == embedded_on == "cpu" and detail["waited_for_copy_s"] < 5  # not the 30 s bound
    assert answer["segment_count"] == 8 and len(load_index(OUTPUT_BUCKET, JOB_ID)) == 8
    assert component.current == 0  # the function did not wake the endpoint


@contextmanager
def slow_starting_server_fake(url: str, seconds: float):
    """A copy that takes `seconds` to come into service (an instance still being provisioned), then the real server."""
    time.sleep(seconds)
    yield url


def test_given_a_copy_still_starting_past_the_bound_then_the_index_is_built_on_cpu_after_the_bound(
        component, aws_state, monkeypatch, inference_url):
    monkeypatch.setenv("INFERENCE_WARM_WAIT_S", "0.3")
    component.shared_url, component._start_server = None, lambda: slow_starting_server_fake(inference_url, 1.2)
    component.set_copies(1)

    answer = keyframe_handler(_step_event(aws_state), CONTEXT)

    embedded_on, detail = _indexed_event()
    assert answer["embedded_on"] == embedded_on == "cpu" and 0.3 <= detail["waited_for_copy_s"] < 1


def test_given_a_copy_that_comes_while_waiting_then_the_index_is_built_by_the_endpoint(
        component, aws_state, monkeypatch, inference_url):
    monkeypatch.setenv("INFERENCE_WARM_WAIT_S", "30")
    # 1 s: longer than the handler takes to reach its wait on a busy machine (at 0.3 s the copy was sometimes up first).
    component.shared_url, component._start_server = None, lambda: slow_starting_server_fake(inference_url, 1.0)
    component.set_copies(1)  # warm_inference's copy, still starting

    answer = keyframe_handler(_step_event(aws_state), CONTEXT)

    embedded_on, detail = _indexed_event()
    assert answer["embedded_on"] == embedded_on == "endpoint"
    assert 0.1 <= detail["waited_for_copy_s"] < 30


def test_an_index_built_on_cpu_is_searched_through_the_endpoint_with_the_same_answers(
        component, aws_state, monkeypatch, inference_url):
    monkeypatch.setenv("INFERENCE_WARM_WAIT_S", "0")
    keyframe_handler(_step_event(aws_state), CONTEXT)
    index, endpoint = load_index(OUTPUT_BUCKET, JOB_ID), HttpEmbedder(inference_url)

    on_cpu = search_text(index, "how long does the dough rest", LocalEmbedder(), k=3)
    on_endpoint = search_text(index, "how long does the dough rest", endpoint, k=3)

    assert index.model == endpoint.model
    assert [m.text for m in on_cpu] == [m.text for m in on_endpoint]
    assert "overnight" in on_cpu[0].text


@pytest.fixture
def search_index(component):
    """The search API's job (tests/unit/test_search_api.py: its owner, its segments) indexed in the output bucket."""
    from lambdas.common import aws
    from lambdas.common.owners import OWNER_ATTRIBUTE
    from lambdas.common.search import build_index, save_index
    from lambdas.common.settings import get_settings
    from tests.unit.test_search_api import JOB_ID as SEARCHED_JOB, OWNER, SEGMENTS

    settings = get_settings()
    aws.table(settings.jobs_table).put_item(Item={"job_id": SEARCHED_JOB, "status": "COMPLETED", OWNER_ATTRIBUTE: OWNER})
    save_index(build_index(SEARCHED_JOB, SEGMENTS, LocalEmbedder()), settings.output_bucket)
    search_api.cache.clear()
    yield
    search_api.cache.clear()


def test_given_a_cold_endpoint_a_query_is_answered_on_cpu_at_once_with_the_answer_the_endpoint_gives(
        search_index, component):
    cold_status, cold, _ = _call(_event())
    assert component.current == 0  # answered with no copy: on the function's CPU, without waking the endpoint
    component.set_copies(1)
    assert component.wait_until_in_service()
    search_api.copy_checks.clear()  # the next check sees the copy (it is asked at most every COPY_CHECK_S)

    warm_status, warm, _ = _call(_event())

    assert cold_status == warm_status == 200
    assert [m["text"] for m in cold["moments"]] == [m["text"] for m in warm["moments"]]
    assert json.dumps(cold["moments"][0]["score"])[:6] == json.dumps(warm["moments"][0]["score"])[:6]
