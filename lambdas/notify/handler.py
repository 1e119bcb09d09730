
from lambdas.common.handler import step_handler
from lambdas.notify.logic import NotifyRequest, NotifySettings, notify

handler = step_handler(
    "notify", NotifyRequest,
    lambda request, step: notify(request, step.settings, step.events),
    settings=(NotifySettings,),
)
