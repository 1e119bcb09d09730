"""record_cost: what one job cost, by service, from what the job used.

Two halves, both pure:

* `gather_usage(request, events, config, history=None, now=...) -> Usage` turns the workflow
  state, the job's event log and, when it could be read, the execution history into
  quantities: output minutes, GB-seconds, transitions, task-seconds, audio seconds,
  instance-seconds, tokens, requests. Each quantity says how it was measured; what could
  not be measured is estimated (and the note says so) or left at zero (and the note says why).
* `compute_cost(usage, prices) -> CostReport` multiplies by the one price table
  (lambdas/common/prices.py) and applies each service's billing rules (minimums, rounding).

`record_cost(...)` does both, stores the report on the job record (`cost`) and appends a
`cost.recorded` event. Missing data never fails the step: that service costs zero, with a note.

What each service's quantity comes from:

| service | quantity | from |
|---|---|---|
| mediaconvert | output minutes per output (proxy, audio, frames) | source duration x outputs present; 10 s minimum each |
| lambda | GB-seconds and requests | each invocation's duration (execution history, or `duration_ms`, or event gaps) x FUNCTION_MEMORY_MB |
| step_functions | state transitions | `transitions` in the request, else the history's entered states, else one per event (a lower bound) |
| batch_fargate | vCPU-, GB-seconds, public IPv4 hours | frame chunks x measured worker seconds (`worker_seconds` on frames.aggregated) or an estimate; any `fargate_task` in an event |
| transcribe | audio minutes | source duration when the job had audio and reached the analysis; 15 s minimum |
| sagemaker | instance-hours | this job's share of the warm floor from inference.warmed to inference.released |
| bedrock | input and output tokens | `model.called` events |
| s3, dynamodb | requests, request units | estimated from the counts of frames, chunks and events |
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import (
    Derivatives,
    DuplicateCheck,
    Event,
    FrameManifestRef,
    JobRequest,
    MediaInfo,
    Model,
)
from lambdas.common.prices import PRICES, Prices, bedrock_price

SERVICES = (
    "mediaconvert", "lambda", "step_functions", "batch_fargate", "transcribe", "sagemaker", "bedrock", "s3", "dynamodb",
)
Service = Literal[
    "mediaconvert", "lambda", "step_functions", "batch_fargate", "transcribe", "sagemaker", "bedrock", "s3", "dynamodb",
]
EVENT_COST_RECORDED = "cost.recorded"
STEP_NAME = "RecordCost"

# Lambda duration when nothing measured it (a step's event is the log's first, or follows a
# service wait): a deliberately round guess, marked "assumed" in the ledger.
ASSUMED_LAMBDA_MS = 1_000
LAMBDA_MAX_MS = 900_000  # Lambda's own limit: no gap between two events is billed beyond it
# Steps whose event follows a wait on another service (MediaConvert, Batch, Transcribe): the gap
# to the previous event measures that service, not the function, so it is not used.
AFTER_SERVICE_WAIT = {"RecordDerivatives", "AggregateFrames", "NormalizeTranscript"}
# State names that run a function under another name.
STATE_FUNCTIONS = {"ReleaseAfterFailure": "release_inference", "RenderInLambda": "render_short_clip"}

# Frame worker seconds when the workers did not report them: Fargate bills from the start of the
# image pull, so each task pays the pull and the Python start-up, then each frame (download,
# decode, four measures; about 0.05 s for a 960x540 frame on one core of the machine the
# estimate was made on, doubled for a Fargate vCPU).
WORKER_START_S = 45.0
WORKER_S_PER_FRAME = 0.1

# S3 objects a completed job writes and reads besides frames and chunks (estimates).
S3_PUTS_PER_EVENT = {
    "frames.manifest_built": 1, "frames.aggregated": 1, "shots.detected": 1, "transcript.normalized": 2,
    "captions.built": 2, "search.indexed": 1, "job.completed": 1, "job.rejected": 1, "job.failed": 1,
}
S3_GETS_PER_EVENT = {
    "upload.validated": 2, "derivatives.recorded": 2, "transcript.normalized": 1, "captions.built": 1,
    "shots.detected": 1, "search.indexed": 3, "job.completed": 2,
}
# Job record writes (register, derivatives, completion, the cost itself) and their item size.
JOB_RECORD_UPDATES_PER_EVENT = {"job.registered": 1, "derivatives.recorded": 1, "job.completed": 1,
                                "job.rejected": 1, "job.failed": 1, "content.duplicate": 1}
JOB_RECORD_WRITE_UNITS = 2  # a job item is about 1-2 KB once its results are recorded


# --- configuration --------------------------------------------------------------------------------


class CostEnvironment(BaseModel):
    """The variables CostConfig.from_environment reads (and forgives when they are bad)."""

    function_memory_mb: str = Field("", alias="FUNCTION_MEMORY_MB")
    inference_instance_type: str = Field("", alias="INFERENCE_INSTANCE_TYPE")
    inference_idle_instances: str = Field("", alias="INFERENCE_IDLE_INSTANCES")
    frame_worker_vcpu: str = Field("", alias="FRAME_WORKER_VCPU")
    frame_worker_memory_mb: str = Field("", alias="FRAME_WORKER_MEMORY_MB")


class CostConfig(Model):
    """What the ledger needs to know about the deployment (environment of record_cost)."""

    function_memory_mb: dict[str, int] = Field(default_factory=dict)
    inference_instance_type: str | None = None
    inference_idle_instances: int = Field(1, ge=0)
    frame_worker_vcpu: float = Field(1.0, gt=0)
    frame_worker_memory_mb: int = Field(2048, gt=0)
    problems: list[str] = Field(default_factory=list, description="configuration that could not be read")

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> CostConfig:
        """FUNCTION_MEMORY_MB is JSON {"function_name": memory_mb, ...}; a bad value is a note, not a crash."""
        problems: list[str] = []
        memory: dict[str, int] = {}
        raw = environ.get("FUNCTION_MEMORY_MB", "")
        if raw:
            try:
                parsed = json.loads(raw)
                memory = {str(name): int(mb) for name, mb in parsed.items() if int(mb) > 0}
            except (ValueError, TypeError, AttributeError) as error:
                problems.append(f"FUNCTION_MEMORY_MB is not a JSON object of function name to MB ({error}).")
        else:
            problems.append("FUNCTION_MEMORY_MB is not set.")

        def number(name: str, default: float, kind=float):
            try:
                return kind(environ.get(name) or default)
            except ValueError:
                problems.append(f"{name}={environ.get(name)!r} is not a number; {default} is used.")
                return default

        return cls(
            function_memory_mb=memory,
            inference_instance_type=environ.get("INFERENCE_INSTANCE_TYPE") or None,
            inference_idle_instances=number("INFERENCE_IDLE_INSTANCES", 1, int),
            frame_worker_vcpu=number("FRAME_WORKER_VCPU", 1.0),
            frame_worker_memory_mb=number("FRAME_WORKER_MEMORY_MB", 2048, int),
            problems=problems,
        )


# --- usage ------------------------------------------------------------------------------------------


class MediaConvertOutput(Model):
    name: str = Field(description="proxy, audio or frames")
    rate: str = Field(description="key of Prices.mediaconvert_per_output_minute")
    duration_s: float = Field(ge=0)
    high_frame_rate: bool = False
    add_ons: list[str] = Field(default_factory=list, description="per-minute add-ons, e.g. audio_normalization")


class LambdaInvocation(Model):
    function: str
    duration_ms: float = Field(ge=0)
    memory_mb: int = Field(gt=0)
    measured_by: Literal["duration_ms", "execution_history", "event_gap", "assumed"]


class FargateTasks(Model):
    """Tasks of one shape: each task's seconds (before the 1 min minimum)."""

    purpose: str
    task_seconds: list[float]
    vcpu: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    spot: bool = True
    public_ipv4: bool = True
    measured: bool = False


