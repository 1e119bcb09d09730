from lambdas.common.handler import step_handler
from lambdas.common.judgment import JudgmentSettings
from lambdas.validate_plan.logic import ValidatePlanRequest, validate_plan_step

handler = step_handler(
    "validate_plan", ValidatePlanRequest,
    lambda request, step: validate_plan_step(request, step.settings.bounds, step.events),
    settings=(JudgmentSettings,),
)
