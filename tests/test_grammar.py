"""FSM-constrained decoding of the compact serialisation (SPEC §5): the grammar accepts every
encoded gene, and random logits (or a random tiny transformers model) under the mask always
decode to a gene that validates and executes."""

from __future__ import annotations

import numpy as np
import pytest

from gene_perception.execute import execute
from gene_perception.gene import RANGE_TOLERANCE, from_json
from gene_perception.grammar import FLOAT, GeneGrammar, GeneLogitsProcessor
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import GeneTokenizer, sample_posed_genes, table_from_genes

N_RANDOM = 1008  # 63 per category


@pytest.fixture(scope="module")
def tokenizer():
    genes = [g for c in CATEGORIES for g in sample_posed_genes(c, 30, seed=1)]
    return GeneTokenizer(table_from_genes(genes), "compact")


@pytest.fixture(scope="module")
def grammar(tokenizer):
    return GeneGrammar(tokenizer)


def _valid(tokenizer, ids) -> None:
    gene = tokenizer.decode(ids)
    from_json(gene.to_json())
    execute(gene)


def test_grammar_accepts_encoded_genes(tokenizer, grammar):
    for c in CATEGORIES:
        for gene in sample_posed_genes(c, 20, seed=0):
            ids = tokenizer.encode(gene)
            state = grammar.initial()
            for t in ids:
                assert t in grammar.allowed(state)
                state = grammar.advance(state, t)
            assert grammar.is_final(state)


def test_structure_and_rejections(tokenizer, grammar):
    s = grammar.initial()
    assert grammar.forced(s) == grammar.bos
    with pytest.raises(ValueError):
        grammar.advance(s, grammar.eos)
    s = grammar.advance(s, grammar.bos)
    cats = grammar.allowed(s)
    assert len(cats) == len(CATEGORIES) and grammar.forced(s) is None
    mug = tokenizer.ids["<Mug>"]
    s = grammar.advance(s, mug)
    with pytest.raises(ValueError):  # a float token out of the pose range / a template token
        grammar.advance(s, tokenizer.ids["<Mug/" + next(iter(CATEGORIES["Mug"].templates)) + ">"])
    for _ in range(6):
        s = grammar.advance(s, int(grammar.allowed(s)[0]))
    allowed = set(grammar.allowed(s).tolist())
    root = CATEGORIES["Mug"].slots[0]
    assert allowed == {tokenizer.ids[f"<Mug/{t.name}>"] for t in root.templates}
    assert grammar.eos not in allowed  # the root slot is required
    other = tokenizer.ids[f"<Box/{next(iter(CATEGORIES['Box'].templates))}>"]
    with pytest.raises(ValueError):
        grammar.advance(s, other)


def test_forced_run_jumps_forward(grammar):
    assert grammar.forced_run(grammar.initial()) == [grammar.bos]
    mask = grammar.mask(grammar.initial(), grammar.vocab_size + 7)
    assert mask.sum() == 1 and mask[grammar.bos]


def test_forced_template_tokens_jump_forward(tokenizer, grammar):
    """Bottle: one template per required slot, so template tokens (and <eos>) are forced."""
    gene = sample_posed_genes("Bottle", 1, seed=2)[0]
    ids = tokenizer.encode(gene)
    body, lid = (tokenizer.ids[f"<Bottle/{i.template}>"] for i in gene.instances)
    state = grammar.initial()
    forced_at = {}
    for k, t in enumerate(ids):
        forced_at[k] = grammar.forced(state)
        state = grammar.advance(state, t)
    assert forced_at[0] == grammar.bos and forced_at[1] is None
    assert forced_at[ids.index(body)] == body and forced_at[ids.index(lid)] == lid
    assert forced_at[len(ids) - 1] == grammar.eos
    # a forced run from the state before the lid token is exactly [lid]
    state = grammar.initial()
    for t in ids[:ids.index(lid)]:
        state = grammar.advance(state, t)
    assert grammar.forced_run(state) == [lid]


def _walk(grammar, ids):
    state = grammar.initial()
    for t in ids:
        state = grammar.advance(state, t)
    return state


def test_executability_rules(tokenizer, grammar):
    """A Fourfold_Cover whose first three flags are 0 must take the fourth flap."""
    gene = next(g for g in sample_posed_genes("Box", 50, seed=0)
                if any(i.template == "Fourfold_Cover" for i in g.instances))
    ids = tokenizer.encode(gene)
    state = _walk(grammar, ids[:ids.index(tokenizer.ids["<Box/Fourfold_Cover>"]) + 1])
    key = "Box/Fourfold_Cover/has_cover[{}]"
    for k in range(3):
        zero = [t for t in grammar.allowed(state).tolist()
                if tokenizer.table.value(key.format(k), t - grammar.bof) == 0.0]
        assert zero
        state = grammar.advance(state, zero[0])
    last = grammar.allowed(state) - grammar.bof
    assert len(last) and (tokenizer.table.value(key.format(3), last) == 1.0).all()