class SageMakerShare(Model):
    instance_type: str | None
    held_s: float = Field(ge=0)
    instances: int = Field(ge=0)
    jobs_sharing: int = Field(ge=1)
    idle_instances: int = Field(ge=0)

    @property
    def instance_seconds(self) -> float:
        """This job's share of the warm floor: every floor instance, split between the jobs holding it."""
        return self.held_s * self.instances / self.jobs_sharing

    @property
    def above_idle_instance_seconds(self) -> float:
        """The part the job added: floor instances above the idle floor (which runs anyway)."""
        return self.held_s * max(0, self.instances - self.idle_instances) / self.jobs_sharing


class ModelCall(Model):
    model_id: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    recorded_usd: float | None = Field(None, description="the caller's own figure, used for a model not in the table")


class Usage(Model):
    job_id: str
    mediaconvert: list[MediaConvertOutput] = Field(default_factory=list)
    lambdas: list[LambdaInvocation] = Field(default_factory=list)
    state_transitions: int = Field(0, ge=0)
    fargate: list[FargateTasks] = Field(default_factory=list)
    transcribe_audio_s: float = Field(0, ge=0)
    sagemaker: SageMakerShare | None = None
    model_calls: list[ModelCall] = Field(default_factory=list)
    s3_put_requests: int = Field(0, ge=0)
    s3_get_requests: int = Field(0, ge=0)
    dynamodb_write_units: int = Field(0, ge=0)
    dynamodb_read_units: int = Field(0, ge=0)
    notes: dict[str, list[str]] = Field(default_factory=dict, description="service -> how it was measured, or why not")


# --- the report -------------------------------------------------------------------------------------


class LineItem(Model):
    description: str
    quantity: float
    unit: str
    unit_usd: float
    usd: float


