from lambdas.common import aws
from lambdas.common.handler import step_handler
from lambdas.common.settings import LimitSettings
from lambdas.record_derivatives.logic import RecordRequest, record_derivatives


def _run(request: RecordRequest, step):
    derivatives = record_derivatives(request, aws.client("s3"), step.settings, step.jobs, step.events)
    step.metrics.add_metric(name="VideoSecondsProcessed", unit="Seconds", value=derivatives.proxy.duration_s)
    return derivatives


handler = step_handler("record_derivatives", RecordRequest, _run, settings=(LimitSettings,))
