from lambdas.common import aws, media_probe
from lambdas.common.handler import step_handler
from lambdas.probe_media.logic import ProbeRequest, probe_media

handler = step_handler(
    "probe_media", ProbeRequest,
    lambda request, step: probe_media(request, media_probe.get_prober(), aws.client("s3"), step.events),
)
