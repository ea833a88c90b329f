"""The pair model: reads two questions together and says how likely one answer serves both.

A cross-encoder fine-tuned from the packaged all-MiniLM-L6-v2 weights (``bench/train_verifier.py``,
``make verifier``), shipped in this package as int8 ONNX with its card beside it (``models/pair-model.json``:
seed, data split, threshold, SHA-256). It runs in ONNX Runtime with the ``tokenizers`` tokenizer
of the embedding model's package, so serving needs neither torch nor transformers.

Its input is ``[CLS] stored [SEP] asked [SEP]``; the output is one logit, and the probability is
its sigmoid. The verifier calls it last, on the few candidates that passed the hard checks,
nearest first, one pair at a time (:meth:`PairModel.score_pairs` says why).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODELS = Path(__file__).resolve().parent / "models"
DEFAULT_FILE = MODELS / "pair-minilm-int8.onnx"
#: the card's name, beside its model file
CARD_NAME = "pair-model.json"


class PairModelError(RuntimeError):
    """The pair model cannot be loaded (missing file, wrong checksum, no tokenizer)."""


def card(model: Path | None = None) -> dict[str, Any]:
    """The card the training script wrote beside ``model`` (default: the shipped model);
    empty when there is none."""
    try:
        return dict(json.loads((model or DEFAULT_FILE).with_name(CARD_NAME).read_text()))
    except (OSError, ValueError):
        return {}


def default_threshold(model: Path | None = None) -> float:
    """p*: the threshold chosen on QQP dev when the model was trained (0.5 without a card)."""
    return float(card(model).get("threshold", 0.5))


def model_file(setting: str = "") -> Path | None:
    """The model file a setting names (``ETHOS_SEMANTIC_PAIR_MODEL``): empty, the one shipped in
    the package; ``off``, none; else a path."""
    v = setting.strip()
    if v.lower() == "off":
        return None
    return Path(v).expanduser() if v else DEFAULT_FILE


def configured(setting: str = "", *, threads: int | None = None) -> PairModel | None:
    """The pair model a setting (``ETHOS_SEMANTIC_PAIR_MODEL``) gives, not loaded yet and checked
    against its card's SHA-256 when it loads; None for ``off``, or when the setting is empty
    and the package ships no model (the cosine rules then decide)."""
    path = model_file(setting)
    if path is None or not path.is_file():
        return None
    return PairModel(path, verify_checksum=True, threads=threads)


def _tokenizer_file() -> Path:
    from .embedders import minilm_model_path

    return Path(minilm_model_path()) / "tokenizer.json"


class PairModel:
    """``score(asked, stored_list)`` → probabilities; loads lazily, thread-safe.

    ``verify_checksum``: compare the file's SHA-256 with the card's before the first use, so a
    truncated or swapped file is refused rather than served.
    """

    def __init__(self, path: Path | str | None = None, *, max_tokens: int | None = None,
                 verify_checksum: bool = False, threads: int | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_FILE
        #: intra-op threads of the ONNX session (None: ``ETHOS_ONNX_THREADS``; 0: one per core)
        self.threads = threads
        self.max_tokens = int(max_tokens or card(self.path).get("max_tokens", 64))
        #: p*: the probability from which a pair is served, chosen when the model was trained
        #: (its card's ``threshold``; 0.5 without a card)
        self.threshold = default_threshold(self.path)
        self.verify_checksum = verify_checksum
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def name(self) -> str:
        return self.path.name

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            if not self.path.is_file():
                raise PairModelError(f"no pair model at {self.path} (make verifier builds one)")
            if self.verify_checksum:
                want = card(self.path).get("sha256")
                got = hashlib.sha256(self.path.read_bytes()).hexdigest()
                if want and got != want:
                    raise PairModelError(f"pair model {self.path}: SHA-256 {got[:12]}… is not "
                                         f"the card's {str(want)[:12]}…")
            from tokenizers import Tokenizer

            from .embedders import onnx_session

            tok_file = _tokenizer_file()
            if not tok_file.is_file():
                raise PairModelError(f"no tokenizer at {tok_file}")
            tokenizer = Tokenizer.from_file(str(tok_file))
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.no_padding()  # each pair is read alone: see score_pairs
            self._session = onnx_session(self.path, self.threads)
            self._inputs = {i.name for i in self._session.get_inputs()}
            self._tokenizer = tokenizer

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Probability for each ``(stored, asked)`` pair, each pair read alone.

        The shipped model is int8 with dynamically quantised activations, and ONNX Runtime's
        ``DynamicQuantizeLinear`` takes one scale over its whole input: in a batch, a pair's
        probability would depend on the pairs beside it and on their padding (up to 0.37 apart
        on 1,500 QQP pairs, 2 % of them on the other side of p*). Read alone, it is a function
        of the pair, the same when serving, calibrating and benchmarking; and it costs no more,
        since a batch pays for its padding (3.2 ms a pair alone against 4.9 ms in batches of 64
        and 4.0 in pairs: ``bench/pair_batching.py``).
        """
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        self.load()
        logits = np.empty(len(pairs), dtype=np.float64)
        for i, e in enumerate(self._tokenizer.encode_batch([(a, b) for a, b in pairs])):
            feeds = {
                "input_ids": np.array([e.ids], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids], dtype=np.int64),
            }
            out = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
            logits[i] = float(np.asarray(out).reshape(-1)[0])
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def score(self, asked: str, stored: Sequence[str]) -> np.ndarray:
        """Probability that each stored question's answer serves ``asked``."""
        return self.score_pairs([(s, asked) for s in stored])


__all__ = ["CARD_NAME", "DEFAULT_FILE", "PairModel", "PairModelError", "card", "configured",
           "default_threshold", "model_file"]
