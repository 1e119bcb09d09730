"""aggregate_frames: every chunk's results, one sorted frame timeline in S3, and a clear error for what is missing.

Over the generated footage of tests/vision.py, analysed chunk by chunk by the real worker.
"""


import pytest

from containers.frames import worker
from lambdas.aggregate_frames.handler import handler as aggregate_handler
from lambdas.aggregate_frames.logic import AggregateRequest, FrameResultsMissing, aggregate_frames, chunk_result_key
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.detect_shots.handler import handler as detect_handler
from tests.vision import (
    INTERVAL_S,
    JOB_ID,
    OUTPUT_BUCKET,
    chunk_result,
    publish_frames,
    run_all_chunks,
    worker_env,
    workflow_state,
)
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def test_given_every_chunk_analysed_when_aggregated_then_the_timeline_is_one_sorted_list_in_s3(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)
    state = {**workflow_state(ref.frame_count), "frame_manifest": ref.model_dump()}

    answer = aggregate_handler(state, LocalLambdaContext("aggregate_frames"))

    assert answer == {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/timeline.json",
                      "frame_count": len(cut_frames), "faces_frames": 0}
    timeline = storage.get_json(OUTPUT_BUCKET, answer["key"])
    assert [frame["index"] for frame in timeline["frames"]] == list(range(len(cut_frames)))
    assert timeline["interval_s"] == INTERVAL_S


def test_given_a_chunk_result_missing_when_aggregated_then_frame_results_missing_names_the_chunk(
    aws_state, cut_frames,
):
    ref = publish_frames(aws_state, cut_frames)
    worker.main(worker_env(ref, 0))  # chunk 1 never ran
    request = AggregateRequest.model_validate({**workflow_state(ref.frame_count), "frame_manifest": ref.model_dump()})

    with pytest.raises(FrameResultsMissing, match=r"missing for 1 of 2 chunk\(s\) \(1; expected s3://") as raised:
        aggregate_frames(request, EventLog("videoflow-events"))

    assert chunk_result_key(JOB_ID, 1) in str(raised.value)
    assert FrameResultsMissing.code == "FRAME_RESULTS_MISSING"


def test_given_a_chunk_result_short_of_frames_when_aggregated_then_the_missing_frames_are_named(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)
    partial = chunk_result(aws_state, 1)
    partial["frames"] = partial["frames"][:-2]
    storage.put_json(OUTPUT_BUCKET, chunk_result_key(JOB_ID, 1), partial)
    request = AggregateRequest.model_validate({**workflow_state(ref.frame_count), "frame_manifest": ref.model_dump()})

    with pytest.raises(FrameResultsMissing, match=r"missing frame\(s\) 13-14"):
        aggregate_frames(request, EventLog("videoflow-events"))


def test_given_the_branch_ran_when_the_handlers_answer_then_state_stays_small_and_events_are_logged(
    aws_state, cut_frames,
):
    ref = publish_frames(aws_state, cut_frames)
    run_all_chunks(ref)
    state = {**workflow_state(ref.frame_count), "frame_manifest": ref.model_dump()}
    state["frame_timeline"] = aggregate_handler(state, LocalLambdaContext("aggregate_frames"))

    answer = detect_handler(state, LocalLambdaContext("detect_shots"))

    assert answer == {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/shots.json", "shot_count": 4}
    events = EventLog("videoflow-events").read(JOB_ID)
    assert [event.type for event in events] == ["frames.manifest_built", "frames.aggregated", "shots.detected"]
    assert events[-1].detail == {"shot_count": 4, "shots_key": f"analysis/{JOB_ID}/shots.json"}
