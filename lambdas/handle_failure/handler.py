"""handle_failure: record why the job was rejected or failed, and let go of the inference endpoint.

A job rejected after WarmInference (at RecordDerivatives, or by MediaConvert) would otherwise keep
the endpoint's floor raised: compensate releases only for executions that fail, and a rejection
ends the execution as SUCCEEDED.
"""

from lambdas.common.failures import FailureRequest, handle_failure
from lambdas.common.handler import step_handler
from lambdas.common.inference_floor import release
from lambdas.common.settings import InferenceSettings


def _run(request: FailureRequest, step):
    failure = handle_failure(request, step.settings.output_bucket, step.jobs, step.events)
    if (request.model_extra or {}).get("inference") is not None:  # WarmInference ran: the job holds the floor
        floor = release(request.job_id, step.settings)
        step.events.append(request.job_id, "inference.released", "HandleFailure", **floor.model_dump())
    step.metrics.add_metric(name=f"Jobs{failure.status.title()}", unit="Count", value=1)
    return failure


handler = step_handler("handle_failure", FailureRequest, _run, settings=(InferenceSettings,))
