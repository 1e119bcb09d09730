"""What a job's usage costs: the one price table (lambdas/common/prices.py) and each service's billing rules.

Pure, and shared: record_cost prices a job's measured usage with it, and `videoflow cost`
prices an estimate the same way, so the two can never disagree about a rule (minimums,
rounding, what a Spot task or a token costs).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from lambdas.common.models import Model
from lambdas.common.prices import PRICES, Prices, bedrock_price

SERVICES = (
    "mediaconvert", "lambda", "step_functions", "batch_fargate", "transcribe", "sagemaker", "bedrock", "s3", "dynamodb",
)
Service = Literal[
    "mediaconvert", "lambda", "step_functions", "batch_fargate", "transcribe", "sagemaker", "bedrock", "s3", "dynamodb",
]

# Frame worker seconds when the workers did not report them: Fargate bills from the start of the
# image pull, so each task pays the pull and the Python start-up, then each frame (download,
# decode, four measures; about 0.05 s for a 960x540 frame on one core of the machine the
# estimate was made on, doubled for a Fargate vCPU).
WORKER_START_S = 45.0
WORKER_S_PER_FRAME = 0.1


class MediaConvertOutput(Model):
    name: str = Field(description="proxy, audio or frames")
    rate: str = Field(description="key of Prices.mediaconvert_per_output_minute")
    duration_s: float = Field(ge=0)
    high_frame_rate: bool = False
    add_ons: list[str] = Field(default_factory=list, description="per-minute add-ons, e.g. audio_normalization")


class LambdaInvocation(Model):
    function: str
    duration_ms: float = Field(ge=0)
    memory_mb: int = Field(gt=0)
    measured_by: Literal["duration_ms", "execution_history", "event_gap", "assumed"]


class FargateTasks(Model):
    """Tasks of one shape: each task's seconds (before the 1 min minimum)."""

    purpose: str
    task_seconds: list[float]
    vcpu: float = Field(gt=0)
    memory_gb: float = Field(gt=0)
    spot: bool = True
    public_ipv4: bool = True
    measured: bool = False


class SageMakerShare(Model):
    instance_type: str | None
    held_s: float = Field(ge=0)
    instances: int = Field(ge=0)
    jobs_sharing: int = Field(ge=1)
    idle_instances: int = Field(ge=0)

    @property
    def instance_seconds(self) -> float:
        """This job's share of the warm floor: every floor instance, split between the jobs holding it."""
        return self.held_s * self.instances / self.jobs_sharing

    @property
    def above_idle_instance_seconds(self) -> float:
        """The part the job added: floor instances above the idle floor (which runs anyway)."""
        return self.held_s * max(0, self.instances - self.idle_instances) / self.jobs_sharing


class ModelCall(Model):
    model_id: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    recorded_usd: float | None = Field(None, description="the caller's own figure, used for a model not in the table")


class Usage(Model):
    job_id: str
    mediaconvert: list[MediaConvertOutput] = Field(default_factory=list)
    lambdas: list[LambdaInvocation] = Field(default_factory=list)
    state_transitions: int = Field(0, ge=0)
    fargate: list[FargateTasks] = Field(default_factory=list)
    transcribe_audio_s: float = Field(0, ge=0)
    sagemaker: SageMakerShare | None = None
    model_calls: list[ModelCall] = Field(default_factory=list)
    s3_put_requests: int = Field(0, ge=0)
    s3_get_requests: int = Field(0, ge=0)
    dynamodb_write_units: int = Field(0, ge=0)
    dynamodb_read_units: int = Field(0, ge=0)
    notes: dict[str, list[str]] = Field(default_factory=dict, description="service -> how it was measured, or why not")



# --- the report -------------------------------------------------------------------------------------


class LineItem(Model):
    description: str
    quantity: float
    unit: str
    unit_usd: float
    usd: float


class ServiceCost(Model):
    quantity: float
    unit: str
    usd: float
    items: list[LineItem] = Field(default_factory=list)
    note: str | None = None


class CostReport(Model):
    job_id: str
    prices_version: str
    prices_region: str
    currency: str
    by_service: dict[str, ServiceCost]
    total_usd: float
    approximate: bool = True


# --- compute_cost -----------------------------------------------------------------------------------


