"""Benchmark: diarization error rate (DER) of the local speaker diarization on real recordings with a reference.

    .venv/bin/python bench/diarization.py [--thresholds 0.6,0.65,0.7,0.75,0.8]

Three sets, all real speech with a reference of who spoke when:

  call   a real two-person phone call (two women, "Diane in New Jersey" and "Sheila in Texas"),
         30 s, 16 kHz mono, with its reference turns (RTTM) and utterances (STM): the sample the
         PyPI wheel pyannote.audio==4.0.7 (MIT) ships in pyannote/audio/sample/ (make setup
         installs it with --no-deps from tools/requirements-model.txt; nothing of it is imported).
  read   four conversations made here from two real speakers of Debian's pocketsphinx-testdata
         (BSD): the LibriVox reader of "Sense and Sensibility" (five utterances, 24.7 s) and the
         speaker of CMU's "cards" recordings (five utterances, 9.7 s), their utterances taken
         in turn with 0.4 s of silence between them. Made, not recorded as one conversation (each
         voice keeps its own recording channel), so it is the easier set; the reference of each
         turn is its utterance's span where its 10 ms frames are within 35 dB of its loudest.
  solo   each of those two speakers alone (all five utterances in a row): one speaker, which a
         diarizer that splits a voice in two gets wrong.

The similarity threshold (diarize.SIMILARITY_THRESHOLD) is the one that scores best over all three
sets (--thresholds sweeps them): none of the sets is held out, and with a single real conversation
and made ones from a single pair of voices, the figures say how the engine behaves, not how it
generalises.

DER = (missed speech + false alarm + speaker confusion) / reference speech, scored on 10 ms
frames with the usual 0.25 s collar (frames within 0.25 s of a reference boundary are not
scored), overlapping speech scored, and hypothesis speakers mapped one-to-one onto reference
speakers to maximise the time they share (as NIST md-eval and pyannote.metrics do). For the call,
the whisper engine's words are also given speakers (diarize.assign_speakers) and scored against
the STM: the share of words whose speaker is the reference speaker of the utterance around them.
Writes bench/results/diarization.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from containers.transcribe import diarize, engine  # noqa: E402

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
RESULTS = ROOT / "bench" / "results" / "diarization.json"
COLLAR_S = 0.25
FRAME_S = 0.01
GAP_S = 0.4
READER = [f"librivox/sense_and_sensibility_01_austen_64kb-0{n}.wav" for n in (870, 880, 890, 920, 930)]
CARDS = [f"cards/00{n}.wav" for n in range(1, 6)]
# Which utterance each made conversation takes, in turn: (speaker, index into READER or CARDS).
CONVERSATIONS = {
    "read-alternating": [("reader", 1), ("cards", 0), ("reader", 4), ("cards", 1), ("reader", 2), ("cards", 4)],
    "read-cards-first": [("cards", 4), ("reader", 0), ("cards", 2), ("reader", 3)],
    "read-short-turns": [("reader", 1), ("cards", 0), ("cards", 3), ("reader", 4), ("cards", 2), ("reader", 1)],
    "read-long-reader": [("reader", 0), ("reader", 2), ("cards", 4), ("reader", 3), ("cards", 1)],
    # One voice only: a diarizer that splits a speaker in two is wrong here.
    "solo-reader": [("reader", n) for n in range(5)],
    "solo-cards": [("cards", n) for n in range(5)],
}

Turn = tuple[float, float, str]


# ---------------------------------------------------------------------------------------
# DER
# ---------------------------------------------------------------------------------------


def _frames(turns: list[Turn], count: int, speakers: list[str]) -> np.ndarray:
    grid = np.zeros((count, len(speakers)), dtype=bool)
    for start, end, speaker in turns:
        grid[int(round(start / FRAME_S)):int(round(end / FRAME_S)), speakers.index(speaker)] = True
    return grid


def der(reference: list[Turn], hypothesis: list[Turn], collar_s: float = COLLAR_S) -> dict:
    """Missed, false alarm and confusion seconds, and DER, with the best one-to-one speaker mapping."""
    end_s = max([end for _, end, _ in reference + hypothesis], default=0.0)
    count = int(round(end_s / FRAME_S)) + 1
    ref_speakers = sorted({speaker for *_, speaker in reference})
    hyp_speakers = sorted({speaker for *_, speaker in hypothesis})
    ref = _frames(reference, count, ref_speakers)
    hyp = _frames(hypothesis, count, hyp_speakers)
    scored = np.ones(count, dtype=bool)
    for start, end, _ in reference:
        for boundary in (start, end):
            scored[max(0, int(round((boundary - collar_s) / FRAME_S))):int(round((boundary + collar_s) / FRAME_S))] = 0
    ref, hyp = ref[scored], hyp[scored]
    shared = ref.T.astype(int) @ hyp.astype(int)  # frames each (reference, hypothesis) pair speaks together
    best = 0
    small, large = sorted((len(ref_speakers), len(hyp_speakers)))
    for chosen in itertools.permutations(range(large), small):
        pairs = zip(range(small), chosen, strict=True)
        total = sum(shared[a, b] if len(ref_speakers) <= len(hyp_speakers) else shared[b, a] for a, b in pairs)
        best = max(best, total)
    n_ref, n_hyp = ref.sum(axis=1), hyp.sum(axis=1)
    missed = np.maximum(0, n_ref - n_hyp).sum()
    false_alarm = np.maximum(0, n_hyp - n_ref).sum()
    confusion = np.minimum(n_ref, n_hyp).sum() - best
    total = n_ref.sum()
    return {"reference_s": round(total * FRAME_S, 2), "missed_s": round(missed * FRAME_S, 2),
            "false_alarm_s": round(false_alarm * FRAME_S, 2), "confusion_s": round(confusion * FRAME_S, 2),
            "der": round(float((missed + false_alarm + confusion) / total), 4) if total else 0.0}


def best_mapping(reference: list[Turn], hypothesis: list[Turn]) -> dict[str, str]:
    """Hypothesis speaker -> the reference speaker it shares most time with (one to one)."""
    ref_speakers = sorted({speaker for *_, speaker in reference})
    hyp_speakers = sorted({speaker for *_, speaker in hypothesis})

    def together(r: str, h: str) -> float:
        return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1, a in reference if a == r
                   for s2, e2, b in hypothesis if b == h)

    best, mapping = -1.0, {}
    for chosen in itertools.permutations(ref_speakers + [None] * len(hyp_speakers), len(hyp_speakers)):
        score = sum(together(r, h) for h, r in zip(hyp_speakers, chosen, strict=True) if r is not None)
        if score > best:
            best, mapping = score, {h: r for h, r in zip(hyp_speakers, chosen, strict=True) if r is not None}
    return mapping


# ---------------------------------------------------------------------------------------
# The sets
# ---------------------------------------------------------------------------------------


def load_rttm(path: Path) -> list[Turn]:
    turns = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
    return turns


def call_recording() -> tuple[Path, list[Turn], list[tuple[float, float, str]]]:
    """The pyannote.audio wheel's sample call: its audio, reference turns and STM utterances."""
    try:
        distribution = metadata.distribution("pyannote.audio")
    except metadata.PackageNotFoundError:
        sys.exit("The call needs the pyannote.audio wheel's sample: make setup (tools/requirements-model.txt).")
    folder = Path(distribution.locate_file("pyannote/audio/sample"))
    utterances = []
    for line in (folder / "sample.stm").read_text().splitlines():
        _, _, speaker, start, end, *_ = line.split()
        utterances.append((float(start), float(end), speaker))
    return folder / "sample.wav", load_rttm(folder / "sample.rttm"), utterances


