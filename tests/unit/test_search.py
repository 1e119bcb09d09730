"""Search over a job's transcript: the index, its S3 round trip, ranking, and the embedders."""

import io
import json
import threading

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from pydantic import ValidationError

from containers.inference.model import shared_encoder
from containers.inference.server import ModelState, make_server
from lambdas.common import search as search_module
from lambdas.common.search import (
    EmbeddingFailed,
    HttpEmbedder,
    IndexInvalid,
    IndexNotFound,
    InvalidQuery,
    ModelMismatch,
    SageMakerEmbedder,
    Segment,
    build_index,
    index_from_json,
    index_key,
    index_to_json,
    load_index,
    save_index,
    search,
    search_text,
)
from videoflow.search import LocalEmbedder

OUTPUT_BUCKET = "videoflow-output"
JOB = "0f3c9a"

TRANSCRIPT = [
    (0, 5, "Welcome back to the channel, today is a long one."),
    (5, 11, "First we look at the quarterly numbers: revenue is up twelve percent."),
    (11, 16, "Operating costs went down because we moved the servers to a cheaper region."),
    (16, 22, "Now a quick word about my dog, who keeps barking at the mail carrier."),
    (22, 27, "She gets a long walk in the park every evening to calm down."),
    (27, 33, "Back to business: the new phone app launches in March."),
    (33, 38, "It lets customers track their parcel deliveries in real time."),
    (38, 44, "Finally, the weather: heavy snow is expected over the mountains this weekend."),
    (44, 48, "Drive carefully and thanks for watching."),
]


def segments() -> list[dict]:
    return [{"start_s": float(a), "end_s": float(b), "text": text} for a, b, text in TRANSCRIPT]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(shared_encoder())


@pytest.fixture(scope="module")
def index(embedder):
    return build_index(JOB, segments(), embedder)


# --- building and storing -------------------------------------------------------------------------

def test_the_index_holds_one_unit_embedding_per_segment_in_time_order(embedder):
    shuffled = segments()[::-1]

    built = build_index(JOB, shuffled, embedder)

    assert [s.start_s for s in built.segments] == [float(a) for a, _, _ in TRANSCRIPT]
    assert built.embeddings.shape == (len(TRANSCRIPT), 384)
    assert built.embeddings.dtype == np.float32
    assert np.allclose(np.linalg.norm(built.embeddings, axis=1), 1.0, atol=1e-5)
    assert built.model == "sentence-transformers/all-MiniLM-L6-v2"


def test_segments_without_text_are_left_out(embedder):
    built = build_index(JOB, segments()[:2] + [{"start_s": 50, "end_s": 52, "text": "  "}], embedder)

    assert len(built) == 2


def test_a_segment_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValidationError, match="before start_s"):
        Segment(start_s=10, end_s=9, text="backwards")


def test_the_index_round_trips_through_s3_at_analysis_job_index_json(aws_state, index):
    key = save_index(index, OUTPUT_BUCKET)

    loaded = load_index(OUTPUT_BUCKET, JOB)

    assert key == index_key(JOB) == f"analysis/{JOB}/index.json"
    stored = json.loads(aws_state.get_object(Bucket=OUTPUT_BUCKET, Key=key)["Body"].read())
    assert stored["format"] == "videoflow.search-index"
    assert stored["embeddings"]["dtype"] == "float32"
    assert stored["count"] == len(TRANSCRIPT)
    assert loaded.segments == index.segments
    assert loaded.model == index.model and loaded.job_id == JOB
    assert np.array_equal(loaded.embeddings, index.embeddings)


def test_loading_an_index_that_was_never_built_says_so(aws_state):
    with pytest.raises(IndexNotFound, match="no search index for job missing"):
        load_index(OUTPUT_BUCKET, "missing")


def test_a_corrupt_index_is_refused(aws_state, index):
    document = index_to_json(index)
    document["embeddings"]["shape"] = [len(index), 100]
    aws_state.put_object(Bucket=OUTPUT_BUCKET, Key=index_key("bad"), Body=json.dumps(document).encode())

    with pytest.raises(IndexInvalid):
        load_index(OUTPUT_BUCKET, "bad")
    with pytest.raises(IndexInvalid, match="not a videoflow.search-index"):
        index_from_json({"format": "something else"})


# --- searching ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected_start_s"), [
    ("how much did sales grow this quarter", 5.0),
    ("snowstorm forecast", 38.0),
    ("when is the mobile application released", 27.0),
    ("my pet barks at the postman", 16.0),
])
def test_a_paraphrased_query_ranks_the_right_segment_first(index, embedder, query, expected_start_s):
    best = search_text(index, query, embedder, k=3)[0]

    assert best.start_s <= expected_start_s < best.end_s
    assert 0 < best.score <= 1


def test_k_bounds_the_number_of_moments_best_first(index, embedder):
    query = embedder.embed(["company finances"])[0]

    for k in (1, 2, 4):
        moments = search(index, query, k=k, merge_gap_s=None)
        assert len(moments) == k
        assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
    assert len(search(index, query, k=50, merge_gap_s=None)) == len(TRANSCRIPT)


