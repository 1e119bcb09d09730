from lambdas.common.handler import step_handler
from lambdas.record_derivatives.logic import RecordRequest, record_derivatives


def _run(request: RecordRequest, step):
    derivatives = record_derivatives(request, step.jobs, step.events)
    step.metrics.add_metric(name="VideoSecondsProcessed", unit="Seconds", value=request.media.duration_s)
    return derivatives


handler = step_handler("record_derivatives", RecordRequest, _run)
