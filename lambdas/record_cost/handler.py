"""record_cost: the job's cost by service, stored with the job (thin handler over logic.record_cost).

Its settings (record_cost/config.py) are the deployment's sizes: every function's memory, the
endpoint's instance type and idle floor, the frame worker's size, and with `transcriber: whisper`
the transcriber and its job's size (TRANSCRIBER*). The execution history is
read with states:GetExecutionHistory (best effort: events otherwise).
"""

from lambdas.common import aws
from lambdas.common.handler import step_handler
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.logic import RecordCostRequest, record_cost
from lambdas.record_cost.pricing import CostReport

HISTORY_PAGE_SIZE = 1000


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
    # The step's settings model is made of Settings and CostConfig (get_settings), so it is a CostConfig.
    report = record_cost(request, step.events, step.jobs, step.settings, read_history=read_history)
    step.metrics.add_metric(name="JobCostUSD", unit="None", value=report.total_usd)
    return report


handler = step_handler("record_cost", RecordCostRequest, _run, settings=(CostConfig,))
