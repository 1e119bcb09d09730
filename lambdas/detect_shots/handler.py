from lambdas.common.handler import step_handler
from lambdas.detect_shots.logic import ShotsRequest, detect_shots

handler = step_handler("detect_shots", ShotsRequest, lambda request, step: detect_shots(request, step.events))
