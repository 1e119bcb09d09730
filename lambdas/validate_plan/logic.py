"""validate_plan: the step that passes a planner's draft through the plan check and stores the clean plan.

The check itself (lambdas/common/plan_check.py) records every correction; the event log gets
their count by code, and the workflow carries the clean plan to the render.
"""

from __future__ import annotations

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.judgment import PlanBounds, PlanDraftRef, PlanRef, plan_key
from lambdas.common.models import JobRequest, MediaInfo
from lambdas.common.plan_check import validate_plan


class ValidatePlanRequest(JobRequest):
    media: MediaInfo
    plan_draft: PlanDraftRef


def validate_plan_step(request: ValidatePlanRequest, bounds: PlanBounds, events: EventLog) -> PlanRef:
    draft_ref = request.plan_draft
    document = storage.get_json(draft_ref.bucket, draft_ref.key)
    result = validate_plan(document, request.media.duration_s, bounds)
    key = plan_key(request.job_id)
    storage.put_json(draft_ref.bucket, key, {
        "job_id": request.job_id,
        "duration_s": request.media.duration_s,
        "bounds": bounds.model_dump(include={"min_clip_s", "max_clip_s", "max_clips"}),
        "fallback_reason": draft_ref.fallback_reason,
        **result.model_dump(mode="json"),
    })
    events.append(request.job_id, "plan.validated", "ValidatePlan", planner=result.plan.planner,
                  draft_clips=result.draft_clip_count, clips=len(result.plan.clips),
                  corrections=len(result.corrections), corrections_by_code=result.corrections_by_code, plan_key=key)
    return PlanRef(bucket=draft_ref.bucket, key=key, plan=result.plan, correction_count=len(result.corrections),
                   corrections_by_code=result.corrections_by_code)
