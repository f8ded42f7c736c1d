"""The engine-agnostic grammar outside transformers (SPEC §5, §7: ONNX Runtime on a CPU): a tiny
randomly initialised causal LM (transformers' Qwen2 built from a config, its vocabulary the
closed gene vocabulary) exported to ONNX, decoded by ONNX Runtime in a plain loop over
``allowed`` / ``advance`` / ``forced_run``: forced runs are appended without running the model
(jump-forward), every other step takes the best allowed token of the model's logits. Every
decoded gene validates and executes, for every category, in both serialisations."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import transformers

from gene_perception.execute import execute
from gene_perception.gene import from_json
from gene_perception.grammar import grammar_for
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import (GeneTokenizer, category_token, json_head,
                                       sample_posed_genes, table_from_genes, vocabulary)


class LastLogits(torch.nn.Module):
    """Full-sequence forward (no KV cache) returning the last position's logits."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(input_ids)  # an explicit mask keeps the export to plain ops
        return self.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits[:, -1]


@pytest.fixture(scope="module")
def table():
    return table_from_genes([g for c in CATEGORIES for g in sample_posed_genes(c, 10, seed=1)])


@pytest.fixture(scope="module")
def model_and_session(tmp_path_factory, table):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = transformers.Qwen2Config(vocab_size=len(vocabulary(table.n)), hidden_size=32,
                                      intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1,
                                      max_position_embeddings=4096)
    model = LastLogits(transformers.Qwen2ForCausalLM(config)).eval()
    path = tmp_path_factory.mktemp("onnx") / "tiny_qwen2.onnx"
    dims = {0: torch.export.Dim("batch", max=64), 1: torch.export.Dim("sequence", min=2)}
    torch.onnx.export(model, (torch.zeros(1, 5, dtype=torch.int64),), str(path), dynamo=True,
                      input_names=["input_ids"], output_names=["logits"],
                      dynamic_shapes=(dims,), verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    yield model, ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    torch.set_num_threads(threads)


def test_exported_model_matches_torch(model_and_session):
    model, session = model_and_session
    ids = torch.randint(0, 1000, (2, 37))
    with torch.no_grad():
        expected = model(ids).numpy()
    got = session.run(None, {"input_ids": ids.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _decode(session: ort.InferenceSession, grammar, head: list[int]) -> tuple[list[int], int]:
    """A hand-written decode loop: the ids of one gene and the number of model runs."""
    state, ids, runs = grammar.initial(), list(head), 0
    for t in head:
        state = grammar.advance(state, t)
    while True:
        forced = grammar.forced_run(state)  # jump-forward: no model run for these
        for t in forced:
            state = grammar.advance(state, t)
        ids += forced
        if grammar.is_final(state):
            return ids, runs
        logits = session.run(None, {"input_ids": np.array([ids], np.int64)})[0][0]
        runs += 1
        allowed = grammar.allowed(state)
        t = int(allowed[np.argmax(logits[allowed])])
        state = grammar.advance(state, t)
        ids.append(t)


@pytest.mark.parametrize("serialization", ["compact", "json"])
def test_onnx_runtime_loop_decodes_executable_genes(model_and_session, table, serialization):
    _, session = model_and_session
    tokenizer = GeneTokenizer(table, serialization)
    grammar = grammar_for(tokenizer)
    total = model_runs = 0
    for category in CATEGORIES:
        head = [tokenizer.ids["<bos>"], tokenizer.ids[category_token(category)]] \
            if serialization == "compact" else tokenizer.fragment_ids(json_head(category))
        ids, runs = _decode(session, grammar, head)
        gene = tokenizer.decode(ids)
        assert gene.category == category
        from_json(gene.to_json())
        execute(gene)
        total += len(ids)
        model_runs += runs
    # forced tokens cost no model run: most of the JSON text, the compact form's fixed parts
    assert model_runs < total * (0.45 if serialization == "json" else 0.95)
