from lambdas.check_duplicate.logic import DuplicateRequest, check_duplicate
from lambdas.common.handler import step_handler

handler = step_handler(
    "check_duplicate", DuplicateRequest, lambda request, step: check_duplicate(request, step.jobs, step.events)
)