class ServiceCost(Model):
    quantity: float
    unit: str
    usd: float
    items: list[LineItem] = Field(default_factory=list)
    note: str | None = None


class CostReport(Model):
    job_id: str
    prices_version: str
    prices_region: str
    currency: str
    by_service: dict[str, ServiceCost]
    total_usd: float
    approximate: bool = True


# --- compute_cost -----------------------------------------------------------------------------------


def compute_cost(usage: Usage, prices: Prices = PRICES) -> CostReport:
    """The job's cost by service: usage x unit price, with each service's billing rules. Pure."""
    notes = {service: list(usage.notes.get(service, [])) for service in SERVICES}
    by_service = {
        "mediaconvert": _mediaconvert(usage.mediaconvert, prices, notes["mediaconvert"]),
        "lambda": _lambda(usage.lambdas, prices),
        "step_functions": _service("transitions", [
            _item("state transitions", usage.state_transitions, "transitions", prices.step_functions_per_transition),
        ]),
        "batch_fargate": _fargate(usage.fargate, prices),
        "transcribe": _transcribe(usage.transcribe_audio_s, prices),
        "sagemaker": _sagemaker(usage.sagemaker, prices, notes["sagemaker"]),
        "bedrock": _bedrock(usage.model_calls, prices, notes["bedrock"]),
        "s3": _service("requests", [
            _item("PUT requests", usage.s3_put_requests, "requests", prices.s3_put_per_1k / 1000),
            _item("GET requests", usage.s3_get_requests, "requests", prices.s3_get_per_1k / 1000),
        ]),
        "dynamodb": _service("request units", [
            _item("write request units", usage.dynamodb_write_units, "WRU",
                  prices.dynamodb_per_million_write_units / 1e6),
            _item("read request units", usage.dynamodb_read_units, "RRU",
                  prices.dynamodb_per_million_read_units / 1e6),
        ]),
    }
    by_service = {
        service: cost.model_copy(update={"note": " ".join(notes[service]) or None})
        for service, cost in by_service.items()
    }
    return CostReport(
        job_id=usage.job_id,
        prices_version=prices.version,
        prices_region=prices.region,
        currency=prices.currency,
        by_service=by_service,
        total_usd=_round(sum(cost.usd for cost in by_service.values())),
    )


def _round(usd: float) -> float:
    return round(usd, 9)


def _item(description: str, quantity: float, unit: str, unit_usd: float) -> LineItem:
    return LineItem(description=description, quantity=round(quantity, 6), unit=unit, unit_usd=round(unit_usd, 12),
                    usd=_round(quantity * unit_usd))


def _service(unit: str, items: list[LineItem], quantity: float | None = None) -> ServiceCost:
    """A service's cost; its headline quantity is the sum of its items' quantities unless given."""
    if quantity is None:
        quantity = sum(item.quantity for item in items)
    return ServiceCost(quantity=round(quantity, 6), unit=unit, usd=_round(sum(item.usd for item in items)),
                       items=[item for item in items if item.quantity])


def _mediaconvert(outputs: list[MediaConvertOutput], prices: Prices, notes: list[str]) -> ServiceCost:
    items, minutes = [], 0.0
    for output in outputs:
        rate = prices.mediaconvert_per_output_minute.get(output.rate)
        if rate is None:
            notes.append(f"No MediaConvert price for {output.rate!r} ({output.name}): not costed.")
            continue
        billed_min = max(output.duration_s, prices.mediaconvert_min_billed_s) / 60 if output.duration_s else 0.0
        multiplier = prices.mediaconvert_high_frame_rate_multiplier if output.high_frame_rate else 1.0
        label = f"{output.name} ({output.rate}{', >30 fps' if output.high_frame_rate else ''})"
        items.append(_item(label, billed_min, "output-min", rate * multiplier))
        minutes += billed_min
        for add_on in output.add_ons:
            add_on_rate = prices.mediaconvert_per_output_minute.get(add_on)
            if add_on_rate is None:
                notes.append(f"No MediaConvert price for the add-on {add_on!r}: not costed.")
                continue
            items.append(_item(f"{output.name} {add_on} add-on", billed_min, "min", add_on_rate))
    return _service("output-min", items, quantity=minutes)


def _lambda(invocations: list[LambdaInvocation], prices: Prices) -> ServiceCost:
    gb_s_by_function: dict[str, float] = {}
    for invocation in invocations:
        billed_ms = math.ceil(invocation.duration_ms)  # Lambda bills duration in 1 ms steps
        gb_s = billed_ms / 1000 * invocation.memory_mb / 1024
        gb_s_by_function[invocation.function] = gb_s_by_function.get(invocation.function, 0.0) + gb_s
    gb_s_total = sum(gb_s_by_function.values())
    items = [
        _item("duration", gb_s_total, "GB-s", prices.lambda_per_gb_second),
        _item("requests", len(invocations), "requests", prices.lambda_per_request),
    ]
    return _service("GB-s", items, quantity=gb_s_total)


