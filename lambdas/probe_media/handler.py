from lambdas.common import media_probe
from lambdas.common.handler import step_handler
from lambdas.common.models import JobRequest
from lambdas.probe_media.logic import probe_media

handler = step_handler(
    "probe_media", JobRequest, lambda request, step: probe_media(request, media_probe.get_prober(), step.events)
)
