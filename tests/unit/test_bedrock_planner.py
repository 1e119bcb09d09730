"""The Bedrock planner and summarizer, against recorded Converse responses: no test calls the network.

`RecordedBedrockFake` stands in for the bedrock-runtime client. It checks each request
against botocore's own model of the Converse API (what the real client would send), counts
the calls, and answers with recorded responses (tests/events/bedrock_converse_*.json, in the
response shape botocore declares for Converse, checked below).
"""

import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from lambdas.common import model_gateway as gateway, storage
from lambdas.common.budget import BudgetStore
from lambdas.common.events import EventLog
from lambdas.common.judgment import (
    JudgmentSettings,
    ModelAnswerInvalid,
    PlanBounds,
    estimate_input_tokens,
    model_cost_usd,
)
from lambdas.common.models import Word
from lambdas.common.sentences import sentences_from_words
from lambdas.common.settings import get_settings
from lambdas.common.signals import Signals
from lambdas.plan_clips.bedrock import PLAN_TOOL, parse_plan, plan_request
from lambdas.plan_clips.handler import handler as plan_handler
from lambdas.summarize_video.handler import handler as summarize_handler
from lambdas.validate_plan.handler import handler as validate_handler
from tests.bedrock import CONVERSE, MODEL_ID, RecordedBedrockFake, recorded
from tests.conftest import BUDGET_TABLE
from tests.unit.test_planner import JOB_ID, OUTPUT_BUCKET, workflow_state
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Too many requests, please wait."},
                        "ResponseMetadata": {"HTTPStatusCode": 429}}, "Converse")


@pytest.fixture
def bedrock(budget_table, monkeypatch):
    """Bedrock configured (model id, budget table), and a way to put a fake client in its place."""
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)

    def install(*answers) -> RecordedBedrockFake:
        fake = RecordedBedrockFake(*answers)
        gateway.register_client(fake)
        return fake

    yield install
    gateway.register_client(None)


def talk_state() -> dict:
    return workflow_state(duration_s=120.0, cuts=(30.3, 62.0, 95.0))


def budget_status():
    return BudgetStore(BUDGET_TABLE, get_settings(JudgmentSettings).bounds).status(JOB_ID)


def events(type_: str | None = None) -> list:
    found = EventLog("videoflow-events").read(JOB_ID)
    return [event for event in found if type_ is None or event.type == type_]


def plan(state: dict) -> dict:
    return plan_handler(state, LocalLambdaContext("plan_clips"))


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


def test_the_recorded_plan_is_a_tool_use_answer_with_its_usage():
    response = recorded("plan")

    assert response["stopReason"] == "tool_use"
    assert response["usage"]["inputTokens"] + response["usage"]["outputTokens"] == response["usage"]["totalTokens"]
    assert [len(parse_plan(response).clips)] == [3]


# --- the request -------------------------------------------------------------------------------------