def _fargate(groups: list[FargateTasks], prices: Prices) -> ServiceCost:
    items, vcpu_s_total = [], 0.0
    for group in groups:
        billed_s = sum(max(seconds, prices.fargate_min_billed_s) for seconds in group.task_seconds if seconds > 0)
        vcpu_rate, gb_rate, capacity = (
            (prices.fargate_spot_per_vcpu_hour, prices.fargate_spot_per_gb_hour, "Spot") if group.spot
            else (prices.fargate_per_vcpu_hour, prices.fargate_per_gb_hour, "on-demand")
        )
        vcpu_s, gb_s = billed_s * group.vcpu, billed_s * group.memory_gb
        vcpu_s_total += vcpu_s
        items.append(_item(f"{group.purpose}: vCPU ({capacity}, {len(group.task_seconds)} tasks)", vcpu_s, "vCPU-s",
                           vcpu_rate / 3600))
        items.append(_item(f"{group.purpose}: memory ({capacity})", gb_s, "GB-s", gb_rate / 3600))
        if group.public_ipv4:
            items.append(_item(f"{group.purpose}: public IPv4", billed_s / 3600, "IP-h", prices.public_ipv4_per_hour))
    return _service("vCPU-s", items, quantity=vcpu_s_total)


def _transcribe(audio_s: float, prices: Prices) -> ServiceCost:
    minutes = max(audio_s, prices.transcribe_min_billed_s) / 60 if audio_s > 0 else 0.0
    return _service("audio-min", [_item("batch transcription", minutes, "audio-min", prices.transcribe_per_minute)])


def _sagemaker(share: SageMakerShare | None, prices: Prices, notes: list[str]) -> ServiceCost:
    if share is None or share.instance_seconds == 0:
        return _service("instance-h", [])
    hours = share.instance_seconds / 3600
    rate = prices.sagemaker_per_instance_hour.get(share.instance_type or "")
    if rate is None:
        notes.append(f"No SageMaker price for instance type {share.instance_type!r}: {hours:.4f} instance-h "
                     "not costed.")
        return _service("instance-h", [], quantity=hours)
    above_idle_usd = share.above_idle_instance_seconds / 3600 * rate
    notes.append(
        f"This job's share of the warm floor ({share.instances} x {share.instance_type}, {share.held_s:.0f} s held, "
        f"shared by {share.jobs_sharing} job(s)); ${above_idle_usd:.6f} of it is above the idle floor, which is "
        "paid whether or not a job runs (the idle cost per month already counts it)."
    )
    return _service("instance-h", [_item(f"{share.instance_type} real-time endpoint", hours, "instance-h", rate)])


def _bedrock(calls: list[ModelCall], prices: Prices, notes: list[str]) -> ServiceCost:
    items, tokens = [], 0
    by_model: dict[str, list[ModelCall]] = {}
    for call in calls:
        by_model.setdefault(call.model_id, []).append(call)
    for model_id, model_calls in by_model.items():
        input_tokens = sum(call.input_tokens for call in model_calls)
        output_tokens = sum(call.output_tokens for call in model_calls)
        tokens += input_tokens + output_tokens
        found = bedrock_price(model_id, prices)
        if found is None:
            recorded = sum(call.recorded_usd or 0.0 for call in model_calls)
            notes.append(f"{model_id} is not in the price table: "
                         + (f"its calls' own recorded cost (${recorded:.6f}) is used." if recorded
                            else "its tokens are not costed."))
            if recorded:
                items.append(_item(f"{model_id} (as recorded by the caller)", len(model_calls), "calls",
                                   recorded / len(model_calls)))
            continue
        family, price = found
        items.append(_item(f"{family} input", input_tokens, "tokens", price.input_per_1k / 1000))
        items.append(_item(f"{family} output", output_tokens, "tokens", price.output_per_1k / 1000))
    return _service("tokens", items, quantity=tokens)


# --- gather_usage -----------------------------------------------------------------------------------


class RecordCostRequest(JobRequest):
    """The workflow state as RecordCost receives it; every part but the job id and source is optional."""

    media: MediaInfo | None = None
    duplicate: DuplicateCheck = DuplicateCheck()
    derivatives: Derivatives | None = None
    frame_manifest: FrameManifestRef | None = None
    transitions: int | None = Field(None, ge=0, description="the exact count, when the caller knows it")
    execution_arn: str | None = None


