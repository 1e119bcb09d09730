"""plan_clips: draft the clip plan, with Bedrock when configured, else with the local planner.

Planner choice: Bedrock when BEDROCK_MODEL_ID is set, the deterministic local planner
otherwise. The Bedrock path falls back to the local planner, with the reason in the draft
and in the event log, when:

- the job's budget refuses the call (BudgetExceeded: `judgment.budget_exceeded`, and the
  model is not called);
- the call fails, or the answer is not the structured plan asked for (`judgment.fallback`);
- the model proposed clips and not one of them survives validate_plan.

The draft (whatever the planner wrote, possibly large) goes to analysis/<job>/plan.draft.json
and the workflow carries its reference to validate_plan, the gate that decides what renders.
"""

from __future__ import annotations

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import (
    BudgetExceeded,
    DraftPlan,
    ModelAnswerInvalid,
    ModelCallFailed,
    PlanBounds,
    PlanDraftRef,
    plan_draft_key,
)
from lambdas.common.model_gateway import ModelGateway, record_fallback
from lambdas.common.models import AnalysisResults, JobRequest, MediaInfo, Model
from lambdas.common.plan_check import speaker_turns, validate_plan
from lambdas.common.signals import Signals, load_signals
from lambdas.plan_clips.bedrock import PURPOSE, plan_with_bedrock
from lambdas.plan_clips.local import plan_locally


class SummaryInput(Model):
    """The part of summarize_video's output the planner uses (optional)."""

    title: str = ""
    summary: str = ""


class PlanClipsRequest(JobRequest):
    media: MediaInfo
    analysis: AnalysisResults
    summary: SummaryInput | None = None


class Draft(Model):
    plan: DraftPlan
    fallback_reason: str | None = None
    note: str | None = None
    model_calls: int = 0
    components: list[dict] = []


def draft_plan(job_id: str, signals: Signals, bounds: PlanBounds, events: EventLog,
               gateway: ModelGateway | None, summary: str | None = None) -> Draft:
    fallback_reason = None
    if gateway is not None:
        calls_before = gateway.calls
        try:
            plan = plan_with_bedrock(gateway, job_id, signals, bounds, summary)
            checked = validate_plan(plan, signals.duration_s, bounds)
            if plan.clips and not checked.plan.clips:
                reasons = "; ".join(sorted({c.reason for c in checked.corrections})[:3])
                raise ModelAnswerInvalid(f"None of the model's {len(plan.clips)} clips is usable ({reasons}).")
            return Draft(plan=plan, model_calls=gateway.calls - calls_before)
        except (BudgetExceeded, ModelCallFailed, ModelAnswerInvalid) as error:
            fallback_reason = record_fallback(events, job_id, "PlanClips", PURPOSE, error)
        model_calls = gateway.calls - calls_before
    else:
        model_calls = 0
    local = plan_locally(signals, bounds)
    return Draft(plan=DraftPlan(planner="local", clips=[clip.model_dump() for clip in local.plan.clips]),
                 fallback_reason=fallback_reason, note=local.reason, model_calls=model_calls,
                 components=local.components)


def plan_clips(request: PlanClipsRequest, bounds: PlanBounds, output_bucket: str, events: EventLog,
               gateway: ModelGateway | None = None) -> PlanDraftRef:
    signals = load_signals(request.analysis, request.media.duration_s)
    summary = request.summary.summary if request.summary and request.summary.summary else None
    draft = draft_plan(request.job_id, signals, bounds, events, gateway, summary)
    key = plan_draft_key(request.job_id)
    storage.put_json(output_bucket, key, {
        "job_id": request.job_id,
        "duration_s": signals.duration_s,
        "planner": draft.plan.planner,
        "clips": draft.plan.clips,
        "fallback_reason": draft.fallback_reason,
        "note": draft.note,
        "score_components": draft.components,
        # Who speaks when, for the plan check to keep turns whole (lambdas/common/plan_check.py, step 4b),
        # and each word's span and the cuts, for it to keep clip edges out of words, on cuts or in pauses (4c).
        "speaker_turns": speaker_turns(signals.sentences),
        "words": [[round(word.start_s, 3), round(word.end_s, 3)] for word in signals.words],
        "cuts": signals.cuts,
    })
    events.append(request.job_id, "plan.drafted", "PlanClips", planner=draft.plan.planner,
                  clips=len(draft.plan.clips), fallback_reason=draft.fallback_reason, note=draft.note,
                  model_calls=draft.model_calls, draft_key=key)
    return PlanDraftRef(bucket=output_bucket, key=key, planner=draft.plan.planner, clip_count=len(draft.plan.clips),
                        fallback_reason=draft.fallback_reason, model_calls=draft.model_calls)
