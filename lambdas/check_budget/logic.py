"""check_budget: open the job's judgment budget and report what is left.

The workflow and a person reading the event log see the limits before any model call; the
budget itself (lambdas/common/budget.py) is spent by the model gateway.
"""

from __future__ import annotations

from lambdas.common.budget import BudgetStore
from lambdas.common.events import EventLog
from lambdas.common.models import JobRequest, Model


class CheckBudgetRequest(JobRequest):
    pass


class BudgetReport(Model):
    """check_budget's output: the job's limits and what is left (the workflow may skip judgment when exhausted)."""

    max_tokens: int
    max_calls: int
    max_seconds: float
    tokens_left: int
    calls_left: int
    cost_usd: float
    exhausted: bool


def check_budget(request: CheckBudgetRequest, budget: BudgetStore, events: EventLog) -> BudgetReport:
    status = budget.open(request.job_id)
    report = BudgetReport(max_tokens=status.max_tokens, max_calls=status.max_calls, max_seconds=status.max_seconds,
                          tokens_left=status.tokens_left, calls_left=status.calls_left, cost_usd=status.cost_usd,
                          exhausted=status.exhausted)
    events.append(request.job_id, "judgment.budget", "CheckBudget", **report.model_dump())
    return report
