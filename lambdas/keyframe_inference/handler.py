from lambdas.common.handler import step_handler
from lambdas.common.settings import EndpointSettings
from lambdas.keyframe_inference.logic import KeyframeInferenceRequest, keyframe_inference

handler = step_handler(
    "keyframe_inference", KeyframeInferenceRequest,
    lambda request, step: keyframe_inference(request, step.settings.output_bucket, step.events,
                                             warm_wait_s=step.settings.inference_warm_wait_s),
    settings=(EndpointSettings,),
)
