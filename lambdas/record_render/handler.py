from lambdas.common.handler import step_handler
from lambdas.common.render_list import RenderSettings
from lambdas.record_render.logic import FargateShape, RecordRenderRequest, record_render

# The step's settings model is made of both (get_settings), so it is each of them.
handler = step_handler(
    "record_render", RecordRenderRequest,
    lambda request, step: record_render(request, step.settings, step.settings, step.events),
    settings=(RenderSettings, FargateShape),
)
