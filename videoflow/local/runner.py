"""The local account: moto, the synthesized stack, in-process functions, local adapters.

    with LocalPipeline() as pipeline:
        job = pipeline.submit(Path("talk.mp4")); pipeline.wait(job); pipeline.export(job, Path("videoflow-out"))

Everything the stack declares is created in moto from the template (the state machine as synthesized,
only adapted task Resources rewritten; every function's environment); Lambda tasks run the real handlers.
"""

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import boto3
from moto import mock_aws
from moto.server import ThreadedMotoServer

from lambdas.common import aws as common_aws, media_probe
from lambdas.common.constants import INGEST_PREFIX
from lambdas.common.settings import function_environment, get_settings
from videoflow.local.access import CallerChecked, LocalAccess, acting_as, authorize_integration
from videoflow.local.delivery import LocalDelivery
from videoflow.local.export import export_job
from videoflow.local.iam import AccessDenied
from videoflow.local.lambda_runtime import LocalLambdas, import_handler
from videoflow.local.redrive import LocalRedrive
from videoflow.local.resources import create_resources
from videoflow.local.retry_waits import scaled_retry_waits
from videoflow.local.synth import ROOT, load_assets, load_template, synthesize
from videoflow.local.template import ACCOUNT, REGION, LocalTemplate, adapter_name, rewrite_integrations
from videoflow.serve.origin import guard_moto_server

ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")

# Integration -> adapter(parameters) returning the service's response shape.
Adapter = Callable[[dict], dict]
ProgressCallback = Callable[["Progress"], None]


def default_adapters() -> dict[str, "Adapter | type"]:
    """Integration -> adapter; a class is built with the pipeline (it needs the template or the server)."""
    from videoflow.local.batch import LocalBatch
    from videoflow.local.ecs import LocalEcs
    from videoflow.local.mediaconvert import create_job_sync
    from videoflow.local.transcribe import get_transcription_job, start_transcription_job

    return {
        "mediaconvert:createJob.sync": create_job_sync,
        "batch:submitJob.sync": LocalBatch,
        "ecs:runTask.waitForTaskToken": LocalEcs,
        "transcribe:startTranscriptionJob": start_transcription_job,
        "transcribe:getTranscriptionJob": get_transcription_job,
    }


class LocalRunError(RuntimeError):
    pass


@dataclass(frozen=True)
class Progress:
    """One line of what the workflow is doing: a state entered, left or failed."""

    kind: str  # entered | exited | failed | finished
    state: str
    seconds: float | None = None
    detail: str = ""
    branch: str | None = None  # "Analysis 1/2" for a state inside a Parallel branch


@dataclass(frozen=True)
class Submitted:
    job_id: str
    execution_arn: str | None
    started: bool


