"""FSM-constrained decoding of the ``compact`` serialisation (SPEC §5).

:class:`GeneGrammar` is an engine-agnostic finite-state machine generated from the registry and a
:class:`~gene_perception.tokenizer.GeneTokenizer`: ``allowed(state)`` gives the token ids that keep
the output a valid, executable gene, ``advance(state, token)`` the next state. The structure::

    <bos> <Cat> pose(6 floats) { <Cat/Template> params... }* <eos>

with instances in slot order within each slot's ``min_count``/``max_count`` (required slots cannot
be skipped), per template its parameters in declared order, a ``<L{n}>`` length token for
multi-length parameters, packed parameters' lengths from the count already emitted, and exactly
that many float tokens. Float tokens are restricted to quantile indices whose value lies in the
component's declared range (integral for discrete keys), satisfies the template's constraints
given the values already emitted (the same float expression ``from_json`` checks), keeps every
later constrained component feasible (no dead ends), and for count parameters yields packed
lengths the parameter allows. A template's ``at_least_one`` flag vectors cannot end all zero and
its ``empty_unless`` rule forces a board when the rest is empty (the geometry would be empty).

Per token, ``allowed`` returns a precomputed array (or a slice of one: a constraint's bound cuts
a prefix of the value-sorted ids), so the hot path allocates no vocabulary-sized arrays.
:class:`GeneLogitsProcessor` applies it to transformers' ``generate`` (greedy, sampling, beam
search); :meth:`GeneGrammar.forced_run` gives the jump-forward tokens.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .gene import RANGE_TOLERANCE
from .registry import CATEGORIES
from .registry.core import Category, ConceptTemplate, Param
from .tokenizer import (BOS, EOS, POSE_PARAMS, GeneTokenizer, category_token, length_token,
                        param_key, pose_key, template_token)

#: (template, parameter) flag vectors whose components may not all be 0: the geometry would be
#: empty (e.g. a Box Fourfold_Cover without any flap).
# State phases
START, CATEGORY, POSE, SLOTS, LENGTH, FLOAT, DONE = range(7)


class State(NamedTuple):
    """A grammar state (immutable; cheap to copy and hash).

    ``cat``: category index; ``slot``/``count``: current slot and instances in it; ``tpl``:
    template index in the category (instance in progress), ``param``: parameter index,
    ``length``: components of the current parameter, ``values``: the instance's emitted floats,
    ``starts``: where each parameter begins in ``values``.
    """

    phase: int
    cat: int = -1
    slot: int = 0
    count: int = 0
    tpl: int = -1
    param: int = 0
    length: int = 0
    values: tuple[float, ...] = ()
    starts: tuple[int, ...] = ()


@dataclass
class _Comp:
    """One float component: value-sorted allowed ids and their values, static lower cut."""

    ids: np.ndarray
    vals: np.ndarray
    lower: int = 0
    #: (rhs param index, rhs component, factor, margin) upper bounds
    bounds: list[tuple[int, int, float, float]] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)  # quantile index -> position in ids, or -1
    values: list[float] = field(default_factory=list)  # vals as Python floats


@dataclass
class _Param:
    param: Param
    comps: list[_Comp]
    lengths: tuple[int, ...]
    length_ids: np.ndarray | None  # multi-length (non-packed): ids of the <L{n}> tokens
    length_of: dict[int, int]  # length token id -> n
    items_of: int = -1  # index of the count parameter for packed params
    nonempty: bool = False
    #: the template's ``empty_unless`` rule on this (board) parameter: (param index, components,
    #: threshold)
    needs: tuple[int, tuple[int, ...], float] | None = None
    need_lo: int = 0  # first index of comps[0] whose value rounds to >= 1


@dataclass
class _Template:
    spec: ConceptTemplate
    slot: int
    token: int
    params: list[_Param]


class GeneGrammar:
    """The compact-serialisation FSM of every registry category for ``tokenizer``."""

    def __init__(self, tokenizer: GeneTokenizer) -> None:
        if tokenizer.serialization != "compact":
            raise ValueError("GeneGrammar handles the compact serialisation")
        self.tokenizer = tokenizer
        self.table = tokenizer.table
        ids = tokenizer.ids
        self.bof = tokenizer.bof
        self.vocab_size = max(ids.values()) + 1
        self.bos, self.eos = ids[BOS], ids[EOS]
        self.categories: list[Category] = list(CATEGORIES.values())
        self._bos_ids = np.array([self.bos], np.int64)
        self._eos_ids = np.array([self.eos], np.int64)
        self._cat_ids = np.array([ids[category_token(c.name)] for c in self.categories], np.int64)
        self._cat_of = {int(t): k for k, t in enumerate(self._cat_ids)}
        self._pose = [self._comp(pose_key(name, i), param, i)
                      for name, param in POSE_PARAMS.items() for i in range(3)]
        self._templates: list[list[_Template]] = []
        for c in self.categories:
            tpls = [self._template(c, si, spec) for si, slot in enumerate(c.slots)
                    for spec in slot.templates]
            self._templates.append(tpls)
        self._slot_cache: dict[tuple[int, int, int], tuple[np.ndarray, dict[int, int]]] = {}
        comps = self._pose + [c for tpls in self._templates for t in tpls for p in t.params
                              for c in p.comps]
        for c in comps:
            pos = np.full(self.table.n, -1, np.int64)
            pos[c.ids - self.bof] = np.arange(len(c.ids))
            c.pos, c.values = pos.tolist(), c.vals.tolist()

    # ------------------------------------------------------------------ construction

    def _comp(self, key: str, param: Param, index: int) -> _Comp:
        q = self.table.row(key)
        low, high = param.bounds(max(param.lengths))
        lo, hi = float(low[index]), float(high[index])
        ok = (lo - RANGE_TOLERANCE <= q) & (q <= hi + RANGE_TOLERANCE)
        if param.discrete:
            ok &= q == np.floor(q)
        idx = np.nonzero(ok)[0]
        if not idx.size:
            raise ValueError(f"{key}: no quantile inside [{lo:g}, {hi:g}]")
        return _Comp(self.bof + idx.astype(np.int64), q[idx].astype(np.float64))

    def _template(self, cat: Category, slot: int, spec: ConceptTemplate) -> _Template:
        names = [p.name for p in spec.params]
        params = []
        for p in spec.params:
            n_max = max(p.lengths)
            comps = [self._comp(param_key(cat.name, spec.name, p.name, i), p, i)
                     for i in range(n_max)]
            multi = p.items_of is None and len(p.lengths) > 1
            lids = np.array([self.tokenizer.ids[length_token(n)] for n in p.lengths],
                            np.int64) if multi else None
            params.append(_Param(p, comps, p.lengths, lids,
                                 dict(zip(lids.tolist(), p.lengths)) if multi else {},
                                 names.index(p.items_of) if p.items_of else -1,
                                 p.name in spec.at_least_one))
        # count parameters: only counts whose packed vectors have an allowed length
        for pk in params:
            if pk.items_of >= 0:
                cp = params[pk.items_of]
                c0 = cp.comps[0]
                keep = np.array([pk.param.packed_length(int(v)) in pk.lengths for v in c0.vals])
                cp.comps[0] = _Comp(c0.ids[keep], c0.vals[keep])
                if not keep.any():
                    raise ValueError(f"{spec.name}.{cp.param.name}: no allowed count")
        rule = spec.empty_unless
        if rule is not None:
            target = params[names.index(rule.boards)]
            if target.length_ids is None or target.lengths[0] != 1:
                raise ValueError(f"{spec.name}: empty_unless needs a board parameter")
            target.needs = (names.index(rule.param), rule.components, rule.threshold)
            target.need_lo = int(np.searchsorted(target.comps[0].vals, 0.5, "right"))
            if target.need_lo >= len(target.comps[0].ids):
                raise ValueError(f"{spec.name}.{rule.boards}: no count >= 1")
        for c in spec.constraints:
            lp, rp = names.index(c.lhs[0]), names.index(c.rhs[0])
            params[lp].comps[c.lhs[1]].bounds.append((rp, c.rhs[1], c.factor, c.margin))
        # static lower cuts so that every constrained later component keeps a value (dead-end
        # free), later components first
        order = [(pi, ci) for pi, p in enumerate(params) for ci in range(len(p.comps))]
        for pi, ci in reversed(order):
            comp = params[pi].comps[ci]
            for c in spec.constraints:
                if (names.index(c.rhs[0]), c.rhs[1]) != (pi, ci):
                    continue
                lhs = params[names.index(c.lhs[0])].comps[c.lhs[1]]
                need = lhs.vals[lhs.lower]
                if c.factor <= 0:
                    raise ValueError(f"{spec.name}: non-positive constraint factor")
                feasible = need <= c.factor * comp.vals - c.margin + RANGE_TOLERANCE
                if not feasible.any():
                    raise ValueError(f"{spec.name}: constraint {c} cannot hold")
                comp.lower = max(comp.lower, int(np.argmax(feasible)))
            if comp.lower >= len(comp.ids):
                raise ValueError(f"{spec.name}: {params[pi].param.name}[{ci}] infeasible")
        return _Template(spec, slot, self.tokenizer.ids[template_token(cat.name, spec.name)],
                         params)

    def _slot_ids(self, cat: int, slot: int, count: int) -> tuple[np.ndarray, dict[int, int]]:
        """Template (and eos) ids allowed at (slot, count), with each template's next slot."""
        key = (cat, slot, count)
        hit = self._slot_cache.get(key)
        if hit is not None:
            return hit
        slots = self.categories[cat].slots
        out: dict[int, int] = {}
        for k, t in enumerate(self._templates[cat]):
            s = t.slot
            if s < slot:
                continue
            if s == slot:
                ok = count < slots[s].max_count
            else:
                ok = count >= slots[slot].min_count and \
                    all(slots[m].min_count == 0 for m in range(slot + 1, s))
            if ok:
                out[t.token] = k
        ids = list(out)
        if count >= slots[slot].min_count and all(s.min_count == 0 for s in slots[slot + 1:]):
            ids.append(self.eos)
        hit = (np.array(sorted(ids), np.int64), out)
        self._slot_cache[key] = hit
        return hit

    # --------------------------------------------------------------------------- API

    def initial(self) -> State:
        return State(START)

    def is_final(self, state: State) -> bool:
        return state.phase == DONE

    def allowed(self, state: State) -> np.ndarray:
        """Allowed token ids (ascending within each kind; do not modify the array)."""
        ph = state.phase
        if ph == FLOAT:
            return self._float_ids(state)
        if ph == SLOTS:
            return self._slot_ids(state.cat, state.slot, state.count)[0]
        if ph == POSE:
            return self._pose[len(state.values)].ids
        if ph == LENGTH:
            p = self._templates[state.cat][state.tpl].params[state.param]
            return p.length_ids[1:] if p.needs and self._needs(state, p) else p.length_ids
        if ph == CATEGORY:
            return self._cat_ids
        if ph == START:
            return self._bos_ids
        return self._eos_ids[:0]

    def _float_ids(self, state: State) -> np.ndarray:
        comp, lo, hi = self._float_range(state)
        return comp.ids[lo:hi]

    def _float_range(self, state: State) -> tuple[_Comp, int, int]:
        """The current component and the allowed slice ``[lo, hi)`` of its sorted ids."""
        p = self._templates[state.cat][state.tpl].params[state.param]
        values = state.values
        starts = state.starts
        i = len(values) - starts[-1]
        comp = p.comps[i]
        hi = len(comp.values)
        if comp.bounds:
            for rp, rc, factor, margin in comp.bounds:
                end = starts[rp + 1] if rp + 1 < len(starts) else len(values)
                pos = starts[rp] + rc
                if pos < end:
                    bound = factor * values[pos] - margin
                    hi = min(hi, bisect.bisect_right(comp.values, bound + RANGE_TOLERANCE))
        lo = comp.lower
        if i == 0 and p.needs and self._needs(state, p):
            lo = max(lo, p.need_lo)
        if p.nonempty and i == state.length - 1 and not any(values[starts[-1]:]):
            lo = max(lo, bisect.bisect_left(comp.values, 0.5))
        return comp, lo, hi

    def advance(self, state: State, token: int) -> State:
        """The state after ``token``; ``ValueError`` if the token is not allowed."""
        token = int(token)
        ph = state.phase
        if ph == FLOAT:
            comp, lo, hi = self._float_range(state)
            j = token - self.bof
            k = comp.pos[j] if 0 <= j < len(comp.pos) else -1
            if not lo <= k < hi:
                raise ValueError(f"token {token} not allowed here")
            values = state.values + (comp.values[k],)
            nxt = State(FLOAT, state.cat, state.slot, state.count, state.tpl, state.param,
                        state.length, values, state.starts)
            if len(values) - state.starts[-1] < state.length:
                return nxt
            return self._next_param(nxt, self._templates[state.cat][state.tpl], state.param + 1)
        if ph == SLOTS:
            ids, nxt = self._slot_ids(state.cat, state.slot, state.count)
            if token == self.eos and token in ids:
                return State(DONE, state.cat)
            k = nxt.get(token)
            if k is None:
                raise ValueError(f"token {token} not allowed here")
            t = self._templates[state.cat][k]
            count = state.count + 1 if t.slot == state.slot else 1
            return self._next_param(State(FLOAT, state.cat, t.slot, count, k), t, 0)
        if ph == POSE:
            comp = self._pose[len(state.values)]
            j = token - self.bof
            k = comp.pos[j] if 0 <= j < len(comp.pos) else -1
            if k < 0:
                raise ValueError(f"token {token} not allowed here")
            values = state.values + (comp.values[k],)
            if len(values) < 6:
                return state._replace(values=values)
            return State(SLOTS, state.cat, 0, 0)
        if ph == LENGTH:
            t = self._templates[state.cat][state.tpl]
            p = t.params[state.param]
            n = p.length_of.get(token)
            if n is None or (p.needs and n == p.lengths[0] and self._needs(state, p)):
                raise ValueError(f"token {token} not allowed here")
            return state._replace(phase=FLOAT, length=n)
        if ph == CATEGORY:
            k = self._cat_of.get(token)
            if k is None:
                raise ValueError(f"token {token} not allowed here")
            return State(POSE, k)
        if ph == START:
            if token != self.bos:
                raise ValueError(f"token {token} not allowed here")
            return State(CATEGORY)
        raise ValueError("the gene is complete")

    @staticmethod
    def _needs(state: State, p: _Param) -> bool:
        """Whether the template's ``empty_unless`` rule is active for the board parameter ``p``
        (every watched component small)."""
        pi, comps, threshold = p.needs
        start = state.starts[pi]
        return all(state.values[start + c] <= threshold for c in comps)

    def _next_param(self, state: State, t: _Template, pi: int) -> State:
        """Enter parameter ``pi`` of the current instance (or close the instance)."""
        while pi < len(t.params):
            p = t.params[pi]
            starts = state.starts + (len(state.values),) if pi else (0,)
            if pi == 0:
                state = state._replace(values=())
            if p.items_of >= 0:
                count = int(state.values[starts[p.items_of]])
                n = p.param.packed_length(count)
            elif p.length_ids is not None:
                return state._replace(phase=LENGTH, param=pi, starts=starts, length=0)
            else:
                n = p.lengths[0]
            state = state._replace(phase=FLOAT, param=pi, starts=starts, length=n)
            if n > 0:
                return state
            pi += 1
        return State(SLOTS, state.cat, state.slot, state.count)

    def forced(self, state: State) -> int | None:
        """The only allowed token, if exactly one is allowed (jump-forward)."""
        ids = self.allowed(state)
        return int(ids[0]) if ids.size == 1 else None

    def forced_run(self, state: State) -> list[int]:
        """The run of forced tokens from ``state`` (each then the only choice)."""
        out = []
        while (tok := self.forced(state)) is not None:
            out.append(tok)
            state = self.advance(state, tok)
        return out

    def accepts(self, ids) -> bool:
        """Whether ``ids`` is a complete gene under the grammar."""
        state = self.initial()
        try:
            for t in ids:
                state = self.advance(state, t)
        except ValueError:
            return False
        return self.is_final(state)

    def mask(self, state: State, size: int | None = None) -> np.ndarray:
        """Boolean allowed-mask of length ``size`` (default: the vocabulary)."""
        m = np.zeros(size or self.vocab_size, bool)
        m[self.allowed(state)] = True
        return m


