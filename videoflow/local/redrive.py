"""Step Functions RedriveExecution for moto's engine, which does not implement it (moto 5.2.5).

    redrive = LocalRedrive()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), redrive.installed():
        sfn.redrive_execution(executionArn=arn)  # in-process, or through a ThreadedMotoServer

While installed, moto's Step Functions API answers RedriveExecution the way AWS does, as far
as moto's ASL interpreter allows:

- Only a FAILED, TIMED_OUT or ABORTED execution of a STANDARD state machine can be redriven;
  any other is `ExecutionNotRedrivable`, an unknown one `ExecutionDoesNotExist`.
- The same execution (same ARN and name) runs again on the definition it ran with, from the
  last top-level state it entered, with that state's original input. The states that
  completed before it are not run again; the variables they assigned are kept.
- The history keeps the earlier events, then an `ExecutionRedriven` event, then the new run's.
- describe_execution reports redriveCount, redriveDate, redriveStatus and redriveStatusReason;
  the Context object has $$.Execution.RedriveCount and RedriveTime.
- A clientToken is answered idempotently: the last 10 tokens that redrove the execution, each
  for 15 minutes, return the first answer without another restart.

Where this differs from AWS:

- A failed Parallel or Map state runs again as a whole: AWS reruns only the branches and
  iterations that failed or were aborted. Steps should be idempotent anyway.
- The state that failed is found by name: the last StateEntered event naming a top-level
  state. A state inside a branch or iteration that has the same name as a top-level state
  would confuse it.
- A TIMED_OUT execution's last state may still be running on moto's worker thread (moto stops
  waiting for it but does not interrupt it), so it can overlap the redriven run.
- list_executions does not show the redrive fields; the 14-day redrivable period and the
  history-size limit are not enforced.
"""

import copy
import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Thread
from typing import Any
from unittest import mock

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.stepfunctions.parser.api import (
    ExecutionRedrivenEventDetails,
    ExecutionStatus,
    HistoryEventType,
    StateMachineType,
)
from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse

REDRIVABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED})
TOKENS_KEPT = 10  # AWS answers idempotently for the last 10 client tokens...
TOKEN_TTL_S = 15 * 60  # ...each for 15 minutes after its first use


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass(frozen=True)
class RestartPoint:
    """Where a redriven execution starts again: a top-level state and the input it entered with."""

    state: str
    state_input: Any


@dataclass
class RedriveRecord:
    count: int = 0
    date: datetime | None = None
    # clientToken -> (redriveDate answered, time.monotonic() of its first use), oldest first
    tokens: OrderedDict[str, tuple[datetime, float]] = field(default_factory=OrderedDict)

    def answer_for(self, client_token: str | None) -> datetime | None:
        now = time.monotonic()
        for token, (_, used_at) in list(self.tokens.items()):
            if now - used_at > TOKEN_TTL_S:
                del self.tokens[token]
        answer = self.tokens.get(client_token) if client_token else None
        return answer[0] if answer else None

    def remember(self, client_token: str | None, date: datetime) -> None:
        self.count += 1
        self.date = date
        if client_token:
            self.tokens[client_token] = (date, time.monotonic())
            while len(self.tokens) > TOKENS_KEPT:
                self.tokens.popitem(last=False)


def restart_point(definition: dict, history: list[dict], execution_input: Any) -> RestartPoint:
    """The last top-level state entered, with its input; the start state if none was entered."""
    top_level = definition["States"]
    for event in reversed(history):
        details = event.get("stateEnteredEventDetails")
        if details and details["name"] in top_level:
            return RestartPoint(details["name"], json.loads(details["input"]))
    return RestartPoint(definition["StartAt"], execution_input)


def not_redrivable_reason(execution: Execution) -> str | None:
    """None when the execution can be redriven, else AWS's redriveStatusReason."""
    if execution.state_machine.sm_type == StateMachineType.EXPRESS:
        return "Execution of an EXPRESS state machine cannot be redriven."
    if execution.exec_status not in REDRIVABLE:
        return f"Execution is {execution.status} and cannot be redriven."
    return None