def test_the_planner_sends_a_valid_converse_request_that_forces_the_plan_tool(bedrock):
    fake = bedrock(recorded("plan"))

    plan(talk_state())

    (request,) = fake.requests
    assert request["modelId"] == MODEL_ID
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": PLAN_TOOL}}
    schema = request["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema["properties"]["clips"]["maxItems"] == 5
    assert set(schema["properties"]["clips"]["items"]["required"]) == {"start_s", "end_s", "title", "score",
                                                                      "rationale"}
    assert "between 15 and 60 seconds" in request["system"][0]["text"]
    facts = request["messages"][0]["content"][0]["text"]
    assert "Video length: 120.0 s." in facts
    assert "[0.5-5.3] Welcome to the kitchen, today we bake a sourdough loaf from scratch." in facts
    assert "[30.3-62.0] shot 2: faces in 100 % of frames, sharpness 0.70" in facts
    assert request["inferenceConfig"]["maxTokens"] == 2_000


def test_a_four_hour_transcript_is_cut_down_to_fit_the_jobs_token_budget():
    words = [Word(text=f"word{i % 12}" + ("." if i % 12 == 11 else ""), start_s=i * 0.4, end_s=i * 0.4 + 0.3,
                  confidence=0.9) for i in range(36_000)]
    signals = Signals(duration_s=14_400.0, words=words, sentences=sentences_from_words(words),
                      shots=[(float(t), float(t + 20)) for t in range(0, 14_400, 20)])
    bounds = PlanBounds(max_tokens_per_job=40_000)

    request = plan_request(signals, bounds)

    assert estimate_input_tokens(request) + 2_000 <= bounds.max_tokens_per_job // 2
    assert "evenly spread" in request["messages"][0]["content"][0]["text"]


# --- the answer --------------------------------------------------------------------------------------


def test_the_recorded_answer_becomes_the_draft_and_validate_plan_clamps_its_overreach(bedrock):
    bedrock(recorded("plan"))
    state = talk_state()

    draft = plan(state)
    validated = validate_handler({**state, "plan_draft": draft}, LocalLambdaContext("validate_plan"))

    assert (draft["planner"], draft["clip_count"], draft["fallback_reason"], draft["model_calls"]) == (
        "bedrock", 3, None, 1)
    clips = validated["plan"]["clips"]
    assert [(c["title"], c["start_s"], c["end_s"]) for c in clips] == [
        ("Sourdough from scratch", 0.5, 29.8), ("Stretch and fold, step by step", 62.0, 93.6),
        ("Baking at full heat", 95.2, 120.0)]
    assert validated["corrections_by_code"] == {"OUT_OF_BOUNDS": 1}


def test_the_model_call_is_recorded_in_the_budget_and_as_an_event(bedrock):
    fake = bedrock(recorded("plan"))

    plan(talk_state())

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


def test_a_malformed_answer_falls_back_to_the_local_planner_with_the_reason(bedrock):
    fake = bedrock(recorded("malformed"))

    draft = plan(talk_state())

    assert fake.calls == 1
    assert draft["planner"] == "local" and draft["clip_count"] >= 1
    assert draft["fallback_reason"] == ("The model's answer could not be used (MODEL_ANSWER_INVALID): The model "
                                        "stopped with 'end_turn', not 'tool_use': no structured answer.")
    assert [e.type for e in events()] == ["model.called", "judgment.fallback", "plan.drafted"]
    assert budget_status().tokens == 1_940  # the call was made and paid for


def test_an_answer_whose_clips_are_all_garbage_falls_back_to_the_local_planner(bedrock):
    response = recorded("plan")
    response["output"]["message"]["content"][0]["toolUse"]["input"] = {"clips": [
        {"start_s": "NaN", "end_s": 30, "title": "x", "score": 0.5, "rationale": "Because."},
        {"start_s": 50, "end_s": 40, "title": "Backwards", "score": 0.9, "rationale": "Because."}]}
    bedrock(response)

    draft = plan(talk_state())

    assert draft["planner"] == "local"
    assert "None of the model's 2 clips is usable" in draft["fallback_reason"]


def test_tool_arguments_sent_as_json_text_are_read_and_a_missing_tool_use_is_invalid():
    response = recorded("plan")
    use = response["output"]["message"]["content"][0]["toolUse"]
    use["input"] = json.dumps(use["input"])

    assert len(parse_plan(response).clips) == 3
    use["name"] = "something_else"
    with pytest.raises(ModelAnswerInvalid, match="no submit_clip_plan tool use"):
        parse_plan(response)


def test_a_failed_call_falls_back_gives_back_its_tokens_and_is_logged(bedrock):
    bedrock(throttled())

    draft = plan(talk_state())

    assert draft["planner"] == "local" and "MODEL_CALL_FAILED" in draft["fallback_reason"]
    status = budget_status()
    assert (status.tokens, status.calls) == (0, 1)
    (failed,) = events("model.failed")
    assert failed.detail["error"] == "ThrottlingException"


# --- the budget at the call boundary -------------------------------------------------------------------


def test_an_over_budget_job_stops_calling_the_model_and_emits_budget_exceeded(bedrock, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_MODEL_CALLS", "1")
    fake = bedrock(recorded("plan"))
    state = talk_state()

    first = plan(state)
    second = plan(state)  # the step run again (a retry): the job has no call left

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

    draft = plan(talk_state())

    assert fake.calls == 0
    assert draft["planner"] == "local" and draft["clip_count"] >= 1
    (exceeded,) = events("judgment.budget_exceeded")
    assert exceeded.detail["bound"] == "tokens"


def test_summary_and_plan_share_one_budget(bedrock, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_MODEL_CALLS", "1")
    fake = bedrock(recorded("summary"), recorded("plan"))
    state = talk_state()

    summary = summarize_handler(state, LocalLambdaContext("summarize_video"))
    draft = plan({**state, "summary": summary})

    assert fake.calls == 1
    assert summary["summarizer"] == "bedrock" and draft["planner"] == "local"
    assert [e.type for e in events()] == ["model.called", "summary.written", "judgment.budget_exceeded",
                                          "plan.drafted"]


def test_without_a_model_id_the_model_is_never_called(bedrock, monkeypatch):
    monkeypatch.delenv("BEDROCK_MODEL_ID")
    fake = bedrock(recorded("plan"))

    assert plan(talk_state())["planner"] == "local"
    assert fake.calls == 0


def test_a_model_id_without_a_budget_table_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)
    monkeypatch.delenv("BUDGET_TABLE", raising=False)

    with pytest.raises(ValidationError, match="model calls need a budget"):
        get_settings(JudgmentSettings)


# --- the summary -------------------------------------------------------------------------------------


def test_the_recorded_summary_becomes_the_videos_title_and_summary(bedrock):
    fake = bedrock(recorded("summary"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert fake.requests[0]["toolConfig"]["toolChoice"] == {"tool": {"name": "submit_summary"}}
    assert result["summarizer"] == "bedrock"
    assert result["title"] == "Baking a sourdough loaf from scratch"
    assert result["summary"].count(". ") == 2
    (called,) = events("model.called")
    assert called.detail["purpose"] == "summarize_video" and called.detail["input_tokens"] == 1_611
    assert storage.get_json(OUTPUT_BUCKET, result["key"])["summarizer"] == "bedrock"


def test_a_malformed_summary_answer_falls_back_to_the_extractive_summary(bedrock):
    bedrock(recorded("malformed"))

    result = summarize_handler(talk_state(), LocalLambdaContext("summarize_video"))

    assert result["summarizer"] == "extractive"
    assert "MODEL_ANSWER_INVALID" in result["fallback_reason"]
