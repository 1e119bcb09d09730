"""The model gateway: every judgment call reserves budget, calls Converse, records usage, logs the call.

lambdas/common/model_gateway.py is driven here through its real callers (plan_clips,
summarize_video) with `RecordedBedrockFake` in place of bedrock-runtime: it checks each request
against botocore's model of Converse, counts the calls, and answers with recorded responses
(tests/events/bedrock_converse_*.json, whose shape is checked first). What is tested is the call
boundary: the budget holds before any call, usage and cost are recorded after it, a failed call
gives its tokens back, and without a model id nothing is called.
"""

import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.common.judgment import JudgmentSettings, ModelAnswerInvalid, model_cost_usd
from lambdas.common.settings import get_settings
from lambdas.plan_clips.bedrock import parse_plan
from lambdas.summarize_video.handler import handler as summarize_handler
from tests.bedrock import CONVERSE, MODEL_ID, recorded
from tests.judgment import budget_status, events, run_plan_clips, talk_state
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Too many requests, please wait."},
                        "ResponseMetadata": {"HTTPStatusCode": 429}}, "Converse")


# --- the recorded responses ------------------------------------------------------------------------


def _shape_errors(value, shape, path="response") -> list[str]:
    if getattr(shape, "is_document_type", False):
        return []
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path} is not an object"]
        errors = [f"{path}.{name} is required" for name in shape.required_members if name not in value]
        for name, item in value.items():
            if name == "ResponseMetadata" and path == "response":
                continue
            if name not in shape.members:
                errors.append(f"{path}.{name} is not in the Converse model")
            else:
                errors += _shape_errors(item, shape.members[name], f"{path}.{name}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path} is not a list"]
        return [error for i, item in enumerate(value) for error in _shape_errors(item, shape.member, f"{path}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path} is not a string"]
        return [f"{path} is not one of {shape.enum}"] if shape.enum and value not in shape.enum else []
    if kind in ("integer", "long"):
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path} is not an integer"]
    return []


@pytest.mark.parametrize("name", ["plan", "malformed", "summary"])
def test_each_recorded_response_has_the_shape_botocore_declares_for_converse(name):
    response = recorded(name)

    assert _shape_errors(response, CONVERSE.output_shape) == []
    assert set(response["usage"]) >= {"inputTokens", "outputTokens", "totalTokens"}


# --- one call ----------------------------------------------------------------------------------------


def test_the_model_call_is_recorded_in_the_budget_and_as_an_event(bedrock):
    fake = bedrock(recorded("plan"))

    run_plan_clips(talk_state())

    status = budget_status()
    assert (status.tokens, status.calls, status.input_tokens, status.output_tokens) == (2_255, 1, 1_843, 412)
    cost = model_cost_usd(MODEL_ID, 1_843, 412)
    assert cost == pytest.approx(1_843 * 0.80e-6 + 412 * 4.00e-6)
    assert status.cost_usd == pytest.approx(cost)
    (called,) = events("model.called")
    (request,) = fake.requests
    prompt = {key: request[key] for key in ("system", "messages", "toolConfig")}
    assert called.step == "PlanClips"
    assert called.detail == {
        "model_id": MODEL_ID, "purpose": "plan_clips", "input_tokens": 1_843, "output_tokens": 412,
        "cost_usd": pytest.approx(cost), "price": "anthropic.claude-3-5-haiku",
        "prompt_sha256": hashlib.sha256(json.dumps(prompt, sort_keys=True, separators=(",", ":")).encode()).hexdigest(),
        "stop_reason": "tool_use", "latency_ms": 4_210,
    }


def test_a_failed_call_falls_back_gives_back_its_tokens_and_is_logged(bedrock):
    bedrock(throttled())

    draft = run_plan_clips(talk_state())

    assert draft["planner"] == "local" and "MODEL_CALL_FAILED" in draft["fallback_reason"]
    status = budget_status()
    assert (status.tokens, status.calls) == (0, 1)
    (failed,) = events("model.failed")
    assert failed.detail["error"] == "ThrottlingException"


def test_tool_arguments_sent_as_json_text_are_read_and_a_missing_tool_use_is_invalid():
    response = recorded("plan")
    use = response["output"]["message"]["content"][0]["toolUse"]
    use["input"] = json.dumps(use["input"])

    assert len(parse_plan(response).clips) == 3
    use["name"] = "something_else"
    with pytest.raises(ModelAnswerInvalid, match="no submit_clip_plan tool use"):
        parse_plan(response)


# --- the budget at the call boundary -------------------------------------------------------------------


def test_an_over_budget_job_stops_calling_the_model_and_emits_budget_exceeded(bedrock, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_MODEL_CALLS", "1")
    fake = bedrock(recorded("plan"))
    state = talk_state()

    first = run_plan_clips(state)
    second = run_plan_clips(state)  # the step run again (a retry): the job has no call left

    assert fake.calls == 1
    assert first["planner"] == "bedrock"
    assert second["planner"] == "local" and second["model_calls"] == 0
    assert second["fallback_reason"].startswith("Over the job's model budget, so no model call was made")
    (exceeded,) = events("judgment.budget_exceeded")
    assert exceeded.step == "PlanClips"
    assert (exceeded.detail["bound"], exceeded.detail["used"], exceeded.detail["limit"]) == ("calls", 1, 1)
    assert len(events("model.called")) == 1


def test_a_token_budget_too_small_for_one_call_means_no_call_at_all(bedrock, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_TOKENS_PER_JOB", "2500")
    fake = bedrock(recorded("plan"))

    draft = run_plan_clips(talk_state())

    assert fake.calls == 0
    assert draft["planner"] == "local" and draft["clip_count"] >= 1
    (exceeded,) = events("judgment.budget_exceeded")
    assert exceeded.detail["bound"] == "tokens"


def test_summary_and_plan_share_one_budget(bedrock, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_MODEL_CALLS", "1")
    fake = bedrock(recorded("summary_chapters"), recorded("plan"))
    state = talk_state()

    summary = summarize_handler(state, LocalLambdaContext("summarize_video"))
    draft = run_plan_clips({**state, "summary": summary})

    assert fake.calls == 1
    assert summary["summarizer"] == "bedrock" and draft["planner"] == "local"
    assert [e.type for e in events()] == ["model.called", "summary.written", "judgment.budget_exceeded",
                                          "plan.drafted"]


def test_without_a_model_id_the_model_is_never_called(bedrock, monkeypatch):
    monkeypatch.delenv("BEDROCK_MODEL_ID")
    fake = bedrock(recorded("plan"))

    assert run_plan_clips(talk_state())["planner"] == "local"
    assert fake.calls == 0


def test_a_model_id_without_a_budget_table_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)
    monkeypatch.delenv("BUDGET_TABLE", raising=False)

    with pytest.raises(ValidationError, match="model calls need a budget"):
        get_settings(JudgmentSettings)
