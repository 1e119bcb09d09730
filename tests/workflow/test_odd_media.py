"""Odd media through the whole synthesized workflow: what a user gets for a blink of a video and for a broadcast file.

tests/unit/test_odd_media.py checks each oddity at the MediaConvert step; here two files go
through every step, to show the pieces (probe, limits, settings, the local MediaConvert, the
audio track choice in record_derivatives, Transcribe) add up to what the user sees.
"""

import json
import re
from pathlib import Path

import pytest

from tests.media import make_video
from tests.odd_media import ffprobe, make_hdr, picture_stats, reference_stats

SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
SPOKEN = "he was not an ill disposed young man".split()


def test_a_video_of_0_45_s_is_rejected_as_too_short_with_its_length(run_job, tmp_path):
    job = run_job(make_video(tmp_path / "blink.mp4", seconds=0.45, fps=20, width=320, height=180))

    assert job.execution["status"] == "SUCCEEDED"
    assert (job.manifest["status"], job.manifest["reason_code"]) == ("REJECTED", "DURATION_TOO_SHORT")
    assert re.fullmatch(r"The video lasts 0\.4\d s; at least 0\.5 s is needed\.", job.manifest["reason"])
    assert "derivatives.planned" not in job.event_types  # nothing was transcoded, nothing billed


@pytest.mark.skipif(not SPEECH.is_file(), reason="needs Debian's pocketsphinx-testdata (make tools)")
def test_an_hdr_422_mpeg_ts_whose_speech_is_in_a_second_5_1_track_gives_an_sdr_proxy_and_a_transcript(
        run_job, tmp_path):
    # HEVC Main 4:2:2 10 in HDR10 (PQ), in MPEG-TS; audio track 1 is a silent stereo pair, track 2 is
    # 5.1 with the speech in its centre channel: before, the transcript came from track 1 and was empty.
    video = make_hdr(tmp_path / "broadcast.ts", chroma="422", container="ts", seconds=3,
                     audio=["silent", f"5.1:{SPEECH}"])

    job = run_job(video)

    assert job.manifest["status"] == "COMPLETED"
    recorded = next(e for e in job.events if e["type"] == "derivatives.recorded")["detail"]
    assert (recorded["audio_track"], recorded["silent_audio_tracks"]) == (2, [1])
    transcript = json.loads((job.folder / job.manifest["transcript"]).read_text())
    heard = {re.sub(r"[^a-z']", "", word["text"].lower()) for word in transcript["words"]}
    assert len(heard & set(SPOKEN)) >= 3, f"heard {sorted(heard)}"
    proxy = job.folder / job.manifest["derivatives"]["proxy"]
    picture = next(s for s in ffprobe(proxy)["streams"] if s["codec_type"] == "video")
    assert (picture["pix_fmt"], picture["color_transfer"], picture["color_primaries"]) == ("yuv420p", "bt709", "bt709")
    assert picture_stats(proxy)["SATAVG"] >= 0.75 * reference_stats()["SATAVG"]  # tone-mapped, not washed out
