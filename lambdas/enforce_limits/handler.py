from lambdas.common.handler import step_handler
from lambdas.common.settings import LimitSettings
from lambdas.enforce_limits.logic import LimitsRequest, enforce_limits

handler = step_handler(
    "enforce_limits", LimitsRequest, lambda request, step: enforce_limits(request, step.settings, step.events),
    settings=(LimitSettings,),
)
