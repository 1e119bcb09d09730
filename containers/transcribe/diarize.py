"""Who spoke when, on this machine's CPU: voice activity, speaker embeddings, clustering, turns.

The local stand-in for Amazon Transcribe's speaker partitioning (ShowSpeakerLabels) and the
whisper transcriber's Batch job both run this module beside engine.py, as they run its engine.

1. Speech: Silero VAD, the ONNX model inside faster-whisper (already the engine's), finds the
   stretches of speech.
2. Embeddings: every SPEAKER_WINDOW_S of speech, stepping WINDOW_STEP_S, is turned into a
   256-number voice embedding by Resemblyzer's voice encoder (GE2E, Wan et al. 2018: a 3-layer
   LSTM over 40 mel bands). Its trained weights, pretrained.pt, ship inside the PyPI wheel
   Resemblyzer==0.1.4 (Apache-2.0); the package itself needs torch, so it is never imported: its
   checkpoint is read here by an unpickler that builds nothing but arrays (any other object in
   the file is refused), after its SHA-256 is checked, and the LSTM runs in numpy.
3. Clustering: average-linkage agglomerative clustering on cosine similarity, merging while the
   two closest clusters are more alike than SIMILARITY_THRESHOLD, and on until at most
   `max_speakers` remain (Transcribe's MaxSpeakerLabels); a cluster of fewer than
   MIN_CLUSTER_WINDOWS windows then joins the closest large one. The threshold is the one that
   scored best over bench/diarization.py's recordings and three single-speaker ones (its sweep).
4. Turns: every TICK_S of speech goes to the speaker whose centroid the nearby windows resemble
   most (a triangular weight around each window's centre); runs of one speaker are turns.
5. Words: each word goes to the turn it overlaps most, or the nearest turn (assign_speakers).

This file is copied flat into the transcribe image: it imports nothing of the repository.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

SAMPLE_RATE_HZ = 16_000
# The speaker model: Resemblyzer's voice encoder inside the PyPI wheel Resemblyzer==0.1.4 (Apache-2.0).
MODEL_PACKAGE = "resemblyzer"
MODEL_FILE = "pretrained.pt"
MODEL_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
# The encoder's front end, as it was trained (Resemblyzer's hparams.py): 25 ms windows every 10 ms, 40 mel bands.
N_FFT, HOP, N_MELS = 400, 160, 40
FRAMES_PER_S = SAMPLE_RATE_HZ // HOP
TARGET_DBFS = -30.0  # speech is raised (never lowered) to this level first, as the encoder's training data was
LSTM_LAYERS, HIDDEN = 3, 256

SPEAKER_WINDOW_S = 1.5  # about the encoder's partial utterance (1.6 s)
WINDOW_STEP_S = 1.0
MIN_WINDOW_S = 0.5  # a shorter stretch of speech is embedded with its surroundings up to this length
MAX_WINDOWS = 2000  # past 1000 s of speech the step grows: the encoder's time and the similarity matrix stay bounded
TICK_S = 0.1
MIN_CLUSTER_WINDOWS = 3  # a speaker is at least this many windows (about 2.5 s of speech)
SIMILARITY_THRESHOLD = 0.70
DEFAULT_MAX_SPEAKERS = 4
MAX_SPEAKERS_LIMIT = 30  # Transcribe's MaxSpeakerLabels allows 2..30


class SpeakerModelUnavailable(RuntimeError):
    """The speaker model package is not installed, or its weights are not the pinned ones."""


@dataclass(frozen=True)
class SpeakerTurn:
    start_s: float
    end_s: float
    speaker: int  # 0, 1, ... in order of first appearance


# ---------------------------------------------------------------------------------------
# The model: the checkpoint, read without torch
# ---------------------------------------------------------------------------------------


def model_path() -> Path:
    """pretrained.pt inside the installed Resemblyzer package (found, never imported: it would import torch)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise SpeakerModelUnavailable(
            "The speaker model package is not installed: pip install --no-deps Resemblyzer==0.1.4 "
            "(make setup installs it from tools/requirements-model.txt)."
        )
    return Path(spec.origin).parent / MODEL_FILE


