"""`videoflow serve`: the jobs API, live status and a web page on localhost, over one local account.

    /                       the web page (videoflow/web)
    /api/...                the API's Lambda handlers, called with API Gateway proxy events
    /api/jobs/{id}/stream   the job's event log as server-sent events (resumable)
    /results/{id}/...       the job's exported results (byte ranges, so a <video> can seek)

One LocalPipeline lives as long as the server: moto in-process, a moto server the browser
uploads to with presigned URLs, and the synthesized workflow. After a multipart upload is
completed through the API, the server delivers the S3 "Object Created" event to the pipeline
the way S3 and EventBridge do, in the background, and exports the job's results to OUT/<job>/
once it ends.
"""

import json
import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lambdas.common.display import shown
from lambdas.common.settings import get_settings
from videoflow.local.template import ACCOUNT, REGION
from videoflow.serve import apigw, sse
from videoflow.serve.handler import RequestHandler
from videoflow.serve.origin import OriginPolicy
from videoflow.serve.states import state_types, transitions

FINAL_STATUSES = ("COMPLETED", "REJECTED", "FAILED", "CANCELLED")
WATCH_POLL_S = 0.5
log = logging.getLogger("videoflow.serve")


class LocalServer:
    """The local stand-in for API Gateway, the push channel and the web page's hosting.

        with LocalServer(out=Path("videoflow-out"), port=0) as server:
            print(server.url)        # serving in a background thread
    """

    def __init__(self, out: Path, port: int = 8000, host: str = "127.0.0.1", pipeline_factory: Callable | None = None,
                 echo: Callable[[str], None] | None = None):
        self.out = Path(out)
        self.host, self.port = host, port
        self._pipeline_factory = pipeline_factory
        self._echo = echo or (lambda line: print(line, flush=True))
        self.stopping = threading.Event()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._exported: dict[str, tuple] = {}
        self._histories: dict[str, tuple[tuple, list[dict]]] = {}
        self._delivery_errors: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self.pipeline = None
        self.httpd: ThreadingHTTPServer | None = None
        self.origin_policy = OriginPolicy()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        from videoflow.local.runner import LocalPipeline

        factory = self._pipeline_factory or LocalPipeline
        self.pipeline = factory()
        self.pipeline.__enter__()
        try:
            self.httpd = ThreadingHTTPServer((self.host, self.port), RequestHandler)
            self.httpd.daemon_threads = True
            self.httpd.app = self
            self.port = self.httpd.server_address[1]
            # Only this server's own names and page; the local S3 takes the page's part uploads and nothing
            # from any other page (the runner put the same check in front of the moto server).
            self.origin_policy = OriginPolicy.loopback(self.host, self.port, self.origins)
            guard = getattr(self.pipeline, "endpoint_policy", None)
            if guard is not None:
                guard.allow_origins(self.origins)
            self.routes = apigw.Routes(apigw.routes_from_template(self.pipeline.template))
            self.state_types = state_types(self.pipeline.definition)
            self._allow_browser_uploads()
        except BaseException:
            self.pipeline.__exit__(None, None, None)
            self.pipeline = None
            raise
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def origins(self) -> list[str]:
        names = {self.host, "127.0.0.1", "localhost"} if self.host in ("127.0.0.1", "localhost") else {self.host}
        return sorted(f"http://{name}:{self.port}" for name in names)

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.stopping.set()  # ends the event streams
        if self.httpd is not None:
            if self._thread is not None:
                self.httpd.shutdown()
                self._thread.join(timeout=5)
            self.httpd.server_close()
        if self.pipeline is not None:
            self.pipeline.__exit__(None, None, None)
            self.pipeline = None

    def __enter__(self) -> "LocalServer":
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="videoflow-serve", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------------
    def call_api(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                 source_ip: str) -> tuple[int, list[tuple[str, str]], bytes]:
        path = urlsplit(target).path or "/"
        found = self.routes.find(method, path)
        if found is None:
            return apigw.not_found(path, resource_exists=self.routes.resource_exists(path))
        route, parameters = found
        event = apigw.proxy_event(method, target, headers, body, route=route, path_parameters=parameters,
                                  source_ip=source_ip)
        ok, answer = self.pipeline.lambdas.invoke(route.function, event)
        if not ok:
            log.error("%s %s: %s: %s", method, path, answer.get("errorType"), answer.get("errorMessage"))
        status, out_headers, out_body = apigw.http_response(ok, answer)
        if ok and (method, route.resource) == ("POST", "/uploads") and status == HTTPStatus.CREATED:
            out_body = self._local_part_urls(out_body)
        if ok and (method, route.resource) == ("POST", "/uploads/complete") and status == HTTPStatus.OK:
            self._upload_completed(out_body)
        return status, out_headers, out_body

    # -- uploads -------------------------------------------------------------------------------
    def _allow_browser_uploads(self) -> None:
        """CORS on the ingest bucket, so the page can PUT parts to it and read each part's ETag.

        The stack's own rules when it declares them (for the page's origin, here this server's),
        else the rule a browser upload needs.
        """
        template = self.pipeline.template
        bucket = template.resources[template.find("AWS::S3::Bucket", "StateIngest")]["Properties"]
        declared = template.resolve((bucket.get("CorsConfiguration") or {}).get("CorsRules") or [])
        rules = [_s3_cors_rule(rule, self.origins) for rule in declared] or [{
            "AllowedOrigins": self.origins, "AllowedMethods": ["PUT"], "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000,
        }]
        self.pipeline.s3.put_bucket_cors(Bucket=self.pipeline.ingest_bucket, CORSConfiguration={"CORSRules": rules})

    def _local_part_urls(self, body: bytes) -> bytes:
        """Point the presigned part URLs at the local S3 (the moto server) the browser can reach.

        The handler presigns for S3's own endpoint, as in AWS. Locally the same bucket, key, upload
        id and signature are sent to the moto server instead (path style); moto does not check
        signatures, and the upload then takes exactly the path it takes in AWS.
        """
        try:
            created = json.loads(body)
            for part in created["parts"]:
                part["url"] = local_s3_url(part["url"], created["bucket"], self.pipeline.endpoint_url)
        except (ValueError, KeyError, TypeError) as error:
            log.error("the upload answer is not the expected shape (%s): part URLs left as they are", error)
            return body
        return json.dumps(created).encode()

    def _upload_completed(self, body: bytes) -> None:
        """What S3 and EventBridge do after CompleteMultipartUpload: deliver "Object Created" to the pipeline."""
        try:
            completed = json.loads(body)
            key, version_id, job_id = completed["key"], completed.get("version_id"), completed.get("job_id")
        except (ValueError, KeyError, TypeError) as error:
            log.error("cannot deliver the upload: the completion answer is unreadable (%s)", error)
            return
        threading.Thread(target=self._deliver, args=(key, version_id, job_id), name=f"deliver-{job_id}",
                         daemon=True).start()

    def _deliver(self, key: str, version_id: str | None, job_id: str | None) -> None:
        try:
            event = self.pipeline.object_created_event(key, {"VersionId": version_id})
            submitted = self.pipeline.deliver(event)
        except Exception as error:  # the job can never start: tell the page through its stream
            log.error("delivering the upload %s failed: %s", key, error)
            if job_id:
                self._delivery_errors[job_id] = f"The upload could not start a job: {error}"
            return
        if job_id and submitted.job_id != job_id:
            log.warning("the API answered job %s, the pipeline started %s", job_id, submitted.job_id)
        self._echo(f"job {submitted.job_id} started: {shown(key)}")
        self._watch(submitted.job_id)

    def _watch(self, job_id: str) -> None:
        """Export the job's results once it ends, so they are on disk whether or not a page is open."""
        while not self.stopping.is_set():
            status = self.final_status(job_id)
            if status:
                try:
                    folder = self.export(job_id)
                except Exception as error:
                    self._echo(f"job {job_id} {status}; its results could not be exported: {error}")
                else:
                    self._echo(f"job {job_id} {status} → {folder}/")
                return
            self.stopping.wait(WATCH_POLL_S)

    # -- job state (read only) -------------------------------------------------------------------
    def final_status(self, job_id: str) -> str | None:
        """The job's final status once its execution has ended and nothing more will be written."""
        if job_id in self._delivery_errors:
            return "FAILED"
        from lambdas.common.jobs import JobStore

        job = JobStore(get_settings().jobs_table).get(job_id)
        if not job or job.get("status") not in FINAL_STATUSES:
            return None
        execution = self._execution(job_id)
        if execution and execution["status"] == "RUNNING":
            return None  # e.g. ReleaseInference still runs after PublishResults
        return job["status"]

    def events(self, job_id: str, after_seq: int) -> list[dict]:
        from lambdas.common.events import EventLog

        return [event.model_dump(mode="json") for event in EventLog(get_settings().events_table).read(job_id, after_seq)]

    def states(self, job_id: str) -> list[dict]:
        """The workflow's state transitions for the job's execution (named by the job id; a retry redrives it)."""
        execution = self._execution(job_id)
        if execution is None:
            return []
        arn = execution["executionArn"]
        # A finished execution's history no longer changes, unless a redrive makes it RUNNING again.
        version = (execution["status"], execution.get("stopDate"), execution.get("redriveCount"))
        cached = self._histories.get(arn)
        if cached is None or cached[0] != version or execution["status"] == "RUNNING":
            history = self._history(arn)  # read after the status: complete when that status is final
            cached = (version, transitions(job_id, history, self.pipeline.branches, self.state_types))
            self._histories[arn] = cached
        return cached[1]

    def _execution(self, job_id: str) -> dict | None:
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{self.pipeline.state_machine_name}:{job_id}"
        try:
            return self.pipeline.sfn.describe_execution(executionArn=arn)
        except self.pipeline.sfn.exceptions.ExecutionDoesNotExist:
            return None

    def _history(self, arn: str) -> list[dict]:
        events, token = [], None
        while True:
            page = self.pipeline.sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                                           **({"nextToken": token} if token else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events

    def feed(self) -> sse.JobFeed:
        return sse.JobFeed(events=self.events, final_status=self.final_status, states=self.states,
                           done_detail=self._done_detail)

    def _done_detail(self, job_id: str) -> dict:
        reason = self._delivery_errors.get(job_id)
        return {"reason": reason} if reason else {}

    # -- results -------------------------------------------------------------------------------
    def export(self, job_id: str) -> Path:
        """The job's results in OUT/<job_id>/, exported again only when the job record changed (a retry)."""
        from lambdas.common.jobs import JobStore

        with self._lock(job_id):
            job = JobStore(get_settings().jobs_table).get(job_id) or {}
            version = (job.get("status"), job.get("updated_at"))
            folder = self.out / job_id
            if self._exported.get(job_id) != version or not (folder / "manifest.json").is_file():
                folder = self.pipeline.export(job_id, self.out)
                self._exported[job_id] = version
            return folder

    def _lock(self, job_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(job_id, threading.Lock())


def _s3_cors_rule(rule: dict, origins: list[str]) -> dict:
    """A CloudFormation CorsRule -> the S3 API's CORSRule, for the local origins."""
    names = {"AllowedHeaders": "AllowedHeaders", "AllowedMethods": "AllowedMethods", "ExposedHeaders": "ExposeHeaders",
             "MaxAge": "MaxAgeSeconds", "Id": "ID"}
    converted = {names[key]: value for key, value in rule.items() if key in names}
    return {**converted, "AllowedOrigins": origins}


def local_s3_url(url: str, bucket: str, endpoint_url: str) -> str:
    """An S3 URL (virtual-hosted or path style, any endpoint) -> the same request to `endpoint_url`, path style."""
    parts = urlsplit(url)
    endpoint = urlsplit(endpoint_url)
    if (parts.scheme, parts.netloc) == (endpoint.scheme, endpoint.netloc):
        return url
    path = parts.path
    if not parts.netloc.startswith(f"{bucket}."):  # path style: /bucket/key
        path = path.removeprefix(f"/{bucket}")
    return urlunsplit((endpoint.scheme, endpoint.netloc, f"/{bucket}{path}", parts.query, ""))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(port: int, out: Path, host: str = "127.0.0.1") -> int:
    """Run until Ctrl-C; prints the URL."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.propagate = False  # the functions' Powertools loggers format the root logger's records as their own
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on `kill` as on Ctrl-C
    server = LocalServer(out=out, port=port, host=host)
    print("VideoFlow: starting the local account (synthesized stack on moto)…", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        url = server.start()
    except OSError as error:
        print(f"cannot listen on {host}:{port}: {error}", file=sys.stderr)
        server.close()
        return 1
    print(f"VideoFlow is serving on {url}  (ready in {time.monotonic() - started:.1f} s; "
          f"results go to {out}/<job_id>/; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr, flush=True)
    finally:
        server.close()
    return 0
