from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common.handler import step_handler
from lambdas.common.settings import FrameSettings

handler = step_handler(
    "build_frame_manifest", FrameManifestRequest,
    lambda request, step: build_frame_manifest(request, step.settings.frames_per_chunk, step.events),
    settings=(FrameSettings,),
)
