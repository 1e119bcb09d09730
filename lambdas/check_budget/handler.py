from lambdas.check_budget.logic import CheckBudgetRequest, check_budget
from lambdas.common.budget import BudgetStore
from lambdas.common.handler import step_handler
from lambdas.common.judgment import JudgmentSettings


def _run(request: CheckBudgetRequest, step):
    settings = step.settings  # Settings and JudgmentSettings in one model (get_settings)
    if not settings.budget_table:
        raise ValueError("BUDGET_TABLE is not set: check_budget needs the budget table")
    return check_budget(request, BudgetStore(settings.budget_table, settings.bounds), step.events)


handler = step_handler("check_budget", CheckBudgetRequest, _run, settings=(JudgmentSettings,))
