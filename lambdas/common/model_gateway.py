"""The one way judgment calls a model: reserve budget, call Converse, record usage, log the call.

summarize_video and plan_clips build a Converse request; `ModelGateway.converse` is the call
boundary where the bounds hold:

1. the prompt is hashed (sha256) and its tokens estimated; the estimate plus the answer's
   maxTokens is reserved in the job's budget, which raises BudgetExceeded instead of calling;
2. bedrock-runtime Converse is called (a read timeout bounds one call);
3. the response's usage (inputTokens, outputTokens) replaces the reservation, and the call
   is appended to the event log as `model.called` with model id, tokens, cost and prompt hash.

A call that fails (throttled, denied, timed out) gives back its tokens, is logged as
`model.failed`, and raises ModelCallFailed; the caller falls back to its local method. An
answer that is not the forced tool's (malformed: ModelAnswerInvalid; declined by the model's
content filter or a guardrail: ModelRefused) is paid for and also falls back, with the reason.
"""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.budget import BudgetStore
from lambdas.common.events import EventLog
from lambdas.common.judgment import (
    EVENT_BUDGET_EXCEEDED,
    EVENT_FALLBACK,
    EVENT_MODEL_CALLED,
    MODEL_CALL_TIMEOUT_S,
    BudgetExceeded,
    JudgmentSettings,
    ModelAnswerInvalid,
    ModelCallFailed,
    ModelUsage,
    estimate_input_tokens,
    model_cost_usd,
    model_price,
    prompt_sha256,
)

_registered_client: Any = None
# Converse stop reasons that mean the model (or the account's guardrail) declined to answer.
REFUSAL_STOP_REASONS = frozenset({"content_filtered", "guardrail_intervened"})


class ModelRefused(ModelAnswerInvalid):
    """The model declined to answer: its content filter or a guardrail stopped it; judgment falls back."""

    code = "MODEL_REFUSED"


def register_client(client: Any) -> None:
    """Use `client` for every Converse call of this process (the local runner's adapter, a test's fake); None resets."""
    global _registered_client
    _registered_client = client


def bedrock_client() -> Any:
    return _registered_client if _registered_client is not None else _boto3_client()


@cache
def _boto3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-runtime", config=Config(
        read_timeout=MODEL_CALL_TIMEOUT_S, connect_timeout=5, retries={"mode": "standard", "max_attempts": 2}))


class ModelGateway:
    def __init__(self, client: Any, model_id: str, budget: BudgetStore, events: EventLog, step: str):
        self.client, self.model_id, self.budget, self.events, self.step = client, model_id, budget, events, step
        self.calls = 0

    def converse(self, job_id: str, purpose: str, request: dict) -> tuple[dict, ModelUsage]:
        """Call Converse with `request` (everything but modelId); BudgetExceeded means no call was made."""
        body = {"modelId": self.model_id, **request}
        digest = prompt_sha256(body)
        reserved = estimate_input_tokens(body) + int(body.get("inferenceConfig", {}).get("maxTokens", 0))
        self.budget.reserve(job_id, tokens=reserved, calls=1)
        self.calls += 1
        started = time.monotonic()
        try:
            response = self.client.converse(**body)
        except (ClientError, BotoCoreError) as error:
            self.budget.release(job_id, reserved)
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            self.events.append(job_id, "model.failed", self.step, model_id=self.model_id, purpose=purpose,
                               error=code, message=str(error)[:500], prompt_sha256=digest)
            raise ModelCallFailed(f"Bedrock Converse failed ({code}): {str(error)[:300]}") from error
        usage = usage_of(response, self.model_id, purpose, digest, reserved,
                         latency_ms=int((time.monotonic() - started) * 1000))
        self.budget.record_usage(job_id, reserved, usage)
        self.events.append(job_id, EVENT_MODEL_CALLED, self.step, **usage.model_dump())
        return response, usage


def usage_of(response: dict, model_id: str, purpose: str, digest: str, reserved_tokens: int,
             latency_ms: int | None = None) -> ModelUsage:
    """The call's usage from its response; a response without usage is charged its whole reservation."""
    usage = response.get("usage") if isinstance(response, dict) else None
    try:
        input_tokens, output_tokens = int(usage["inputTokens"]), int(usage["outputTokens"])
    except (TypeError, KeyError, ValueError):
        input_tokens, output_tokens = reserved_tokens, 0
    metrics = response.get("metrics") if isinstance(response, dict) else None
    if isinstance(metrics, dict) and isinstance(metrics.get("latencyMs"), int):
        latency_ms = metrics["latencyMs"]
    return ModelUsage(model_id=model_id, purpose=purpose, input_tokens=input_tokens, output_tokens=output_tokens,
                      cost_usd=model_cost_usd(model_id, input_tokens, output_tokens), price=model_price(model_id)[0],
                      prompt_sha256=digest, stop_reason=response.get("stopReason") if isinstance(response, dict)
                      else None, latency_ms=latency_ms)


def tool_input(response: dict, tool_name: str) -> dict:
    """The input of the `tool_name` tool-use block of a Converse response, or ModelAnswerInvalid saying why."""
    stop_reason = response.get("stopReason")
    if stop_reason in REFUSAL_STOP_REASONS:
        said = " ".join(block["text"] for block in ((response.get("output") or {}).get("message") or {}).get(
            "content") or [] if isinstance(block, dict) and isinstance(block.get("text"), str))
        raise ModelRefused(f"The model declined to answer (stopReason {stop_reason!r})"
                           + (f": {said.strip()[:200]}" if said.strip() else "."))
    if stop_reason != "tool_use":
        raise ModelAnswerInvalid(f"The model stopped with {stop_reason!r}, not 'tool_use': no structured answer.")
    content = (((response.get("output") or {}).get("message") or {}).get("content")) or []
    for block in content:
        use = block.get("toolUse") if isinstance(block, dict) else None
        if isinstance(use, dict) and use.get("name") == tool_name:
            value = use.get("input")
            if isinstance(value, str):  # some models send the arguments as JSON text
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as error:
                    raise ModelAnswerInvalid(f"The {tool_name} input is not valid JSON: {error}.") from None
            if not isinstance(value, dict):
                raise ModelAnswerInvalid(f"The {tool_name} input is {type(value).__name__}, not an object.")
            return value
    raise ModelAnswerInvalid(f"The answer has no {tool_name} tool use.")


def record_fallback(events: EventLog, job_id: str, step: str, purpose: str, error: Exception) -> str:
    """Log why judgment falls back to its local method; returns the reason in one sentence.

    A refused reservation is `judgment.budget_exceeded` (which bound, used, limit); an unusable
    or failed model call is `judgment.fallback` with the error's code.
    """
    if isinstance(error, BudgetExceeded):
        events.append(job_id, EVENT_BUDGET_EXCEEDED, step, purpose=purpose, **error.detail())
        return f"Over the job's model budget, so no model call was made: {error}"
    code = getattr(error, "code", type(error).__name__)
    events.append(job_id, EVENT_FALLBACK, step, purpose=purpose, code=code, reason=str(error))
    return f"The model's answer could not be used ({code}): {error}"


def model_gateway(settings: JudgmentSettings, events: EventLog, step: str) -> ModelGateway | None:
    """The gateway to the configured Bedrock model, or None when BEDROCK_MODEL_ID is not set (local methods)."""
    if not settings.bedrock_model_id:
        return None
    return ModelGateway(bedrock_client(), settings.bedrock_model_id,
                        BudgetStore(settings.budget_table, settings.bounds), events, step)
