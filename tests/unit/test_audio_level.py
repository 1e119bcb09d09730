"""audio_level: which transcription WAV has sound, from a few ranged reads of each (moto S3, real WAV bytes)."""

import io
import math
import wave

import boto3
import numpy as np
import pytest

from lambdas.common.audio_level import SILENCE_DBFS, WINDOWS, choose_audio, wav_level_dbfs
from lambdas.common.errors import DerivativeMissing
from lambdas.common.models import AudioCandidate

BUCKET = "videoflow-output"
RATE = 16_000


def _wav(seconds: float, *, level_dbfs: float | None = None, noise_dbfs: float | None = None,
         sound_from_s: float = 0.0, sound_to_s: float | None = None) -> bytes:
    """Mono 16-bit 16 kHz, as MediaConvert writes the transcription audio: a 440 Hz tone at an RMS level, or noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    samples = np.zeros_like(t)
    span = (t >= sound_from_s) & (t < (sound_to_s if sound_to_s is not None else seconds))
    if level_dbfs is not None:
        samples[span] = math.sqrt(2) * 10 ** (level_dbfs / 20) * np.sin(2 * math.pi * 440 * t[span])
    if noise_dbfs is not None:
        samples[span] = np.random.default_rng(7).normal(0, 10 ** (noise_dbfs / 20), span.sum())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.clip(samples * 32767, -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


class CountingS3:
    """The real (moto) client, counting the reads: the check must stay a few requests per track."""

    def __init__(self):
        self.client, self.gets = boto3.client("s3"), 0

    def head_object(self, **kwargs):
        return self.client.head_object(**kwargs)

    def get_object(self, **kwargs):
        self.gets += 1
        return self.client.get_object(**kwargs)


def _put(s3, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return key


def test_given_a_tone_at_a_known_level_when_measured_then_its_rms_is_read_to_within_half_a_db(aws_state):
    key = _put(aws_state, "derivatives/j/audio/audio.wav", _wav(3, level_dbfs=-23))

    assert wav_level_dbfs(aws_state, BUCKET, key) == pytest.approx(-23, abs=0.5)


def test_given_digital_silence_or_hiss_at_60_dbfs_when_measured_then_it_counts_as_silent(aws_state):
    silence = _put(aws_state, "derivatives/j/audio/audio.wav", _wav(3))
    hiss = _put(aws_state, "derivatives/j/audio/audio-track2.wav", _wav(3, noise_dbfs=-60))

    assert wav_level_dbfs(aws_state, BUCKET, silence) == -math.inf
    assert wav_level_dbfs(aws_state, BUCKET, hiss) == pytest.approx(-60, abs=1)
    assert wav_level_dbfs(aws_state, BUCKET, hiss) <= SILENCE_DBFS


def test_given_a_long_wav_with_speech_in_one_stretch_when_measured_then_a_few_ranged_reads_find_it(aws_state):
    key = _put(aws_state, "derivatives/j/audio/audio.wav", _wav(120, level_dbfs=-25, sound_from_s=40, sound_to_s=52))
    s3 = CountingS3()

    level = wav_level_dbfs(s3, BUCKET, key)

    assert level == pytest.approx(-25, abs=1)
    assert s3.gets == 1 + WINDOWS  # the header, then one window each: not the 3.8 MB file


def test_given_a_silent_first_track_when_choosing_then_the_first_track_with_sound_is_kept(aws_state):
    candidates = [AudioCandidate(track=1, key=_put(aws_state, "a/audio.wav", _wav(2))),
                  AudioCandidate(track=2, key=_put(aws_state, "a/audio-track2.wav", _wav(2, noise_dbfs=-62))),
                  AudioCandidate(track=3, key=_put(aws_state, "a/audio-track3.wav", _wav(2, level_dbfs=-23)))]

    choice = choose_audio(aws_state, BUCKET, candidates)

    assert (choice.track, choice.key) == (3, "a/audio-track3.wav")
    assert choice.silent_tracks == [1, 2]


def test_given_sound_on_every_track_when_choosing_then_the_default_first_track_is_kept(aws_state):
    candidates = [AudioCandidate(track=1, key=_put(aws_state, "b/audio.wav", _wav(2, level_dbfs=-30))),
                  AudioCandidate(track=2, key=_put(aws_state, "b/audio-track2.wav", _wav(2, level_dbfs=-20)))]

    assert choose_audio(aws_state, BUCKET, candidates).track == 1


def test_given_no_track_with_sound_when_choosing_then_the_first_is_kept_as_before(aws_state):
    candidates = [AudioCandidate(track=1, key=_put(aws_state, "c/audio.wav", _wav(1))),
                  AudioCandidate(track=2, key=_put(aws_state, "c/audio-track2.wav", _wav(1)))]

    choice = choose_audio(aws_state, BUCKET, candidates)

    assert choice.track == 1 and choice.silent_tracks == [1, 2]


def test_given_a_missing_or_foreign_file_when_measured_then_the_derivative_is_missing_by_name(aws_state):
    _put(aws_state, "d/audio.wav", b"ID3\x03" + b"\x00" * 100)

    with pytest.raises(DerivativeMissing, match="not a WAV"):
        wav_level_dbfs(aws_state, BUCKET, "d/audio.wav")
    with pytest.raises(DerivativeMissing, match="not written"):
        wav_level_dbfs(aws_state, BUCKET, "d/audio-track2.wav")
