"""The ONNX backend of the MiniLM embedder: same vectors as torch, no torch once exported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ethos.cache.semantic import MiniLMEmbedder
from ethos.cache.semantic.onnx_export import onnx_file_for

pytestmark = pytest.mark.slow

TEXTS = [
    "What's the price of the Team plan?",
    "how much is team",
    "Héllo wörld, ünïcode and 日本語 too",
    "x",
    # longer than the model's 256 tokens: both backends cut it at the same place
    "Can I move my whole marketing team from the Starter plan to Business mid-year? " * 30,
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_model(cache_dir: Path) -> MiniLMEmbedder:
    m = MiniLMEmbedder(backend="onnx", cache_dir=cache_dir)
    m.load()
    return m


def test_onnx_and_torch_give_the_same_vectors(onnx_model: MiniLMEmbedder) -> None:
    torch_model = MiniLMEmbedder(backend="torch")
    batch_o, batch_t = onnx_model.embed(TEXTS), torch_model.embed(TEXTS)
    assert batch_o.shape == (len(TEXTS), 384)
    assert np.abs(batch_o - batch_t).max() < 1e-5
    for text in TEXTS:  # the one-question lookup path of each backend
        assert np.abs(onnx_model.embed([text]) - torch_model.embed([text])).max() < 1e-5
    assert np.allclose(np.linalg.norm(batch_o, axis=1), 1.0, atol=1e-5)


def test_a_given_export_is_run_as_it_is(onnx_model: MiniLMEmbedder, cache_dir: Path,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ETHOS_MODEL_ONNX (the container image's export, made at build time): loaded from there,
    # nothing exported into the default cache, same vectors
    given = tmp_path / "model.onnx"
    given.write_bytes(next(cache_dir.iterdir()).read_bytes())
    monkeypatch.setenv("ETHOS_MODEL_ONNX", str(given))
    monkeypatch.setenv("ETHOS_MODEL_CACHE", str(tmp_path / "default-cache"))
    m = MiniLMEmbedder(backend="onnx")
    m.load()
    assert np.abs(m.embed(TEXTS) - onnx_model.embed(TEXTS)).max() < 1e-6
    assert not (tmp_path / "default-cache").exists()


def test_a_missing_given_export_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHOS_MODEL_ONNX", str(tmp_path / "nothing.onnx"))
    with pytest.raises(FileNotFoundError, match="ETHOS_MODEL_ONNX: no ONNX file at .*nothing.onnx"):
        MiniLMEmbedder(backend="onnx").load()


def test_the_export_is_written_once_and_reused(onnx_model: MiniLMEmbedder,
                                               cache_dir: Path) -> None:
    files = sorted(p.name for p in cache_dir.iterdir())
    assert len(files) == 1 and files[0].endswith(".onnx"), files  # no temporary file left
    again = MiniLMEmbedder(backend="onnx", cache_dir=cache_dir)
    again.load()
    assert sorted(p.name for p in cache_dir.iterdir()) == files
    assert onnx_model.backend == again.backend == "onnx"


def start_in_a_new_process(cache_dir: Path) -> str:
    """Load the embedder in a fresh Python with ``cache_dir``, embed one question; prints
    whether torch was imported, and the vector's shape."""
    code = (
        "import sys\n"
        "from ethos.cache.semantic import MiniLMEmbedder\n"
        f"m = MiniLMEmbedder(cache_dir={str(cache_dir)!r}); m.load()\n"
        "assert m.backend == 'onnx', m.fallback_reason\n"
        "print('torch' in sys.modules, m.embed(['pricing for teams']).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_later_start_does_not_import_torch(onnx_model: MiniLMEmbedder, cache_dir: Path) -> None:
    assert start_in_a_new_process(cache_dir) == "False (1, 384)"


def test_not_even_the_first_start_imports_torch(tmp_path: Path) -> None:
    # a fresh cache: the export runs in a child process, this one loads the file it wrote
    assert start_in_a_new_process(tmp_path) == "False (1, 384)"
    assert [p.suffix for p in tmp_path.iterdir()] == [".onnx"]  # no temporary file left


def test_a_failed_export_is_one_line_from_the_child(tmp_path: Path) -> None:
    from ethos.cache.semantic.onnx_export import ExportError, export_in_subprocess

    with pytest.raises(ExportError, match=r"^export failed: \w+Error: .*no-such-model"):
        export_in_subprocess(tmp_path / "no-such-model", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_auto_falls_back_to_torch_when_the_export_fails(tmp_path: Path) -> None:
    # A cache directory that is a file: the export cannot be written there.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    m = MiniLMEmbedder(cache_dir=blocker)
    m.load()
    assert m.backend == "torch" and m.fallback_reason
    assert m.embed(["hello"]).shape == (1, 384)
    with pytest.raises(Exception):
        MiniLMEmbedder(backend="onnx", cache_dir=blocker).load()


def test_the_export_file_is_named_after_the_weights(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"12345")
    name = onnx_file_for(tmp_path, tmp_path / "c").name
    assert name.startswith("all-minilm-l6-v2-") and "-5-e" in name and name.endswith(".onnx")


def test_usearch_then_onnxruntime_does_not_crash() -> None:
    # onnxruntime 1.23 and later crash (libstdc++) when imported after usearch: the pin in
    # pyproject.toml keeps the service from dying when a large index loads before the model.
    out = subprocess.run([sys.executable, "-c", "import usearch.index, onnxruntime"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_weights_stored_as_fp16_halve_the_file_and_keep_the_vectors(
        onnx_model: MiniLMEmbedder, cache_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # what the container image ships (deploy/image/export_model.py)
    import onnx
    import onnxruntime as ort

    from ethos.cache.semantic.onnx_export import store_weights_as_fp16

    full = next(cache_dir.iterdir())
    halved = tmp_path / "fp16.onnx"
    assert store_weights_as_fp16(full, halved) > 30  # the attention and feed-forward matrices
    assert halved.stat().st_size < 0.55 * full.stat().st_size
    monkeypatch.setenv("ETHOS_MODEL_ONNX", str(halved))
    m = MiniLMEmbedder(backend="onnx")
    a, b = onnx_model.embed(TEXTS), m.embed(TEXTS)
    assert 0 < np.abs(a - b).max() < 1e-3
    assert np.abs(a @ a.T - b @ b.T).max() < 1e-3
    # ONNX Runtime folds the casts when it loads the graph: it computes on float32 weights
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(halved), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert not [n for n in optimized.graph.node if n.op_type == "Cast" and n.name.endswith("__cast")]
    assert all(t.data_type != onnx.TensorProto.FLOAT16 for t in optimized.graph.initializer)


@pytest.mark.parametrize(("value", "threads"), [("", 0), ("0", 0), ("1", 1), (" 3 ", 3)])
def test_onnx_threads_setting(value: str, threads: int, monkeypatch: pytest.MonkeyPatch,
                              onnx_model: MiniLMEmbedder, cache_dir: Path) -> None:
    from ethos.cache.semantic.embedders import onnx_session, onnx_threads

    monkeypatch.setenv("ETHOS_ONNX_THREADS", value)
    assert onnx_threads() == threads
    session = onnx_session(next(cache_dir.iterdir()))
    got = session.get_session_options().intra_op_num_threads
    assert got == threads  # 0: ONNX Runtime chooses, one per core


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_onnx_threads_setting_is_named(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ethos.cache.semantic.embedders import onnx_threads

    monkeypatch.setenv("ETHOS_ONNX_THREADS", value)
    with pytest.raises(ValueError, match="ETHOS_ONNX_THREADS must be"):
        onnx_threads()


def test_a_models_own_threads_win_over_the_environment(cache_dir: Path, onnx_model: MiniLMEmbedder,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ethos.cache.semantic.pair_model import configured
    from ethos.service.state import AppState
    from ethos.settings import Settings

    monkeypatch.setenv("ETHOS_ONNX_THREADS", "3")
    m = MiniLMEmbedder(cache_dir=cache_dir, threads=1)
    m.load()
    assert m._session.get_session_options().intra_op_num_threads == 1
    pair = configured("", threads=1)
    assert pair is not None
    pair.load()
    assert pair._session.get_session_options().intra_op_num_threads == 1
    # the service hands its setting (ETHOS_ONNX_THREADS, validated at start) to both models
    st = AppState.build(Settings(state_dir=tmp_path, onnx_threads=2))
    tier = st.cache.semantic
    assert tier.embedder.threads == 2 and tier.verifier.pair_model.threads == 2