def verify_model(path: Path | None = None) -> Path:
    path = path or model_path()
    if not path.is_file():
        raise SpeakerModelUnavailable(f"{path} is missing; reinstall Resemblyzer==0.1.4.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise SpeakerModelUnavailable(f"{path} has SHA-256 {digest}, not the pinned {MODEL_SHA256}: "
                                      "the speaker model changed; check it before trusting it.")
    return path


@dataclass(frozen=True)
class _Tensor:
    storage: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _ArraysOnly(pickle.Unpickler):
    """PyTorch's legacy checkpoint pickle, allowing only dicts of float tensors: nothing else is built."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, shape, stride, *_: _Tensor(storage, offset, tuple(shape), tuple(stride))
        if (module, name) == ("torch", "FloatStorage"):
            return "float32"
        raise pickle.UnpicklingError(f"the checkpoint holds a {module}.{name}, which a weights file has no need of")

    def persistent_load(self, saved_id):
        kind, dtype, key, _location, _numel, view = saved_id
        if kind != "storage" or dtype != "float32" or view is not None:
            raise pickle.UnpicklingError(f"unexpected storage {saved_id!r}")
        return key


def load_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """The `model_state` of a PyTorch (legacy format) checkpoint as float32 arrays, by parameter name."""
    with open(path, "rb") as stream:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(stream)
        checkpoint = _ArraysOnly(stream).load()
        keys = pickle.load(stream)
        storages = {}
        for key in keys:  # each storage: its element count (int64), then its raw little-endian float32s
            (count,) = struct.unpack("<q", stream.read(8))
            storages[key] = np.frombuffer(stream.read(4 * count), dtype="<f4")
    arrays = {}
    for name, tensor in checkpoint["model_state"].items():
        flat = storages[tensor.storage]
        arrays[name] = np.lib.stride_tricks.as_strided(
            flat[tensor.offset:], shape=tensor.shape, strides=tuple(4 * s for s in tensor.stride)).copy()
    return arrays


# ---------------------------------------------------------------------------------------
# The voice encoder, in numpy
# ---------------------------------------------------------------------------------------


def mel_filterbank(sample_rate: int = SAMPLE_RATE_HZ, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style mel filters with Slaney area normalisation (librosa.filters.mel's defaults): (n_mels, bins)."""

    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log, linear)

    def mel_to_hz(mel):
        mel = np.asarray(mel, dtype=np.float64)
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]).astype(np.float32)


def mel_power(samples: np.ndarray, first: int = 0, count: int | None = None) -> np.ndarray:
    """(count, 40) mel power spectrogram of frames first, first + 1, ...: frame i is a Hann-windowed FFT centred on
    sample i * HOP (10 ms apart), the ends reflect-padded (librosa's centred STFT), not logged. Only the samples
    those frames need are read, so a window of a four-hour recording costs what it costs alone."""
    total = 1 + len(samples) // HOP
    count = max(0, min(total - first, total if count is None else count))
    if count == 0:
        return np.zeros((0, N_MELS), np.float32)
    start, stop = first * HOP - N_FFT // 2, (first + count - 1) * HOP + N_FFT // 2
    piece = np.asarray(samples[max(0, start):min(len(samples), stop)], dtype=np.float32)
    left, right = max(0, -start), max(0, stop - len(samples))
    if left or right:
        piece = np.pad(piece, (left, right), mode="reflect" if len(piece) > 1 else "constant")
    frames = np.lib.stride_tricks.as_strided(piece, shape=(count, N_FFT), strides=(4 * HOP, 4))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power.astype(np.float32) @ _MEL.T).astype(np.float32)


