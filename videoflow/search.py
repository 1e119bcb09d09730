"""Search for local tools: the shared search code, and the local inference server to embed with.

The search logic itself lives in lambdas/common/search.py, because the Lambda code asset
holds only the `lambdas` package; it is re-exported here unchanged, with `LocalEmbedder` (the
model in this process: lambdas.common.embedders.CpuEmbedder). What is local-only is
`local_inference_server()`: it runs containers/inference/server.py as a subprocess on a free
127.0.0.1 port and yields its base URL once /ping answers 200, for an `HttpEmbedder`
(`videoflow search`, and the local runner's embedder).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from lambdas.common.embedders import CpuEmbedder
from lambdas.common.search import *  # noqa: F403
from lambdas.common.search import __all__ as _shared

__all__ = [*_shared, "InferenceServerFailed", "LocalEmbedder", "free_port", "local_inference_server", "wait_until_ready"]

ROOT = Path(__file__).resolve().parent.parent
SERVER_READY_TIMEOUT_S = 120.0


class InferenceServerFailed(RuntimeError):
    """The local inference server exited, or did not answer /ping 200 in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until_ready(base_url: str, timeout_s: float = SERVER_READY_TIMEOUT_S,
                     process: subprocess.Popen | None = None) -> float:
    """Poll GET /ping until 200; returns the seconds waited. Raises InferenceServerFailed."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process is not None and process.poll() is not None:
            raise InferenceServerFailed(f"the inference server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/ping", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except urllib.error.HTTPError as error:
            if error.code == 500:  # the model failed to load: /ping says why
                raise InferenceServerFailed(f"the inference server failed: {error.read()[:300].decode()}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.05)
    raise InferenceServerFailed(f"the inference server at {base_url} was not ready within {timeout_s:.0f} s")


@contextlib.contextmanager
def local_inference_server(timeout_s: float = SERVER_READY_TIMEOUT_S, log_level: str = "WARNING") -> Iterator[str]:
    """Run `python -m containers.inference.server` on 127.0.0.1:<free port>; yields its base URL.

    The server is stopped (SIGTERM, then SIGKILL after 10 s) when the block ends. Its stderr
    goes to a temporary file, whose last lines are part of the error when it fails to start.
    """
    port = free_port()
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(port), INFERENCE_BIND_HOST="127.0.0.1", LOG_LEVEL=log_level)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([sys.executable, "-m", "containers.inference.server"], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            try:
                wait_until_ready(base_url, timeout_s, process)
            except InferenceServerFailed as error:
                log.seek(0)
                tail = log.read().decode("utf-8", "replace").strip().splitlines()[-5:]
                raise InferenceServerFailed("; ".join([str(error), *tail])) from None
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# The model in this process: the same class a function falls back to when its endpoint has no copy.
LocalEmbedder = CpuEmbedder
