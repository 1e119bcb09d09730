"""release_inference: the job no longer needs the endpoint; the last one out lowers the floor."""

from lambdas.common.handler import step_handler
from lambdas.common.inference_floor import release
from lambdas.common.models import JobRequest
from lambdas.common.settings import InferenceSettings


def _run(request: JobRequest, step):
    floor = release(request.job_id, step.settings)
    step.events.append(request.job_id, "inference.released", "ReleaseInference", **floor.model_dump())
    return floor


handler = step_handler("release_inference", JobRequest, _run, settings=(InferenceSettings,))