def test_scores_are_cosine_similarities(index, embedder):
    query = embedder.embed(["deliveries"])[0]

    moments = search(index, query * 3.0, k=len(TRANSCRIPT), merge_gap_s=None)  # length does not matter

    by_start = {s.start_s: float(e @ query) for s, e in zip(index.segments, index.embeddings, strict=True)}
    for moment in moments:
        assert moment.score == pytest.approx(by_start[moment.start_s], abs=1e-5)


def test_adjacent_matching_segments_merge_into_one_moment(index, embedder):
    query = embedder.embed(["the dog and its walks"])[0]

    unmerged = search(index, query, k=2, merge_gap_s=None)
    merged = search(index, query, k=2)

    assert {m.start_s for m in unmerged} == {16.0, 22.0}  # two neighbouring segments
    assert (merged[0].start_s, merged[0].end_s) == (16.0, 27.0)
    assert "barking" in merged[0].text and "walk in the park" in merged[0].text
    assert merged[0].score == unmerged[0].score
    assert merged[1].start_s not in (16.0, 22.0)


def test_a_merged_moment_stays_within_the_maximum_length(index, embedder):
    query = embedder.embed(["the dog and its walks"])[0]

    moments = search(index, query, k=2, max_moment_s=7.0)

    assert all(m.end_s - m.start_s <= 7.0 for m in moments)


def test_an_empty_index_finds_nothing_and_round_trips(aws_state, embedder):
    empty = build_index("silent", [], embedder)
    save_index(empty, OUTPUT_BUCKET)
    loaded = load_index(OUTPUT_BUCKET, "silent")

    assert len(loaded) == 0 and loaded.embeddings.shape == (0, 384)
    assert search(loaded, np.ones(384, dtype=np.float32), k=5) == []
    assert search_text(loaded, "anything", embedder) == []


def test_a_blank_or_huge_query_is_refused(index, embedder):
    with pytest.raises(InvalidQuery, match="blank"):
        search_text(index, "   ", embedder)
    with pytest.raises(InvalidQuery, match="characters"):
        search_text(index, "x" * 5000, embedder)


def test_k_below_one_is_refused(index):
    with pytest.raises(ValueError, match="k must be"):
        search(index, np.ones(384, dtype=np.float32), k=0)


def test_an_index_from_another_model_is_not_searched(index, embedder):
    other = search_module.SearchIndex(job_id=JOB, model="some/other-model", segments=index.segments,
                                      embeddings=index.embeddings)

    with pytest.raises(ModelMismatch):
        search_text(other, "revenue", embedder)
    with pytest.raises(ModelMismatch):
        search(index, np.ones(128, dtype=np.float32))


# --- embedders ------------------------------------------------------------------------------------



def test_an_index_built_over_http_is_searchable_in_process(server_url, embedder):
    http = HttpEmbedder(server_url, batch_size=4)  # several requests for nine segments

    built = build_index(JOB, segments(), http)
    best = search_text(built, "how much did sales grow this quarter", embedder)[0]

    assert http.model == embedder.model and http.dim == 384
    assert np.abs(built.embeddings - build_index(JOB, segments(), embedder).embeddings).max() < 1e-6
    assert best.start_s == 5.0
    http.close()


def test_the_http_embedder_reports_the_servers_refusal(encoder_loading_url):
    http = HttpEmbedder(encoder_loading_url)

    with pytest.raises(EmbeddingFailed, match="503") as raised:
        http.embed(["too early"])

    assert raised.value.status == 503


@pytest.fixture
def encoder_loading_url():
    server = make_server(ModelState(), "127.0.0.1", 0)  # never loads
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_http_embedder_reports_an_unreachable_server():
    http = HttpEmbedder("http://127.0.0.1:9", timeout_s=2)

    with pytest.raises(EmbeddingFailed, match="unreachable"):
        http.embed(["hello"])


def _invocation_body(embeddings: np.ndarray) -> StreamingBody:
    raw = json.dumps({"model": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384,
                      "embeddings": embeddings.tolist(), "truncated": []}).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_the_sagemaker_embedder_invokes_the_endpoint_with_the_invocations_body(embedder):
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    expected = embedder.embed(["parcel tracking"])
    with Stubber(client) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": _invocation_body(expected), "ContentType": "application/json"},
            {"EndpointName": "videoflow-inference", "ContentType": "application/json",
             "Accept": "application/json", "Body": json.dumps({"inputs": ["parcel tracking"]}).encode()},
        )

        vectors = SageMakerEmbedder("videoflow-inference", client=client).embed(["parcel tracking"])

    assert np.abs(vectors - expected).max() < 1e-6


def test_the_sagemaker_embedder_turns_a_model_error_into_embedding_failed():
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("invoke_endpoint", service_error_code="ModelError",
                              service_message="Received client error (400)", http_status_code=424)

        with pytest.raises(EmbeddingFailed, match="ModelError"):
            SageMakerEmbedder("videoflow-inference", client=client).embed(["x"])
