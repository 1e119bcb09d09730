"""compensate handler: EventBridge "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED;
RUNNING again after a redrive)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.events import EventLog
from lambdas.common.inference_floor import release
from lambdas.common.jobs import JobStore
from lambdas.common.observability import instruments
from lambdas.common.settings import InferenceSettings, Settings, get_settings
from lambdas.compensate.logic import StatusChangeEvent, compensate, execution_history, record_retry

logger, tracer, metrics = instruments("compensate")
SETTINGS = (Settings, InferenceSettings)


@logger.inject_lambda_context(correlation_id_path="detail.name")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings(*SETTINGS)
    change = StatusChangeEvent.model_validate(event)
    if change.detail.status == "RUNNING":
        return record_retry(change, JobStore(settings.jobs_table), EventLog(settings.events_table)).model_dump()
    result = compensate(change, execution_history(change.detail.execution_arn), settings.output_bucket,
                        JobStore(settings.jobs_table), EventLog(settings.events_table),
                        release_floor=lambda job_id: release(job_id, settings))
    if result.ignored:
        logger.warning("status change ignored", extra={"job_id": result.job_id, "reason": result.ignored,
                                                        "execution_status": change.detail.status})
        metrics.add_metric(name="StatusChangesIgnored", unit="Count", value=1)
    else:
        metrics.add_metric(name=f"Jobs{result.status.title()}", unit="Count", value=1)
    return result.model_dump(mode="json")