def test_constraints_cut_float_tokens(tokenizer, grammar):
    """Every float token offered for a constrained component keeps the constraint true."""
    checked = 0
    for c in CATEGORIES:
        for gene in sample_posed_genes(c, 3, seed=4):
            ids = tokenizer.encode(gene)
            state = grammar.initial()
            for t in ids:
                if state.phase == FLOAT and len(grammar.allowed(state)) > 1:
                    tpl = grammar._templates[state.cat][state.tpl]
                    comp = tpl.params[state.param].comps[len(state.values) - state.starts[-1]]
                    ends = list(state.starts[1:]) + [len(state.values)]
                    for rp, rc, factor, margin in comp.bounds:
                        if state.starts[rp] + rc >= ends[rp]:
                            continue  # rhs component absent (shorter vector)
                        bound = factor * state.values[state.starts[rp] + rc] - margin
                        offered = comp.vals[np.searchsorted(comp.ids, grammar.allowed(state))]
                        assert (offered <= bound + RANGE_TOLERANCE).all()
                        cut = np.isin(comp.ids, grammar.allowed(state), invert=True)
                        above = comp.vals[cut & (np.arange(len(comp.ids)) >= comp.lower)]
                        if len(comp.bounds) == 1:  # the cut is this bound's
                            assert (above > bound + RANGE_TOLERANCE).all()
                        checked += 1
                state = grammar.advance(state, t)
    assert checked


def _random_decode(grammar, rng, category: int) -> list[int]:
    state = grammar.advance(grammar.initial(), grammar.bos)
    ids = [grammar.bos, int(grammar.allowed(state)[category])]
    state = grammar.advance(state, ids[-1])
    while not grammar.is_final(state):
        for t in grammar.forced_run(state):  # jump-forward
            ids.append(t)
            state = grammar.advance(state, t)
        if grammar.is_final(state):
            break
        logits = rng.standard_normal(grammar.vocab_size) * 3.0
        allowed = grammar.allowed(state)
        masked = np.full(grammar.vocab_size, -np.inf)
        masked[allowed] = logits[allowed]
        t = int(np.argmax(masked))
        ids.append(t)
        state = grammar.advance(state, t)
        assert len(ids) < 5000
    return ids


def test_random_logits_always_give_executable_genes(tokenizer, grammar):
    rng = np.random.default_rng(0)
    n_cat = len(CATEGORIES)
    seen = {c: 0 for c in CATEGORIES}
    for k in range(N_RANDOM):
        ids = _random_decode(grammar, rng, k % n_cat)
        gene = tokenizer.decode(ids)
        execute(gene)
        seen[gene.category] += 1
    assert min(seen.values()) >= N_RANDOM // n_cat


def test_processor_masks_batched_rows_and_padded_vocab(tokenizer, grammar):
    torch = pytest.importorskip("torch")
    proc = GeneLogitsProcessor(grammar, prompt_length=1,
                               start=grammar.advance(grammar.initial(), grammar.bos))
    gene = sample_posed_genes("Mug", 1, seed=3)[0]
    ids = tokenizer.encode(gene)
    vocab = grammar.vocab_size + 13
    for n in range(1, len(ids)):
        rows = torch.tensor([ids[:n], ids[:n]])
        out = proc(rows, torch.zeros(2, vocab))
        assert torch.isfinite(out[:, ids[n]]).all()
        assert not torch.isfinite(out[:, grammar.vocab_size:]).any()
        state = proc._states[np.asarray(ids[:n]).tobytes()]
        assert torch.isfinite(out[0]).sum() == len(grammar.allowed(state))


@pytest.mark.parametrize("mode", ["greedy", "sample", "beam"])
def test_tiny_model_generate(tokenizer, grammar, mode):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=32,
                                     n_layer=1, n_head=2, bos_token_id=grammar.bos,
                                     eos_token_id=grammar.eos, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(config).eval()
    kwargs = {"greedy": dict(do_sample=False),
              "sample": dict(do_sample=True, temperature=2.0),
              "beam": dict(do_sample=False, num_beams=2)}[mode]
    # batched: one row per category prompt <bos> <Cat>; the grammar reads the prompt too
    # (prompt_length=0), so every row has its own category
    start = grammar.advance(grammar.initial(), grammar.bos)
    cats = grammar.allowed(start)[[0, 3, 5, 8, 10, 15]]
    prompt = torch.tensor([[grammar.bos, int(c)] for c in cats])
    proc = GeneLogitsProcessor(grammar, prompt_length=0)
    out = model.generate(prompt, logits_processor=[proc], max_new_tokens=800,
                         attention_mask=torch.ones_like(prompt), **kwargs)
    for seq, cat in zip(out.tolist(), cats):
        assert seq[1] == cat and grammar.eos in seq
        _valid(tokenizer, seq[:seq.index(grammar.eos) + 1])
