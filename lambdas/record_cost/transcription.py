"""What the job's speech-to-text used: Amazon Transcribe audio minutes, or the whisper transcriber's Batch job.

Which one ran is the deployment's `transcriber` (CostConfig.transcriber, TRANSCRIBER): with
"transcribe" the job pays Amazon Transcribe per second of clean audio (15 s minimum); with
"whisper" it pays the Fargate Spot task of one Batch job (vCPU-seconds, GB-seconds, its public
IPv4 address), priced under batch_fargate with the frame workers. The job's seconds are the
TranscribeSpeech task's in the execution history (from submission to the job's end, so they also
count any time the job waited RUNNABLE: an upper bound); without the history they are estimated
from the audio's length at the engine's speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdas.common.job_timing import WHISPER_S_PER_AUDIO_S, WHISPER_START_S, whisper_seconds
from lambdas.record_cost.config import CostConfig
from lambdas.record_cost.pricing import FargateTasks

if TYPE_CHECKING:
    from lambdas.record_cost.usage import _JobFacts

WHISPER_STATE = "TranscribeSpeech"  # the workflow's Batch task with transcriber: whisper (stacks/transcriber.py)
WHISPER_PURPOSE = "whisper transcriber"
def transcription_usage(facts: _JobFacts, config: CostConfig, history_steps: list[tuple[str, float]] | None,
                        transcribe_notes: list[str], fargate_notes: list[str]) -> tuple[float, FargateTasks | None]:
    """(Amazon Transcribe audio seconds, the whisper job's Fargate task or None), with a note on each."""
    if facts.duplicate_of:
        transcribe_notes.append(f"The results of job {facts.duplicate_of} were reused: nothing was transcribed.")
        return 0.0, None
    if not facts.has_audio_output:
        transcribe_notes.append("The job has no audio: nothing was transcribed.")
        return 0.0, None
    if not facts.analysis_started:
        transcribe_notes.append("The job ended before the transcription started.")
        return 0.0, None
    if config.transcriber == "whisper":
        transcribe_notes.append("transcriber: whisper: no Amazon Transcribe; the whisper job is under batch_fargate.")
        return 0.0, _whisper_task(facts, config, history_steps, fargate_notes)
    if not facts.duration_s:
        transcribe_notes.append("The source duration is unknown: Transcribe minutes not computed.")
        return 0.0, None
    transcribe_notes.append(f"The clean audio, {facts.duration_s:.1f} s (billed per second, 15 s minimum).")
    return facts.duration_s, None


def _whisper_task(facts: _JobFacts, config: CostConfig, history_steps: list[tuple[str, float]] | None,
                  notes: list[str]) -> FargateTasks | None:
    shape = {"purpose": WHISPER_PURPOSE, "vcpu": config.transcriber_vcpu,
             "memory_gb": config.transcriber_memory_mb / 1024, "spot": True, "public_ipv4": True}
    measured = [seconds for state, seconds in history_steps or [] if state == WHISPER_STATE]
    if measured:
        notes.append(f"The whisper job: {sum(measured):.0f} s, the {WHISPER_STATE} task's time in the execution "
                     "history (it includes any wait for capacity: an upper bound).")
        return FargateTasks(task_seconds=measured, measured=True, **shape)
    if not facts.duration_s:
        notes.append("The source duration is unknown and the execution history has no whisper job: not costed.")
        return None
    seconds = whisper_seconds(facts.duration_s)
    notes.append(f"The whisper job, estimated: {WHISPER_START_S:.0f} s start-up + {WHISPER_S_PER_AUDIO_S} s per "
                 f"second of audio ({facts.duration_s:.1f} s) = {seconds:.0f} s"
                 + ("" if history_steps is None else f" (no {WHISPER_STATE} task in the execution history)") + ".")
    return FargateTasks(task_seconds=[seconds], **shape)