_MEL = mel_filterbank()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class VoiceEncoder:
    """Mel frames -> L2-normalised 256-number voice embeddings (Resemblyzer's network, PyTorch's LSTM maths)."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.layers = [(weights[f"lstm.weight_ih_l{k}"].T.copy(), weights[f"lstm.weight_hh_l{k}"].T.copy(),
                        weights[f"lstm.bias_ih_l{k}"] + weights[f"lstm.bias_hh_l{k}"]) for k in range(LSTM_LAYERS)]
        self.linear = (weights["linear.weight"].T.copy(), weights["linear.bias"])

    def embed(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) -> (batch, 256): the last hidden state of the top layer, linear, ReLU, unit length."""
        sequence = mels.astype(np.float32)
        batch, steps, _ = sequence.shape
        for w_ih, w_hh, bias in self.layers:
            gates_in = sequence @ w_ih + bias  # (batch, steps, 4 * hidden): gates i, f, g, o
            h = np.zeros((batch, HIDDEN), np.float32)
            c = np.zeros((batch, HIDDEN), np.float32)
            outputs = np.empty((batch, steps, HIDDEN), np.float32)
            for t in range(steps):
                gates = gates_in[:, t] + h @ w_hh
                i, f = _sigmoid(gates[:, :HIDDEN]), _sigmoid(gates[:, HIDDEN:2 * HIDDEN])
                g, o = np.tanh(gates[:, 2 * HIDDEN:3 * HIDDEN]), _sigmoid(gates[:, 3 * HIDDEN:])
                c = f * c + i * g
                h = o * np.tanh(c)
                outputs[:, t] = h
            sequence = outputs
        raw = np.maximum(0.0, h @ self.linear[0] + self.linear[1])
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------------------
# Clustering, turns and words (pure)
# ---------------------------------------------------------------------------------------