def compute_cost(usage: Usage, prices: Prices = PRICES) -> CostReport:
    """The job's cost by service: usage x unit price, with each service's billing rules. Pure."""
    notes = {service: list(usage.notes.get(service, [])) for service in SERVICES}
    by_service = {
        "mediaconvert": _mediaconvert(usage.mediaconvert, prices, notes["mediaconvert"]),
        "lambda": _lambda(usage.lambdas, prices),
        "step_functions": _service("transitions", [
            _item("state transitions", usage.state_transitions, "transitions", prices.step_functions_per_transition),
        ]),
        "batch_fargate": _fargate(usage.fargate, prices),
        "transcribe": _transcribe(usage.transcribe_audio_s, prices),
        "sagemaker": _sagemaker(usage.sagemaker, prices, notes["sagemaker"]),
        "bedrock": _bedrock(usage.model_calls, prices, notes["bedrock"]),
        "s3": _service("requests", [
            _item("PUT requests", usage.s3_put_requests, "requests", prices.s3_put_per_1k / 1000),
            _item("GET requests", usage.s3_get_requests, "requests", prices.s3_get_per_1k / 1000),
        ]),
        "dynamodb": _service("request units", [
            _item("write request units", usage.dynamodb_write_units, "WRU",
                  prices.dynamodb_per_million_write_units / 1e6),
            _item("read request units", usage.dynamodb_read_units, "RRU",
                  prices.dynamodb_per_million_read_units / 1e6),
        ]),
    }
    by_service = {
        service: cost.model_copy(update={"note": " ".join(notes[service]) or None})
        for service, cost in by_service.items()
    }
    return CostReport(
        job_id=usage.job_id,
        prices_version=prices.version,
        prices_region=prices.region,
        currency=prices.currency,
        by_service=by_service,
        total_usd=_round(sum(cost.usd for cost in by_service.values())),
    )


def _round(usd: float) -> float:
    return round(usd, 9)


def _item(description: str, quantity: float, unit: str, unit_usd: float) -> LineItem:
    return LineItem(description=description, quantity=round(quantity, 6), unit=unit, unit_usd=round(unit_usd, 12),
                    usd=_round(quantity * unit_usd))


def _service(unit: str, items: list[LineItem], quantity: float | None = None) -> ServiceCost:
    """A service's cost; its headline quantity is the sum of its items' quantities unless given."""
    if quantity is None:
        quantity = sum(item.quantity for item in items)
    return ServiceCost(quantity=round(quantity, 6), unit=unit, usd=_round(sum(item.usd for item in items)),
                       items=[item for item in items if item.quantity])


def _mediaconvert(outputs: list[MediaConvertOutput], prices: Prices, notes: list[str]) -> ServiceCost:
    items, minutes = [], 0.0
    for output in outputs:
        rate = prices.mediaconvert_per_output_minute.get(output.rate)
        if rate is None:
            notes.append(f"No MediaConvert price for {output.rate!r} ({output.name}): not costed.")
            continue
        billed_min = max(output.duration_s, prices.mediaconvert_min_billed_s) / 60 if output.duration_s else 0.0
        multiplier = prices.mediaconvert_high_frame_rate_multiplier if output.high_frame_rate else 1.0
        label = f"{output.name} ({output.rate}{', >30 fps' if output.high_frame_rate else ''})"
        items.append(_item(label, billed_min, "output-min", rate * multiplier))
        minutes += billed_min
        for add_on in output.add_ons:
            add_on_rate = prices.mediaconvert_per_output_minute.get(add_on)
            if add_on_rate is None:
                notes.append(f"No MediaConvert price for the add-on {add_on!r}: not costed.")
                continue
            items.append(_item(f"{output.name} {add_on} add-on", billed_min, "min", add_on_rate))
    return _service("output-min", items, quantity=minutes)


def _lambda(invocations: list[LambdaInvocation], prices: Prices) -> ServiceCost:
    gb_s_by_function: dict[str, float] = {}
    for invocation in invocations:
        billed_ms = math.ceil(invocation.duration_ms)  # Lambda bills duration in 1 ms steps
        gb_s = billed_ms / 1000 * invocation.memory_mb / 1024
        gb_s_by_function[invocation.function] = gb_s_by_function.get(invocation.function, 0.0) + gb_s
    gb_s_total = sum(gb_s_by_function.values())
    items = [
        _item("duration", gb_s_total, "GB-s", prices.lambda_per_gb_second),
        _item("requests", len(invocations), "requests", prices.lambda_per_request),
    ]
    return _service("GB-s", items, quantity=gb_s_total)


