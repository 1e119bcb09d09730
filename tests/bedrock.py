"""A bedrock-runtime client for tests: recorded Converse answers, requests checked against botocore's model.

The recorded responses are tests/events/bedrock_converse_*.json, in the response shape botocore
declares for Converse. No test calls the network.
"""

import copy
import json
from pathlib import Path

import botocore.session
from botocore.validate import validate_parameters

EVENTS = Path(__file__).parent / "events"
MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
CONVERSE = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")


def recorded(name: str) -> dict:
    return json.loads((EVENTS / f"bedrock_converse_{name}.json").read_text())


class RecordedBedrockFake:
    """A bedrock-runtime client that answers Converse with recorded responses, in turn (the last repeats).

    An answer that is an exception is raised instead. Every request is validated against
    botocore's Converse input shape, as the real client does before sending anything.
    """

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[dict] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def converse(self, **request):
        validate_parameters(request, CONVERSE.input_shape)
        self.requests.append(copy.deepcopy(request))
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)


