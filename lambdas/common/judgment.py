"""Judgment: the clip plan's shape, its bounds, the model price table and the budget error.

Shared by check_budget, summarize_video, plan_clips and validate_plan. A plan is a few
clips of the video, each with a title, a score in 0..1 and a one-sentence rationale; the
planner that wrote it is either Amazon Bedrock or the deterministic local planner.

Bounds hold at two places: what a plan may contain (clip length, number of clips), checked
by validate_plan, and what judgment may spend (tokens, model calls, seconds per job),
checked by the per-job budget in DynamoDB before every model call (check_budget).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lambdas.common.errors import VideoFlowError

# Judgment's keys live with the others; re-exported for the judgment steps.
from lambdas.common.keys import plan_draft_key, plan_key, summary_key  # noqa: F401
from lambdas.common.models import Model
from lambdas.common.prices import PRICES, TokenPrice, bedrock_price

# --- defaults (units in the names) -------------------------------------------------------------

DEFAULT_MIN_CLIP_S = 15.0
DEFAULT_MAX_CLIP_S = 60.0
DEFAULT_MAX_CLIPS = 5
DEFAULT_MAX_TOKENS_PER_JOB = 60_000  # input + output, all model calls of one job together
DEFAULT_MAX_MODEL_CALLS = 4  # summary + plan, and one retry of each step
DEFAULT_MAX_SECONDS = 180  # from the job's first model call to its last
MODEL_CALL_TIMEOUT_S = 60  # read timeout of one Converse call
PLAN_MAX_OUTPUT_TOKENS = 2_000
SUMMARY_MAX_OUTPUT_TOKENS = 400
MAX_TITLE_CHARS = 80
MAX_RATIONALE_CHARS = 300

# Event types written by the judgment steps.
EVENT_MODEL_CALLED = "model.called"
EVENT_BUDGET_EXCEEDED = "judgment.budget_exceeded"
EVENT_FALLBACK = "judgment.fallback"

Planner = Literal["bedrock", "local"]


# --- errors ------------------------------------------------------------------------------------


class BudgetExceeded(VideoFlowError):
    """A model call would take the job over its token, call or time budget: the call is not made."""

    code = "BUDGET_EXCEEDED"

    def __init__(self, message: str, bound: str = "", used: float | None = None, limit: float | None = None):
        super().__init__(message)
        self.bound, self.used, self.limit = bound, used, limit

    def detail(self) -> dict:
        """The event detail of a refused call: which bound, how much was used, the limit."""
        return {"bound": self.bound, "used": self.used, "limit": self.limit, "reason": str(self)}


class ModelAnswerInvalid(VideoFlowError):
    """The model answered, but not with the structured output that was asked for."""

    code = "MODEL_ANSWER_INVALID"


class ModelCallFailed(VideoFlowError):
    """The model call itself failed (throttled, denied, timed out); nothing usable came back."""

    code = "MODEL_CALL_FAILED"


# --- the plan ----------------------------------------------------------------------------------


class PlannedClip(Model):
    """One clip of a clean plan: inside the video, start before end, finite numbers, real text."""

    start_s: float = Field(ge=0, allow_inf_nan=False)
    end_s: float = Field(gt=0, allow_inf_nan=False)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    score: float = Field(ge=0, le=1, allow_inf_nan=False)
    rationale: str = Field(min_length=1, max_length=MAX_RATIONALE_CHARS, description="one sentence")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @model_validator(mode="after")
    def _ordered(self) -> PlannedClip:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s {self.end_s} is not after start_s {self.start_s}")
        return self

    @field_validator("title", "rationale")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("blank")
        return value


class ClipPlan(Model):
    """What the manifest's `plan` holds: who planned, and the clips in time order."""

    planner: Planner
    clips: list[PlannedClip] = Field(default_factory=list)


class DraftPlan(Model):
    """A plan as a planner wrote it, before validate_plan: its clips may be anything at all."""

    planner: Planner
    clips: list = Field(default_factory=list)


# --- bounds and settings -----------------------------------------------------------------------


class PlanBounds(Model):
    min_clip_s: float = Field(DEFAULT_MIN_CLIP_S, gt=0)
    max_clip_s: float = Field(DEFAULT_MAX_CLIP_S, gt=0)
    max_clips: int = Field(DEFAULT_MAX_CLIPS, ge=1)
    max_tokens_per_job: int = Field(DEFAULT_MAX_TOKENS_PER_JOB, ge=1)
    max_model_calls: int = Field(DEFAULT_MAX_MODEL_CALLS, ge=0)
    max_seconds: float = Field(DEFAULT_MAX_SECONDS, gt=0)

    @model_validator(mode="after")
    def _lengths_ordered(self) -> PlanBounds:
        if self.min_clip_s > self.max_clip_s:
            raise ValueError(f"min_clip_s {self.min_clip_s} is above max_clip_s {self.max_clip_s}")
        return self