class GeneLogitsProcessor:
    """transformers ``LogitsProcessor``: disallowed scores become ``-inf``.

    ``input_ids[:, prompt_length:]`` are the generated tokens, decoded by the grammar from
    ``start`` (default the initial state, which expects ``<bos>``; pass
    ``grammar.advance(grammar.initial(), grammar.bos)`` when the prompt ends with ``<bos>``).
    States are kept per row keyed by the row's bytes, so rows reordered by beam search find their
    parent's state and advance by one token; an unknown row is re-advanced from ``start``. After
    ``<eos>`` a row (padding in greedy/sampling) only allows ``<eos>``.
    """

    def __init__(self, grammar: GeneGrammar, prompt_length: int, start: State | None = None):
        self.grammar = grammar
        self.prompt_length = int(prompt_length)
        self.start = grammar.initial() if start is None else start
        self._states: dict[bytes, State] = {}
        self._mask = np.ones((0, 0), bool)  # reused buffer (consumed within each call)
        import torch

        self._torch = torch

    def _state(self, row: np.ndarray, parents: dict[bytes, State]) -> State:
        g = self.grammar
        parent = parents.get(row[:-1].tobytes()) if row.size > self.prompt_length else None
        if parent is not None:
            return parent if g.is_final(parent) else g.advance(parent, row[-1])
        state = self.start
        for t in row[self.prompt_length:]:
            if g.is_final(state):
                break
            state = g.advance(state, t)
        return state

    def __call__(self, input_ids, scores):
        torch = self._torch
        ids = (input_ids if input_ids.device.type == "cpu" else input_ids.cpu()).numpy()
        parents, states = self._states, {}
        mask = self._mask
        if mask.shape != tuple(scores.shape):
            mask = self._mask = np.ones(tuple(scores.shape), bool)
        else:
            mask.fill(True)
        for b in range(ids.shape[0]):
            row = ids[b]
            key = row.tobytes()
            state = states.get(key)
            if state is None:
                state = self._state(row, parents)
                states[key] = state
            allowed = self.grammar.allowed(state)
            mask[b, allowed if allowed.size else self.grammar._eos_ids] = False
        self._states = states
        m = torch.from_numpy(mask)
        if scores.device.type != "cpu":
            m = m.to(scores.device, non_blocking=False)
        return scores.masked_fill(m, float("-inf"))


