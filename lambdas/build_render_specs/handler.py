
from lambdas.build_render_specs.logic import BuildRenderSpecsRequest, RenderSettings, build_render_specs
from lambdas.common.handler import step_handler
from lambdas.common.settings import function_environment

handler = step_handler(
    "build_render_specs", BuildRenderSpecsRequest,
    lambda request, step: build_render_specs(request, RenderSettings.model_validate(dict(function_environment())),
                                             step.settings.output_bucket, step.events),
)