class JudgmentSettings(Model):
    """The judgment functions' environment. Bedrock is used when BEDROCK_MODEL_ID is set."""

    bedrock_model_id: str = Field("", alias="BEDROCK_MODEL_ID")
    budget_table: str = Field("", alias="BUDGET_TABLE")
    min_clip_s: float = Field(DEFAULT_MIN_CLIP_S, alias="PLAN_MIN_CLIP_S")
    max_clip_s: float = Field(DEFAULT_MAX_CLIP_S, alias="PLAN_MAX_CLIP_S")
    max_clips: int = Field(DEFAULT_MAX_CLIPS, alias="PLAN_MAX_CLIPS")
    max_tokens_per_job: int = Field(DEFAULT_MAX_TOKENS_PER_JOB, alias="JUDGMENT_MAX_TOKENS_PER_JOB")
    max_model_calls: int = Field(DEFAULT_MAX_MODEL_CALLS, alias="JUDGMENT_MAX_MODEL_CALLS")
    max_seconds: float = Field(DEFAULT_MAX_SECONDS, alias="JUDGMENT_MAX_SECONDS")

    @model_validator(mode="after")
    def _budget_when_bedrock(self) -> JudgmentSettings:
        if self.bedrock_model_id and not self.budget_table:
            raise ValueError("BEDROCK_MODEL_ID is set but BUDGET_TABLE is not: model calls need a budget")
        self.bounds  # noqa: B018 - validates the bounds at cold start
        return self

    @property
    def planner(self) -> Planner:
        return "bedrock" if self.bedrock_model_id else "local"

    @property
    def bounds(self) -> PlanBounds:
        return PlanBounds(min_clip_s=self.min_clip_s, max_clip_s=self.max_clip_s, max_clips=self.max_clips,
                          max_tokens_per_job=self.max_tokens_per_job, max_model_calls=self.max_model_calls,
                          max_seconds=self.max_seconds)


# --- model calls: usage, cost, prompt hash -------------------------------------------------------

# Prices come from the one versioned price table (lambdas/common/prices.py, per 1,000 tokens), matched
# by model family inside the model id, so "us.anthropic.claude-3-5-haiku-20241022-v1:0" and a
# foundation-model ARN both match. A model missing from the table is costed at the dearest entry,
# never at zero: the budget and the event log must not under-report an unknown model.


def _per_million(price: TokenPrice) -> tuple[float, float]:
    return round(price.input_per_1k * 1000, 6), round(price.output_per_1k * 1000, 6)


class ModelUsage(Model):
    """One model call as the event log and the cost ledger see it."""

    model_id: str
    purpose: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    price: str = Field(description="the price table entry used, or 'unknown'")
    prompt_sha256: str
    stop_reason: str | None = None
    latency_ms: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def model_price(model_id: str) -> tuple[str, tuple[float, float]]:
    """(table entry, (input, output) USD per million tokens) for a model id; the longest family wins."""
    found = bedrock_price(model_id)
    if found is None:
        dearest = max(PRICES.bedrock_per_1k_tokens.values(), key=lambda price: price.output_per_1k)
        return "unknown", _per_million(dearest)
    family, price = found
    return family, _per_million(price)


def model_cost_usd(model_id: str, input_tokens: int, output_tokens: int) -> float:
    _, (input_price, output_price) = model_price(model_id)
    return round((input_tokens * input_price + output_tokens * output_price) / 1_000_000, 8)


def prompt_sha256(request: dict) -> str:
    """sha256 of the prompt: the system text, messages and tool configuration, as canonical JSON."""
    prompt = {key: request.get(key) for key in ("system", "messages", "toolConfig")}
    return hashlib.sha256(json.dumps(prompt, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def estimate_input_tokens(request: dict) -> int:
    """A generous estimate of a request's input tokens (about 3 characters per token, rounded up).

    It sizes the reservation made before the call; the call's real usage replaces it afterwards.
    """
    prompt = {key: request.get(key) for key in ("system", "messages", "toolConfig")}
    return math.ceil(len(json.dumps(prompt, separators=(",", ":"))) / 3) + 50


# What the planning steps hand on: where the draft and the clean plan are.
class PlanDraftRef(Model):
    """plan_clips' output: where the draft is and how it came about."""

    bucket: str
    key: str
    planner: Planner
    clip_count: int = Field(ge=0)
    fallback_reason: str | None = None
    model_calls: int = Field(0, ge=0)


class PlanRef(Model):
    """validate_plan's output: the clean plan itself (at most max_clips clips) and where it is stored."""

    bucket: str
    key: str
    plan: ClipPlan
    correction_count: int = Field(ge=0)
    corrections_by_code: dict[str, int] = Field(default_factory=dict)
