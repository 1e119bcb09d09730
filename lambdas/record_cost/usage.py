"""What one job used, service by service, from the workflow state, its event log and its execution history.

Each quantity says how it was measured; what could not be measured is estimated (the note
says so) or left at zero (the note says why). The table in logic.py says where each comes from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import Field

from lambdas.common.models import (
    Derivatives,
    DuplicateCheck,
    Event,
    FrameManifestRef,
    JobRequest,
    MediaInfo,
)
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.pricing import (
    SERVICES,
    WORKER_S_PER_FRAME,
    WORKER_START_S,
    FargateTasks,
    LambdaInvocation,
    MediaConvertOutput,
    ModelCall,
    SageMakerShare,
    Usage,
)
from lambdas.record_cost.transcription import transcription_usage

EVENT_COST_RECORDED = "cost.recorded"
# Lambda duration when nothing measured it (a step's event is the log's first, or follows a
# service wait): a deliberately round guess, marked "assumed" in the ledger.
ASSUMED_LAMBDA_MS = 1_000
LAMBDA_MAX_MS = 900_000  # Lambda's own limit: no gap between two events is billed beyond it
# Steps whose event follows a wait on another service (MediaConvert, Batch, Transcribe): the gap
# to the previous event measures that service, not the function, so it is not used.
AFTER_SERVICE_WAIT = {"RecordDerivatives", "AggregateFrames", "NormalizeTranscript"}
# State names that run a function under another name.
STATE_FUNCTIONS = {"ReleaseAfterFailure": "release_inference", "RenderInLambda": "render_short_clip"}

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
    transcribe_audio_s, whisper = transcription_usage(facts, config, history_steps, notes["transcribe"],
                                                      notes["batch_fargate"])
    fargate += [whisper] if whisper else []
    return Usage(
        job_id=request.job_id,
        mediaconvert=mediaconvert,
        lambdas=_lambda_usage(events, config, history_steps, notes["lambda"]),
        state_transitions=_transitions(request, events, history, notes["step_functions"]),
        fargate=fargate,
        transcribe_audio_s=transcribe_audio_s,
        sagemaker=_sagemaker_usage(events, config, now, notes["sagemaker"]),
        model_calls=_model_calls(events, notes["bedrock"]),
        **_request_estimates(facts, events, fargate, notes),
        notes={service: lines for service, lines in notes.items() if lines},
    )


class _JobFacts:
    """The few facts about the job that several services need, from the state or else the events."""

    def __init__(self, request: RecordCostRequest, events: list[Event]):
        self.events = events
        probed = first_event(events, "media.probed")
        media = request.media
        self.duration_s: float | None = media.duration_s if media else _number(probed, "duration_s")
        self.frame_rate: float | None = media.frame_rate if media else _number(probed, "frame_rate")
        duplicate = first_event(events, "content.duplicate")
        self.duplicate_of: str | None = request.duplicate.duplicate_of or (
            duplicate.detail.get("duplicate_of") if duplicate else None)
        recorded = first_event(events, "derivatives.recorded")
        self.derivatives_recorded = request.derivatives is not None or recorded is not None
        self.derivatives_planned = first_event(events, "derivatives.planned") is not None
        if request.derivatives is not None:
            self.proxy_size = (request.derivatives.proxy.width, request.derivatives.proxy.height)
            self.has_audio_output = request.derivatives.audio is not None
            self.frames: int | None = request.derivatives.frames.count
        else:
            self.proxy_size = _size(recorded.detail.get("proxy")) if recorded else None
            self.has_audio_output = bool(recorded and recorded.detail.get("audio"))
            self.frames = _int(recorded, "frames")
        built = first_event(events, "frames.manifest_built")
        if request.frame_manifest is not None:
            self.chunks: int | None = request.frame_manifest.chunk_count
            self.frames = request.frame_manifest.frame_count if self.frames is None else self.frames
        else:
            self.chunks = _int(built, "chunks")
            self.frames = _int(built, "frames") if self.frames is None else self.frames
        # The Parallel analysis started once the frame manifest was built.
        self.analysis_started = request.frame_manifest is not None or built is not None \
            or first_event(events, "transcript.normalized") is not None


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
    aggregated = first_event(facts.events, "frames.aggregated")
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
    # A long job asks for its copy later, through a scheduled action: the instance runs for it from then.
    start = warmed.at
    if warmed.detail.get("asked_at"):
        start = max(start, datetime.fromisoformat(str(warmed.detail["asked_at"])))
        if start > warmed.at:
            notes.append(f"The copy was asked for at {start.isoformat()}, {(start - warmed.at).total_seconds():.0f} s "
                         "after the job took its lease.")
    if not config.inference_instance_type:
        notes.append("INFERENCE_INSTANCE_TYPE is not set.")
    return SageMakerShare(
        instance_type=config.inference_instance_type,
        held_s=max(0.0, (end - start).total_seconds()),
        # One copy of the model fills one instance (stacks/inference.py); older events named the floor.
        instances=int(warmed.detail.get("copies") or warmed.detail.get("min_instances") or 1),
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


def first_event(events: list[Event], type_: str) -> Event | None:
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

