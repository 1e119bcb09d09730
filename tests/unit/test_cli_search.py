"""`videoflow search JOB "query"`: an exported job folder's index, searched through the inference server.

Most tests point --server at an in-process server (the model loaded once); one starts the
real local server as a subprocess, as the command does by default.
"""

import json
import re

import pytest

from lambdas.common import storage
from lambdas.common.events import EventLog
from lambdas.common.keys import index_key, manifest_key
from lambdas.common.search import build_index, index_to_json
from videoflow.cli import main
from videoflow.local.export import export_job
from videoflow.search import LocalEmbedder

JOB_ID = "65b2a1c7d4737de620c77d5a33e866a6"
SEGMENTS = [
    {"start_s": 0.0, "end_s": 5.5, "text": "Hello and welcome to this short tour of the garden."},
    {"start_s": 12.0, "end_s": 18.0, "text": "These tomatoes need watering twice a day in the summer heat."},
    {"start_s": 25.0, "end_s": 31.0, "text": "The old apple tree was planted by my grandfather."},
    {"start_s": 40.0, "end_s": 46.0, "text": "Shot 4 (40–46 s): no faces, bright, sharp; no speech"},
]
LINE = re.compile(r"^  (\d+\.\d)–(\d+\.\d) s  (-?\d\.\d\d)  (.+)$")


@pytest.fixture(scope="module")
def index_document() -> dict:
    return index_to_json(build_index(JOB_ID, SEGMENTS, LocalEmbedder()))




@pytest.fixture
def exported(tmp_path, index_document):
    """DIR/<job>/ as `videoflow run` leaves it: manifest.json naming index.json beside it."""
    folder = tmp_path / "out" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"job_id": JOB_ID, "status": "COMPLETED",
                                                      "search_index": "index.json"}))
    (folder / "index.json").write_text(json.dumps(index_document))
    return tmp_path / "out"


def test_search_prints_the_matching_moment_first(exported, server_url, capsys):
    code = main(["search", JOB_ID, "how often should I water the plants", "--out", str(exported),
                 "--server", server_url, "-k", "2"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert 1 <= len(lines) <= 2
    start, end, score, text = LINE.match(lines[0]).groups()
    assert (start, end) == ("12.0", "18.0")
    assert 0 < float(score) <= 1
    assert text.startswith("These tomatoes need watering")


def test_search_json_is_the_api_answer(exported, server_url, capsys):
    code = main(["search", JOB_ID, "who planted the tree?", "--out", str(exported), "--server", server_url, "--json"])

    answer = json.loads(capsys.readouterr().out)
    assert code == 0
    assert answer["job_id"] == JOB_ID and answer["query"] == "who planted the tree?"
    assert answer["moments"][0]["start_s"] == 25.0
    assert set(answer["moments"][0]) == {"start_s", "end_s", "text", "score"}


def test_search_starts_the_local_inference_server_when_none_is_given(exported, capsys):
    code = main(["search", JOB_ID, "fruit trees and family history", "--out", str(exported), "-k", "1"])

    out = capsys.readouterr()
    assert code == 0, out.err
    assert LINE.match(out.out.splitlines()[0]).group(1) == "25.0"
    assert "starting the local inference server" in out.err


def test_a_missing_job_folder_exits_2_and_says_so(tmp_path, capsys):
    code = main(["search", "no-such-job", "anything", "--out", str(tmp_path)])

    assert code == 2
    assert f"No job folder {tmp_path / 'no-such-job'}/" in capsys.readouterr().err


def test_a_job_without_an_index_exits_2_and_says_so(exported, capsys):
    (exported / JOB_ID / "index.json").unlink()

    code = main(["search", JOB_ID, "tomatoes", "--out", str(exported), "--server", "http://127.0.0.1:9"])

    assert code == 2
    assert f"Job {JOB_ID} has no search index" in capsys.readouterr().err


def test_k_outside_1_to_50_exits_2(exported, capsys):
    assert main(["search", JOB_ID, "tomatoes", "--out", str(exported), "-k", "0", "--server", "http://x:1"]) == 2


def test_an_unreachable_server_exits_1_with_the_reason(exported, capsys):
    code = main(["search", JOB_ID, "tomatoes", "--out", str(exported), "--server", "http://127.0.0.1:9"])

    assert code == 1
    assert capsys.readouterr().err.startswith("FAILED: inference server unreachable")


def test_export_puts_the_index_beside_the_manifest(aws_state, tmp_path, index_document):
    bucket = "videoflow-output"
    storage.put_json(bucket, manifest_key(JOB_ID), {"job_id": JOB_ID, "status": "COMPLETED",
                                                    "source": {"name": "garden.mp4"}})
    aws_state.put_object(Bucket=bucket, Key=index_key(JOB_ID), Body=json.dumps(index_document).encode())

    folder = export_job(aws_state, bucket, "videoflow-events", JOB_ID, tmp_path)

    assert json.loads((folder / "manifest.json").read_text())["search_index"] == "index.json"
    assert json.loads((folder / "index.json").read_text())["count"] == len(SEGMENTS)


def test_export_of_a_job_without_an_index_names_none(aws_state, tmp_path):
    storage.put_json("videoflow-output", manifest_key(JOB_ID), {"job_id": JOB_ID, "status": "REJECTED",
                                                                "reason": "not a video", "source": {"name": "x"}})

    folder = export_job(aws_state, "videoflow-output", "videoflow-events", JOB_ID, tmp_path)

    assert "search_index" not in json.loads((folder / "manifest.json").read_text())
    assert not (folder / "index.json").exists()
    assert EventLog("videoflow-events").read(JOB_ID) == []

