from lambdas.build_render_specs.logic import RenderSettings
from lambdas.common.handler import step_handler
from lambdas.record_render.logic import FargateShape, RecordRenderRequest, record_render, settings_from_env

handler = step_handler(
    "record_render", RecordRenderRequest,
    lambda request, step: record_render(request, *settings_from_env(), step.events),
    settings=(RenderSettings, FargateShape),
)
