"""The workflow's side of a job's progress: its execution history as states entered, exited and failed.

The event log says what each step produced; the history says when each state started and
ended, which the page needs to show a step while it runs. Both are persistent, so a page that
reconnects gets both again.
"""

import json
from datetime import datetime

FAILED_HISTORY_EVENTS = ("TaskFailed", "LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskTimedOut",
                         "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")


def state_types(definition: dict) -> dict[str, str]:
    """State name -> its Type (Task, Parallel, Map, Choice, Wait, ...), including states inside branches and maps."""
    found: dict[str, str] = {}

    def walk(states: dict) -> None:
        for name, state in states.items():
            found[name] = state.get("Type", "")
            for branch in state.get("Branches", []):
                walk(branch.get("States", {}))
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key].get("States", {}))

    walk(definition.get("States", {}))
    return found


def transitions(execution: str, history: list[dict], branches: dict[str, str], types: dict[str, str]) -> list[dict]:
    """Execution history -> what the page shows: each state entered, exited or failed, with its time."""
    out = []
    by_id = {event["id"]: event for event in history}

    def state(name: str | None) -> dict:
        return {"state": name, "type": types.get(name or ""), "branch": branches.get(name or "")}

    def entered_before(event: dict) -> str | None:
        """The state a failure belongs to: follow previousEventId back to its StateEntered."""
        seen = 0
        while event and seen < len(by_id):
            if event["type"].endswith("StateEntered"):
                return event["stateEnteredEventDetails"]["name"]
            event, seen = by_id.get(event.get("previousEventId")), seen + 1
        return None

    for event in history:
        kind, at = event["type"], event["timestamp"]
        base = {"key": f"{execution}:{event['id']}", "execution": execution, "at": _iso(at)}
        if kind.endswith("StateEntered"):
            out.append({**base, "kind": "entered", **state(event["stateEnteredEventDetails"]["name"])})
        elif kind.endswith("StateExited"):
            previous = by_id.get(event.get("previousEventId")) or {}
            caught = previous.get("type", "").endswith(("Failed", "TimedOut", "Aborted"))  # left through a Catch
            out.append({**base, "kind": "exited", **state(event["stateExitedEventDetails"]["name"]), "caught": caught})
        elif kind in FAILED_HISTORY_EVENTS:
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            name = None if kind.startswith("Execution") else entered_before(event)
            out.append({**base, "kind": "failed", **state(name), "error": details.get("error", ""),
                        "cause": cause_message(details.get("cause") or "")})
        elif kind == "ExecutionSucceeded":
            out.append({**base, "kind": "finished", **state(None), "status": "SUCCEEDED"})
    return out


def cause_message(cause: str, limit: int = 500) -> str:
    """A failure's cause as a person reads it: a Lambda error's message, without its stack trace."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        cause = parsed["errorMessage"]
    return cause if len(cause) <= limit else cause[:limit - 1] + "…"


def _iso(moment) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)
