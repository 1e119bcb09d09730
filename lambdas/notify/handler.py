
from lambdas.common.handler import step_handler
from lambdas.common.settings import function_environment
from lambdas.notify.logic import NotifyRequest, NotifySettings, notify

handler = step_handler(
    "notify", NotifyRequest,
    lambda request, step: notify(request, NotifySettings.model_validate(dict(function_environment())), step.events),
)
