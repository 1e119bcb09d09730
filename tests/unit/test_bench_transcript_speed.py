"""bench/transcript_speed.py: the long sample it builds and the figures it derives from the timings."""

import wave

from bench.transcript_speed import Runs, long_sample, summarize, totals
from bench.transcript_wer import SAMPLE_RATE_HZ, Clip, write_wav


def _clip(folder, name, seconds, text):
    pcm = b"\x01\x00" * int(seconds * SAMPLE_RATE_HZ)
    return Clip("short", name, write_wav(folder / f"{name}.wav", pcm), text)


def test_long_sample_repeats_the_clips_with_pauses_until_it_reaches_the_target(tmp_path):
    clips = [_clip(tmp_path, "a", 1.0, "one two"), _clip(tmp_path, "b", 2.0, "three")]

    sample = long_sample(clips, tmp_path, target_s=8.0, gap_s=0.5)

    with wave.open(str(sample.path), "rb") as out:
        seconds = out.getnframes() / out.getframerate()
    # a, b, a, b, a, b: 6 clips (9 s of speech) and 5 pauses: the third round is the first to pass 8 s.
    assert seconds == 9.0 + 5 * 0.5
    assert sample.reference == "one two three one two three one two three"
    assert sample.name == "2 clips x 3, 0.5 s pauses"


def test_summary_takes_medians_real_time_factors_and_ratios_to_the_baselines():
    clip = Clip("set", "c", None, "go forward ten meters")
    runs = {
        "whisper": Runs(wall_s=[3.0, 1.0, 2.0], cpu_s=[4.0, 4.0, 6.0], texts=["Go forward 10 meters."] * 3),
        "pocketsphinx": Runs(wall_s=[4.0, 4.0, 4.0], cpu_s=[4.0, 4.0, 4.0],
                             texts=["go forward ten", "go forward ten", "go forward ten"]),
        "ffmpeg": Runs(wall_s=[0.1, 0.1, 0.2], cpu_s=[0.05, 0.05, 0.05], texts=["", "", ""]),
    }

    row = summarize(clip, 10.0, runs)

    assert row["whisper"]["wall_s"] == 2.0 and row["whisper"]["rtf"] == 0.2
    assert row["whisper"]["cpu_per_audio_s"] == 0.4
    assert row["whisper"]["wer"] == 0.0 and row["whisper"]["same_text_every_run"]
    assert row["pocketsphinx"]["wer"] == 0.25 and row["pocketsphinx"]["deletions"] == 1
    assert row["whisper"]["rtf_over_pocketsphinx"] == 0.5
    assert row["whisper"]["rtf_over_ffmpeg"] == 20.0
    assert "wer" not in row["ffmpeg"]

    second = summarize(Clip("set", "d", None, "go"), 30.0, {name: Runs(run.wall_s, run.cpu_s, ["go"] * 3)
                                                        for name, run in runs.items()})
    total = totals([row, second], ["whisper", "pocketsphinx", "ffmpeg"])["set"]
    assert total["audio_s"] == 40.0
    assert total["whisper"]["wall_s"] == 4.0 and total["whisper"]["rtf"] == 0.1
    assert total["whisper"]["reference_words"] == 5 and total["pocketsphinx"]["errors"] == 1
    assert total["whisper"]["rtf_over_pocketsphinx"] == 0.5