class _RedrivenWorker(ExecutionWorker):
    """moto's execution worker, started at a given state on an event history carried over."""

    def __init__(self, execution: Execution, point: RestartPoint, redrive_count: int, redrive_date: datetime):
        super().__init__(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=execution.get_start_state_machine_details(),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        self._previous = execution.exec_worker.env
        self._point = point
        self._redrive_count = redrive_count
        self._redrive_date = redrive_date

    def start(self) -> None:
        # The environment and the ExecutionRedriven event exist before the call returns, so the
        # history read right after a redrive already holds the earlier events.
        program = self._get_evaluation_entrypoint()
        program.start_at = StartAt(self._point.state)
        env = self._get_evaluation_environment()
        history = self._previous.event_manager.get_event_history()
        last_id = max((event["id"] for event in history), default=0)
        # A copy, not the earlier run's manager: a timed-out run's thread may still write to that.
        env.event_manager = _event_manager_continuing(history, self._previous.cloud_watch_logging_session)
        env.event_history_context = EventHistoryContext(previous_event_id=last_id)
        env.variable_store = copy.deepcopy(self._previous.variable_store)
        env.states.reset(self._point.state_input)
        execution_data = env.states.context_object.context_object_data["Execution"]
        execution_data["RedriveCount"] = self._redrive_count
        execution_data["RedriveTime"] = iso_8601_datetime_with_milliseconds(self._redrive_date)
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=EventDetails(
                executionRedrivenEventDetails=ExecutionRedrivenEventDetails(redriveCount=self._redrive_count)
            ),
            timestamp=self._redrive_date,
        )
        self.env = env

        def run() -> None:
            program.eval(env)
            self._execution_communication.terminated()

        thread = Thread(target=run, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()


def _event_manager_continuing(history: list[dict], logging_session) -> EventManager:
    manager = EventManager(cloud_watch_logging_session=logging_session)
    manager._history_event_list.extend(history)
    manager._event_id_gen._next_id = max((event["id"] for event in history), default=0) + 1
    return manager


class LocalRedrive:
    """RedriveExecution for moto's Step Functions engine; installed into moto's API while active."""

    def __init__(self, on_redriven: Callable[[str, int], None] | None = None):
        """`on_redriven(execution_arn, redrive_count)` is told of each restart, as EventBridge's status change is."""
        self._lock = threading.Lock()
        self._records: weakref.WeakKeyDictionary[Execution, RedriveRecord] = weakref.WeakKeyDictionary()
        self._on_redriven = on_redriven

    def redrive(self, execution: Execution, client_token: str | None = None) -> datetime:
        """Restart a finished, unsuccessful execution; returns the redriveDate."""
        if not isinstance(execution, Execution) or execution.exec_worker is None:
            raise ExecutionNotRedrivable(
                "Local redrive needs moto's engine: mock_aws(config={'stepfunctions': {'execute_state_machine': True}})"
            )
        with self._lock:
            record = self._records.setdefault(execution, RedriveRecord())
            answered = record.answer_for(client_token)
            if answered is not None:
                return answered
            reason = not_redrivable_reason(execution)
            if reason:
                raise ExecutionNotRedrivable(reason)
            point = restart_point(
                json.loads(execution.state_machine.definition),
                execution.exec_worker.env.event_manager.get_event_history(),
                execution.input_data,
            )
            date = datetime.now(UTC)
            worker = _RedrivenWorker(execution, point, record.count + 1, date)
            execution.exec_worker = worker
            execution.exec_status = ExecutionStatus.RUNNING
            execution.stop_date = execution.output = execution.error = execution.cause = None
            worker.start()
            record.remember(client_token, date)
        if self._on_redriven is not None:
            self._on_redriven(execution.exec_arn, record.count)
        return date

    def describe(self, execution: Execution, described: dict) -> None:
        """Add the redrive fields AWS reports to describe_execution's answer."""
        if not isinstance(execution, Execution):
            return
        record = self._records.get(execution)
        described["redriveCount"] = record.count if record else 0
        if record and record.date:
            described["redriveDate"] = record.date
        reason = not_redrivable_reason(execution)
        described["redriveStatus"] = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
        if reason:
            described["redriveStatusReason"] = reason

    @contextmanager
    def installed(self) -> Iterator["LocalRedrive"]:
        redrive = self
        describe_execution = StepFunctionResponse.describe_execution

        def redrive_execution(response: StepFunctionResponse) -> ActionResult:
            execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
            date = redrive.redrive(execution, response._get_param("clientToken"))
            return ActionResult({"redriveDate": date})

        def describe_with_redrive(response: StepFunctionResponse) -> ActionResult:
            result = describe_execution(response)
            execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
            redrive.describe(execution, result.result)
            return result

        # moto dispatches a JSON action to the response method of the same name (snake case).
        with (
            mock.patch.object(StepFunctionResponse, "redrive_execution", redrive_execution, create=True),
            mock.patch.object(StepFunctionResponse, "describe_execution", describe_with_redrive),
        ):
            yield self
