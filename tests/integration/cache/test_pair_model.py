"""The pair model's runtime (:mod:`ethos.cache.semantic.pair_model`) on a real ONNX file.

The graph here is made by hand, so that its answer is known: the logit is the number of real
tokens of the second text minus those of the first. That checks what the runtime feeds the
model (the MiniLM tokenizer's pair encoding: ``[CLS] stored [SEP] asked [SEP]`` with segment
ids, each pair alone) and what it makes of the output (a sigmoid per pair). The shipped int8
model itself is checked for what reading pairs alone is for: a pair's probability does not
depend on the pairs read with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ethos.cache.semantic import pair_model
from ethos.cache.semantic.pair_model import PairModel, PairModelError


def _count_graph(path: Path) -> None:
    """logit = (real tokens of segment 1) - (real tokens of segment 0) - 1."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"])
    types = helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["b", "t"])
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 1])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["token_type_ids"], ["y"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["input_ids"], ["unused"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["m", "y"], ["my"]),
        helper.make_node("ReduceSum", ["my", "axes"], ["second"], keepdims=1),
        helper.make_node("ReduceSum", ["m", "axes"], ["all"], keepdims=1),
        helper.make_node("Mul", ["second", "two"], ["second2"]),
        helper.make_node("Sub", ["second2", "all"], ["diff"]),  # second - first
        helper.make_node("Sub", ["diff", "one"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "count", [ids, mask, types], [out], [one, two, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _tokens(text: str) -> int:
    from tokenizers import Tokenizer

    from ethos.cache.semantic.embedders import minilm_model_path

    tok = Tokenizer.from_file(str(Path(minilm_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return len(tok.encode(text, add_special_tokens=False).ids)


def _expected(stored: str, asked: str) -> float:
    # [CLS] stored [SEP] (segment 0) asked [SEP] (segment 1)
    first, second = 1 + _tokens(stored) + 1, _tokens(asked) + 1
    return 1 / (1 + math.exp(-(second - first - 1)))


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    path = tmp_path / "count.onnx"
    _count_graph(path)
    return path


def test_pairs_are_encoded_as_two_segments_each_read_alone(graph: Path) -> None:
    model = PairModel(graph, max_tokens=64)
    stored = ["How much is the Team plan?", "Do you support single sign-on for every plan you sell?", "Hi"]
    asked = "What does Team cost per month?"
    got = model.score(asked, stored)
    assert got.shape == (3,) and got.dtype == np.float32
    assert got == pytest.approx([_expected(s, asked) for s in stored], abs=1e-6)
    assert model.score(asked, []).shape == (0,)


def test_the_shipped_models_probability_of_a_pair_is_the_same_whatever_is_read_with_it() -> None:
    # int8 with activations quantised per run (one scale over the whole input): in one batch,
    # these pairs' probabilities moved by up to 0.3 with their companions and padding
    if not pair_model.DEFAULT_FILE.is_file():
        pytest.skip("the package ships no pair model")
    model = PairModel(pair_model.DEFAULT_FILE)
    pairs = [("How much is the Team plan?", "What does the Team plan cost?"),
             ("Can I pause my subscription?", "Can I cancel my subscription?"),
             ("Which identity providers can we use with single sign on for our whole company and"
              " its subsidiaries in Europe?", "Do you support Okta?"),
             ("Is there a free plan?", "Do you offer a free tier?")]
    alone = np.array([model.score_pairs([p])[0] for p in pairs])
    together = model.score_pairs(pairs)
    reversed_ = model.score_pairs(pairs[::-1])[::-1]
    assert np.array_equal(alone, together) and np.array_equal(alone, reversed_)
    assert len(set(alone.tolist())) == len(pairs)  # four pairs, four answers: the model ran


def test_long_pairs_are_cut_to_max_tokens(graph: Path) -> None:
    long = "plan " * 200  # 200 tokens
    p = float(PairModel(graph, max_tokens=32).score_pairs([(long, "Hi")])[0])
    # cut to 32 tokens in all, from the longer text: [CLS] 28 x plan [SEP] | Hi [SEP]
    assert p == pytest.approx(1 / (1 + math.exp(-((1 + 1) - (1 + 28 + 1) - 1))), rel=1e-4)


def test_missing_file_and_wrong_checksum_are_refused(graph: Path, tmp_path: Path) -> None:
    with pytest.raises(PairModelError, match="make verifier"):
        PairModel(tmp_path / "none.onnx").load()
    card = graph.with_name("pair-model.json")  # the card lies beside its model
    card.write_text(json.dumps({"sha256": "0" * 64, "threshold": 0.7}))
    with pytest.raises(PairModelError, match="SHA-256"):
        PairModel(graph, verify_checksum=True).load()
    card.write_text(json.dumps({"sha256": hashlib.sha256(graph.read_bytes()).hexdigest(), "threshold": 0.7}))
    assert PairModel(graph, verify_checksum=True).score("a", ["b"]).shape == (1,)


def test_the_file_comes_from_the_setting_and_the_threshold_from_the_card(graph: Path) -> None:
    assert pair_model.model_file(str(graph)) == graph
    assert pair_model.model_file("") == pair_model.DEFAULT_FILE
    assert pair_model.model_file(" OFF ") is None
    assert pair_model.card(graph) == {} and PairModel(graph).threshold == 0.5
    graph.with_name("pair-model.json").write_text(json.dumps({"threshold": 0.83, "max_tokens": 48}))
    assert pair_model.default_threshold(graph) == 0.83
    assert PairModel(graph).max_tokens == 48 and PairModel(graph).threshold == 0.83


def test_the_configured_model_is_checked_against_its_card_and_off_means_none(graph: Path) -> None:
    pm = pair_model.configured(str(graph))
    assert pm is not None and pm.path == graph and pm.verify_checksum and not pm.loaded
    assert pair_model.configured("off") is None
    assert pair_model.configured(str(graph.with_name("missing.onnx"))) is None