class LocalPipeline:
    def __init__(self, outdir: Path | None = None, adapters: dict[str, "Adapter | type"] | None = None,
                 extra_environment: dict[str, str] | None = None, template_file: Path | None = None,
                 retry_wait_scale: float = 1.0, inference_url: str | None = None, inference_server=None):
        """`template_file`: a template to run as it is. `retry_wait_scale`: the waits between a state's retries are
        this fraction of the definition's (kept in `retry_waits_s`). `inference_url`: a running inference server
        that the model's copy attaches to. `inference_server`: what starts a copy's server instead of
        videoflow.search.local_inference_server (a context manager yielding its URL; tests inject faults here)."""
        self.outdir = outdir or synthesize()
        self.template = LocalTemplate(json.loads(template_file.read_text()) if template_file
                                      else load_template(self.outdir))
        self.assets = load_assets(self.outdir)
        self.adapters = {**default_adapters(), **(adapters or {})}
        self.lambdas = LocalLambdas()
        self._extra_environment = extra_environment or {}
        self._saved_environment: dict[str, str | None] = {}
        self._stack: list = []
        self._delivered: dict[tuple[str, str], threading.Event] = {}
        self._delivered_lock = threading.Lock()
        self.function_names: dict[str, str] = {}  # step ("record_cost") -> local function name
        self.retry_wait_scale = retry_wait_scale
        self.inference_url = inference_url
        self.inference_server = inference_server
        self.retry_waits_s: list[float] = []

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "LocalPipeline":
        self._set_environment({
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_DEV": "false",
        })
        mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        mock.start()
        self._stack.append(mock.stop)
        if self.retry_wait_scale != 1.0:
            waits = scaled_retry_waits(self.retry_wait_scale, self.retry_waits_s)
            waits.__enter__()
            self._stack.append(lambda: waits.__exit__(None, None, None))
        # Every call is authorized as the principal that makes it in AWS, by the template's policies.
        self.access = LocalAccess(self.template)
        self.delivery = LocalDelivery(self.template, self.access, self.lambdas)
        enforced = self.access.installed()
        enforced.__enter__()
        self._stack.append(lambda: enforced.__exit__(None, None, None))
        # RedriveExecution, which moto lacks: the jobs API's retry resumes a failed job at its failed step.
        redrive = LocalRedrive(on_redriven=self._redriven).installed()
        redrive.__enter__()
        self._stack.append(lambda: redrive.__exit__(None, None, None))
        # Container entrypoints run as processes and reach this same account over HTTP.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._stack.append(server.stop)
        # No web page may reach it (DNS rebinding, cross-site requests): videoflow serve adds its own page.
        self.endpoint_policy = guard_moto_server(server)
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        installed = self.lambdas.installed()
        installed.__enter__()
        self._stack.append(lambda: installed.__exit__(None, None, None))
        common_aws.reset()
        self._create_state()
        self._create_functions()
        self._create_state_machine()
        get_settings.cache_clear()
        from videoflow.local.ffprobe import FfprobeProber

        media_probe.register(CallerChecked(self.access, FfprobeProber(), "mediaconvert:Probe", lambda: "*"))
        self._stack.append(lambda: media_probe.register(None))
        self._serve_inference()
        self._follow_executions()
        return self

    def __exit__(self, *exc) -> None:
        while self._stack:
            self._stack.pop()()
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        common_aws.reset()

    # -- what a user does --------------------------------------------------------------------
    def submit(self, video: Path, key: str | None = None) -> Submitted:
        """Upload like a user would and deliver the S3 "Object Created" event to start_pipeline."""
        key = key or f"{INGEST_PREFIX}{video.name}"
        with video.open("rb") as body:
            put = self.s3.put_object(Bucket=self.ingest_bucket, Key=key, Body=body)
        return self.deliver(self.object_created_event(key, put))

    def object_created_event(self, key: str, put: dict) -> dict:
        """The EventBridge event S3 sends, key URL-encoded as S3 does."""
        head = self.s3.head_object(Bucket=self.ingest_bucket, Key=key, VersionId=put["VersionId"])
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
            "resources": [f"arn:aws:s3:::{self.ingest_bucket}"],
            "detail": {
                "version": "0", "bucket": {"name": self.ingest_bucket},
                "object": {"key": quote_plus(key, safe="/"), "size": head["ContentLength"],
                           "etag": head["ETag"].strip('"'), "version-id": put["VersionId"],
                           "sequencer": f"{time.time_ns():X}"},
                "request-id": uuid.uuid4().hex[:16].upper(), "requester": ACCOUNT,
                "source-ip-address": "127.0.0.1", "reason": "PutObject",
            },
        }

    def deliver(self, event: dict) -> Submitted:
        """What the EventBridge rule does: match the pattern, invoke the target."""
        results = self.put_event(event)
        if not results:
            raise LocalRunError(f"the upload rule does not match this event (key {event['detail']['object']['key']})")
        ok, result = results[0]
        if not ok:
            raise LocalRunError(f"start_pipeline failed: {result['errorType']}: {result['errorMessage']}")
        return Submitted(result["job_id"], result["execution_arn"], result["started"])

    def put_event(self, event: dict) -> list[tuple[bool, object]]:
        """EventBridge's default bus: each matching rule invokes its targets (asynchronously, retried)."""
        return [(delivery.ok, delivery.result) for delivery in self.delivery.put_event(event)]

    def execution_status_changed(self, execution: dict) -> None:
        """Step Functions' "Execution Status Change" event for an execution that ended badly or was
        redriven, delivered once; a second caller waits until the first delivery is done."""
        redriven = execution["status"] == "RUNNING" and execution.get("redriveCount", 0) > 0
        if execution["status"] not in ENDED_BADLY and not redriven:
            return
        key = (execution["executionArn"],
               f"redrive-{execution['redriveCount']}" if redriven else str(execution.get("stopDate")))
        with self._delivered_lock:
            delivered = self._delivered.get(key)
            first = delivered is None
            if first:
                delivered = self._delivered[key] = threading.Event()
        if not first:
            delivered.wait(timeout=300)
            return
        try:
            if execution["status"] in ENDED_BADLY:
                self.delivery.execution_ended(execution)
            self._put_status_change(execution)
        finally:
            delivered.set()

    def _redriven(self, execution_arn: str, redrive_count: int) -> None:
        """EventBridge's "RUNNING again" status change for a redrive, even if the rerun ends at once."""
        execution = {**self.sfn.describe_execution(executionArn=execution_arn), "status": "RUNNING",
                     "redriveCount": redrive_count, "stopDate": None}
        threading.Thread(target=self.execution_status_changed, args=(execution,), daemon=True,
                         name=f"redriven-{redrive_count}").start()

    def _put_status_change(self, execution: dict) -> None:
        detail = {name: execution.get(name) for name in ("executionArn", "stateMachineArn", "name", "status",
                                                         "input", "output", "error", "cause", "redriveCount")}
        detail["startDate"] = int(execution["startDate"].timestamp() * 1000)
        detail["stopDate"] = int(execution["stopDate"].timestamp() * 1000) if execution.get("stopDate") else None
        self.put_event({
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION, "resources": [execution["executionArn"]], "detail": detail,
        })

    def wait(self, job_id: str, on_progress: ProgressCallback | None = None, timeout_s: float = 3600) -> dict:
        """Follow the execution to its end, reporting each state; returns describe_execution's answer."""
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{self.state_machine_name}:{job_id}"
        seen, entered_at = 0, {}
        deadline = time.monotonic() + timeout_s
        while True:
            # Read the status first: once it is final, the history read after it is complete.
            execution = self.sfn.describe_execution(executionArn=arn)
            history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            for event in history[seen:]:
                for line in _progress_lines(event, entered_at):
                    if on_progress:
                        on_progress(replace(line, branch=self.branches.get(line.state)))
            seen = len(history)
            if execution["status"] != "RUNNING":
                self.execution_status_changed(execution)
                return execution
            if time.monotonic() > deadline:
                raise LocalRunError(f"job {job_id} still running after {timeout_s:.0f} s")
            time.sleep(0.1)

    def _follow_executions(self) -> None:
        """EventBridge's side of Step Functions: an execution that ends badly is announced, as in AWS."""
        stopping = threading.Event()

        def follow() -> None:
            while not stopping.wait(0.25):
                try:
                    listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
                    for summary in listed:
                        if summary["status"] in ENDED_BADLY:  # RUNNING again: announced by _redriven
                            self.execution_status_changed(
                                self.sfn.describe_execution(executionArn=summary["executionArn"]))
                except Exception:  # noqa: BLE001 - keep following; the next poll tries again
                    logging.getLogger(__name__).exception("following the executions failed")

        thread = threading.Thread(target=follow, name="local-eventbridge-states", daemon=True)
        thread.start()
        self._stack.append(lambda: (stopping.set(), thread.join(timeout=10)))

    def _serve_inference(self) -> None:
        """The endpoint's model, an inference component whose one copy is the local inference server: started
        when a function asks for a copy (warm_inference), stopped at zero (release_inference). Functions reach
        it as InvokeEndpoint, authorized as themselves. `inference_url`: a server the caller keeps running."""
        from lambdas.common import embedding
        from videoflow.local.inference_component import LocalInferenceComponent

        # At rest, as a deployment settles: SageMaker creates the component with one copy (it creates none with
        # zero) and the stall monitor's first run takes it to zero (inference_floor.settle).
        self.inference = LocalInferenceComponent(os.environ["INFERENCE_COMPONENT_NAME"],
                                                 os.environ["INFERENCE_ENDPOINT_NAME"], copies=0,
                                                 shared_url=None if self.inference_server else self.inference_url,
                                                 start_server=self.inference_server)
        installed = self.inference.installed()
        installed.__enter__()
        self._stack.append(lambda: installed.__exit__(None, None, None))
        embedding.register(CallerChecked(self.access, self.inference.embedder(), "sagemaker:InvokeEndpoint",
                                         _endpoint_arn))
        self._stack.append(lambda: embedding.register(None))

    def asset_directory(self, image) -> Path:
        """The staged folder of a container image asset, found by the tag the template names."""
        tag = json.dumps(image).rsplit(":", 1)[-1].strip('"}] ')
        source = self.assets["dockerImages"][tag]["source"]["directory"]
        return self.outdir / source

    def events(self, job_id: str, after_seq: int = 0) -> list:
        from lambdas.common.events import EventLog

        return EventLog(get_settings().events_table).read(job_id, after_seq)

    def jobs_table_item(self, job_id: str) -> dict | None:
        from lambdas.common.jobs import JobStore

        return JobStore(get_settings().jobs_table).get(job_id)

    def export(self, job_id: str, out_dir: Path) -> Path:
        return export_job(self.s3, self.output_bucket, get_settings().events_table, job_id, out_dir)

    # -- resources from the template ---------------------------------------------------------
    def _create_state(self) -> None:
        self.s3 = create_resources(self.template)
        self.ingest_bucket = self._bucket_named("Ingest")
        self.output_bucket = self._bucket_named("Output")
        self.idempotency_table = self.template.names[self.template.find("AWS::DynamoDB::Table", "StateIdempotency")]

    def _bucket_named(self, construct: str) -> str:
        return self.template.names[self.template.find("AWS::S3::Bucket", f"State{construct}")]

    def _create_functions(self) -> None:
        union: dict[str, str] = {}
        runtime = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
        for logical_id, function in self.template.of_type("AWS::Lambda::Function").items():
            props = function["Properties"]
            if "ImageConfig" in props:
                handler = image_handler(self.asset_directory(props["Code"]["ImageUri"]), props["ImageConfig"])
            elif props.get("Handler", "").startswith("lambdas."):
                handler = import_handler(props["Handler"])
            else:
                continue  # CDK's own deploy-time helpers
            name, step = self.template.names[logical_id], _handler_step(props)
            variables = self.template.resolve(props.get("Environment", {}).get("Variables", {}))
            # A test's override reaches the functions that have that variable, nothing else.
            variables.update({k: v for k, v in self._extra_environment.items() if k in variables})
            union.update(variables)
            self.lambdas.register(name, handler, memory_mb=props.get("MemorySize", 128),
                                  timeout_s=props.get("Timeout", 3),
                                  principal=self.access.function_principal(logical_id, f"function {step}"),
                                  environment={**runtime, **{k: str(v) for k, v in variables.items()}})
            self.function_names[step] = name
            if props.get("Handler") == "lambdas.start_pipeline.handler.handler":
                self._start_function = name
        # What runs outside any function here (the CLI, tests reading results) sees every function's names.
        self._set_environment({**union, **self._extra_environment})

    def _create_state_machine(self) -> None:
        logical_id = self.template.find("AWS::StepFunctions::StateMachine", "PipelineJobStateMachine")
        definition, integrations = rewrite_integrations(self.template.state_machine_definition(logical_id))
        missing = integrations - set(self.adapters)
        if missing:
            raise LocalRunError(f"no local adapter for {sorted(missing)}")
        for integration in integrations:
            adapter = self.adapters[integration]
            if isinstance(adapter, type):
                adapter = adapter(self)
            self.lambdas.register(adapter_name(integration),
                                  lambda event, context, run=adapter, name=integration: self._integrate(name, run, event),
                                  timeout_s=24 * 3600, principal=self.access.workflow)
        self.state_machine_name = self.template.names[logical_id]
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        role = self.template.resolve(self.template.resources[logical_id]["Properties"]["RoleArn"])
        self.state_machine_arn = self.sfn.create_state_machine(
            name=self.state_machine_name, definition=json.dumps(definition), roleArn=role, type="STANDARD",
        )["stateMachineArn"]
        self.definition = definition
        self.branches = _branches(definition)

    def _integrate(self, integration: str, adapter: "Adapter", parameters: dict) -> dict:
        """A service integration of the workflow: authorized as the state machine's role, then run."""
        try:
            authorize_integration(self.access, integration, parameters)
            if integration.startswith("mediaconvert:"):
                # MediaConvert reads the input and writes the outputs as the role passed to it.
                with acting_as(self.access.assumed_by(parameters["Role"], "mediaconvert.amazonaws.com",
                                                      "MediaConvert (the role passed to it)")):
                    return adapter(parameters)
        except AccessDenied as denied:
            denied.step_functions_error = f"{integration.split(':')[0].title()}.AccessDeniedException"
            raise
        return adapter(parameters)

    def _set_environment(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = str(value)


def _endpoint_arn() -> str:
    """The endpoint the calling function embeds with; SageMaker's ARNs are lower case."""
    name = function_environment().get("INFERENCE_ENDPOINT_NAME", "")
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name.lower()}"


