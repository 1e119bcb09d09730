"""The HTTP side of `videoflow serve`: one handler for the page, the API, the event streams and the results.

Before anything else, each request must be addressed to this server by name and come from its
own page or from no page at all (origin.py: no DNS rebinding, no cross-site POST, no other
site's <img> or <video>), and its Content-Length must be one plain number (no chunked bodies:
API Gateway takes none either). A refused request is answered 403 or 400 and its connection closed.
"""

import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from videoflow.serve import files, sse
from videoflow.serve.origin import BadContentLength, content_length

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The page's files, each served at /<name>: index.html loads the scripts (one idea each) in its own order.
PAGE_FILES = ("index.html", "style.css", "display.js", "elements.js", "format.js", "api.js", "timeline.js",
              "clips.js", "upload.js", "steps.js", "job.js", "results.js", "job-list.js", "app.js")
WEB_FILES = {"/": "index.html", **{f"/{name}": name for name in PAGE_FILES}}
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_API_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

log = logging.getLogger("videoflow.serve")


class RequestHandler(BaseHTTPRequestHandler):
    """`self.server.app` is the LocalServer (or, in tests, anything with the methods used here)."""

    protocol_version = "HTTP/1.1"
    server_version = "VideoFlowLocal/1"
    body_length = 0

    @property
    def app(self):
        return self.server.app

    # -- dispatch ------------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        try:
            path = urlsplit(self.path).path
            if not self._admitted(method, path):
                return
            stream = re.fullmatch(r"/api/jobs/([^/]+)/stream", path)
            if stream and method == "GET":
                return self._stream(stream.group(1))
            if path == "/api" or path.startswith("/api/"):
                return self._api(method)
            if path.startswith("/results/") and method in ("GET", "HEAD"):
                return self._result(path.removeprefix("/results/"), head=method == "HEAD")
            if path in WEB_FILES and method in ("GET", "HEAD"):
                return self._file(WEB_DIR / WEB_FILES[path], head=method == "HEAD", page=True)
            self._json(HTTPStatus.NOT_FOUND, {"message": f"Not found: {path}"})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log.exception("%s %s failed", method, self.path)
            self.close_connection = True
            try:
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"})
            except OSError:
                pass

    def _admitted(self, method: str, path: str) -> bool:
        """Answer (and close) a request from elsewhere or with a body this server cannot frame; True otherwise."""
        reason = self.app.origin_policy.refusal(method, self.headers, page=path in WEB_FILES)
        status = HTTPStatus.FORBIDDEN
        if reason is None and self.headers.get("Transfer-Encoding"):
            reason, status = "Chunked request bodies are not accepted: send Content-Length.", HTTPStatus.BAD_REQUEST
        if reason is None:
            try:
                self.body_length = content_length(self.headers.get_all("Content-Length") or [])
            except BadContentLength as error:
                reason, status = str(error), HTTPStatus.BAD_REQUEST
        if reason is None:
            if self.body_length and not (path == "/api" or path.startswith("/api/")):
                self.close_connection = True  # a body nothing here reads: it must not be taken for the next request
            return True
        log.warning("refused %s %s: %s", method, self.path[:200], reason)
        self.close_connection = True
        self._json(status, {"message": reason})
        return False

    # -- /api ----------------------------------------------------------------------------------
    def _api(self, method: str) -> None:
        length = self.body_length
        if length > MAX_API_BODY_BYTES:
            self.close_connection = True
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Too Long"})
        body = self.rfile.read(length) if length else b""
        target = self.path.removeprefix("/api") or "/"
        headers = [(name, value) for name, value in self.headers.items()]
        status, headers, data = self.app.call_api(method if method != "HEAD" else "GET", target, headers, body,
                                                  self.client_address[0])
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    # -- /api/jobs/{id}/stream -------------------------------------------------------------------
    def _stream(self, job_id: str) -> None:
        if not JOB_ID.fullmatch(job_id):
            return self._json(HTTPStatus.BAD_REQUEST, {"message": "malformed job id"})
        query = parse_qs(urlsplit(self.path).query)
        try:
            after = sse.resume_point(self.headers.get("Last-Event-ID"), (query.get("after") or [None])[0])
        except sse.BadResumePoint as error:
            return self._json(HTTPStatus.BAD_REQUEST, {"message": str(error)})
        self.close_connection = True  # the stream ends with the connection
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        feed = self.app.feed()
        for chunk in sse.stream(feed, job_id, after, self.app.stopping):
            self.wfile.write(chunk.encode())
            self.wfile.flush()

    # -- /results/{id}/... -----------------------------------------------------------------------
    def _result(self, rest: str, head: bool) -> None:
        job_id, _, relative = unquote(rest).partition("/")
        if not JOB_ID.fullmatch(job_id) or not relative:
            return self._json(HTTPStatus.NOT_FOUND, {"message": "no such result"})
        status = self.app.final_status(job_id)
        if status is None:
            return self._json(HTTPStatus.CONFLICT, {"message": f"job {job_id} has not finished (or does not exist)"})
        try:
            folder = self.app.export(job_id)
        except Exception as error:
            return self._json(HTTPStatus.NOT_FOUND, {"message": f"job {job_id} has no results: {error}"})
        path = files.inside(folder, relative)
        if path is None:
            return self._json(HTTPStatus.NOT_FOUND, {"message": f"no {relative} in job {job_id}"})
        self._file(path, head=head)

    # -- files -----------------------------------------------------------------------------------
    def _file(self, path: Path, head: bool, page: bool = False) -> None:
        size = path.stat().st_size
        try:
            part = files.byte_range(self.headers.get("Range"), size)
        except files.RangeNotSatisfiable:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(HTTPStatus.PARTIAL_CONTENT if part.partial else HTTPStatus.OK)
        self.send_header("Content-Type", files.content_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        if page:
            self.send_header("Content-Security-Policy", self._content_security_policy())
        if part.partial:
            self.send_header("Content-Range", f"bytes {part.start}-{part.end}/{size}")
        length = part.length if size else 0
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if head or not length:
            return
        with path.open("rb") as source:
            source.seek(part.start)
            remaining = length
            while remaining > 0:
                chunk = source.read(min(256 * 1024, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _content_security_policy(self) -> str:
        # The page talks to this server and PUTs upload parts to the local S3 (the moto server).
        return ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                f"connect-src 'self' {self.app.pipeline.endpoint_url}; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'")

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def log_error(self, format, *args):
        log.warning("%s %s", self.address_string(), format % args)
