from lambdas.build_captions.logic import CaptionsRequest, build_captions
from lambdas.common.handler import step_handler

handler = step_handler(
    "build_captions", CaptionsRequest,
    lambda request, step: build_captions(request, step.settings.output_bucket, step.events),
)
