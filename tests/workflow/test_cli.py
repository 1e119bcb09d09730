"""`videoflow run` as a person uses it: one line that says what happened, and the exit code."""

import json

from tests.media import make_not_a_video, make_video
from videoflow.cli import EXIT_COMPLETED, EXIT_REJECTED, main


def test_run_on_a_video_exits_0_and_says_where_the_results_are(tmp_path, capsys):
    video = make_video(tmp_path / "clip.mp4", seconds=2)

    code = main(["run", str(video), "--out", str(tmp_path / "out")])

    out = capsys.readouterr()
    assert code == EXIT_COMPLETED
    assert out.out.startswith("COMPLETED: clip.mp4 → ")
    assert "✓ Derivatives" in out.err  # the progress display
    (folder,) = (tmp_path / "out").iterdir()
    assert json.loads((folder / "manifest.json").read_text())["status"] == "COMPLETED"


def test_run_on_a_file_that_is_not_a_video_exits_2_with_the_reason_in_one_line(tmp_path, capsys):
    document = make_not_a_video(tmp_path / "holiday.mp4", kind="pdf")

    code = main(["run", str(document), "--out", str(tmp_path / "out")])

    assert code == EXIT_REJECTED
    assert capsys.readouterr().out.splitlines()[0] == "REJECTED: The file looks like a PDF document, not a video."
