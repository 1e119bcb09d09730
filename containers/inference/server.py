"""SageMaker-compatible model server: GET /ping, POST /invocations, on $SAGEMAKER_BIND_TO_PORT (8080).

The contract SageMaker holds a real-time inference container to:

- `GET /ping` answers 200 once the model is loaded and 503 before. The port opens at once and
  the model loads in the background, so SageMaker's health check sees "not yet", not a
  refused connection; if loading fails, /ping answers 500 with the reason and `serve` exits
  non-zero so the endpoint fails fast with the reason in CloudWatch Logs.
- `POST /invocations`, `Content-Type: application/json`:

      request   {"inputs": ["text", ...]}  or  {"inputs": "text"}
      response  {"model": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384,
                 "embeddings": [[...384 floats, unit length...], ...], "truncated": [indices]}

  `truncated` lists the inputs longer than the model's max tokens (256), which were cut
  there, as sentence-transformers does. Errors are JSON {"error": message, "code": Name}:
  400 malformed JSON, no or empty inputs, a non-string or blank input, more than 256 inputs;
  411 no Content-Length; 413 a body over 6 MB (SageMaker's own real-time payload limit);
  415 a body that is not JSON (this model embeds text only); 404 unknown path; 405 wrong method.
- `GET /execution-parameters` for Batch Transform.

Run it: `python -m containers.inference.server` (the image's `serve` does the same).
Environment: SM_MODEL_DIR (default /opt/ml/model, else the local registry package),
SAGEMAKER_BIND_TO_PORT (default 8080), INFERENCE_BIND_HOST (default 0.0.0.0), INFERENCE_BACKEND (numpy | cupy),
INFERENCE_MAX_CONCURRENCY (default 2 encodes at a time), LOG_LEVEL.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

logger = logging.getLogger("videoflow.inference")

DEFAULT_PORT = 8080
MAX_INPUTS = 256
MAX_BODY_BYTES = 6 * 1024 * 1024
EMBEDDING_DECIMALS = 7  # float32 carries about 7 significant digits; more only lengthens the JSON


class BadRequest(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ModelState:
    """The model the server serves, loaded once in the background; /ping reports its state."""

    def __init__(self, max_concurrency: int = 2):
        self.encoder: Any = None
        self.error: str | None = None
        self.loaded = threading.Event()
        self.finished = threading.Event()
        self.slots = threading.BoundedSemaphore(max_concurrency)

    def load(self, loader: Callable[[], Any]) -> None:
        started = time.perf_counter()
        try:
            self.encoder = loader()
        except Exception as error:  # any failure is the reason the endpoint is unhealthy
            self.error = f"{type(error).__name__}: {error}"
            logger.exception("model failed to load")
        else:
            self.loaded.set()
            logger.info("model %s loaded in %.2f s (dim %d, max %d tokens)", self.encoder.name,
                        time.perf_counter() - started, self.encoder.dim, self.encoder.max_tokens)
        finally:
            self.finished.set()

    def load_in_background(self, loader: Callable[[], Any]) -> threading.Thread:
        thread = threading.Thread(target=self.load, args=(loader,), name="model-loader", daemon=True)
        thread.start()
        return thread


def parse_inputs(body: bytes) -> list[str]:
    """The texts of an /invocations body, or BadRequest saying what is wrong with it."""
    if not body.strip():
        raise BadRequest(HTTPStatus.BAD_REQUEST, "EmptyBody", 'The request body is empty; send {"inputs": ["text", ...]}.')
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "MalformedJson", f"The body is not valid JSON: {error}.") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "MissingInputs",
                         'Expected a JSON object with "inputs": a string or a list of strings.')
    inputs = payload["inputs"]
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "InvalidInputs",
                         f'"inputs" must be a string or a list of strings, not {type(inputs).__name__}.')
    if not inputs:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "EmptyInputs", '"inputs" is empty: send at least one text.')
    if len(inputs) > MAX_INPUTS:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "TooManyInputs",
                         f'"inputs" has {len(inputs)} texts; at most {MAX_INPUTS} per request.')
    for index, text in enumerate(inputs):
        if not isinstance(text, str):
            raise BadRequest(HTTPStatus.BAD_REQUEST, "InvalidInputs",
                             f'inputs[{index}] is a {type(text).__name__}, not a string.')
        if not text.strip():
            raise BadRequest(HTTPStatus.BAD_REQUEST, "BlankInput", f"inputs[{index}] is blank; there is nothing to embed.")
    return inputs


class InferenceHandler(BaseHTTPRequestHandler):
    server_version = "VideoFlowInference/1"
    protocol_version = "HTTP/1.1"  # keep-alive: a warm client pays for no new connection per query
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stall
    state: ModelState  # set on the subclass that make_server builds

    # --- routing -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path == "/ping":
            self._ping()
        elif self.path == "/execution-parameters":
            self._send_json(HTTPStatus.OK, {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD",
                                            "MaxPayloadInMB": MAX_BODY_BYTES // (1024 * 1024)})
        elif self.path == "/invocations":
            self._method_not_allowed("POST")
        else:
            self._not_found()

    def do_POST(self) -> None:
        if self.path == "/invocations":
            self._invocations()
        elif self.path in ("/ping", "/execution-parameters"):
            self._discard_body()
            self._method_not_allowed("GET")
        else:
            self._discard_body()
            self._not_found()

    def do_PUT(self) -> None:
        self._discard_body()
        if self.path in ("/ping", "/invocations", "/execution-parameters"):
            self._method_not_allowed("POST" if self.path == "/invocations" else "GET")
        else:
            self._not_found()

    do_DELETE = do_PATCH = do_PUT

    # --- endpoints ---------------------------------------------------------------------------
    def _ping(self) -> None:
        state = self.state
        if state.loaded.is_set():
            self._send_json(HTTPStatus.OK, {"status": "ready", "model": state.encoder.name})
        elif state.error:
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"status": "failed", "error": state.error})
        else:
            self._send_json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading"})

    def _invocations(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UnsupportedContentType",
                                 f"Content-Type must be application/json (got {content_type or 'none'}); "
                                 "this model embeds text only.")
            texts = parse_inputs(body)
        except BadRequest as error:
            self._send_error(error)
            return
        state = self.state
        if not state.loaded.is_set():
            self._send_error(BadRequest(HTTPStatus.SERVICE_UNAVAILABLE, "ModelNotReady",
                                        state.error or "The model is still loading; retry when /ping answers 200."))
            return
        encoder = state.encoder
        try:
            with state.slots:
                embeddings, truncated = encoder.embed(texts)
        except Exception as error:  # answer, rather than drop the connection; the log has the trace
            logger.exception("inference failed")
            self._send_error(BadRequest(HTTPStatus.INTERNAL_SERVER_ERROR, "InferenceFailed",
                                        f"Inference failed: {type(error).__name__}: {error}"))
            return
        rounded = np.round(embeddings.astype(np.float64), EMBEDDING_DECIMALS).tolist()
        self._send_json(HTTPStatus.OK, {"model": encoder.name, "dim": encoder.dim,
                                        "embeddings": rounded, "truncated": truncated})
        logger.info("invocations: %d texts (%d truncated) in %.1f ms", len(texts), len(truncated),
                    1000 * (time.perf_counter() - started))

    # --- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self.close_connection = True  # a chunked body we will not read would corrupt the next request
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "LengthRequired", "Send the body with a Content-Length.")
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self.close_connection = True
            raise BadRequest(HTTPStatus.BAD_REQUEST, "BadContentLength", f"Bad Content-Length {length_header!r}.") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # leave the body unread and hang up after answering
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "PayloadTooLarge",
                             f"The body is {length} bytes; at most {MAX_BODY_BYTES} per request.")
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _not_found(self) -> None:
        self._send_error(BadRequest(HTTPStatus.NOT_FOUND, "NotFound",
                                    f"No such path {self.path!r}; this server has /ping and /invocations."))

    def _method_not_allowed(self, allowed: str) -> None:
        self._send_error(BadRequest(HTTPStatus.METHOD_NOT_ALLOWED, "MethodNotAllowed",
                                    f"{self.command} is not allowed on {self.path}; use {allowed}."),
                         extra_headers={"Allow": allowed})

    def _send_error(self, error: BadRequest, extra_headers: dict[str, str] | None = None) -> None:
        logger.info("%s %s -> %d %s", self.command, self.path, error.status, error.code)
        self._send_json(error.status, {"error": error.message, "code": error.code}, extra_headers)

    def _send_json(self, status: HTTPStatus, payload: dict, extra_headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        # SageMaker pings every few seconds: the access log goes to debug, outcomes are logged above.
        logger.debug("%s %s", self.address_string(), format % args)


class InferenceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(state: ModelState, host: str = "127.0.0.1", port: int = 0) -> InferenceServer:
    """A server bound to (host, port) serving `state`; port 0 picks a free port (server.server_port)."""
    handler = type("BoundInferenceHandler", (InferenceHandler,), {"state": state})
    return InferenceServer((host, port), handler)


def default_loader() -> Any:
    from containers.inference.model import SentenceEncoder

    return SentenceEncoder()


def serve(host: str | None = None, port: int | None = None, loader: Callable[[], Any] | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code (1 when the model failed to load)."""
    # SageMaker needs 0.0.0.0; local runs and the benchmark set INFERENCE_BIND_HOST=127.0.0.1.
    host = host or os.environ.get("INFERENCE_BIND_HOST", "0.0.0.0")
    port = port if port is not None else int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT))
    state = ModelState(max_concurrency=int(os.environ.get("INFERENCE_MAX_CONCURRENCY", "2")))
    server = make_server(state, host, port)
    logger.info("listening on %s:%d", host, server.server_port)

    def stop(*_: Any) -> None:
        # shutdown() waits for serve_forever, so it must run on another thread than the loop.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}

    def load_then_watch() -> None:
        state.load(loader or default_loader)
        if state.error:
            stop()

    threading.Thread(target=load_then_watch, name="model-loader", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 1 if state.error else 0


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(serve())


if __name__ == "__main__":
    main()
