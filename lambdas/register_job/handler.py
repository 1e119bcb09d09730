from lambdas.common.handler import step_handler
from lambdas.register_job.logic import RegisterRequest, register_job

handler = step_handler(
    "register_job", RegisterRequest, lambda request, step: register_job(request, step.jobs, step.events)
)
