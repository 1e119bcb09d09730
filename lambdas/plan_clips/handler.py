from lambdas.common.handler import step_handler
from lambdas.common.judgment import JudgmentSettings
from lambdas.common.model_gateway import model_gateway
from lambdas.plan_clips.logic import PlanClipsRequest, plan_clips


def _run(request: PlanClipsRequest, step):
    settings = step.settings  # Settings and JudgmentSettings in one model (get_settings)
    return plan_clips(request, settings.bounds, settings.output_bucket, step.events,
                      model_gateway(settings, step.events, "PlanClips"))


handler = step_handler("plan_clips", PlanClipsRequest, _run, settings=(JudgmentSettings,))
