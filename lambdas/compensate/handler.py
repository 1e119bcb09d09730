from lambdas.common.handler import step_handler
from lambdas.compensate.logic import CompensateRequest, compensate

handler = step_handler(
    "compensate", CompensateRequest,
    lambda request, step: compensate(request, step.settings.output_bucket, step.events),
)
