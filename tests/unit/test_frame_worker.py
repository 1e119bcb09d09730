"""The vision branch: frame worker (one Batch array child per chunk) -> aggregate_frames -> detect_shots.

A generated video with hard cuts at known times is turned into MediaConvert-named frames (one
every 2 s, from t = 0), put in moto's S3 and chunked by the real build_frame_manifest. The
worker runs in-process once per array index; the last test runs it as a real process
against a moto server over HTTP, as the local Batch adapter and AWS Batch do.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from containers.frames import worker
from lambdas.aggregate_frames.handler import handler as aggregate_handler
from lambdas.aggregate_frames.logic import (
    AggregateRequest,
    FrameResultsMissing,
    aggregate_frames,
    chunk_result_key,
    frame_results_prefix,
)
from lambdas.build_frame_manifest.logic import FrameManifestRequest, build_frame_manifest
from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.models import FrameManifestRef
from lambdas.detect_shots.handler import handler as detect_handler
from lambdas.detect_shots.logic import ShotsRequest, build_shots, detect_shots, find_cuts
from stacks.images import stage_image
from tests.media import make_video
from videoflow.local.lambda_runtime import LocalLambdaContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROOT = Path(__file__).resolve().parents[2]
JOB_ID = "job-vision-00000001"
OUTPUT_BUCKET = "videoflow-output"
FRAMES_PREFIX = f"derivatives/{JOB_ID}/frames/"
INTERVAL_S = 2
DURATION_S = 30.0
# Cut at 15 s falls between frame 7 (t = 14, the last of chunk 0) and frame 8 (t = 16, the first
# of chunk 1): only the previous chunk's last frame lets chunk 1 see it.
CUTS_S = [5.0, 15.0, 23.0]
FRAMES_PER_CHUNK = 8


def _extract_frames(video: Path, folder: Path) -> list[Path]:
    """A JPEG every 2 s from t = 0, shorter side 540, named as MediaConvert names them (frame.0000000.jpg).

    `round=up` makes frame k the picture at k * 2 s, as MediaConvert's frame capture does; the
    fps filter's default (round=near) would give the last picture before k * 2 + 1 s.
    """
    folder.mkdir(exist_ok=True)
    subprocess.run(
        [shutil.which("ffmpeg"), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
         "-vf", f"fps=1/{INTERVAL_S}:round=up,scale=-2:540", "-q:v", "3", "-start_number", "0",
         str(folder / "frame.%07d.jpg")],
        check=True, capture_output=True, timeout=60,
    )
    return sorted(folder.glob("frame.*.jpg"))


@pytest.fixture(scope="module")
def cut_frames(media, tmp_path_factory):
    video = media("cuts.mp4", make_video, seconds=DURATION_S, width=960, height=540, audio=False, cuts=CUTS_S)
    return _extract_frames(video, tmp_path_factory.mktemp("cut-frames"))


@pytest.fixture(scope="module")
def still_frames(media, tmp_path_factory):
    """One continuous shot of a moving test pattern: motion, no cut."""
    video = media("one-shot.mp4", make_video, seconds=20, width=960, height=540, audio=False)
    return _extract_frames(video, tmp_path_factory.mktemp("one-shot-frames"))


class _NoEvents:
    """Stands in for the event log where no events table exists (the moto server test)."""

    def append(self, *args, **kwargs):
        return None


def _state(count: int, duration_s: float = DURATION_S) -> dict:
    return {
        "job_id": JOB_ID,
        "source": {"bucket": "videoflow-ingest", "key": "uploads/cuts.mp4", "version_id": "v1", "etag": "e",
                   "size_bytes": 1_000_000},
        "media": {"container": "mp4", "duration_s": duration_s, "size_bytes": 1_000_000, "video_codec": "h264",
                  "coded_width": 960, "coded_height": 540, "width": 960, "height": 540, "frame_rate": 25.0,
                  "has_audio": False},
        "derivatives": {
            "proxy": {"bucket": OUTPUT_BUCKET, "key": f"derivatives/{JOB_ID}/proxy/proxy.mp4", "width": 960,
                      "height": 540, "duration_s": duration_s},
            "audio": None,
            "audio_absent_reason": "no audio",
            "frames": {"bucket": OUTPUT_BUCKET, "prefix": FRAMES_PREFIX, "count": count, "interval_s": INTERVAL_S},
        },
    }


def _publish_frames(s3, frames: list[Path], events=None) -> FrameManifestRef:
    """The frames in S3 as MediaConvert leaves them, and the real frame manifest over them."""
    for frame in frames:
        s3.put_object(Bucket=OUTPUT_BUCKET, Key=FRAMES_PREFIX + frame.name, Body=frame.read_bytes())
    request = FrameManifestRequest.model_validate(_state(len(frames)))
    return build_frame_manifest(request, FRAMES_PER_CHUNK, events or EventLog("videoflow-events"))


def _worker_env(ref: FrameManifestRef, index: int | None) -> dict:
    env = {"FRAME_MANIFEST_BUCKET": ref.bucket, "FRAME_MANIFEST_KEY": ref.key,
           "RESULTS_PREFIX": frame_results_prefix(JOB_ID)}
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return env


def _run_all_chunks(ref: FrameManifestRef) -> None:
    for index in range(ref.chunk_count):
        assert worker.main(_worker_env(ref, index)) == worker.EXIT_OK


def _vision(ref: FrameManifestRef, duration_s: float = DURATION_S) -> dict:
    """aggregate_frames then detect_shots, as the workflow runs them; returns shots.json."""
    state = {**_state(ref.frame_count, duration_s), "frame_manifest": ref.model_dump()}
    events = EventLog("videoflow-events")
    timeline = aggregate_frames(AggregateRequest.model_validate(state), events)
    shots = detect_shots(ShotsRequest.model_validate({**state, "frame_timeline": timeline.model_dump()}), events)
    return storage.get_json(shots.bucket, shots.key)


def _result(s3, chunk: int) -> dict:
    return json.loads(s3.get_object(Bucket=OUTPUT_BUCKET, Key=chunk_result_key(JOB_ID, chunk))["Body"].read())


# --- the worker ------------------------------------------------------------------------------


def test_given_a_two_chunk_manifest_when_each_array_index_runs_then_each_chunk_has_its_result(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)

    _run_all_chunks(ref)

    assert ref.chunk_count == 2
    first, second = _result(aws_state, 0), _result(aws_state, 1)
    assert (first["chunk"], second["chunk"]) == (0, 1)
    assert [frame["index"] for frame in first["frames"] + second["frames"]] == list(range(len(cut_frames)))
    frame = second["frames"][0]
    assert set(frame) == {"index", "t_s", "key", "shot_change_score", "sharpness", "brightness", "faces"}
    assert (frame["index"], frame["t_s"], frame["key"]) == (8, 16, f"{FRAMES_PREFIX}frame.0000008.jpg")


def test_given_a_cut_on_a_chunk_boundary_when_the_second_chunk_runs_then_its_first_frame_scores_the_cut(
    aws_state, cut_frames,
):
    ref = _publish_frames(aws_state, cut_frames)

    _run_all_chunks(ref)

    first_of_chunk_1 = _result(aws_state, 1)["frames"][0]
    assert first_of_chunk_1["index"] == FRAMES_PER_CHUNK
    assert first_of_chunk_1["shot_change_score"] > 0.5


def test_given_no_array_index_when_the_worker_runs_then_it_is_a_single_job_over_chunk_0(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)

    assert worker.main(_worker_env(ref, None)) == worker.EXIT_OK

    assert _result(aws_state, 0)["chunk"] == 0
    assert _result(aws_state, 0)["frames"][0]["shot_change_score"] == 0.0


def test_given_a_chunk_already_analysed_when_the_worker_runs_again_then_the_result_is_the_same(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)
    worker.main(_worker_env(ref, 1))
    before = _result(aws_state, 1)

    assert worker.main(_worker_env(ref, 1)) == worker.EXIT_OK

    assert _result(aws_state, 1) == before


def test_given_a_missing_environment_variable_when_the_worker_starts_then_it_exits_2_and_names_it(capsys):
    code = worker.main({"FRAME_MANIFEST_BUCKET": OUTPUT_BUCKET})

    assert code == worker.EXIT_CONFIG
    assert "FRAME_MANIFEST_KEY, RESULTS_PREFIX" in capsys.readouterr().err


def test_given_an_array_index_beyond_the_manifest_when_the_worker_runs_then_it_exits_3(aws_state, cut_frames, capsys):
    ref = _publish_frames(aws_state, cut_frames)

    code = worker.main(_worker_env(ref, 5))

    assert code == worker.EXIT_INPUT
    assert "chunk 5 is not in" in capsys.readouterr().err


def test_given_a_frame_deleted_from_s3_when_the_worker_runs_then_it_exits_3_naming_the_frame(
    aws_state, cut_frames, capsys,
):
    ref = _publish_frames(aws_state, cut_frames)
    aws_state.delete_object(Bucket=OUTPUT_BUCKET, Key=f"{FRAMES_PREFIX}frame.0000003.jpg")

    code = worker.main(_worker_env(ref, 0))

    assert code == worker.EXIT_INPUT
    assert f"{FRAMES_PREFIX}frame.0000003.jpg: it does not exist" in capsys.readouterr().err


def test_given_a_chunk_of_frames_when_the_worker_runs_then_it_logs_progress_to_stderr(aws_state, cut_frames, capsys):
    ref = _publish_frames(aws_state, cut_frames)

    worker.main(_worker_env(ref, 0))

    assert "chunk 0: 8/8 frames" in capsys.readouterr().err


# --- aggregate_frames and detect_shots ---------------------------------------------------------


def test_given_a_video_with_three_hard_cuts_when_the_branch_runs_then_each_cut_is_found_within_one_interval(
    aws_state, cut_frames,
):
    ref = _publish_frames(aws_state, cut_frames)
    _run_all_chunks(ref)

    shots = _vision(ref)["shots"]

    found = [shot["start_s"] for shot in shots[1:]]
    assert len(found) == len(CUTS_S)
    assert all(abs(at - cut) <= INTERVAL_S for at, cut in zip(found, CUTS_S, strict=True)), found


def test_given_detected_shots_when_listed_then_they_cover_the_whole_video_without_gaps(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)
    _run_all_chunks(ref)

    shots = _vision(ref)["shots"]

    assert shots[0]["start_s"] == 0.0 and shots[-1]["end_s"] == DURATION_S
    assert all(earlier["end_s"] == later["start_s"] for earlier, later in zip(shots, shots[1:], strict=False))
    assert [shot["first_frame"] for shot in shots] == [0, 3, 8, 12]  # frame 0, then the first after each cut
    assert all(shot["first_frame"] <= shot["keyframe"]["index"] <= shot["last_frame"] for shot in shots)


def test_given_one_continuous_moving_shot_when_the_branch_runs_then_there_is_one_shot(aws_state, still_frames):
    ref = _publish_frames(aws_state, still_frames)
    _run_all_chunks(ref)

    shots = _vision(ref, duration_s=20.0)["shots"]

    assert [(shot["start_s"], shot["end_s"]) for shot in shots] == [(0.0, 20.0)]


def test_given_every_chunk_analysed_when_aggregated_then_the_timeline_is_one_sorted_list_in_s3(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)
    _run_all_chunks(ref)
    state = {**_state(ref.frame_count), "frame_manifest": ref.model_dump()}

    answer = aggregate_handler(state, LocalLambdaContext("aggregate_frames"))

    assert answer == {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/timeline.json",
                      "frame_count": len(cut_frames), "faces_frames": 0}
    timeline = storage.get_json(OUTPUT_BUCKET, answer["key"])
    assert [frame["index"] for frame in timeline["frames"]] == list(range(len(cut_frames)))
    assert timeline["interval_s"] == INTERVAL_S


def test_given_a_chunk_result_missing_when_aggregated_then_frame_results_missing_names_the_chunk(
    aws_state, cut_frames,
):
    ref = _publish_frames(aws_state, cut_frames)
    worker.main(_worker_env(ref, 0))  # chunk 1 never ran
    request = AggregateRequest.model_validate({**_state(ref.frame_count), "frame_manifest": ref.model_dump()})

    with pytest.raises(FrameResultsMissing, match=r"missing for 1 of 2 chunk\(s\) \(1; expected s3://") as raised:
        aggregate_frames(request, EventLog("videoflow-events"))

    assert chunk_result_key(JOB_ID, 1) in str(raised.value)
    assert FrameResultsMissing.code == "FRAME_RESULTS_MISSING"


def test_given_a_chunk_result_short_of_frames_when_aggregated_then_the_missing_frames_are_named(aws_state, cut_frames):
    ref = _publish_frames(aws_state, cut_frames)
    _run_all_chunks(ref)
    partial = _result(aws_state, 1)
    partial["frames"] = partial["frames"][:-2]
    storage.put_json(OUTPUT_BUCKET, chunk_result_key(JOB_ID, 1), partial)
    request = AggregateRequest.model_validate({**_state(ref.frame_count), "frame_manifest": ref.model_dump()})

    with pytest.raises(FrameResultsMissing, match=r"missing frame\(s\) 13-14"):
        aggregate_frames(request, EventLog("videoflow-events"))


def test_given_the_branch_ran_when_the_handlers_answer_then_state_stays_small_and_events_are_logged(
    aws_state, cut_frames,
):
    ref = _publish_frames(aws_state, cut_frames)
    _run_all_chunks(ref)
    state = {**_state(ref.frame_count), "frame_manifest": ref.model_dump()}
    state["frame_timeline"] = aggregate_handler(state, LocalLambdaContext("aggregate_frames"))

    answer = detect_handler(state, LocalLambdaContext("detect_shots"))

    assert answer == {"bucket": OUTPUT_BUCKET, "key": f"analysis/{JOB_ID}/shots.json", "shot_count": 4}
    events = EventLog("videoflow-events").read(JOB_ID)
    assert [event.type for event in events] == ["frames.manifest_built", "frames.aggregated", "shots.detected"]
    assert events[-1].detail == {"shot_count": 4, "shots_key": f"analysis/{JOB_ID}/shots.json"}


# --- the adaptive threshold on its own --------------------------------------------------------


def test_given_a_still_scene_when_one_frame_changes_moderately_then_it_is_a_cut():
    scores = [0.0, 0.04, 0.05, 0.03, 0.05, 0.38, 0.04, 0.05, 0.03, 0.04]

    assert find_cuts(scores) == [5]


def test_given_a_long_pan_when_one_frame_moves_a_little_more_then_it_is_not_a_cut():
    scores = [0.0, 0.27, 0.31, 0.29, 0.33, 0.41, 0.3, 0.28, 0.32, 0.3, 0.29]

    assert find_cuts(scores) == []


def test_given_a_burst_of_rapid_cuts_when_every_frame_changes_completely_then_every_one_is_a_cut():
    scores = [0.0, 0.05, 0.9, 0.85, 0.95, 0.8, 0.9, 0.05, 0.04]

    assert find_cuts(scores) == [2, 3, 4, 5, 6]


def test_given_noise_below_the_floor_when_scored_then_there_is_no_cut():
    scores = [0.0, 0.01, 0.0, 0.02, 0.25, 0.01, 0.0, 0.02]

    assert find_cuts(scores) == []


def test_given_no_frames_when_shots_are_built_then_one_shot_covers_the_video():
    assert build_shots([], [], 1.5) == [{"start_s": 0.0, "end_s": 1.5, "first_frame": None, "last_frame": None,
                                         "keyframe": None}]


# --- the worker as a process, over HTTP ---------------------------------------------------------


@pytest.fixture
def moto_server(moto_server_url):
    s3 = boto3.client("s3", endpoint_url=moto_server_url)
    s3.create_bucket(Bucket=OUTPUT_BUCKET)
    return moto_server_url, s3


def _run_worker_process(endpoint: str, env: dict) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env, "AWS_ENDPOINT_URL": endpoint,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "containers.frames.worker"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_given_a_moto_server_when_the_worker_runs_as_a_process_then_it_writes_its_chunk_over_http(
    moto_server, cut_frames,
):
    endpoint, s3 = moto_server
    ref = _publish_frames(s3, cut_frames, events=_NoEvents())

    completed = _run_worker_process(endpoint, _worker_env(ref, 1))

    assert completed.returncode == 0, completed.stderr
    assert "chunk 1: 7/7 frames" in completed.stderr
    result = _result(s3, 1)
    assert result["chunk"] == 1 and [frame["index"] for frame in result["frames"]] == list(range(8, 15))


def test_given_a_manifest_that_does_not_exist_when_the_process_runs_then_it_exits_3_with_a_clear_message(
    moto_server,
):
    endpoint, _ = moto_server

    completed = _run_worker_process(endpoint, {"FRAME_MANIFEST_BUCKET": OUTPUT_BUCKET,
                                               "FRAME_MANIFEST_KEY": "manifests/nobody/frames.json",
                                               "RESULTS_PREFIX": "analysis/nobody/frames/"})

    assert completed.returncode == worker.EXIT_INPUT
    assert completed.stderr.strip().splitlines()[-1] == (
        f"error: reading the frame manifest s3://{OUTPUT_BUCKET}/manifests/nobody/frames.json: "
        "it does not exist (NoSuchKey)"
    )


def test_given_the_image_layout_when_worker_py_runs_as_a_script_then_it_imports_its_analysis_beside_it(tmp_path):
    # The Dockerfile copies s3_errors.py, analysis.py and worker.py from the folder the stack stages into /app
    # and runs `python worker.py`.
    staged = stage_image("frames")
    for name in ("s3_errors.py", "analysis.py", "worker.py"):
        shutil.copy(staged / name, tmp_path / name)

    completed = subprocess.run([sys.executable, "worker.py"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60, env={**os.environ, "FRAME_MANIFEST_BUCKET": "", "FRAME_MANIFEST_KEY": "",
                                                "RESULTS_PREFIX": ""})

    assert completed.returncode == worker.EXIT_CONFIG, completed.stderr
    assert completed.stderr.strip() == (
        "error: missing environment variable(s): FRAME_MANIFEST_BUCKET, FRAME_MANIFEST_KEY, RESULTS_PREFIX"
    )
