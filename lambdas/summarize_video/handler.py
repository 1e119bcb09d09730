from lambdas.common.handler import step_handler
from lambdas.common.judgment import JudgmentSettings
from lambdas.common.model_gateway import model_gateway
from lambdas.summarize_video.logic import SummarizeRequest, summarize_video


def _run(request: SummarizeRequest, step):
    settings = step.settings  # Settings and JudgmentSettings in one model (get_settings)
    return summarize_video(request, settings.bounds, settings.output_bucket, step.events,
                           model_gateway(settings, step.events, "SummarizeVideo"))


handler = step_handler("summarize_video", SummarizeRequest, _run, settings=(JudgmentSettings,))
