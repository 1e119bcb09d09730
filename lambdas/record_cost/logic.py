"""record_cost: what one job cost, by service, from what the job used.

Two halves, both pure:

* `gather_usage` (usage.py)(request, events, config, history=None, now=...) -> Usage` turns the workflow
  state, the job's event log and, when it could be read, the execution history into
  quantities: output minutes, GB-seconds, transitions, task-seconds, audio seconds,
  instance-seconds, tokens, requests. Each quantity says how it was measured; what could
  not be measured is estimated (and the note says so) or left at zero (and the note says why).
* `compute_cost(usage, prices) -> CostReport` (pricing.py) multiplies by the one price table
  (lambdas/common/prices.py) and applies each service's billing rules (minimums, rounding).

`record_cost(...)` does both, stores the report on the job record (`cost`) and appends a
`cost.recorded` event. Missing data never fails the step: that service costs zero, with a note.

What each service's quantity comes from:

| service | quantity | from |
|---|---|---|
| mediaconvert | output minutes per output (proxy, audio, frames) | source duration x outputs present; 10 s minimum each |
| lambda | GB-seconds and requests | each invocation's duration (execution history, or `duration_ms`, or event gaps) x FUNCTION_MEMORY_MB |
| step_functions | state transitions | `transitions` in the request, else the history's entered states, else one per event (a lower bound) |
| batch_fargate | vCPU-, GB-seconds, public IPv4 hours | frame chunks x measured worker seconds (`worker_seconds` on frames.aggregated) or an estimate; with TRANSCRIBER=whisper the whisper job's seconds (its task in the execution history, or an estimate from the audio's length: transcription.py); any `fargate_task` in an event |
| transcribe | audio minutes | source duration when the job had audio and reached the analysis; 15 s minimum; none with TRANSCRIBER=whisper |
| sagemaker | instance-hours | this job's share of the warm floor from inference.warmed to inference.released |
| bedrock | input and output tokens | `model.called` events |
| s3, dynamodb | requests, request units | estimated from the counts of frames, chunks and events |
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lambdas.common.events import EventLog
from lambdas.common.jobs import JobStore
from lambdas.common.models import Event
from lambdas.common.prices import PRICES, Prices
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.pricing import CostReport, compute_cost
from lambdas.record_cost.usage import EVENT_COST_RECORDED, RecordCostRequest, first_event, gather_usage

STEP_NAME = "RecordCost"

HistoryReader = Callable[[str], list[dict]]


def execution_arn_of(request: RecordCostRequest, events: list[Event]) -> str | None:
    """The execution to read: from the request, else the one start_pipeline recorded in job.started."""
    if request.execution_arn:
        return request.execution_arn
    started = first_event(events, "job.started")
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
