"""warm_inference: at ingest, raise the endpoint's floor so it has capacity when the analysis needs it."""

from lambdas.common.handler import step_handler
from lambdas.common.inference_floor import hold
from lambdas.common.models import JobRequest
from lambdas.common.settings import InferenceSettings


def _run(request: JobRequest, step):
    floor = hold(request.job_id, step.settings)
    step.events.append(request.job_id, "inference.warmed", "WarmInference", **floor.model_dump())
    return floor


handler = step_handler("warm_inference", JobRequest, _run, settings=(InferenceSettings,))
