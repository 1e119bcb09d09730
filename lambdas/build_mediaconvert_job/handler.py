from lambdas.build_mediaconvert_job.logic import MediaConvertJobRequest, build_mediaconvert_job
from lambdas.common.handler import step_handler
from lambdas.common.settings import LimitSettings

handler = step_handler(
    "build_mediaconvert_job",
    MediaConvertJobRequest,
    lambda request, step: build_mediaconvert_job(request, step.settings, step.events),
    settings=(LimitSettings,),
)
