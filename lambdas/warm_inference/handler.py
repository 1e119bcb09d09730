"""warm_inference: at ingest the job takes its lease on the embedding model and asks for its copies.

Now for a short job; for a long one, through a scheduled action timed so the copy has started
from zero when the job reaches KeyframeInference (lambdas/common/job_timing.py): the GPU does
not bill through MediaConvert and the transcription.
"""

from lambdas.common.handler import step_handler
from lambdas.common.inference_floor import hold
from lambdas.common.job_timing import ask_for_copy_in_s
from lambdas.common.models import JobRequest, MediaInfo
from lambdas.common.settings import InferenceSettings


class WarmRequest(JobRequest):
    media: MediaInfo | None = None  # ProbeMedia's facts; without them the copies are asked for at once


def _run(request: WarmRequest, step):
    settings = step.settings
    duration_s = request.media.duration_s if request.media else 0.0
    ask_in_s = ask_for_copy_in_s(duration_s or 0.0, settings.transcriber, settings.inference_scale_up_s)
    floor = hold(request.job_id, settings, ask_in_s)
    step.events.append(request.job_id, "inference.warmed", "WarmInference", **floor.model_dump(),
                       ask_in_s=round(ask_in_s))
    return floor


handler = step_handler("warm_inference", WarmRequest, _run, settings=(InferenceSettings,))
