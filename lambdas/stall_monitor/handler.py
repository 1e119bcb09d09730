"""Invoked by an EventBridge Scheduler schedule every 5 minutes (one at a time: reserved concurrency 1)."""

from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.events import EventLog
from lambdas.common.inference_floor import current_holders, release, settle
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.settings import InferenceSettings, Settings, get_settings
from lambdas.stall_monitor.logic import StallSettings, check_stalls, release_stuck_holds

logger, tracer, metrics = instruments("stall_monitor")
SETTINGS = (Settings, StallSettings, InferenceSettings)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    settings = stall = get_settings(*SETTINGS)
    jobs, events = JobStore(settings.jobs_table), EventLog(settings.events_table)
    report = check_stalls(jobs=jobs, events=events, now=datetime.now(UTC),
                          threshold=timedelta(minutes=stall.threshold_min), lookback=timedelta(hours=stall.lookback_h))
    report = release_stuck_holds(report, current_holders(settings), jobs, events,
                                 lambda job_id: release(job_id, settings))
    settled = settle(settings)  # after the releases: copies nobody holds (a fresh deploy starts with one) go
    if settled is not None:
        logger.warning("set the embedding model's copies to match its holders", extra=settled.model_dump())
    # Published every run, zero included, so the alarm always has data to judge.
    metrics.add_metric(name="StalledJobs", unit=MetricUnit.Count, value=len(report.stalled))
    metrics.add_metric(name="RunningJobs", unit=MetricUnit.Count, value=report.running)
    for job in report.stalled:
        logger.warning("job stalled", extra=job.model_dump())
    for job_id in report.released_holds:
        logger.warning("released the embedding model for a job that could not", extra={"job_id": job_id})
    return report.model_dump()
