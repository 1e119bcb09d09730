from lambdas.common.handler import step_handler
from lambdas.record_render.logic import RecordRenderRequest, record_render, settings_from_env

handler = step_handler(
    "record_render", RecordRenderRequest,
    lambda request, step: record_render(request, *settings_from_env(), step.events),
)