def gather_usage(request: RecordCostRequest, events: list[Event], config: CostConfig,
                 history: list[dict] | None = None, now: datetime | None = None) -> Usage:
    """What the job used, from the workflow state, its event log and (if read) the execution history."""
    now = now or datetime.now(UTC)
    events = sorted((event for event in events if event.type != EVENT_COST_RECORDED), key=lambda event: event.seq)
    facts = _JobFacts(request, events)
    notes: dict[str, list[str]] = {service: [] for service in SERVICES}
    history_steps = _history_steps(history) if history is not None else None

    mediaconvert = _mediaconvert_usage(facts, notes["mediaconvert"])
    fargate = _fargate_usage(facts, config, history_steps, notes["batch_fargate"])
    return Usage(
        job_id=request.job_id,
        mediaconvert=mediaconvert,
        lambdas=_lambda_usage(events, config, history_steps, notes["lambda"]),
        state_transitions=_transitions(request, events, history, notes["step_functions"]),
        fargate=fargate,
        transcribe_audio_s=_transcribe_usage(facts, notes["transcribe"]),
        sagemaker=_sagemaker_usage(events, config, now, notes["sagemaker"]),
        model_calls=_model_calls(events, notes["bedrock"]),
        **_request_estimates(facts, events, fargate, notes),
        notes={service: lines for service, lines in notes.items() if lines},
    )


class _JobFacts:
    """The few facts about the job that several services need, from the state or else the events."""

    def __init__(self, request: RecordCostRequest, events: list[Event]):
        self.events = events
        probed = _first(events, "media.probed")
        media = request.media
        self.duration_s: float | None = media.duration_s if media else _number(probed, "duration_s")
        self.frame_rate: float | None = media.frame_rate if media else _number(probed, "frame_rate")
        duplicate = _first(events, "content.duplicate")
        self.duplicate_of: str | None = request.duplicate.duplicate_of or (
            duplicate.detail.get("duplicate_of") if duplicate else None)
        recorded = _first(events, "derivatives.recorded")
        self.derivatives_recorded = request.derivatives is not None or recorded is not None
        self.derivatives_planned = _first(events, "derivatives.planned") is not None
        if request.derivatives is not None:
            self.proxy_size = (request.derivatives.proxy.width, request.derivatives.proxy.height)
            self.has_audio_output = request.derivatives.audio is not None
            self.frames: int | None = request.derivatives.frames.count
        else:
            self.proxy_size = _size(recorded.detail.get("proxy")) if recorded else None
            self.has_audio_output = bool(recorded and recorded.detail.get("audio"))
            self.frames = _int(recorded, "frames")
        built = _first(events, "frames.manifest_built")
        if request.frame_manifest is not None:
            self.chunks: int | None = request.frame_manifest.chunk_count
            self.frames = request.frame_manifest.frame_count if self.frames is None else self.frames
        else:
            self.chunks = _int(built, "chunks")
            self.frames = _int(built, "frames") if self.frames is None else self.frames
        # The Parallel analysis started once the frame manifest was built.
        self.analysis_started = request.frame_manifest is not None or built is not None \
            or _first(events, "transcript.normalized") is not None


def _mediaconvert_usage(facts: _JobFacts, notes: list[str]) -> list[MediaConvertOutput]:
    if facts.duplicate_of:
        notes.append(f"The results of job {facts.duplicate_of} were reused: no MediaConvert job ran.")
        return []
    if not facts.derivatives_recorded:
        notes.append("The MediaConvert job did not complete (a job that ends in ERROR is assumed not billed)."
                     if facts.derivatives_planned else "No MediaConvert job ran.")
        return []
    if not facts.duration_s:
        notes.append("The source duration is unknown: MediaConvert output minutes not computed.")
        return []
    duration = facts.duration_s
    high_frame_rate = bool(facts.frame_rate and facts.frame_rate > 30.0)
    proxy_rate = _resolution_rate(facts.proxy_size)
    outputs = [MediaConvertOutput(name="proxy", rate=proxy_rate, duration_s=duration, high_frame_rate=high_frame_rate)]
    if facts.has_audio_output:
        outputs.append(MediaConvertOutput(name="audio", rate="audio_only", duration_s=duration,
                                          add_ons=["audio_normalization"]))
    outputs.append(MediaConvertOutput(name="frames", rate="frame_capture", duration_s=duration))
    notes.append("Proxy, " + ("audio, " if facts.has_audio_output else "") + "frames, each for the source duration "
                 f"({duration:.1f} s); frame capture billed as an SD output (assumed).")
    return outputs


def _resolution_rate(size: tuple[int, int] | None) -> str:
    """MediaConvert's resolution class of an output: SD below 720 lines, HD to 1080, UHD above."""
    if size is None:
        return "avc_sd_basic"  # the proxy's shorter side is 540 px by design
    lines = min(size)
    return "avc_sd_basic" if lines < 720 else "avc_hd_basic" if lines <= 1080 else "avc_uhd_basic"


