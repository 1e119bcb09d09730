"""Benchmark: word error rate of the local speech-to-text engine on real read speech.

    .venv/bin/python bench/transcript_wer.py [--no-baseline]

The clips come from Debian's `pocketsphinx-testdata` package (apt-get install
pocketsphinx-testdata), under /usr/share/pocketsphinx/test/data, each with its reference text:

  librivox  five utterances of LibriVox's public-domain recording of "Sense and Sensibility"
            (one adult reader, 64 kb/s MP3 source, 16 kHz mono; 24.7 s, 71 words): real read
            speech, the figure the README quotes;
  librivox-long  the same five joined by 1.5 s of silence into one 30.7 s file, so the
            engine's long-form path (voice activity detection, 30 s windows) is measured too;
  commands  short read commands of CMU's tests ("go forward ten meters", five "cards"
            utterances like "eight of spades four of clubs seven of hearts"; 12.4 s, 25 words).

Each clip goes through the local engine exactly as `videoflow.local.transcribe` runs it (the
WhisperEngine, then `transcribe_output`, whose results.transcripts[0].transcript is scored).
pocketsphinx with its packaged en-us model is scored alongside as the baseline, when it is
installed (pip install pocketsphinx).

WER = (substitutions + deletions + insertions) / reference words, over word-level
Levenshtein alignment after normalization: lower case; "-" and "/" split words; other
punctuation removed except apostrophes inside words; numbers as words (10 -> ten, 3.5 -> three
point five, 21st -> twenty first, 10% -> ten percent, $5 -> five dollars); mr/mrs/dr/st ->
mister/missus/doctor/saint. Writes bench/results/transcript_wer.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from videoflow.local.transcribe import (  # noqa: E402
    MODEL_PACKAGE,
    WhisperEngine,
    transcribe_output,
)

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
RESULTS = ROOT / "bench" / "results" / "transcript_wer.json"
TARGET_WER = 0.15
SAMPLE_RATE_HZ = 16_000
LONG_GAP_S = 1.5


@dataclass(frozen=True)
class Clip:
    set: str
    name: str
    path: Path
    reference: str


# ---------------------------------------------------------------------------------------
# Normalization and WER
# ---------------------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
             "nine": "ninth", "twelve": "twelfth"}
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ms": "miss"}


def number_words(n: int) -> list[str]:
    """1984 -> one thousand nine hundred eighty four (cardinal, no 'and')."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for scale, name in _SCALES:
        if n >= scale:
            return number_words(n // scale) + [name] + (number_words(n % scale) if n % scale else [])
    raise ValueError(n)


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in _ORDINALS:
        last = _ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return words[:-1] + [last]


_NUMBER = re.compile(r"^(\$)?(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th|%|s)?$")


def _spell(token: str) -> list[str]:
    match = _NUMBER.match(token)
    if not match:
        return [token]
    currency, whole, fraction, suffix = match.groups()
    words = number_words(int(whole.replace(",", "")))
    if fraction:
        words += ["point"] + [_ONES[int(digit)] for digit in fraction]
    if suffix in ("st", "nd", "rd", "th"):
        words = _ordinal(words)
    elif suffix == "%":
        words += ["percent"]
    elif suffix == "s":  # 1990s -> ... ninety -> nineties
        words = words[:-1] + [words[-1][:-1] + "ies" if words[-1].endswith("y") else words[-1] + "s"]
    if currency:
        words += ["dollars"]
    return words


def normalize(text: str) -> list[str]:
    """Text -> the words WER compares (see the module docstring for the rules)."""
    words: list[str] = []
    for raw in re.split(r"[\s\-/–—]+", text.lower()):
        token = raw.strip(".,?!;:\"“”‘’()[]{}«»…*")
        token = token.replace("’", "'").strip("'")
        if not token:
            continue
        if token in _ABBREVIATIONS:
            words.append(_ABBREVIATIONS[token])
            continue
        for word in _spell(token):
            word = re.sub(r"[^a-z0-9']", "", word)
            if word:
                words.append(word)
    return words


def word_errors(reference: list[str], hypothesis: list[str]) -> dict:
    """Levenshtein alignment of two word lists: substitutions, deletions, insertions."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    substitutions = deletions = insertions = 0
    i, j = len(reference), len(hypothesis)
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]):
            substitutions += reference[i - 1] != hypothesis[j - 1]
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            deletions, i = deletions + 1, i - 1
        else:
            insertions, j = insertions + 1, j - 1
    return {"reference_words": len(reference), "substitutions": substitutions, "deletions": deletions,
            "insertions": insertions, "errors": substitutions + deletions + insertions}


def wer(reference: str, hypothesis: str) -> float:
    counts = word_errors(normalize(reference), normalize(hypothesis))
    return counts["errors"] / max(1, counts["reference_words"])


# ---------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------


def _sphinx_transcriptions(path: Path) -> dict[str, str]:
    """'<s> he was not an ill disposed young man </s> (utterance-id)' lines -> {id: text}."""
    texts = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if match:
            texts[match.group(2).strip()] = " ".join(match.group(1).split())
    return texts


def librivox_clips(testdata: Path = TESTDATA) -> list[Clip]:
    folder = testdata / "librivox"
    return [Clip("librivox", name, folder / f"{name}.wav", text)
            for name, text in _sphinx_transcriptions(folder / "transcription").items()]


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(pcm)
    return path


def read_pcm(path: Path) -> bytes:
    if path.suffix == ".raw":
        return path.read_bytes()
    with wave.open(str(path), "rb") as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (SAMPLE_RATE_HZ, 1, 2), path
        return clip.readframes(clip.getnframes())


def joined_clip(clips: list[Clip], folder: Path, gap_s: float = LONG_GAP_S) -> Clip:
    """The clips one after another with `gap_s` of digital silence between them, as one WAV."""
    silence = b"\x00\x00" * int(gap_s * SAMPLE_RATE_HZ)
    pcm = silence.join(read_pcm(clip.path) for clip in clips)
    path = write_wav(folder / "librivox-long.wav", pcm)
    return Clip("librivox-long", "sense_and_sensibility_01 (5 utterances, 1.5 s gaps)", path,
                " ".join(clip.reference for clip in clips))


def command_clips(folder: Path, testdata: Path = TESTDATA) -> list[Clip]:
    cards = testdata / "cards"
    clips = [Clip("commands", f"cards/{name}", cards / f"{name}.wav", text)
             for name, text in _sphinx_transcriptions(cards / "cards.transcription").items()]
    # goforward.raw is headerless 16 kHz 16-bit mono; its text is the one pocketsphinx's tests expect.
    goforward = write_wav(folder / "goforward.wav", (testdata / "goforward.raw").read_bytes())
    return [Clip("commands", "goforward", goforward, "go forward ten meters"), *clips]


def duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as clip:
        return clip.getnframes() / clip.getframerate()


# ---------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------


def whisper_transcript(engine: WhisperEngine, path: Path) -> str:
    document = transcribe_output("bench", "en-US", engine.transcribe(path))
    return document["results"]["transcripts"][0]["transcript"]


def pocketsphinx_decoder():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    decoder = Decoder(samprate=SAMPLE_RATE_HZ, loglevel="FATAL")

    def decode(path: Path) -> str:
        decoder.start_utt()
        decoder.process_raw(read_pcm(path), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis else ""

    return decode


def score(clips: list[Clip], transcribe) -> dict:
    per_clip, audio_s, wall_s = [], 0.0, 0.0
    for clip in clips:
        started = time.perf_counter()
        hypothesis = transcribe(clip.path)
        elapsed = time.perf_counter() - started
        counts = word_errors(normalize(clip.reference), normalize(hypothesis))
        seconds = duration_s(clip.path)
        audio_s, wall_s = audio_s + seconds, wall_s + elapsed
        per_clip.append({"set": clip.set, "clip": clip.name, "audio_s": round(seconds, 2),
                         "wall_s": round(elapsed, 3), "reference": clip.reference, "hypothesis": hypothesis,
                         **counts, "wer": round(counts["errors"] / max(1, counts["reference_words"]), 4)})
    sets = {}
    for name in dict.fromkeys(clip.set for clip in clips):
        rows = [row for row in per_clip if row["set"] == name]
        words = sum(row["reference_words"] for row in rows)
        errors = sum(row["errors"] for row in rows)
        audio = sum(row["audio_s"] for row in rows)
        wall = sum(row["wall_s"] for row in rows)
        sets[name] = {"clips": len(rows), "reference_words": words, "errors": errors,
                      "wer": round(errors / max(1, words), 4), "audio_s": round(audio, 2),
                      "x_real_time": round(audio / wall, 1) if wall else None}
    return {"sets": sets, "clips": per_clip, "x_real_time": round(audio_s / wall_s, 1) if wall_s else None}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def testdata_arguments(parser: argparse.ArgumentParser, results: Path) -> None:
    """--testdata (the read-speech clips) and --out (the results file): both transcript benchmarks take them."""
    parser.add_argument("--testdata", type=Path, default=TESTDATA)
    parser.add_argument("--out", type=Path, default=results)


def testdata_missing(testdata: Path) -> bool:
    """Whether the read-speech clips are missing (then it has said how to install them)."""
    if (testdata / "librivox" / "transcription").is_file():
        return False
    print(f"No test clips in {testdata}: apt-get install pocketsphinx-testdata", file=sys.stderr)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-baseline", action="store_true", help="skip the pocketsphinx baseline")
    testdata_arguments(parser, RESULTS)
    args = parser.parse_args(argv)
    if testdata_missing(args.testdata):
        return 2

    with tempfile.TemporaryDirectory() as folder:
        librivox = librivox_clips(args.testdata)
        clips = [*librivox, joined_clip(librivox, Path(folder)), *command_clips(Path(folder), args.testdata)]
        engine = WhisperEngine()
        started = time.perf_counter()
        engine.transcribe(clips[0].path)  # loads the model; the timed runs below are warm
        load_s = time.perf_counter() - started
        results = {
            "command": "python bench/transcript_wer.py",
            "normalization": "lower case; '-' and '/' split words; punctuation removed (apostrophes inside words "
                             "kept); numbers spelled out; mr/mrs/dr/st expanded",
            "target_wer": TARGET_WER,
            "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                        "cores": __import__("os").cpu_count()},
            "engines": {
                "whisper-tiny.en": {
                    "engine": f"faster-whisper {_version('faster-whisper')} (CTranslate2 {_version('ctranslate2')}, "
                              f"int8, {engine.cpu_threads} threads, beam {engine.beam_size}, Silero VAD)",
                    "model": f"Whisper tiny.en from PyPI {MODEL_PACKAGE.replace('_', '-')} "
                             f"{_version(MODEL_PACKAGE.replace('_', '-'))}",
                    "first_call_s": round(load_s, 2),
                    **score(clips, lambda path: whisper_transcript(engine, path)),
                },
            },
        }
        decode = None if args.no_baseline else pocketsphinx_decoder()
        if decode is not None:
            results["engines"]["pocketsphinx"] = {
                "engine": f"pocketsphinx {_version('pocketsphinx')} (default en-us model and 3-gram LM from its wheel)",
                **score(clips, decode),
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"{'engine':<18}{'set':<15}{'words':>6}{'errors':>7}{'WER':>8}{'x real time':>13}")
    for name, engine_results in results["engines"].items():
        for set_name, row in engine_results["sets"].items():
            print(f"{name:<18}{set_name:<15}{row['reference_words']:>6}{row['errors']:>7}{row['wer']:>8.1%}"
                  f"{row['x_real_time']:>13}")
    primary = results["engines"]["whisper-tiny.en"]["sets"]["librivox"]["wer"]
    print(f"librivox WER {primary:.1%} (target {TARGET_WER:.0%}) -> {args.out.relative_to(ROOT)}")
    return 0 if primary <= TARGET_WER else 1


if __name__ == "__main__":
    sys.exit(main())