def speech_span(samples: np.ndarray, floor_db: float = 35.0) -> tuple[float, float]:
    """First and last 10 ms frame within floor_db of the utterance's loudest frame, in seconds."""
    hop = int(diarize.SAMPLE_RATE_HZ * FRAME_S)
    frames = samples[:len(samples) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level >= level.max() - floor_db)
    return loud[0] * FRAME_S, (loud[-1] + 1) * FRAME_S


def made_conversation(order: list[tuple[str, int]]) -> tuple[np.ndarray, list[Turn]]:
    pieces, reference, offset = [], [], 0.0
    gap = np.zeros(int(GAP_S * diarize.SAMPLE_RATE_HZ), dtype=np.float32)
    for speaker, index in order:
        samples = engine.decode(TESTDATA / (READER if speaker == "reader" else CARDS)[index])
        start, end = speech_span(samples)
        reference.append((round(offset + start, 3), round(offset + end, 3), speaker))
        pieces += [samples, gap]
        offset += (len(samples) + len(gap)) / diarize.SAMPLE_RATE_HZ
    return np.concatenate(pieces), reference


def hypothesis_turns(turns: list[diarize.SpeakerTurn]) -> list[Turn]:
    return [(turn.start_s, turn.end_s, f"spk_{turn.speaker}") for turn in turns]


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def run(thresholds: list[float]) -> dict:
    if not (TESTDATA / READER[0]).exists():
        sys.exit("The read speech is missing: apt-get install pocketsphinx-testdata (make tools does it).")
    audio, reference, utterances = call_recording()
    recordings = {"call": (engine.decode(audio), reference)}
    recordings |= {name: made_conversation(order) for name, order in CONVERSATIONS.items()}
    diarizer = diarize.SpeakerDiarizer()
    embedded = {}
    for name, (samples, _) in recordings.items():  # embeddings do not depend on the threshold: made once
        started = time.perf_counter()
        regions = diarize.speech_regions(samples)
        windows = diarize.speaker_windows(regions, len(samples) / diarize.SAMPLE_RATE_HZ)
        embeddings = diarizer.embed_windows(samples, windows)
        embedded[name] = (regions, windows, embeddings, time.perf_counter() - started)
    rows = []
    for threshold in thresholds:
        for name, (samples, ref) in recordings.items():
            regions, windows, embeddings, seconds = embedded[name]
            started = time.perf_counter()
            labels = diarize.cluster(embeddings, threshold, diarize.DEFAULT_MAX_SPEAKERS)
            turns = diarize.turns_from_windows(regions, windows, embeddings, labels)
            seconds += time.perf_counter() - started
            hypothesis = hypothesis_turns(turns)
            row = {"threshold": threshold, "recording": name, "set": name.split("-")[0],
                   "audio_s": round(len(samples) / diarize.SAMPLE_RATE_HZ, 1), "seconds": round(seconds, 2),
                   "reference_speakers": len({s for *_, s in ref}), "speakers": len({s for *_, s in hypothesis}),
                   **der(ref, hypothesis)}
            rows.append(row)
            print(f"threshold {threshold:.2f}  {name:18s} DER {row['der']:6.1%}  speakers {row['speakers']} "
                  f"(of {row['reference_speakers']})  missed {row['missed_s']} s  false alarm "
                  f"{row['false_alarm_s']} s  confusion {row['confusion_s']} s  in {row['seconds']} s")
    summary = {}
    for threshold in thresholds:
        for set_name in ("call", "read", "solo"):
            chosen = [r for r in rows if r["threshold"] == threshold and r["set"] == set_name]
            errors = sum(r["der"] * r["reference_s"] for r in chosen)
            summary[f"{threshold:.2f}/{set_name}"] = round(errors / sum(r["reference_s"] for r in chosen), 4)
    words = call_words(audio, embedded["call"], reference, utterances)
    return {"rows": rows, "der_by_threshold_and_set": summary, "call_words": words}


