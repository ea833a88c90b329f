"""The semantic tier: paraphrases of a cached question are answered from the cache.

Importing this package is cheap: the model's runtime (ONNX Runtime; torch only for the
one-time export or as the fallback) is imported when the model is loaded
(``SemanticTier.start()`` does it in a background thread).

Typical wiring::

    tier = SemanticTier(store, names=["Free", "Starter", "Team", "Business", "Enterprise"])
    tier.start()                      # returns at once; tier.state: loading -> ready
    cache = ResponseCache(store, scope, semantic=tier)
"""

from .embedders import Embedder, HashingEmbedder, MiniLMEmbedder, l2_normalise
from .history import depends_on_history
from .index import ANN_THRESHOLD, Neighbour, VectorIndex
from .tier import SemanticTier
from .verify import (
    DEFAULT_THRESHOLD,
    DEFAULT_THRESHOLD_SAME,
    Verdict,
    Verifier,
    content_words,
    names_in,
    negated,
    numbers,
    rephrased,
    same_subject,
)

__all__ = [
    "ANN_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "DEFAULT_THRESHOLD_SAME",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "Neighbour",
    "SemanticTier",
    "VectorIndex",
    "Verdict",
    "Verifier",
    "content_words",
    "depends_on_history",
    "l2_normalise",
    "names_in",
    "negated",
    "numbers",
    "rephrased",
    "same_subject",
]