def _history_steps(history: list[dict]) -> list[tuple[str, float]]:
    """(state name, seconds) of every task that completed in the execution history.

    Works for both shapes: LambdaFunctionStarted/Succeeded (the legacy Lambda resource, and
    the local engine) and TaskStarted/TaskSucceeded (arn:aws:states:::lambda:invoke, .sync jobs).
    """
    by_id = {event.get("id"): event for event in history}
    steps = []
    for event in history:
        kind = event.get("type", "")
        if kind not in ("LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut",
                        "TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            continue
        started = by_id.get(event.get("previousEventId"))
        if not started or started.get("type") not in ("LambdaFunctionStarted", "TaskStarted"):
            continue
        name = _entered_state(started, by_id)
        seconds = (_timestamp(event["timestamp"]) - _timestamp(started["timestamp"])).total_seconds()
        if name is not None and seconds >= 0:
            steps.append((name, seconds))
    return steps


def _entered_state(event: dict, by_id: dict) -> str | None:
    for _ in range(50):  # a retried task chains back through its earlier attempts
        event = by_id.get(event.get("previousEventId"))
        if event is None:
            return None
        if event.get("type", "").endswith("StateEntered"):
            return event.get("stateEnteredEventDetails", {}).get("name")
    return None


def _timestamp(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def function_of(step: str, known: Iterable[str] = ()) -> str:
    """The function a state (or an event's step) runs: ValidateUpload -> validate_upload.

    A known function whose name without underscores matches wins, so BuildMediaConvertJob is
    build_mediaconvert_job, not build_media_convert_job.
    """
    if step in STATE_FUNCTIONS:
        return STATE_FUNCTIONS[step]
    squashed = step.lower()
    for name in known:
        if name.replace("_", "") == squashed:
            return name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", step).lower()


def _lambda_usage(events: list[Event], config: CostConfig, history_steps: list[tuple[str, float]] | None,
                  notes: list[str]) -> list[LambdaInvocation]:
    notes.extend(config.problems)
    if not config.function_memory_mb:
        notes.append("Without the functions' memory sizes the Lambda cost is not computed.")
        return []
    invocations: list[LambdaInvocation] = []
    unknown: set[str] = set()
    measured_steps: set[str] = set()
    if history_steps is not None:
        for state, seconds in history_steps:
            function = function_of(state, config.function_memory_mb)
            if function not in config.function_memory_mb:
                unknown.add(state)
                continue
            measured_steps.add(state)
            invocations.append(LambdaInvocation(function=function, duration_ms=seconds * 1000,
                                                memory_mb=config.function_memory_mb[function],
                                                measured_by="execution_history"))
        if unknown:
            notes.append("Tasks not in FUNCTION_MEMORY_MB, so not Lambda (service integrations, or local "
                         f"stand-ins for them): {', '.join(sorted(unknown))}.")
        unknown = set()
    # Event runs: consecutive events of one step are one invocation. With the history, only the
    # steps it cannot show are taken from events (start_pipeline runs before the execution).
    previous_at: datetime | None = None
    for step, run in _runs(events):
        function = function_of(step, config.function_memory_mb)
        last_at = run[-1].at
        gap_from = previous_at
        previous_at = last_at
        if history_steps is not None and (step in measured_steps or _in_history(function, history_steps, config)):
            continue
        if function not in config.function_memory_mb:
            unknown.add(step)
            continue
        recorded = [event.detail["duration_ms"] for event in run if _is_number(event.detail.get("duration_ms"))]
        if recorded:
            duration, how = float(sum(recorded)), "duration_ms"
        elif gap_from is None or step in AFTER_SERVICE_WAIT:
            duration, how = float(ASSUMED_LAMBDA_MS), "assumed"
        else:
            duration, how = min((last_at - gap_from).total_seconds() * 1000, LAMBDA_MAX_MS), "event_gap"
        invocations.append(LambdaInvocation(function=function, duration_ms=max(duration, 1.0),
                                            memory_mb=config.function_memory_mb[function], measured_by=how))
    if unknown:
        notes.append(f"Steps with events but no memory size in FUNCTION_MEMORY_MB, not costed: "
                     f"{', '.join(sorted(unknown))}.")
    counts: dict[str, int] = {}
    for invocation in invocations:
        counts[invocation.measured_by] = counts.get(invocation.measured_by, 0) + 1
    notes.append(f"{len(invocations)} invocations; durations from "
                 + ", ".join(f"{how.replace('_', ' ')} ({count})" for how, count in sorted(counts.items())) + "."
                 + (" Event gaps are upper bounds; this step's own run is not included." if "event_gap" in counts
                    else " This step's own run is not included."))
    return invocations


def _in_history(function: str, history_steps: list[tuple[str, float]], config: CostConfig) -> bool:
    return any(function_of(state, config.function_memory_mb) == function for state, _ in history_steps)


def _runs(events: Iterable[Event]) -> list[tuple[str, list[Event]]]:
    runs: list[tuple[str, list[Event]]] = []
    for event in events:
        if runs and runs[-1][0] == event.step:
            runs[-1][1].append(event)
        else:
            runs.append((event.step, [event]))
    return runs


def _transitions(request: RecordCostRequest, events: list[Event], history: list[dict] | None,
                 notes: list[str]) -> int:
    if request.transitions is not None:
        notes.append("State transitions as counted by the caller.")
        return request.transitions
    if history is not None:
        entered = sum(1 for event in history if event.get("type", "").endswith("StateEntered"))
        notes.append("States entered, from the execution history up to this step (the last few states after it "
                     "are not counted).")
        return entered
    notes.append("A lower bound: one transition per event (the execution history was not read); a job's real "
                 "count is about three times as many.")
    return len(events)


def _fargate_usage(facts: _JobFacts, config: CostConfig, history_steps: list[tuple[str, float]] | None,
                   notes: list[str]) -> list[FargateTasks]:
    groups: list[FargateTasks] = []
    for event in facts.events:
        task = event.detail.get("fargate_task")
        if isinstance(task, dict) and _is_number(task.get("seconds")):
            groups.append(FargateTasks(
                purpose=str(task.get("purpose") or event.step), task_seconds=[float(task["seconds"])],
                vcpu=float(task.get("vcpu") or 1), memory_gb=float(task.get("memory_gb") or 2),
                spot=bool(task.get("spot", False)), public_ipv4=bool(task.get("public_ipv4", True)), measured=True,
            ))
    if facts.duplicate_of or not facts.analysis_started:
        notes.append("No frame workers ran." if not facts.duplicate_of
                     else f"The results of job {facts.duplicate_of} were reused: no frame workers ran.")
        return groups
    if not facts.chunks:
        notes.append("The frame manifest's chunk count is unknown: the frame workers are not costed.")
        return groups
    array_size = max(2, facts.chunks)  # Batch arrays have at least two children; a spare one exits at once
    vcpu, memory_gb = config.frame_worker_vcpu, config.frame_worker_memory_mb / 1024
    aggregated = _first(facts.events, "frames.aggregated")
    reported = aggregated.detail.get("worker_seconds") if aggregated else None
    if isinstance(reported, list) and reported and all(_is_number(value) for value in reported):
        seconds = [float(value) for value in reported]
        notes.append(f"{len(seconds)} frame worker tasks, seconds as the workers reported them.")
        groups.append(FargateTasks(purpose="frame workers", task_seconds=seconds, vcpu=vcpu, memory_gb=memory_gb,
                                   measured=True))
        return groups
    frames = facts.frames or 0
    per_chunk = [frames // facts.chunks + (1 if index < frames % facts.chunks else 0) for index in range(facts.chunks)]
    seconds = [WORKER_START_S + count * WORKER_S_PER_FRAME for count in per_chunk]
    seconds += [WORKER_START_S] * (array_size - facts.chunks)
    wall = max((secs for state, secs in history_steps or [] if state == "AnalyzeFrames"), default=None)
    if wall is not None and wall > 0:
        seconds = [min(value, wall) for value in seconds]  # no child runs longer than the array job
    notes.append(f"Estimated: {array_size} tasks x ({WORKER_START_S:.0f} s start-up + {WORKER_S_PER_FRAME} s per "
                 f"frame), {frames} frames in {facts.chunks} chunk(s); the workers do not report their seconds.")
    groups.append(FargateTasks(purpose="frame workers", task_seconds=seconds, vcpu=vcpu, memory_gb=memory_gb))
    return groups


def _transcribe_usage(facts: _JobFacts, notes: list[str]) -> float:
    if facts.duplicate_of:
        notes.append(f"The results of job {facts.duplicate_of} were reused: nothing was transcribed.")
        return 0.0
    if not facts.has_audio_output:
        notes.append("The job has no audio: nothing was transcribed.")
        return 0.0
    if not facts.analysis_started:
        notes.append("The job ended before the transcription started.")
        return 0.0
    if not facts.duration_s:
        notes.append("The source duration is unknown: Transcribe minutes not computed.")
        return 0.0
    notes.append(f"The clean audio, {facts.duration_s:.1f} s (billed per second, 15 s minimum).")
    return facts.duration_s


def _sagemaker_usage(events: list[Event], config: CostConfig, now: datetime, notes: list[str]) -> SageMakerShare | None:
    warmed = next((event for event in reversed(events) if event.type == "inference.warmed"), None)
    if warmed is None:
        notes.append("The job did not hold the inference endpoint's warm floor.")
        return None
    released = next((event for event in events if event.type == "inference.released" and event.seq > warmed.seq),
                    None)
    end = released.at if released else now
    if released is None:
        notes.append("No inference.released event yet: the hold is counted up to now.")
    if not config.inference_instance_type:
        notes.append("INFERENCE_INSTANCE_TYPE is not set.")
    return SageMakerShare(
        instance_type=config.inference_instance_type,
        held_s=max(0.0, (end - warmed.at).total_seconds()),
        instances=int(warmed.detail.get("min_instances") or 1),
        jobs_sharing=max(1, int(warmed.detail.get("jobs_in_flight") or 1)),
        idle_instances=config.inference_idle_instances,
    )


def _model_calls(events: list[Event], notes: list[str]) -> list[ModelCall]:
    calls = []
    for event in events:
        if event.type != "model.called":
            continue
        detail = event.detail
        model_id = detail.get("model_id") or detail.get("model")
        if not model_id or not _is_number(detail.get("input_tokens")) or not _is_number(detail.get("output_tokens")):
            notes.append(f"model.called event {event.seq} has no model id or token counts: not costed.")
            continue
        calls.append(ModelCall(model_id=str(model_id), input_tokens=int(detail["input_tokens"]),
                               output_tokens=int(detail["output_tokens"]),
                               recorded_usd=float(detail["cost_usd"]) if _is_number(detail.get("cost_usd")) else None))
    if not calls:
        notes.append("No model calls.")
    return calls


def _request_estimates(facts: _JobFacts, events: list[Event], fargate: list[FargateTasks],
                       notes: dict[str, list[str]]) -> dict:
    """S3 requests and DynamoDB request units: estimates from what the job wrote and read."""
    frames = (facts.frames or 0) if facts.derivatives_recorded and not facts.duplicate_of else 0
    worker_tasks = sum(len(group.task_seconds) for group in fargate if group.purpose == "frame workers")
    chunks = (facts.chunks or 0) if worker_tasks else 0
    mediaconvert_puts = (frames + 1 + (1 if facts.has_audio_output else 0)) if frames else 0
    puts = mediaconvert_puts + chunks + sum(S3_PUTS_PER_EVENT.get(event.type, 0) for event in events)
    # Each worker reads the manifest and its frames (and the frame before its chunk); aggregate reads the chunks.
    gets = (frames + 2 * worker_tasks + chunks if worker_tasks else 0) \
        + sum(S3_GETS_PER_EVENT.get(event.type, 0) for event in events)
    notes["s3"].append("Estimated from the counts of frames, chunks and steps (multipart parts not counted).")
    updates = 1 + sum(JOB_RECORD_UPDATES_PER_EVENT.get(event.type, 0) for event in events)  # + this step's write
    leases = sum(1 for event in events if event.type in ("inference.warmed", "inference.released"))
    # Each event is one put (under 1 KB) after one consistent query for the last seq (1 RRU);
    # this step reads the whole log (4 KB per RRU, about 300 B per event).
    writes = len(events) + 1 + updates * JOB_RECORD_WRITE_UNITS + leases
    reads = len(events) + 1 + math.ceil(len(events) * 300 / 4096) + 2
    notes["dynamodb"].append("Estimated: one write and one read per event, the job record's updates, the "
                             "endpoint leases.")
    return {"s3_put_requests": puts, "s3_get_requests": gets, "dynamodb_write_units": writes,
            "dynamodb_read_units": reads}


def _first(events: list[Event], type_: str) -> Event | None:
    return next((event for event in events if event.type == type_), None)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _number(event: Event | None, key: str) -> float | None:
    value = event.detail.get(key) if event else None
    return float(value) if _is_number(value) else None


def _int(event: Event | None, key: str) -> int | None:
    value = _number(event, key)
    return int(value) if value is not None else None


def _size(text) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)x(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


# --- the step ---------------------------------------------------------------------------------------

HistoryReader = Callable[[str], list[dict]]


def execution_arn_of(request: RecordCostRequest, events: list[Event]) -> str | None:
    """The execution to read: from the request, else the one start_pipeline recorded in job.started."""
    if request.execution_arn:
        return request.execution_arn
    started = _first(events, "job.started")
    arn = started.detail.get("execution_arn") if started else None
    return arn if isinstance(arn, str) and arn else None


def record_cost(request: RecordCostRequest, events: EventLog, jobs: JobStore, config: CostConfig,
                read_history: HistoryReader | None = None, prices: Prices = PRICES,
                now: datetime | None = None) -> CostReport:
    """Compute the job's cost, store it on the job record and log `cost.recorded`."""
    log = events.read(request.job_id)
    history, history_problem = None, None
    arn = execution_arn_of(request, log)
    if read_history is not None and arn:
        try:
            history = read_history(arn)
        except Exception as error:  # noqa: BLE001 - the history only refines the figures; without it, events do
            history_problem = f"The execution history could not be read ({type(error).__name__}): from events only."
    usage = gather_usage(request, log, config, history=history, now=now)
    if history_problem:
        usage = usage.model_copy(update={"notes": {**usage.notes,
                                                   "step_functions": [history_problem,
                                                                      *usage.notes.get("step_functions", [])]}})
    report = compute_cost(usage, prices)
    jobs.upsert(request.job_id, cost=report.model_dump(mode="json"))
    events.append(request.job_id, EVENT_COST_RECORDED, STEP_NAME, total_usd=report.total_usd,
                  currency=report.currency, prices_version=report.prices_version)
    return report
