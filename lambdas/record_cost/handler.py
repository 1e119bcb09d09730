"""record_cost: the job's cost by service, stored with the job (thin handler over logic.record_cost).

Environment, besides the common one (JOBS_TABLE, EVENTS_TABLE, ...):
  FUNCTION_MEMORY_MB        JSON {"validate_upload": 256, ...}: every function's memory size
  INFERENCE_INSTANCE_TYPE   the endpoint's instance type (ml.g5.xlarge)
  INFERENCE_IDLE_INSTANCES  the idle floor (to say how much of the share is above it)
  FRAME_WORKER_VCPU, FRAME_WORKER_MEMORY_MB   the frame worker job definition's size (1, 2048)
The execution history is read with states:GetExecutionHistory (best effort: events otherwise).
"""

from functools import lru_cache

from lambdas.common import aws
from lambdas.common.handler import step_handler
from lambdas.common.settings import function_environment
from lambdas.record_cost.logic import CostConfig, CostEnvironment, CostReport, RecordCostRequest, record_cost

HISTORY_PAGE_SIZE = 1000


@lru_cache(maxsize=1)
def cost_config() -> CostConfig:
    return CostConfig.from_environment(dict(function_environment()))


def read_history(execution_arn: str) -> list[dict]:
    """Every event of the execution so far, without the (large) input and output payloads."""
    client = aws.client("stepfunctions")
    events: list[dict] = []
    arguments = {"executionArn": execution_arn, "maxResults": HISTORY_PAGE_SIZE, "includeExecutionData": False}
    while True:
        page = client.get_execution_history(**arguments)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        arguments["nextToken"] = page["nextToken"]


def _run(request: RecordCostRequest, step) -> CostReport:
    report = record_cost(request, step.events, step.jobs, cost_config(), read_history=read_history)
    step.metrics.add_metric(name="JobCostUSD", unit="None", value=report.total_usd)
    return report


handler = step_handler("record_cost", RecordCostRequest, _run, settings=(CostEnvironment,))
