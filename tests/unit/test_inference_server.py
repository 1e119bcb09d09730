"""The inference server's HTTP contract: the one SageMaker holds a real-time container to."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from containers.inference import server as inference_server
from containers.inference.model import shared_encoder
from containers.inference.server import MAX_BODY_BYTES, MAX_INPUTS, ModelState, make_server

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running(state: ModelState):
    server = make_server(state, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def encoder():
    return shared_encoder()


@pytest.fixture(scope="module")
def port(encoder):
    state = ModelState()
    state.load(lambda: encoder)
    with running(state) as bound:
        yield bound


def call(port: int, method: str, path: str, body: bytes | dict | None = None,
         content_type: str | None = "application/json") -> tuple[int, dict, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": content_type} if content_type else {}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, payload, response


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


# --- /ping --------------------------------------------------------------------------------------

def test_ping_answers_200_when_the_model_is_loaded(port):
    status, payload, response = call(port, "GET", "/ping", content_type=None)

    assert status == 200
    assert payload == {"status": "ready", "model": "sentence-transformers/all-MiniLM-L6-v2"}
    assert response.getheader("Content-Type") == "application/json"


def test_ping_answers_503_while_the_model_loads_then_200(encoder):
    release = threading.Event()
    state = ModelState()

    def slow_loader():
        release.wait(10)
        return encoder

    with running(state) as bound:
        loading = state.load_in_background(slow_loader)
        assert call(bound, "GET", "/ping", content_type=None)[:2] == (503, {"status": "loading"})
        status, payload, _ = call(bound, "POST", "/invocations", {"inputs": ["too early"]})
        assert (status, payload["code"]) == (503, "ModelNotReady")

        release.set()
        loading.join(10)

        assert call(bound, "GET", "/ping", content_type=None)[0] == 200
        assert call(bound, "POST", "/invocations", {"inputs": ["now"]})[0] == 200


def test_ping_answers_500_with_the_reason_when_the_model_failed_to_load():
    state = ModelState()

    def broken_loader():
        raise FileNotFoundError("/opt/ml/model/model.safetensors")

    state.load(broken_loader)
    with running(state) as bound:
        status, payload, _ = call(bound, "GET", "/ping", content_type=None)

    assert status == 500
    assert payload["status"] == "failed"
    assert "model.safetensors" in payload["error"]


# --- /invocations: answers ----------------------------------------------------------------------

def test_invocations_returns_one_unit_embedding_per_input(port, encoder):
    texts = ["The keynote starts with a demo.", "Pricing is announced at the end."]

    status, payload, _ = call(port, "POST", "/invocations", {"inputs": texts})

    assert status == 200
    assert payload["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert payload["dim"] == 384
    embeddings = np.asarray(payload["embeddings"], dtype=np.float32)
    assert embeddings.shape == (2, 384)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert np.abs(embeddings - encoder.encode(texts)).max() < 1e-6
    assert payload["truncated"] == []


def test_invocations_accepts_a_single_string(port):
    status, payload, _ = call(port, "POST", "/invocations", {"inputs": "just one text"})

    assert status == 200
    assert np.asarray(payload["embeddings"]).shape == (1, 384)


def test_invocations_accepts_a_charset_in_the_content_type(port):
    status, _, _ = call(port, "POST", "/invocations", {"inputs": ["héllo"]}, content_type="application/json; charset=utf-8")

    assert status == 200


def test_a_text_over_the_token_limit_is_truncated_and_reported(port):
    long_text = "word " * 1000

    status, payload, _ = call(port, "POST", "/invocations", {"inputs": ["short", long_text]})

    assert status == 200
    assert payload["truncated"] == [1]
    assert len(payload["embeddings"]) == 2


def test_the_connection_is_kept_alive_across_requests_and_errors(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    for body in ({"inputs": ["one"]}, {"inputs": []}, {"inputs": ["two"]}):
        connection.request("POST", "/invocations", body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()

    assert statuses == [200, 400, 200]


def test_concurrent_requests_each_get_their_own_embeddings(port, encoder):
    texts = [f"request number {i} talks about topic {i * 7 % 5}" for i in range(12)]
    expected = encoder.encode(texts)
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        status, payload, _ = call(port, "POST", "/invocations", {"inputs": [texts[i]]})
        assert status == 200
        results[i] = np.asarray(payload["embeddings"][0], dtype=np.float32)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == list(range(len(texts)))
    assert max(float(np.abs(results[i] - expected[i]).max()) for i in results) < 1e-5


def test_execution_parameters_describe_batch_transform_limits(port):
    status, payload, _ = call(port, "GET", "/execution-parameters", content_type=None)

    assert status == 200
    assert payload["MaxPayloadInMB"] == 6


# --- /invocations: refusals -----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "code"), [
    (b"", "EmptyBody"),
    (b"{not json", "MalformedJson"),
    (b"\xff\xfe", "MalformedJson"),
    (b'["a", "b"]', "MissingInputs"),
    (b'{"text": "a"}', "MissingInputs"),
    (b'{"inputs": []}', "EmptyInputs"),
    (b'{"inputs": 42}', "InvalidInputs"),
    (b'{"inputs": ["fine", 7]}', "InvalidInputs"),
    (b'{"inputs": ["fine", "   "]}', "BlankInput"),
])
def test_a_bad_request_gets_400_with_a_clear_json_error(port, body, code):
    status, payload, _ = call(port, "POST", "/invocations", body)

    assert status == 400
    assert payload["code"] == code
    assert payload["error"]


def test_more_than_256_inputs_get_400(port):
    status, payload, _ = call(port, "POST", "/invocations", {"inputs": ["x"] * (MAX_INPUTS + 1)})

    assert status == 400
    assert payload["code"] == "TooManyInputs"
    assert "256" in payload["error"]


def test_a_body_that_is_not_json_gets_415(port):
    status, payload, _ = call(port, "POST", "/invocations", b"plain words", content_type="text/plain")

    assert status == 415
    assert payload["code"] == "UnsupportedContentType"


def test_an_image_gets_415_since_this_model_embeds_text_only(port):
    status, payload, _ = call(port, "POST", "/invocations", b"\x89PNG....", content_type="image/png")

    assert status == 415
    assert "text only" in payload["error"]


def test_a_body_over_6_mb_gets_413_without_being_read(port):
    request = (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n").encode()

    answer = raw_exchange(port, request)  # the server answers and hangs up; the body is never sent

    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"code":"PayloadTooLarge"' in answer
    assert b"Connection: close" in answer


def test_a_body_without_content_length_gets_411(port):
    request = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"

    answer = raw_exchange(port, request)

    assert answer.startswith(b"HTTP/1.1 411")


def test_an_unknown_path_gets_404(port):
    for method in ("GET", "POST"):
        status, payload, _ = call(port, method, "/predict", b"{}")
        assert status == 404
        assert payload["code"] == "NotFound"


def test_the_wrong_method_gets_405_with_allow(port):
    status, payload, response = call(port, "GET", "/invocations", content_type=None)

    assert status == 405
    assert response.getheader("Allow") == "POST"


# --- the process ----------------------------------------------------------------------------------

def test_serve_exits_1_when_the_model_cannot_load():
    def broken_loader():
        raise RuntimeError("no weights")

    before = signal.getsignal(signal.SIGTERM)

    assert inference_server.serve(host="127.0.0.1", port=0, loader=broken_loader) == 1
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_serve_entrypoint_becomes_ready_and_stops_cleanly_on_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(free), INFERENCE_BIND_HOST="127.0.0.1",
               PYTHON=sys.executable, LOG_LEVEL="WARNING")
    env.pop("SM_MODEL_DIR", None)
    process = subprocess.Popen([str(ROOT / "containers" / "inference" / "serve")], env=env)
    try:
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status != 200:
            assert process.poll() is None, "the server exited before it was ready"
            try:
                status = call(free, "GET", "/ping", content_type=None)[0]
            except OSError:
                time.sleep(0.05)
        assert status == 200

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
