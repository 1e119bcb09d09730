"""check_budget and the budget store it opens: no job ever spends past its model limits.

The store (lambdas/common/budget.py) reserves tokens and calls with conditional writes in
DynamoDB, so concurrent reservations cannot overshoot; the prices turn recorded usage into
dollars. The step opens the job's budget and reports what is left.
"""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto.dynamodb.models import DynamoDBBackend

from lambdas.check_budget.handler import handler
from lambdas.common.budget import BudgetStore
from lambdas.common.events import EventLog
from lambdas.common.judgment import (
    BudgetExceeded,
    ModelUsage,
    PlanBounds,
    model_cost_usd,
    model_price,
)
from lambdas.common.models import SourceObject
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

JOB_ID = "job-budget-00000001"
BOUNDS = PlanBounds(max_tokens_per_job=10_000, max_model_calls=4, max_seconds=120)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def budget(budget_table, clock):
    return BudgetStore(budget_table, BOUNDS, clock=clock)


@pytest.fixture
def atomic_conditional_updates(monkeypatch):
    """Make moto's UpdateItem atomic, as DynamoDB's is.

    moto evaluates a ConditionExpression and then applies the update without a lock, so two
    threads could both pass the same check. DynamoDB checks and writes as one step; serializing
    UpdateItem alone restores that, and leaves every other interleaving (reads, retries) free.
    """
    update_item = DynamoDBBackend.update_item
    lock = threading.Lock()

    @functools.wraps(update_item)
    def atomic_update_item(self, *args, **kwargs):
        with lock:
            return update_item(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", atomic_update_item)


def _usage(input_tokens: int, output_tokens: int, model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"):
    return ModelUsage(model_id=model_id, purpose="plan_clips", input_tokens=input_tokens, output_tokens=output_tokens,
                      cost_usd=model_cost_usd(model_id, input_tokens, output_tokens), price=model_price(model_id)[0],
                      prompt_sha256="0" * 64)


# --- reserve ---------------------------------------------------------------------------------------


def test_a_reservation_within_the_budget_adds_its_tokens_and_one_call(budget):
    status = budget.reserve(JOB_ID, tokens=3_000)

    assert (status.tokens, status.calls) == (3_000, 1)
    assert (status.tokens_left, status.calls_left) == (7_000, 3)


def test_a_reservation_that_would_exceed_the_tokens_is_refused_and_writes_nothing(budget):
    budget.reserve(JOB_ID, tokens=8_000)

    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(JOB_ID, tokens=2_001)

    assert refused.value.bound == "tokens"
    assert "used 8000 of its 10000 tokens" in str(refused.value)
    assert (budget.status(JOB_ID).tokens, budget.status(JOB_ID).calls) == (8_000, 1)


def test_a_reservation_that_exactly_fills_the_budget_is_allowed(budget):
    budget.reserve(JOB_ID, tokens=4_000)

    assert budget.reserve(JOB_ID, tokens=6_000).tokens_left == 0


def test_the_call_limit_refuses_the_next_call(budget):
    for _ in range(4):
        budget.reserve(JOB_ID, tokens=10)

    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(JOB_ID, tokens=10)

    assert refused.value.bound == "calls" and refused.value.limit == 4
    assert budget.status(JOB_ID).calls == 4


def test_one_call_larger_than_the_whole_budget_is_refused_before_any_write(budget):
    with pytest.raises(BudgetExceeded, match="exceeds the job's whole budget"):
        budget.reserve(JOB_ID, tokens=10_001)

    assert budget.status(JOB_ID).opened_at is None


def test_after_max_seconds_of_judgment_no_call_is_allowed(budget, clock):
    budget.reserve(JOB_ID, tokens=10)
    clock.now += 121

    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(JOB_ID, tokens=10)

    assert refused.value.bound == "seconds"


def test_budgets_are_per_job(budget):
    budget.reserve(JOB_ID, tokens=10_000)

    assert budget.reserve("job-budget-00000002", tokens=10_000).tokens == 10_000


# --- usage ---------------------------------------------------------------------------------------


def test_recorded_usage_replaces_the_reservation_and_adds_up_the_cost(budget):
    budget.reserve(JOB_ID, tokens=5_000)

    status = budget.record_usage(JOB_ID, reserved_tokens=5_000, usage=_usage(1_843, 412))

    assert (status.tokens, status.input_tokens, status.output_tokens) == (2_255, 1_843, 412)
    assert status.cost_usd == pytest.approx(1_843 * 0.25e-6 + 412 * 1.25e-6)


def test_usage_beyond_the_reservation_is_still_recorded_and_stops_the_next_call(budget):
    budget.reserve(JOB_ID, tokens=2_000)
    budget.record_usage(JOB_ID, reserved_tokens=2_000, usage=_usage(9_000, 1_500))

    assert budget.status(JOB_ID).tokens == 10_500
    with pytest.raises(BudgetExceeded):
        budget.reserve(JOB_ID, tokens=1)


def test_a_failed_call_gives_back_its_tokens_but_still_counts_as_a_call(budget):
    budget.reserve(JOB_ID, tokens=4_000)

    budget.release(JOB_ID, reserved_tokens=4_000)

    assert (budget.status(JOB_ID).tokens, budget.status(JOB_ID).calls) == (0, 1)


# --- concurrency ---------------------------------------------------------------------------------


def _race(budget: BudgetStore, workers: int, tokens: int) -> tuple[int, int]:
    start = threading.Barrier(workers)

    def attempt(_):
        start.wait()
        try:
            budget.reserve(JOB_ID, tokens=tokens)
            return True
        except BudgetExceeded:
            return False

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(attempt, range(workers)))
    return sum(results), len(results) - sum(results)


def test_concurrent_reservations_never_exceed_the_token_budget(budget_table, clock, atomic_conditional_updates):
    budget = BudgetStore(budget_table, PlanBounds(max_tokens_per_job=10_000, max_model_calls=100), clock=clock)

    granted, refused = _race(budget, workers=16, tokens=1_000)

    assert (granted, refused) == (10, 6)
    assert budget.status(JOB_ID).tokens == 10_000


def test_concurrent_reservations_never_exceed_the_call_budget(budget_table, clock, atomic_conditional_updates):
    budget = BudgetStore(budget_table, PlanBounds(max_tokens_per_job=10_000, max_model_calls=3), clock=clock)

    granted, refused = _race(budget, workers=12, tokens=10)

    assert (granted, refused) == (3, 9)
    assert budget.status(JOB_ID).calls == 3


# --- prices --------------------------------------------------------------------------------------


def test_a_model_is_priced_by_its_family_whatever_the_id_prefix_or_arn():
    for model_id in ("anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                     "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0"):
        assert model_price(model_id) == ("anthropic.claude-3-5-haiku", (0.80, 4.00))
    assert model_cost_usd("amazon.nova-lite-v1:0", 1_000_000, 1_000_000) == pytest.approx(0.30)


def test_an_unknown_model_is_priced_at_the_dearest_entry_never_at_zero():
    family, price = model_price("mistral.some-new-model-v1:0")

    assert family == "unknown"
    assert model_cost_usd("mistral.some-new-model-v1:0", 1_000, 1_000) == pytest.approx((3.0 + 15.0) / 1_000)
    assert price == (3.00, 15.00)


# --- the step ------------------------------------------------------------------------------------


def test_check_budget_opens_the_jobs_budget_and_reports_what_is_left(budget_table, monkeypatch):
    monkeypatch.setenv("JUDGMENT_MAX_TOKENS_PER_JOB", "20000")
    monkeypatch.setenv("JUDGMENT_MAX_MODEL_CALLS", "2")
    event = {"job_id": JOB_ID,
             "source": SourceObject(bucket="videoflow-ingest", key="uploads/a.mp4", size_bytes=1).model_dump()}

    report = handler(event, LocalLambdaContext("check_budget"))

    assert report == {"max_tokens": 20_000, "max_calls": 2, "max_seconds": 180.0, "tokens_left": 20_000,
                      "calls_left": 2, "cost_usd": 0.0, "exhausted": False}
    (logged,) = EventLog("videoflow-events").read(JOB_ID)
    assert logged.type == "judgment.budget" and logged.step == "CheckBudget"


def test_opening_a_budget_twice_keeps_what_was_spent(budget):
    budget.reserve(JOB_ID, tokens=500)

    assert budget.open(JOB_ID).tokens == 500