def _fargate(groups: list[FargateTasks], prices: Prices) -> ServiceCost:
    items, vcpu_s_total = [], 0.0
    for group in groups:
        billed_s = sum(max(seconds, prices.fargate_min_billed_s) for seconds in group.task_seconds if seconds > 0)
        vcpu_rate, gb_rate, capacity = (
            (prices.fargate_spot_per_vcpu_hour, prices.fargate_spot_per_gb_hour, "Spot") if group.spot
            else (prices.fargate_per_vcpu_hour, prices.fargate_per_gb_hour, "on-demand")
        )
        vcpu_s, gb_s = billed_s * group.vcpu, billed_s * group.memory_gb
        vcpu_s_total += vcpu_s
        items.append(_item(f"{group.purpose}: vCPU ({capacity}, {len(group.task_seconds)} tasks)", vcpu_s, "vCPU-s",
                           vcpu_rate / 3600))
        items.append(_item(f"{group.purpose}: memory ({capacity})", gb_s, "GB-s", gb_rate / 3600))
        if group.public_ipv4:
            items.append(_item(f"{group.purpose}: public IPv4", billed_s / 3600, "IP-h", prices.public_ipv4_per_hour))
    return _service("vCPU-s", items, quantity=vcpu_s_total)


def _transcribe(audio_s: float, prices: Prices) -> ServiceCost:
    minutes = max(audio_s, prices.transcribe_min_billed_s) / 60 if audio_s > 0 else 0.0
    return _service("audio-min", [_item("batch transcription", minutes, "audio-min", prices.transcribe_per_minute)])


def _sagemaker(share: SageMakerShare | None, prices: Prices, notes: list[str]) -> ServiceCost:
    if share is None or share.instance_seconds == 0:
        return _service("instance-h", [])
    hours = share.instance_seconds / 3600
    rate = prices.sagemaker_per_instance_hour.get(share.instance_type or "")
    if rate is None:
        notes.append(f"No SageMaker price for instance type {share.instance_type!r}: {hours:.4f} instance-h "
                     "not costed.")
        return _service("instance-h", [], quantity=hours)
    above_idle_usd = share.above_idle_instance_seconds / 3600 * rate
    notes.append(
        f"This job's share of the warm floor ({share.instances} x {share.instance_type}, {share.held_s:.0f} s held, "
        f"shared by {share.jobs_sharing} job(s)); ${above_idle_usd:.6f} of it is above the idle floor, which is "
        "paid whether or not a job runs (the idle cost per month already counts it)."
    )
    return _service("instance-h", [_item(f"{share.instance_type} real-time endpoint", hours, "instance-h", rate)])


def _bedrock(calls: list[ModelCall], prices: Prices, notes: list[str]) -> ServiceCost:
    items, tokens = [], 0
    by_model: dict[str, list[ModelCall]] = {}
    for call in calls:
        by_model.setdefault(call.model_id, []).append(call)
    for model_id, model_calls in by_model.items():
        input_tokens = sum(call.input_tokens for call in model_calls)
        output_tokens = sum(call.output_tokens for call in model_calls)
        tokens += input_tokens + output_tokens
        found = bedrock_price(model_id, prices)
        if found is None:
            recorded = sum(call.recorded_usd or 0.0 for call in model_calls)
            notes.append(f"{model_id} is not in the price table: "
                         + (f"its calls' own recorded cost (${recorded:.6f}) is used." if recorded
                            else "its tokens are not costed."))
            if recorded:
                items.append(_item(f"{model_id} (as recorded by the caller)", len(model_calls), "calls",
                                   recorded / len(model_calls)))
            continue
        family, price = found
        items.append(_item(f"{family} input", input_tokens, "tokens", price.input_per_1k / 1000))
        items.append(_item(f"{family} output", output_tokens, "tokens", price.output_per_1k / 1000))
    return _service("tokens", items, quantity=tokens)

