"""What judgment knows about a video: its transcript, its shots and its frame timeline, in one object.

Read from the analysis outputs the workflow references (AnalysisResults): the canonical
transcript, analysis/<job>/shots.json (detect_shots) and analysis/<job>/timeline.json
(aggregate_frames). Shared by plan_clips (both planners) and summarize_video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common import storage
from lambdas.common.models import AnalysisResults, Sentence, Transcript, Word


@dataclass(frozen=True)
class Frame:
    t_s: float
    sharpness: float
    has_face: bool


@dataclass(frozen=True)
class Signals:
    duration_s: float
    words: list[Word] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    shots: list[tuple[float, float]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    language: str | None = None

    @property
    def has_speech(self) -> bool:
        return bool(self.words)

    @property
    def cuts(self) -> list[float]:
        """Times where one shot ends and the next begins (not 0, not the end of the video)."""
        return sorted({round(start, 3) for start, _ in self.shots if 0 < start < self.duration_s})


def signals_from_documents(duration_s: float, transcript: dict | Transcript | None, shots_document: dict | list | None,
                           timeline: dict | None) -> Signals:
    if transcript is not None and not isinstance(transcript, Transcript):
        transcript = Transcript.model_validate(transcript)
    shots_list = (shots_document.get("shots", []) if isinstance(shots_document, dict) else shots_document) or []
    frames = []
    for frame in (timeline or {}).get("frames", []):
        frames.append(Frame(t_s=float(frame["t_s"]), sharpness=float(frame.get("sharpness") or 0.0),
                            has_face=bool(frame.get("faces"))))
    words = sorted(transcript.words, key=lambda word: word.start_s) if transcript else []
    return Signals(
        duration_s=float(duration_s),
        words=words,
        sentences=sorted(transcript.sentences, key=lambda sentence: sentence.start_s) if transcript else [],
        shots=sorted((float(shot["start_s"]), float(shot["end_s"])) for shot in shots_list),
        frames=sorted(frames, key=lambda frame: frame.t_s),
        language=transcript.language if transcript else None,
    )


def load_signals(analysis: AnalysisResults, duration_s: float) -> Signals:
    return signals_from_documents(
        duration_s,
        storage.get_json(analysis.transcript.bucket, analysis.transcript.key),
        storage.get_json(analysis.shots.bucket, analysis.shots.key),
        storage.get_json(analysis.timeline.bucket, analysis.timeline.key),
    )
