from lambdas.common.handler import step_handler
from lambdas.normalize_transcript.logic import NormalizeTranscriptRequest, normalize_transcript

handler = step_handler(
    "normalize_transcript", NormalizeTranscriptRequest,
    lambda request, step: normalize_transcript(request, step.settings.output_bucket, step.events),
)
