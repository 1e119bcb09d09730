"""The per-job judgment budget, kept in DynamoDB and enforced before every model call.

One item per job (pk `job_id`) in the budget table:

    tokens      tokens reserved or used by the job's model calls (input + output)
    calls       model calls made or under way
    input_tokens, output_tokens, cost_usd   what the calls really used, for the cost ledger
    opened_at   when judgment began for the job (epoch seconds)

Before a call, `reserve` adds the call's estimated tokens (its prompt, generously counted,
plus the most it may answer) and one call, in one conditional UpdateItem: the condition
says that the totals *before* the ADD leave room for it, and that the job is still inside
its time window. DynamoDB evaluates the condition and applies the ADD as one step, so any
number of concurrent reservations never take the totals past the limits. A refused
reservation raises BudgetExceeded and writes nothing. After the call, `record_usage`
replaces the estimate with the real usage (unconditionally: the tokens were spent), and a
failed call gives its tokens back with `release` (it still counts as a call).

One store serves check_budget (which opens the budget) and the model gateway (which spends it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from botocore.exceptions import ClientError
from pydantic import Field

from lambdas.common import aws
from lambdas.common.dynamo import from_dynamo
from lambdas.common.judgment import BudgetExceeded, ModelUsage, PlanBounds
from lambdas.common.models import Model

_NAMES = {"#tokens": "tokens", "#calls": "calls", "#opened_at": "opened_at", "#updated_at": "updated_at",
          "#input_tokens": "input_tokens", "#output_tokens": "output_tokens", "#cost_usd": "cost_usd",
          "#max_tokens": "max_tokens", "#max_calls": "max_calls"}


class BudgetStatus(Model):
    job_id: str
    tokens: int = Field(0, description="reserved or used, input + output")
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    max_tokens: int
    max_calls: int
    max_seconds: float
    opened_at: float | None = None
    seconds_left: float

    @property
    def tokens_left(self) -> int:
        return max(0, self.max_tokens - self.tokens)

    @property
    def calls_left(self) -> int:
        return max(0, self.max_calls - self.calls)

    @property
    def exhausted(self) -> bool:
        return self.tokens_left == 0 or self.calls_left == 0 or self.seconds_left <= 0


class BudgetStore:
    def __init__(self, table_name: str, bounds: PlanBounds, clock: Callable[[], float] = time.time):
        self._table = aws.table(table_name)
        self.bounds = bounds
        self._clock = clock

    def open(self, job_id: str) -> BudgetStatus:
        """Start the job's budget (its time window starts now) if it has none; a second open changes nothing."""
        now = _number(self._clock())
        self._table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="SET #opened_at = if_not_exists(#opened_at, :now), #tokens = if_not_exists(#tokens, :zero), "
                             "#calls = if_not_exists(#calls, :zero), #max_tokens = :max_tokens, "
                             "#max_calls = :max_calls, #updated_at = :now",
            ExpressionAttributeNames={name: _NAMES[name] for name in
                                      ("#opened_at", "#tokens", "#calls", "#max_tokens", "#max_calls", "#updated_at")},
            ExpressionAttributeValues={":now": now, ":zero": 0, ":max_tokens": self.bounds.max_tokens_per_job,
                                       ":max_calls": self.bounds.max_model_calls},
        )
        return self.status(job_id)

    def reserve(self, job_id: str, tokens: int, calls: int = 1) -> BudgetStatus:
        """Claim `tokens` and `calls` for a model call about to be made, or raise BudgetExceeded."""
        if tokens < 0 or calls < 0:
            raise ValueError("a reservation cannot be negative")
        limits = self.bounds
        if tokens > limits.max_tokens_per_job:
            raise BudgetExceeded(f"A model call needing about {tokens} tokens exceeds the job's whole budget of "
                                 f"{limits.max_tokens_per_job} tokens.", "tokens", tokens, limits.max_tokens_per_job)
        if calls > limits.max_model_calls:
            raise BudgetExceeded(f"The job may make at most {limits.max_model_calls} model calls.",
                                 "calls", calls, limits.max_model_calls)
        now = self._clock()
        try:
            result = self._table.update_item(
                Key={"job_id": job_id},
                UpdateExpression="ADD #tokens :tokens, #calls :calls SET #opened_at = if_not_exists(#opened_at, :now), "
                                 "#max_tokens = :max_tokens, #max_calls = :max_calls, #updated_at = :now",
                ConditionExpression="(attribute_not_exists(#tokens) OR #tokens <= :token_room) "
                                    "AND (attribute_not_exists(#calls) OR #calls <= :call_room) "
                                    "AND (attribute_not_exists(#opened_at) OR #opened_at >= :earliest)",
                ExpressionAttributeNames={name: _NAMES[name] for name in
                                          ("#tokens", "#calls", "#opened_at", "#max_tokens", "#max_calls",
                                           "#updated_at")},
                ExpressionAttributeValues={
                    ":tokens": tokens, ":calls": calls, ":now": _number(now),
                    ":token_room": limits.max_tokens_per_job - tokens, ":call_room": limits.max_model_calls - calls,
                    ":earliest": _number(now - limits.max_seconds),
                    ":max_tokens": limits.max_tokens_per_job, ":max_calls": limits.max_model_calls,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise self._refusal(job_id, tokens, calls) from None
        return self._status(job_id, from_dynamo(result["Attributes"]))

    def record_usage(self, job_id: str, reserved_tokens: int, usage: ModelUsage) -> BudgetStatus:
        """Replace a call's reservation by what it really used; unconditional, the tokens are spent."""
        result = self._table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="ADD #tokens :delta, #input_tokens :input, #output_tokens :output, #cost_usd :cost "
                             "SET #updated_at = :now",
            ExpressionAttributeNames={name: _NAMES[name] for name in
                                      ("#tokens", "#input_tokens", "#output_tokens", "#cost_usd", "#updated_at")},
            ExpressionAttributeValues={":delta": usage.total_tokens - reserved_tokens, ":input": usage.input_tokens,
                                       ":output": usage.output_tokens, ":cost": _number(usage.cost_usd),
                                       ":now": _number(self._clock())},
            ReturnValues="ALL_NEW",
        )
        return self._status(job_id, from_dynamo(result["Attributes"]))

    def release(self, job_id: str, reserved_tokens: int) -> None:
        """Give back the tokens of a call that failed before the model answered; the call still counts."""
        self._table.update_item(
            Key={"job_id": job_id},
            UpdateExpression="ADD #tokens :delta SET #updated_at = :now",
            ExpressionAttributeNames={"#tokens": "tokens", "#updated_at": "updated_at"},
            ExpressionAttributeValues={":delta": -reserved_tokens, ":now": _number(self._clock())},
        )

    def status(self, job_id: str) -> BudgetStatus:
        item = self._table.get_item(Key={"job_id": job_id}, ConsistentRead=True).get("Item")
        return self._status(job_id, from_dynamo(item) if item else {})

    def _status(self, job_id: str, item: dict) -> BudgetStatus:
        opened_at = item.get("opened_at")
        seconds_left = self.bounds.max_seconds - (self._clock() - opened_at) if opened_at is not None \
            else self.bounds.max_seconds
        return BudgetStatus(job_id=job_id, tokens=item.get("tokens", 0), calls=item.get("calls", 0),
                            input_tokens=item.get("input_tokens", 0), output_tokens=item.get("output_tokens", 0),
                            cost_usd=item.get("cost_usd", 0.0), max_tokens=self.bounds.max_tokens_per_job,
                            max_calls=self.bounds.max_model_calls, max_seconds=self.bounds.max_seconds,
                            opened_at=opened_at, seconds_left=round(seconds_left, 3))

    def _refusal(self, job_id: str, tokens: int, calls: int) -> BudgetExceeded:
        status = self.status(job_id)
        limits = self.bounds
        if status.calls + calls > limits.max_model_calls:
            return BudgetExceeded(f"The job has made {status.calls} of its {limits.max_model_calls} model calls.",
                                  "calls", status.calls, limits.max_model_calls)
        if status.tokens + tokens > limits.max_tokens_per_job:
            return BudgetExceeded(
                f"The job has used {status.tokens} of its {limits.max_tokens_per_job} tokens; the next call "
                f"needs about {tokens}.", "tokens", status.tokens, limits.max_tokens_per_job)
        return BudgetExceeded(f"The job's {limits.max_seconds:g} s for judgment are over.", "seconds",
                              round(limits.max_seconds - status.seconds_left, 3), limits.max_seconds)


def _number(value: float) -> Decimal:
    return Decimal(str(round(value, 8)))