# ----------------------------------------------------------------------------- overhead

def grammar_overhead_table(tokenizer: GeneTokenizer | None = None, n_genes: int = 20,
                           seed: int = 0) -> str:
    """Markdown table: median µs per generated token of ``allowed`` + ``advance`` (batch 1) and
    of :class:`GeneLogitsProcessor` ``__call__`` (batch 1 and 32), replaying sampled genes'
    compact token sequences (a table built from other sampled genes)."""
    import torch

    from .tokenizer import sample_posed_genes, table_from_genes

    if tokenizer is None:
        train = [g for c in CATEGORIES for g in sample_posed_genes(c, 30, seed + 1)]
        tokenizer = GeneTokenizer(table_from_genes(train), "compact")
    grammar = GeneGrammar(tokenizer)
    seqs = [tokenizer.encode(g) for c in CATEGORIES for g in sample_posed_genes(c, n_genes, seed)
            [: max(1, n_genes // 4)]]
    step = []
    for seq in seqs:
        state = grammar.initial()
        for t in seq:
            t0 = time.perf_counter_ns()
            grammar.allowed(state)
            state = grammar.advance(state, t)
            step.append(time.perf_counter_ns() - t0)
    rows = ["| measure | median µs / token |", "|---|---|",
            f"| allowed()+advance(), batch 1 | {np.median(step) / 1e3:.2f} |"]
    vocab = len(tokenizer)
    for batch in (1, 32):
        times = []
        for seq in seqs[:8]:
            proc = GeneLogitsProcessor(grammar, 0)
            full = torch.tensor([seq] * batch)
            scores = torch.zeros(batch, vocab)
            prefixes = [full[:, :n] for n in range(len(seq))]
            for prefix in prefixes:
                t0 = time.perf_counter_ns()
                proc(prefix, scores)
                times.append(time.perf_counter_ns() - t0)
        rows.append(f"| GeneLogitsProcessor.__call__, batch {batch} (per row-token) | "
                    f"{np.median(times) / 1e3 / batch:.2f} (per call "
                    f"{np.median(times) / 1e3:.1f}) |")
    return "\n".join(rows)