def cluster(embeddings: np.ndarray, threshold: float = SIMILARITY_THRESHOLD,
            max_clusters: int = DEFAULT_MAX_SPEAKERS, min_size: int = MIN_CLUSTER_WINDOWS) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine similarity -> a label per row (0..k-1, by first row).

    Merges while the closest pair is at least `threshold` alike, then on until at most `max_clusters` remain;
    clusters smaller than `min_size` then join their closest large one (see _absorb_small)."""
    count = len(embeddings)
    if count == 0:
        return np.zeros(0, dtype=int)
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    sim = (unit @ unit.T).astype(np.float32)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(count)
    owner = np.arange(count)
    best = sim.max(axis=1)
    partner = sim.argmax(axis=1)
    clusters = count
    while clusters > 1:
        i = int(np.argmax(best))
        j = int(partner[i])
        if best[i] < threshold and clusters <= max_clusters:
            break
        merged = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])  # Lance-Williams, average linkage
        merged[[i, j]] = -np.inf
        sim[i], sim[:, i] = merged, merged
        sim[j], sim[:, j] = -np.inf, -np.inf
        size[i] += size[j]
        owner[owner == j] = i
        clusters -= 1
        best[j], partner[j] = -np.inf, j
        stale = np.flatnonzero((partner == i) | (partner == j))
        stale = stale[stale != j]
        rows = np.union1d(stale, [i])
        best[rows], partner[rows] = sim[rows].max(axis=1), sim[rows].argmax(axis=1)
        better = merged > best
        best[better], partner[better] = merged[better], i
    owner = _absorb_small(owner, unit, min_size)
    _, first = np.unique(owner, return_index=True)
    order = {owner[index]: rank for rank, index in enumerate(sorted(first))}
    return np.array([order[value] for value in owner], dtype=int)


def _absorb_small(owner: np.ndarray, unit: np.ndarray, min_size: int) -> np.ndarray:
    """Clusters of fewer than min_size windows (a cough, two words, a window across a change of speaker) join
    the large cluster their windows resemble most on average; when none is large, nothing changes."""
    names, sizes = np.unique(owner, return_counts=True)
    large = names[sizes >= min_size]
    if len(large) == 0 or len(large) == len(names):
        return owner
    owner = owner.copy()
    resemblance = np.stack([(unit @ unit[owner == name].T).mean(axis=1) for name in large], axis=1)
    small = ~np.isin(owner, large)
    owner[small] = large[resemblance[small].argmax(axis=1)]
    return owner


def turns_from_windows(regions: Sequence[tuple[float, float]], windows: Sequence[tuple[float, float]],
                       embeddings: np.ndarray, labels: np.ndarray, tick_s: float = TICK_S) -> list[SpeakerTurn]:
    """Each tick of speech to the speaker whose centroid the windows around it resemble most; runs become turns."""
    if not len(windows):
        return []
    spans = np.asarray(windows, dtype=float)
    centres, halves = spans.mean(axis=1), np.maximum((spans[:, 1] - spans[:, 0]) / 2, tick_s)
    speakers = int(labels.max()) + 1
    centroids = np.stack([embeddings[labels == k].mean(axis=0) for k in range(speakers)])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    resemblance = embeddings @ centroids.T  # (windows, speakers)
    turns: list[SpeakerTurn] = []
    for start_s, end_s in regions:
        ticks = np.arange(start_s + tick_s / 2, end_s, tick_s)
        if not len(ticks):
            ticks = np.array([(start_s + end_s) / 2])
        weight = np.maximum(0.0, 1.0 - np.abs(ticks[:, None] - centres[None, :]) / halves[None, :])
        uncovered = weight.sum(axis=1) == 0
        if uncovered.any():  # a tick no window reaches (long audio steps sparsely): its nearest window decides
            nearest = np.abs(ticks[uncovered, None] - centres[None, :]).argmin(axis=1)
            weight[uncovered] = 0.0
            weight[np.flatnonzero(uncovered), nearest] = 1.0
        tick_speakers = (weight @ resemblance).argmax(axis=1)
        run_start = start_s
        for index in range(1, len(ticks) + 1):
            if index == len(ticks) or tick_speakers[index] != tick_speakers[index - 1]:
                run_end = end_s if index == len(ticks) else float(ticks[index] - tick_s / 2)
                _append_turn(turns, SpeakerTurn(round(run_start, 3), round(run_end, 3),
                                                int(tick_speakers[index - 1])))
                run_start = run_end
    return _numbered(turns)


def _append_turn(turns: list[SpeakerTurn], turn: SpeakerTurn) -> None:
    if turns and turns[-1].speaker == turn.speaker and turn.start_s - turns[-1].end_s < 1e-6:
        turns[-1] = SpeakerTurn(turns[-1].start_s, turn.end_s, turn.speaker)
    else:
        turns.append(turn)


def _numbered(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    """Speakers renumbered 0, 1, ... in order of first appearance (spk_0 speaks first, as in Transcribe)."""
    order: dict[int, int] = {}
    for turn in turns:
        order.setdefault(turn.speaker, len(order))
    return [SpeakerTurn(turn.start_s, turn.end_s, order[turn.speaker]) for turn in turns]


def assign_speakers(spans: Sequence[tuple[float, float]], turns: Sequence[SpeakerTurn]) -> list[int | None]:
    """Each (start_s, end_s) to the speaker of the turn it overlaps most; no overlap: the nearest turn's speaker."""
    if not turns:
        return [None] * len(spans)
    starts = np.array([turn.start_s for turn in turns])
    ends = np.array([turn.end_s for turn in turns])
    speakers = []
    for start_s, end_s in spans:
        overlap = np.minimum(ends, end_s) - np.maximum(starts, start_s)
        if overlap.max() > 0:
            speakers.append(turns[int(overlap.argmax())].speaker)
        else:
            distance = np.maximum(starts - end_s, start_s - ends)
            speakers.append(turns[int(distance.argmin())].speaker)
    return speakers


# ---------------------------------------------------------------------------------------
# The diarizer
# ---------------------------------------------------------------------------------------


def speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Silero VAD (faster-whisper's copy): (start_s, end_s) of each stretch of speech, pauses of 0.3 s apart."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=60, min_speech_duration_ms=200)
    return [(chunk["start"] / SAMPLE_RATE_HZ, min(chunk["end"], len(samples)) / SAMPLE_RATE_HZ)
            for chunk in get_speech_timestamps(samples, options)]


def speaker_windows(regions: Sequence[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    """The windows embedded: SPEAKER_WINDOW_S long inside each stretch, a stretch shorter than that whole."""
    speech_s = sum(end - start for start, end in regions)
    step_s = max(WINDOW_STEP_S, speech_s / MAX_WINDOWS)
    windows = []
    for start_s, end_s in regions:
        if end_s - start_s <= SPEAKER_WINDOW_S:
            centre, half = (start_s + end_s) / 2, max(end_s - start_s, MIN_WINDOW_S) / 2
            windows.append((max(0.0, centre - half), min(duration_s, centre + half)))
            continue
        last = end_s - SPEAKER_WINDOW_S
        offsets = np.arange(start_s, last, step_s).tolist() + [last]
        windows.extend((offset, offset + SPEAKER_WINDOW_S) for offset in offsets)
    return windows


class SpeakerDiarizer:
    """Audio samples (16 kHz mono float32) -> speaker turns. The model loads on first use and stays loaded."""

    def __init__(self, threshold: float = SIMILARITY_THRESHOLD):
        self.threshold = threshold
        self._encoder: VoiceEncoder | None = None
        self._lock = threading.Lock()

    def _load(self) -> VoiceEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = VoiceEncoder(load_checkpoint(verify_model()))
            return self._encoder

    def embed_windows(self, samples: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
        """One embedding per (start_s, end_s) window; windows of one length go through the LSTM together."""
        encoder = self._load()
        with threadpool_limits(limits=1, user_api="blas"):  # its matrices are small: more BLAS threads only spin
            return self._embed(encoder, samples, windows)

    @staticmethod
    def _embed(encoder: VoiceEncoder, samples: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
        spans = [(int(s * SAMPLE_RATE_HZ), int(e * SAMPLE_RATE_HZ)) for s, e in windows]
        energy = sum(float(np.square(samples[a:b], dtype=np.float64).sum()) for a, b in spans)
        rms = np.sqrt(energy / max(1, sum(b - a for a, b in spans)))
        gain = max(1.0, 10 ** (TARGET_DBFS / 20) / rms) if rms > 0 else 1.0  # power scales with gain squared
        frames = [(int(round(s * FRAMES_PER_S)), max(1, int(round((e - s) * FRAMES_PER_S)))) for s, e in windows]
        embeddings = np.zeros((len(windows), HIDDEN), np.float32)
        for length in sorted({length for _, length in frames}):
            rows = [index for index, (_, n) in enumerate(frames) if n == length]
            for first in range(0, len(rows), 512):
                chosen = rows[first:first + 512]
                batch = np.zeros((len(chosen), length, N_MELS), np.float32)
                for slot, index in enumerate(chosen):
                    piece = mel_power(samples, frames[index][0], length)
                    batch[slot, :len(piece)] = piece * gain ** 2
                embeddings[chosen] = encoder.embed(batch)
        return embeddings

    def diarize(self, samples: np.ndarray, max_speakers: int = DEFAULT_MAX_SPEAKERS) -> list[SpeakerTurn]:
        samples = np.asarray(samples, dtype=np.float32)
        regions = speech_regions(samples)
        windows = speaker_windows(regions, len(samples) / SAMPLE_RATE_HZ)
        if not windows:
            return []
        embeddings = self.embed_windows(samples, windows)
        labels = cluster(embeddings, self.threshold, max(1, min(max_speakers, MAX_SPEAKERS_LIMIT)))
        return turns_from_windows(regions, windows, embeddings, labels)