def _handler_step(props: dict) -> str:
    """The step a function runs: "lambdas.record_cost.handler.handler" -> "record_cost"."""
    handler = props.get("Handler") or props.get("ImageConfig", {}).get("Command", [""])[0]
    return handler.split(".")[1] if handler.startswith("lambdas.") else "render_short_clip"  # the render image


def image_handler(staged: Path, image_config: dict):
    """The handler a container-image function runs (ImageConfig.Command, "module.function"), imported
    from the repository folder whose module file is the one staged for the image."""
    command = image_config["Command"][0]
    if command.startswith("lambdas."):  # a step's own handler, in an image that adds what it needs
        return import_handler(command)
    module, _, attribute = command.rpartition(".")
    staged_file = staged / f"{module}.py"
    for folder in sorted((ROOT / "containers").iterdir()):
        candidate = folder / f"{module}.py"
        if candidate.is_file() and candidate.read_bytes() == staged_file.read_bytes():
            return import_handler(f"containers.{folder.name}.{module}.{attribute}")
    raise LocalRunError(f"no folder under containers/ holds the image's {module}.py")


def _branches(definition: dict) -> dict[str, str]:
    """State name -> "Parallel i/n" for every state inside a Parallel branch."""
    found: dict[str, str] = {}
    for name, state in definition["States"].items():
        branches = state.get("Branches", [])
        for number, branch in enumerate(branches, 1):
            for inner in branch["States"]:
                found[inner] = f"{name} {number}/{len(branches)}"
    return found


def _progress_lines(event: dict, entered_at: dict) -> list[Progress]:
    kind = event["type"]
    moment = event["timestamp"].timestamp()
    if kind.endswith("StateEntered"):
        name = event["stateEnteredEventDetails"]["name"]
        entered_at[name] = moment
        return [Progress("entered", name)]
    if kind.endswith("StateExited"):
        name = event["stateExitedEventDetails"]["name"]
        return [Progress("exited", name, seconds=moment - entered_at.get(name, moment))]
    if kind in ("TaskFailed", "LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskTimedOut"):
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        return [Progress("failed", details.get("resource", ""), detail=details.get("error", ""))]
    if kind.startswith("Execution") and kind != "ExecutionStarted":
        return [Progress("finished", kind.removeprefix("Execution").upper())]
    return []
