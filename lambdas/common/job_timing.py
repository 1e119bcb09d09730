"""How long after ingest a job first embeds, estimated from its length: when to ask for the model's copy.

A GPU copy bills from the moment it is asked for, but a job needs it only at KeyframeInference,
after MediaConvert and the analysis (whose long pole is the transcription). So warm_inference asks
for it that long after ingest, less the time a copy takes to start from zero
(`inference_scale_up_s`), and the copy arrives about when it is needed instead of waiting through
MediaConvert. Asking late costs no result: keyframe_inference waits its bound for the copy, then
embeds on CPU. Asking early only holds the instance longer. The same figures price a video-hour
(videoflow/cost.py) and a job's whisper task when its history is unreadable (lambdas/record_cost).
"""

from __future__ import annotations

# MediaConvert's three outputs of an hour of 1080p30: about 10 minutes (the cost estimate's figure).
MEDIACONVERT_S_PER_MEDIA_S = 10 * 60 / 3600
# Amazon Transcribe's batch turnaround; AWS documents none, 15 minutes for an hour is the estimate's figure.
TRANSCRIBE_S_PER_MEDIA_S = 15 * 60 / 3600
# The whisper job: Fargate bills from the start of the image pull (about 1 GB), then the model loads and
# decodes. Whisper tiny.en, int8, 2 threads: bench/transcript_speed.py measured 0.071-0.073 wall seconds per
# second of audio on this machine's 2 KVM vCPUs (a Fargate task's are the same kind); 0.1 leaves 40 % for a
# slower host.
WHISPER_START_S = 60.0
WHISPER_S_PER_AUDIO_S = 0.1


def whisper_seconds(duration_s: float) -> float:
    """The whisper job's estimated run time for audio of this length."""
    return WHISPER_START_S + duration_s * WHISPER_S_PER_AUDIO_S


def transcription_seconds(duration_s: float, transcriber: str) -> float:
    return whisper_seconds(duration_s) if transcriber == "whisper" else duration_s * TRANSCRIBE_S_PER_MEDIA_S


def seconds_until_embedding(duration_s: float, transcriber: str) -> float:
    """From ingest to KeyframeInference: MediaConvert, then the analysis (the frames finish within the transcript)."""
    return duration_s * MEDIACONVERT_S_PER_MEDIA_S + transcription_seconds(duration_s, transcriber)


def ask_for_copy_in_s(duration_s: float, transcriber: str, scale_up_s: float) -> float:
    """How long after ingest to ask for the copy so it is in service when the job embeds (0: at once)."""
    return max(0.0, seconds_until_embedding(duration_s, transcriber) - scale_up_s)
