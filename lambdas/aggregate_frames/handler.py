from lambdas.aggregate_frames.logic import AggregateRequest, aggregate_frames
from lambdas.common.handler import step_handler

handler = step_handler(
    "aggregate_frames", AggregateRequest, lambda request, step: aggregate_frames(request, step.events)
)