def call_words(audio: Path, embedded, reference: list[Turn], utterances) -> dict:
    """The call through the whisper engine, its words given speakers, scored against the STM utterances."""
    regions, windows, embeddings, _ = embedded
    labels = diarize.cluster(embeddings, diarize.SIMILARITY_THRESHOLD, diarize.DEFAULT_MAX_SPEAKERS)
    turns = diarize.turns_from_windows(regions, windows, embeddings, labels)
    words = [word for segment in engine.WhisperEngine().transcribe(audio) for word in segment.words]
    speakers = diarize.assign_speakers([(w.start_s, w.end_s) for w in words], turns)
    mapping = best_mapping(list(utterances), hypothesis_turns(turns))  # onto the STM's names (Diane, Sheila)
    right = scored = 0
    for word, speaker in zip(words, speakers, strict=True):
        middle = (word.start_s + word.end_s) / 2
        truth = next((s for start, end, s in utterances if start - 0.2 <= middle <= end + 0.2), None)
        if truth is not None:
            scored += 1
            right += mapping.get(f"spk_{speaker}") == truth
    print(f"call: {right} of {scored} words on the right speaker ({right / max(scored, 1):.0%}), threshold "
          f"{diarize.SIMILARITY_THRESHOLD}")
    return {"words": scored, "right": right, "share": round(right / max(scored, 1), 4),
            "threshold": diarize.SIMILARITY_THRESHOLD}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", default=str(diarize.SIMILARITY_THRESHOLD),
                        help="comma-separated similarity thresholds to score (default: the diarizer's)")
    args = parser.parse_args()
    result = run([float(value) for value in args.thresholds.split(",")])
    result["machine"] = {"python": platform.python_version(), "processor": platform.machine()}
    result["model"] = {"package": "Resemblyzer==0.1.4", "file": diarize.MODEL_FILE, "sha256": diarize.MODEL_SHA256}
    result["collar_s"] = COLLAR_S
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result["der_by_threshold_and_set"].items():
        print(f"DER {key}: {value:.1%}")
    print(f"-> {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
