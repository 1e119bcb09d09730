"""Who spoke when (containers/transcribe/diarize.py): clustering, turns, words to speakers, the packaged model.

The engine on real speech of two speakers is tested through the local Amazon Transcribe
(tests/unit/test_local_transcribe.py); its error rate on a real call is bench/diarization.py's.
"""

import pickle

import numpy as np
import pytest

from containers.transcribe import diarize
from containers.transcribe.diarize import SpeakerTurn, assign_speakers, cluster, turns_from_windows


def _voices(counts: list[int], spread: float = 0.15, seed: int = 1) -> np.ndarray:
    """Rows near one random direction per voice (counts[k] rows for voice k), in order: voice 0's, then 1's, ..."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(counts), 64))
    rows = [centre + spread * np.linalg.norm(centre) / 8 * rng.normal(size=(count, 64))
            for centre, count in zip(centres, counts, strict=True)]
    return np.concatenate(rows)


# --- clustering ------------------------------------------------------------------------


def test_given_windows_of_two_voices_when_clustered_then_two_speakers_numbered_by_first_window():
    embeddings = _voices([6, 5])[[0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5]]  # interleaved: a conversation

    assert cluster(embeddings).tolist() == [0, 1] * 5 + [0]


def test_given_one_voice_when_clustered_then_one_speaker():
    assert set(cluster(_voices([12])).tolist()) == {0}


def test_given_more_voices_than_the_maximum_when_clustered_then_the_closest_merge_down_to_it():
    labels = cluster(_voices([4, 4, 4, 4]), max_clusters=2)

    assert len(set(labels.tolist())) == 2
    assert all(len(set(labels[k * 4:k * 4 + 4].tolist())) == 1 for k in range(4))  # no voice is split


def test_given_a_window_unlike_the_rest_when_clustered_then_it_joins_the_closest_large_speaker():
    embeddings = _voices([5, 5, 1])  # the last: two words of nobody else, under MIN_CLUSTER_WINDOWS

    labels = cluster(embeddings)

    assert len(set(labels.tolist())) == 2 and labels[-1] in (labels[0], labels[5])


def test_given_no_windows_when_clustered_then_no_labels():
    assert cluster(np.zeros((0, 256))).tolist() == []


# --- turns and words -------------------------------------------------------------------


def test_given_windows_labelled_a_then_b_when_made_turns_then_the_change_is_between_them():
    embeddings = _voices([3, 3])
    windows = [(0.0, 1.5), (1.0, 2.5), (2.0, 3.5), (4.0, 5.5), (5.0, 6.5), (6.0, 7.5)]

    turns = turns_from_windows([(0.0, 3.5), (4.0, 7.5)], windows, embeddings, cluster(embeddings))

    assert turns == [SpeakerTurn(0.0, 3.5, 0), SpeakerTurn(4.0, 7.5, 1)]


def test_given_words_when_assigned_then_each_takes_the_turn_it_overlaps_most_or_the_nearest():
    turns = [SpeakerTurn(0.0, 2.0, 0), SpeakerTurn(2.0, 4.0, 1), SpeakerTurn(6.0, 7.0, 0)]

    speakers = assign_speakers([(0.2, 0.5), (1.8, 2.6), (1.5, 2.1), (4.5, 4.7), (5.5, 5.8)], turns)

    assert speakers == [0, 1, 0, 1, 0]


def test_given_no_turns_when_assigned_then_no_speakers():
    assert assign_speakers([(0.0, 1.0)], []) == [None]


# --- the model -------------------------------------------------------------------------


def test_given_the_packaged_weights_when_loaded_then_they_are_resemblyzers_lstm_and_check_their_sha256():
    weights = diarize.load_checkpoint(diarize.verify_model())

    assert weights["lstm.weight_ih_l0"].shape == (1024, 40) and weights["lstm.weight_hh_l2"].shape == (1024, 256)
    assert weights["linear.weight"].shape == (256, 256) and weights["linear.bias"].dtype == np.float32


def test_given_a_changed_weights_file_when_verified_then_it_is_refused(tmp_path):
    changed = tmp_path / "pretrained.pt"
    changed.write_bytes(b"not the pinned weights")

    with pytest.raises(diarize.SpeakerModelUnavailable, match="not the pinned"):
        diarize.verify_model(changed)


def test_given_a_checkpoint_that_would_run_code_when_loaded_then_it_is_refused(tmp_path):
    class RunsCode:
        def __reduce__(self):
            return (print, ("this must never run",))

    checkpoint = tmp_path / "pretrained.pt"
    checkpoint.write_bytes(b"".join(pickle.dumps(part) for part in (0x1950A86A20F9469CFC6C, 1001, {},
                                                                     {"model_state": RunsCode()})))

    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        diarize.load_checkpoint(checkpoint)


def test_given_audio_when_the_mel_front_end_runs_then_a_tone_lands_in_the_band_of_its_frequency():
    tone = np.sin(2 * np.pi * 1000 * np.arange(16_000) / 16_000).astype(np.float32)

    mels = diarize.mel_power(tone)

    centres = [np.argmax(row) for row in diarize.mel_filterbank()]  # the FFT bin each band peaks at
    assert mels.shape == (101, diarize.N_MELS)
    assert abs(centres[int(mels[50].argmax())] * 16_000 / diarize.N_FFT - 1000) < 120
