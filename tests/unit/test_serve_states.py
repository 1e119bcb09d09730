"""`videoflow serve`'s step view: the execution history turned into states entered, exited, retried and caught."""

import json
from datetime import UTC, datetime, timedelta

from videoflow.serve.states import state_types, transitions

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def history(*rows) -> list[dict]:
    """(type, details) rows -> history events with ids, previousEventId and a time each, as Step Functions lists them."""
    events = []
    for number, (kind, details) in enumerate(rows, 1):
        event = {"id": number, "previousEventId": number - 1, "type": kind, "timestamp": T0 + timedelta(seconds=number)}
        if details is not None:
            key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails",
                   "ParallelStateEntered": "stateEnteredEventDetails"}.get(kind, "lambdaFunctionFailedEventDetails")
            event[key] = details
        events.append(event)
    return events


def test_a_task_that_failed_once_and_then_succeeded_was_retried_not_caught():
    events = history(
        ("TaskStateEntered", {"name": "ProbeMedia"}),
        ("LambdaFunctionFailed", {"error": "TransientError", "cause": "slow down"}),
        ("LambdaFunctionSucceeded", None),
        ("TaskStateExited", {"name": "ProbeMedia"}),
    )

    entered, failed, exited = transitions("job1", events, {}, {"ProbeMedia": "Task"})

    assert (entered["kind"], entered["state"], entered["type"]) == ("entered", "ProbeMedia", "Task")
    assert (failed["kind"], failed["state"], failed["error"], failed["cause"]) == \
        ("failed", "ProbeMedia", "TransientError", "slow down")
    assert (exited["kind"], exited["caught"]) == ("exited", False)
    assert [t["key"] for t in (entered, failed, exited)] == ["job1:1", "job1:2", "job1:4"]
    assert entered["at"] == (T0 + timedelta(seconds=1)).isoformat()


def test_a_task_whose_error_went_to_a_catch_is_marked_caught_with_the_lambda_error_message_only():
    cause = json.dumps({"errorType": "NotAVideo", "errorMessage": "The file looks like a PDF document, not a video.",
                        "stackTrace": ["  File \"handler.py\", line 7"]})
    events = history(
        ("TaskStateEntered", {"name": "ValidateUpload"}),
        ("LambdaFunctionFailed", {"error": "NotAVideo", "cause": cause}),
        ("TaskStateExited", {"name": "ValidateUpload"}),
    )

    _, failed, exited = transitions("job1", events, {}, {})

    assert failed["cause"] == "The file looks like a PDF document, not a video."
    assert exited["caught"] is True


def test_a_failure_inside_a_parallel_branch_belongs_to_the_state_it_followed_not_the_last_one_entered():
    events = history(
        ("ParallelStateEntered", {"name": "Analysis"}),
        ("TaskStateEntered", {"name": "StartTranscription"}),  # 2, branch 1
        ("TaskStateEntered", {"name": "AnalyzeFrames"}),  # 3, branch 2
        ("LambdaFunctionFailed", {"error": "Boom", "cause": ""}),  # follows 2
    )
    events[3]["previousEventId"] = 2

    failed = transitions("job1", events, {"StartTranscription": "Analysis 1/2", "AnalyzeFrames": "Analysis 2/2"},
                          {})[-1]

    assert (failed["state"], failed["branch"]) == ("StartTranscription", "Analysis 1/2")


def test_state_types_include_the_states_inside_parallel_branches_and_maps():
    definition = {"States": {
        "Analysis": {"Type": "Parallel", "Branches": [{"States": {"HasAudio?": {"Type": "Choice"}}}]},
        "RenderClips": {"Type": "Map", "ItemProcessor": {"States": {"Render": {"Type": "Task"}}}},
    }}

    assert state_types(definition) == {"Analysis": "Parallel", "HasAudio?": "Choice", "RenderClips": "Map",
                                        "Render": "Task"}
