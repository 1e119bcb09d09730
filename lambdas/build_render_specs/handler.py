
from lambdas.build_render_specs.logic import BuildRenderSpecsRequest, build_render_specs
from lambdas.common.handler import step_handler
from lambdas.common.render_list import RenderSettings

handler = step_handler(
    "build_render_specs", BuildRenderSpecsRequest,
    lambda request, step: build_render_specs(request, step.settings, step.settings.output_bucket, step.events),
    settings=(RenderSettings,),
)
