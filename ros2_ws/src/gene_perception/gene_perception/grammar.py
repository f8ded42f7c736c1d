"""FSM-constrained decoding of both serialisations (SPEC §5), and its xgrammar anchor.

:class:`GeneGrammar` is an engine-agnostic finite-state machine generated from the registry and a
:class:`~gene_perception.tokenizer.GeneTokenizer`: ``allowed(state)`` gives the token ids that keep
the output a valid, executable gene, ``advance(state, token)`` the next state. The structure of
the ``compact`` serialisation::

    <bos> <Cat> pose(6 floats) { <Cat/Template> params... }* <eos>

with instances in slot order within each slot's ``min_count``/``max_count`` (required slots cannot
be skipped), per template its parameters in declared order, a ``<L{n}>`` length token for
multi-length parameters, packed parameters' lengths from the count already emitted, and exactly
that many float tokens (or numbers written as text, see below). Float tokens are restricted to
quantile indices whose value lies in the component's declared range (integral for discrete
keys), satisfies the template's constraints given the values already emitted (the same float
expression ``from_json`` checks), keeps every later constrained component feasible (no dead
ends), and for count parameters yields packed lengths the parameter allows. A template's ``at_least_one`` flag vectors cannot end all zero and
its ``empty_unless`` rule forces a board when the rest is empty (the geometry would be empty).

Numbers as text (a tokenizer with ``numbers="text"``): each number is a run of characters ended
by ``,``. The same rules become an interval of integers ``[a, b]`` in units of the key's last
decimal (declared range, constraint bounds given the values already emitted, static lower cuts
for dead-end freedom, the count and flag rules), and :func:`_next_chars` allows a character only
if some number in the interval is written with that prefix (no leading zeros, a fixed number of
decimals, no ``-0``). So the digit count is bounded by the range, every run ends, and the value
satisfies everything a float token would.

:class:`JsonGeneGrammar` decodes the ``json`` serialisation with the same decisions: it runs a
:class:`GeneGrammar` as its core and renders the text between two float tokens (the tokenizer's
JSON layout) as a token trie, so the category, template and vector-length choices are branches
of the trie and everything else is forced. The trie holds the tokenizer's own ids for that text:
one id per piece in the closed vocabulary, base BPE tokens for a pretrained tokenizer extended
with the gene tokens (its canonical tokenisation, the one ``encode`` gives). A multi-length
vector's length is decided by its ``,`` or ``]``, so a JSON state may follow several core states
(one per length still possible).

Per token, ``allowed`` returns a precomputed array (or a slice of one: a constraint's bound cuts
a prefix of the value-sorted ids), so the hot path allocates no vocabulary-sized arrays.
:class:`GeneLogitsProcessor` applies either grammar to transformers' ``generate`` (greedy,
sampling, beam search); ``forced_run`` gives the jump-forward tokens for a hand-written loop.
:func:`xgrammar_ebnf` writes the same grammar as EBNF for xgrammar, the anchor of
:func:`grammar_overhead_table`.
"""

from __future__ import annotations

import abc
import bisect
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterator, NamedTuple

import numpy as np

from .gene import RANGE_TOLERANCE
from .registry import CATEGORIES
from .registry.core import Category, ConceptTemplate, Constraint, Param
from .tokenizer import (BOS, END_CODE, EOS, JSON_INSTANCE_END, JSON_PARAM_END,
                        JSON_POSE_TO_INSTANCES, JSON_POSITION_TO_ROTATION, JSON_SEPARATOR,
                        JSON_TAIL, NUMBER_CHARS, NUMBER_END, POSE_PARAMS, TEXT_DECIMALS,
                        GeneTokenizer, category_token, json_head, json_instance_head,
                        json_param_head, length_token, param_key, pose_key, template_token)

# State phases
START, CATEGORY, POSE, SLOTS, LENGTH, FLOAT, DONE = range(7)


#: Builds a :class:`State` from a full field tuple. States are built positionally on the
#: per-token path: ``NamedTuple._replace`` costs about 5× as much (measured ~1.8 against 0.36 µs),
#: a large share of a float token's ``advance``.
_new_state = tuple.__new__


class State(NamedTuple):
    """A grammar state (immutable; cheap to copy and hash).

    ``cat``: category index; ``slot``/``count``: current slot and instances in it; ``tpl``:
    template index in the category (instance in progress), ``param``: parameter index,
    ``length``: components of the current parameter, ``values``: the instance's emitted floats,
    ``starts``: where each parameter begins in ``values``; ``text``: the characters of the
    number being written (numbers as text).
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
    text: str = ""


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
    first: int = 0  # ids[0]
    contiguous: bool = False  # ids are first, first + 1, …
    #: numbers as text: decimals, the allowed integers [low_m, high_m] in units of 10**-decimals
    #: and, for discrete keys, the allowed values (counts whose packed lengths are allowed)
    decimals: int = 0
    low_m: int = 0
    high_m: int = 0
    choices: tuple[int, ...] | None = None


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


#: Shortest contiguous allowed run :meth:`_Grammar.allowed_index` writes as a slice.
_SLICE_MIN = 16


class _Grammar(abc.ABC):
    """What both grammars share on top of ``initial``/``allowed``/``advance``/``is_final``.

    ``end``: the token that ends a gene (``<eos>``, ``</code>``), also what a finished row may
    take (padding); ``end_ids``: it as an array; ``vocab_size``: ids are below it.
    """

    vocab_size: int
    end: int
    end_ids: np.ndarray

    @abc.abstractmethod
    def initial(self) -> State | JsonState:
        """The state before the first token."""

    @abc.abstractmethod
    def is_final(self, state: State | JsonState) -> bool:
        """Whether a complete gene ends at ``state``."""

    @abc.abstractmethod
    def allowed(self, state: State | JsonState) -> np.ndarray:
        """The token ids allowed next, ascending (GeneLogitsProcessor relies on the order)."""

    @abc.abstractmethod
    def advance(self, state: State | JsonState, token: int) -> State | JsonState:
        """The state after ``token``; ``ValueError`` if it is not allowed."""

    def forced(self, state: State | JsonState) -> int | None:
        """The only allowed token, if exactly one is allowed (jump-forward)."""
        ids = self.allowed(state)
        return int(ids[0]) if ids.size == 1 else None

    def forced_run(self, state: State | JsonState) -> list[int]:
        """The run of forced tokens from ``state`` (each then the only choice)."""
        out = []
        while (tok := self.forced(state)) is not None:
            out.append(tok)
            state = self.advance(state, tok)
        return out

    def accepts(self, ids: Iterable[int]) -> bool:
        """Whether ``ids`` is a complete gene under the grammar."""
        state = self.initial()
        try:
            for t in ids:
                state = self.advance(state, t)
        except ValueError:
            return False
        return self.is_final(state)

    def allowed_index(self, state: State | JsonState) -> np.ndarray | slice:
        """:meth:`allowed` as an index for writing a vocabulary-sized mask: a ``slice`` where the
        ids are one contiguous run longer than 16 (a float token's range: writing 1,024 entries
        through a slice is ~5× faster than through an index array), else the array; ``end_ids``
        where nothing is allowed (a finished gene, whose row takes the end token as padding)."""
        allowed = self.allowed(state)
        n = allowed.size
        if n <= _SLICE_MIN:
            return allowed if n else self.end_ids
        first = int(allowed[0])
        return slice(first, first + n) if int(allowed[-1]) - first + 1 == n else allowed

    def mask(self, state: State | JsonState, size: int | None = None) -> np.ndarray:
        """Boolean allowed-mask of length ``size`` (default: the vocabulary)."""
        m = np.zeros(size or self.vocab_size, bool)
        m[self.allowed(state)] = True
        return m


def _lower_cut_order(spec: ConceptTemplate, params: list[_Param]
                     ) -> Iterator[tuple[int, int, _Comp, list[tuple[Constraint, _Comp]]]]:
    """Each component, later ones first, with the constraints whose right-hand side it is and
    their left-hand components: the order in which static lower cuts propagate (a cut on a
    later component can tighten an earlier one, never the reverse)."""
    names = [p.param.name for p in params]
    for pi in reversed(range(len(params))):
        for ci in reversed(range(len(params[pi].comps))):
            bound = [(c, params[names.index(c.lhs[0])].comps[c.lhs[1]])
                     for c in spec.constraints if (names.index(c.rhs[0]), c.rhs[1]) == (pi, ci)]
            yield pi, ci, params[pi].comps[ci], bound


class GeneGrammar(_Grammar):
    """The compact-serialisation FSM of every registry category for ``tokenizer``.

    ``core=True`` builds it over a ``json`` tokenizer (whose vocabulary carries the compact
    tokens too) as the decision core of :class:`JsonGeneGrammar`.
    """

    def __init__(self, tokenizer: GeneTokenizer, *, core: bool = False) -> None:
        if tokenizer.serialization != "compact" and not core:
            raise ValueError("GeneGrammar decodes the compact serialisation; use "
                             "JsonGeneGrammar (or grammar_for) for json")
        self.tokenizer = tokenizer
        self.table = tokenizer.table
        ids = tokenizer.ids
        self.bof = tokenizer.bof
        self.text = tokenizer.numbers == "text"
        if self.text:
            self._char_of = {ids[c]: c for c in (*NUMBER_CHARS, NUMBER_END)}
            self._chars_ids: dict[str, np.ndarray] = {}
        self.vocab_size = max(ids.values()) + 1
        self.bos, self.eos = ids[BOS], ids[EOS]
        self.categories: list[Category] = list(CATEGORIES.values())
        self._bos_ids = np.array([self.bos], np.int64)
        self.end = self.eos
        self.end_ids = np.array([self.end], np.int64)
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
        self._last_range: tuple[State | None, tuple[_Comp, int, int] | None] = (None, None)
        comps = self._pose + [c for tpls in self._templates for t in tpls for p in t.params
                              for c in p.comps]
        for c in comps:
            pos = np.full(self.table.n, -1, np.int64)
            pos[c.ids - self.bof] = np.arange(len(c.ids))
            c.pos, c.values = pos.tolist(), c.vals.tolist()
            c.first = int(c.ids[0])
            c.contiguous = int(c.ids[-1]) - c.first + 1 == len(c.ids)

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
        comp = _Comp(self.bof + idx.astype(np.int64), q[idx].astype(np.float64))
        if self.text:
            d = TEXT_DECIMALS[param.unit]
            comp.decimals = d
            comp.low_m = _ceil_units(lo - RANGE_TOLERANCE, d)
            comp.high_m = _floor_units(hi + RANGE_TOLERANCE, d)
            if comp.low_m > comp.high_m:
                raise ValueError(f"{key}: no {d}-decimal number inside [{lo:g}, {hi:g}]")
            if param.discrete:
                comp.choices = tuple(range(comp.low_m, comp.high_m + 1))
        return comp

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
                choices = c0.choices and tuple(m for m in c0.choices
                                               if pk.param.packed_length(m) in pk.lengths)
                cp.comps[0] = replace(c0, ids=c0.ids[keep], vals=c0.vals[keep], choices=choices)
                if not keep.any() or choices == ():
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
        for pi, ci, comp, bound in _lower_cut_order(spec, params):
            for c, lhs in bound:
                need = lhs.vals[lhs.lower]
                if c.factor <= 0:
                    raise ValueError(f"{spec.name}: non-positive constraint factor")
                feasible = need <= c.factor * comp.vals - c.margin + RANGE_TOLERANCE
                if not feasible.any():
                    raise ValueError(f"{spec.name}: constraint {c} cannot hold")
                comp.lower = max(comp.lower, int(np.argmax(feasible)))
            if comp.lower >= len(comp.ids):
                raise ValueError(f"{spec.name}: {params[pi].param.name}[{ci}] infeasible")
        if self.text:
            self._text_lower_cuts(spec, params)
        return _Template(spec, slot, self.tokenizer.ids[template_token(cat.name, spec.name)],
                         params)

    @staticmethod
    def _text_lower_cuts(spec: ConceptTemplate, params: list[_Param]) -> None:
        """The static lower cuts of numbers as text: the smallest value of each constraint's
        right-hand side that leaves its left-hand side a value (later components first)."""
        for _, _, comp, bound in _lower_cut_order(spec, params):
            for c, lhs in bound:
                need = lhs.low_m / 10 ** lhs.decimals
                m = _ceil_units((need + c.margin - RANGE_TOLERANCE) / c.factor, comp.decimals)
                while _lhs_high(lhs, c.factor, m / 10 ** comp.decimals, c.margin) < lhs.low_m:
                    m += 1
                comp.low_m = max(comp.low_m, m)
            if comp.low_m > comp.high_m:
                raise ValueError(f"{spec.name}: {params[pi].param.name}[{ci}] infeasible as text")

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
            return self._text_ids(state) if self.text else self._float_ids(state)
        if ph == SLOTS:
            return self._slot_ids(state.cat, state.slot, state.count)[0]
        if ph == POSE:
            return self._text_ids(state) if self.text else self._pose[len(state.values)].ids
        if ph == LENGTH:
            p = self._templates[state.cat][state.tpl].params[state.param]
            return p.length_ids[1:] if p.needs and self._needs(state, p) else p.length_ids
        if ph == CATEGORY:
            return self._cat_ids
        if ph == START:
            return self._bos_ids
        return self.end_ids[:0]

    def _text_range(self, state: State) -> tuple[_Comp, int, int]:
        """Numbers as text: the current component and its allowed integers ``[a, b]`` (units of
        its last decimal), the rules of :meth:`_float_range` in value space."""
        if state.phase == POSE:
            comp = self._pose[len(state.values)]
            return comp, comp.low_m, comp.high_m
        p = self._templates[state.cat][state.tpl].params[state.param]
        values, starts = state.values, state.starts
        i = len(values) - starts[-1]
        comp = p.comps[i]
        a, b = comp.low_m, comp.high_m
        for rp, rc, factor, margin in comp.bounds:
            end = starts[rp + 1] if rp + 1 < len(starts) else len(values)
            pos = starts[rp] + rc
            if pos < end:
                b = min(b, _lhs_high(comp, factor, values[pos], margin))
        one = _ceil_units(0.5, comp.decimals)
        if (i == 0 and p.needs and self._needs(state, p)) or \
                (p.nonempty and i == state.length - 1 and not any(values[starts[-1]:])):
            a = max(a, one)
        return comp, a, b

    def _text_ids(self, state: State) -> np.ndarray:
        comp, a, b = self._text_range(state)
        chars = _next_chars(comp.decimals, a, b, comp.choices, state.text)
        ids = self._chars_ids.get(chars)
        if ids is None:
            ids = self._chars_ids[chars] = np.array(
                sorted(self.tokenizer.ids[c] for c in chars), np.int64)
        return ids

    def spell(self, state: State, value: float) -> str:
        """``value`` as the text of the number expected at ``state`` (numbers as text): rounded
        to the key's decimals, then moved to the nearest value the grammar allows there (a
        rounded inner size may not exceed its rounded outer size, and so on)."""
        comp, a, b = self._text_range(state)
        allowed = [m for m in comp.choices if a <= m <= b] if comp.choices is not None \
            else [a, b] if a <= b else []
        if not allowed:
            raise ValueError("no number is allowed here")
        m = min(max(round(value * 10 ** comp.decimals), allowed[0]), allowed[-1])
        if comp.choices is not None:
            m = min(allowed, key=lambda c: abs(c - m))
        return _format_units(m, comp.decimals)

    def allowed_index(self, state: State) -> np.ndarray | slice:
        if state.phase == FLOAT and not self.text:
            # a float token's range straight from the component, without building the array
            comp, lo, hi = self._float_range(state)
            if comp.contiguous and hi - lo > _SLICE_MIN:
                return slice(comp.first + lo, comp.first + hi)
        return super().allowed_index(state)

    def _float_ids(self, state: State) -> np.ndarray:
        comp, lo, hi = self._float_range(state)
        return comp.ids[lo:hi]

    def _float_range(self, state: State) -> tuple[_Comp, int, int]:
        """The current component and the allowed slice ``[lo, hi)`` of its sorted ids.

        A decoder asks for a state's allowed tokens and then advances the same state object, so
        the last answer is kept, keyed by the state's identity (one tuple, replaced whole, so
        threads sharing the grammar read a consistent pair)."""
        last = self._last_range
        if last[0] is state:
            return last[1]
        found = self._compute_float_range(state)
        self._last_range = (state, found)
        return found

    def _compute_float_range(self, state: State) -> tuple[_Comp, int, int]:
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
        if self.text and ph in (FLOAT, POSE):
            if token not in self._text_ids(state).tolist():
                raise ValueError(f"token {token} not allowed here")
            char = self._char_of[token]
            if char != NUMBER_END:
                return state._replace(text=state.text + char)
            return self._accept(state._replace(text=""), float(state.text))
        if ph == FLOAT:
            comp, lo, hi = self._float_range(state)
            j = token - self.bof
            k = comp.pos[j] if 0 <= j < len(comp.pos) else -1
            if not lo <= k < hi:
                raise ValueError(f"token {token} not allowed here")
            return self._accept(state, comp.values[k])
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
            return self._accept(state, comp.values[k])
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

    def _accept(self, state: State, value: float) -> State:
        """The state after the current number (pose or parameter component) took ``value``."""
        phase, cat, slot, count, tpl, param, length, values, starts, text = state
        values += (value,)
        nxt = _new_state(State, (phase, cat, slot, count, tpl, param, length, values, starts, text))
        if phase == POSE:
            return nxt if len(values) < 6 else State(SLOTS, cat)
        if len(values) - starts[-1] < length:
            return nxt
        return self._next_param(nxt, self._templates[cat][tpl], param + 1)

    @staticmethod
    def _needs(state: State, p: _Param) -> bool:
        """Whether the template's ``empty_unless`` rule is active for the board parameter ``p``
        (every watched component small)."""
        pi, comps, threshold = p.needs
        start = state.starts[pi]
        return all(state.values[start + c] <= threshold for c in comps)

    def _next_param(self, state: State, t: _Template, pi: int) -> State:
        """Enter parameter ``pi`` of the current instance (or close the instance)."""
        _, cat, slot, count, tpl, _, _, values, starts, text = state
        while pi < len(t.params):
            p = t.params[pi]
            if pi:
                starts += (len(values),)
            else:
                starts, values = (0,), ()
            if p.items_of >= 0:
                n = p.param.packed_length(int(values[starts[p.items_of]]))
            elif p.length_ids is not None:
                return _new_state(State, (LENGTH, cat, slot, count, tpl, pi, 0, values, starts,
                                          text))
            else:
                n = p.lengths[0]
            if n > 0:
                return _new_state(State, (FLOAT, cat, slot, count, tpl, pi, n, values, starts,
                                          text))
            pi += 1
        return State(SLOTS, cat, slot, count)


# ---------------------------------------------------------------------------- numbers as text

def _floor_units(x: float, decimals: int) -> int:
    """The largest integer ``m`` with ``m / 10**decimals <= x`` (exactly as floats compare)."""
    m = math.floor(x * 10 ** decimals)
    while (m + 1) / 10 ** decimals <= x:
        m += 1
    while m / 10 ** decimals > x:
        m -= 1
    return m


def _ceil_units(x: float, decimals: int) -> int:
    """The smallest integer ``m`` with ``m / 10**decimals >= x``."""
    return -_floor_units(-x, decimals)


def _lhs_high(lhs: _Comp, factor: float, rhs: float, margin: float) -> int:
    """The largest allowed unit of a constraint's left-hand side given its right-hand side,
    by the float expression validation checks."""
    return _floor_units(factor * rhs - margin + RANGE_TOLERANCE, lhs.decimals)


def _format_units(m: int, decimals: int) -> str:
    """``m / 10**decimals`` as text: sign, integer part without leading zeros, decimals."""
    whole, frac = divmod(abs(m), 10 ** decimals)
    return ("-" if m < 0 else "") + str(whole) + (f".{frac:0{decimals}d}" if decimals else "")


def _prefix_spans(prefix: str, decimals: int, limit: int) -> list[tuple[int, int]]:
    """Integer intervals (units of the last decimal, ``|m| <= limit``) of the numbers whose
    text (:func:`_format_units`) starts with ``prefix``; empty if none can."""
    neg = prefix.startswith("-")
    whole, dot, frac = (prefix[1:] if neg else prefix).partition(".")
    scale = 10 ** decimals
    if (whole and not whole.isdigit()) or (len(whole) > 1 and whole[0] == "0") \
            or (dot and (not whole or not decimals or len(frac) > decimals
                         or (frac and not frac.isdigit()))):
        return []
    if not whole:
        spans = [(0, limit)]
    elif dot:
        step = 10 ** (decimals - len(frac))
        low = int(whole) * scale + int(frac or 0) * step
        spans = [(low, low + step - 1)]
    elif whole == "0":
        spans = [(0, scale - 1)]
    else:
        p, spans, step = int(whole), [], scale
        while p * step <= limit:
            spans.append((p * step, (p + 1) * step - 1))
            step *= 10
    if neg:
        return [(-hi, -max(lo, 1)) for lo, hi in spans if hi >= 1]
    return spans


def _complete_units(text: str, decimals: int) -> int | None:
    """The number ``text`` writes in full (fixed decimals, no ``-0``), else None."""
    neg = text.startswith("-")
    whole, dot, frac = (text[1:] if neg else text).partition(".")
    if not whole.isdigit() or (len(whole) > 1 and whole[0] == "0") \
            or bool(dot) != bool(decimals) or len(frac) != decimals \
            or (frac and not frac.isdigit()):
        return None
    m = int(whole) * 10 ** decimals + int(frac or 0)
    return None if neg and m == 0 else (-m if neg else m)


@lru_cache(maxsize=1 << 16)
def _next_chars(decimals: int, a: int, b: int, choices: tuple[int, ...] | None,
                prefix: str) -> str:
    """The characters that may follow ``prefix`` when the number must lie in ``[a, b]`` (and in
    ``choices``): those after which some such number is still written, and :data:`NUMBER_END`
    once ``prefix`` is one."""
    limit = max(abs(a), abs(b))
    pool = None if choices is None else [m for m in choices if a <= m <= b]

    def possible(text: str) -> bool:
        for lo, hi in _prefix_spans(text, decimals, limit):
            lo, hi = max(lo, a), min(hi, b)
            if lo <= hi and (pool is None or any(lo <= m <= hi for m in pool)):
                return True
        return False

    out = [c for c in NUMBER_CHARS if (c != "-" or not prefix) and possible(prefix + c)]
    m = _complete_units(prefix, decimals) if prefix else None
    if m is not None and a <= m <= b and (pool is None or m in pool):
        out.append(NUMBER_END)
    return "".join(out)


# ------------------------------------------------------------------------------ json grammar

@dataclass
class _Gap:
    """The token trie of the JSON text from one float token to the next (or to the end).

    Node 0 is the root; ``allowed[n]`` are the ids leaving node ``n`` (ascending),
    ``children[n]`` maps them to nodes, and ``leaves[n]`` lists, for a path that ends at ``n``,
    (index of the core state it starts from, the core tokens its text stands for).
    """

    children: list[dict[int, int]]
    allowed: list[np.ndarray]
    leaves: dict[int, tuple[tuple[int, tuple[int, ...]], ...]]

    @classmethod
    def build(cls, paths: list[tuple[list[int], int, tuple[int, ...]]]) -> "_Gap":
        children: list[dict[int, int]] = [{}]
        ends: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        for ids, core, tokens in paths:
            node = 0
            for t in ids:
                node = children[node].setdefault(t, len(children))
                if node == len(children):
                    children.append({})
            ends.setdefault(node, []).append((core, tokens))
        if 0 in ends or any(children[n] for n in ends):
            raise ValueError("the JSON text between two numbers is not prefix-free in this "
                             "tokenizer")
        return cls(children, [np.array(sorted(c), np.int64) for c in children],
                   {n: tuple(e) for n, e in ends.items()})


class JsonState(NamedTuple):
    """A JSON grammar state. At a number (``gap`` None): the core states whose next token it
    is (usually one; one per length still possible inside a multi-length vector), or the core's
    final state. Inside the text between two numbers: the core states that text starts from,
    its trie and the node reached."""

    cores: tuple[State, ...]
    gap: _Gap | None = None
    node: int = 0


class JsonGeneGrammar(_Grammar):
    """The ``json``-serialisation FSM: the :class:`GeneGrammar` decisions, rendered as the
    tokenizer's JSON text (closed vocabulary, or a pretrained tokenizer's BPE)."""

    def __init__(self, tokenizer: GeneTokenizer) -> None:
        if tokenizer.serialization != "json":
            raise ValueError("JsonGeneGrammar decodes the json serialisation; use GeneGrammar "
                             "(or grammar_for) for compact")
        empty = [f"{c.name}/{t.name}.{p.name}" for c in CATEGORIES.values()
                 for t in c.templates.values() for p in t.params if 0 in p.lengths]
        if empty:  # every vector has a number, so the text between numbers is prefix-free
            raise ValueError(f"the JSON grammar needs non-empty vectors: {empty}")
        self.tokenizer = tokenizer
        self.core = GeneGrammar(tokenizer, core=True)
        self.bof = tokenizer.bof
        self.end = tokenizer.ids[END_CODE]
        self.vocab_size = len(tokenizer)
        self.end_ids = np.array([self.end], np.int64)
        self._gaps: dict[tuple, _Gap] = {}
        self._initial = JsonState((self.core.initial(),), self._gap((("start",),)))

    # ------------------------------------------------------------------ the text between numbers

    def _key(self, pre: State, post: State) -> tuple:
        """What the text after a float token depends on (``pre`` → ``post``: the core step)."""
        if pre.phase == POSE:
            n = len(post.values) if post.phase == POSE else 6
            return {3: ("rotation",), 6: ("instances", post.cat)}.get(n, ("sep",))
        if post.phase == FLOAT and post.param == pre.param:
            return ("sep",)
        if post.phase == FLOAT:
            return ("param", post.cat, post.tpl, post.param, ())
        if post.phase == LENGTH:
            return ("param", post.cat, post.tpl, post.param,
                    tuple(self.core.allowed(post).tolist()))
        return ("slots", post.cat, post.slot, post.count)

    def _texts(self, key: tuple) -> list[tuple[list[str], tuple[int, ...]]]:
        """The possible texts (pieces) for a key, each with the core tokens it stands for."""
        core, kind = self.core, key[0]
        if kind == "sep":
            return [(JSON_SEPARATOR, ())]
        if kind == "start":
            return [(json_head(c.name), (core.bos, int(t)))
                    for c, t in zip(core.categories, core._cat_ids)]
        if kind == "rotation":
            return [(JSON_POSITION_TO_ROTATION, ())]
        if kind == "instances":
            return self._instances(JSON_POSE_TO_INSTANCES, State(SLOTS, key[1]), True)
        if kind == "param":
            _, cat, tpl, param, lengths = key
            pieces = [*JSON_PARAM_END,
                      *json_param_head(core._templates[cat][tpl].params[param].param.name,
                                       False)]
            return [(pieces, (n,)) for n in lengths] or [(pieces, ())]
        _, cat, slot, count = key
        return self._instances([*JSON_PARAM_END, *JSON_INSTANCE_END],
                               State(SLOTS, cat, slot, count), False)

    def _instances(self, before: list[str], slots: State,
                   first: bool) -> list[tuple[list[str], tuple[int, ...]]]:
        """Texts from a slot decision: each allowed template up to its first number, or the
        end of the gene."""
        core, out = self.core, []
        for tok in core.allowed(slots).tolist():
            if tok == core.eos:
                out.append(([*before, *JSON_TAIL], (tok,)))
                continue
            state = core.advance(slots, tok)
            t = core._templates[slots.cat][state.tpl]
            pieces = [*before, *json_instance_head(t.spec.name, first),
                      *json_param_head(t.params[0].param.name, True)]
            lengths = core.allowed(state).tolist() if state.phase == LENGTH else []
            out += [(pieces, (tok, n)) for n in lengths] or [(pieces, (tok,))]
        return out

    def _gap(self, keys: tuple) -> _Gap:
        gap = self._gaps.get(keys)
        if gap is None:
            paths = [(self.tokenizer.fragment_ids(pieces), k, tokens)
                     for k, key in enumerate(keys) for pieces, tokens in self._texts(key)]
            gap = self._gaps[keys] = _Gap.build(paths)
        return gap

    # --------------------------------------------------------------------------- API

    def initial(self) -> JsonState:
        return self._initial

    def is_final(self, state: JsonState) -> bool:
        return state.gap is None and state.cores[0].phase == DONE

    def allowed(self, state: JsonState) -> np.ndarray:
        """Allowed token ids (ascending; do not modify the array)."""
        if state.gap is not None:
            return state.gap.allowed[state.node]
        if len(state.cores) == 1:
            return self.core.allowed(state.cores[0])
        return np.unique(np.concatenate([self.core.allowed(c) for c in state.cores]))

    def allowed_index(self, state: JsonState) -> np.ndarray | slice:
        if state.gap is None and len(state.cores) == 1 and state.cores[0].phase == FLOAT:
            return self.core.allowed_index(state.cores[0])
        return super().allowed_index(state)

    def advance(self, state: JsonState, token: int) -> JsonState:
        """The state after ``token``; ``ValueError`` if the token is not allowed."""
        token = int(token)
        gap = state.gap
        if gap is not None:
            node = gap.children[state.node].get(token)
            if node is None:
                raise ValueError(f"token {token} not allowed here")
            ends = gap.leaves.get(node)
            if ends is None:
                return JsonState(state.cores, gap, node)
            cores = []
            for k, tokens in ends:
                core = state.cores[k]
                for t in tokens:
                    core = self.core.advance(core, t)
                cores.append(core)
            return JsonState(tuple(cores))
        if self.is_final(state):
            raise ValueError("the gene is complete")
        steps = []
        for pre in state.cores:
            try:
                steps.append((pre, self.core.advance(pre, token)))
            except ValueError:
                continue
        if not steps:
            raise ValueError(f"token {token} not allowed here")
        return JsonState(tuple(post for _, post in steps),
                         self._gap(tuple(self._key(pre, post) for pre, post in steps)))


def grammar_for(tokenizer: GeneTokenizer) -> GeneGrammar | JsonGeneGrammar:
    """The grammar of the tokenizer's serialisation."""
    return GeneGrammar(tokenizer) if tokenizer.serialization == "compact" \
        else JsonGeneGrammar(tokenizer)


class GeneLogitsProcessor:
    """transformers ``LogitsProcessor``: disallowed scores become ``-inf``.

    ``input_ids[:, prompt_length:]`` are the generated tokens, decoded by the grammar (either
    serialisation's) from ``start`` (default the initial state, which expects ``<bos>``, or
    ``<code>`` in the json form; pass ``grammar.advance(grammar.initial(), grammar.bos)`` when
    the prompt ends with ``<bos>``). Each row's state is kept with the row's bytes, so a row
    advances its parent's state by one token, also when beam search reordered the rows; an
    unknown row is re-advanced from ``start``. After the end (``<eos>``, ``</code>``) a row
    (padding in greedy/sampling) only allows that end token.
    """

    def __init__(self, grammar: GeneGrammar | JsonGeneGrammar, prompt_length: int,
                 start: State | JsonState | None = None) -> None:
        self.grammar = grammar
        self.prompt_length = int(prompt_length)
        self.start = grammar.initial() if start is None else start
        # the previous call's rows (token bytes) and their states
        self._keys: list[bytes] = []
        self._row_states: list[State | JsonState] = []
        import torch

        self._torch = torch
        # The additive mask (0 allowed, -inf not), its rows and its torch view, reused: adding
        # it costs less than masked_fill and leaves the scores transformers passes in untouched.
        # Each call resets only the entries the previous call opened, not the whole vocabulary.
        self._bias = np.zeros((0, 0), np.float32)
        self._rows: list[np.ndarray] = []
        self._bias_t = torch.from_numpy(self._bias)
        self._opened: list[np.ndarray | slice | None] = []

    def _replay(self, row: np.ndarray) -> State | JsonState:
        """The state of a row whose parent is unknown, from ``start``."""
        g, state = self.grammar, self.start
        for t in row[self.prompt_length:].tolist():
            if g.is_final(state):
                break
            state = g.advance(state, t)
        return state

    def __call__(self, input_ids, scores):
        ids = (input_ids if input_ids.is_cpu else input_ids.cpu()).numpy()
        batch, width = ids.shape
        if self._bias.shape != scores.shape:
            self._bias = np.full(tuple(scores.shape), -np.inf, np.float32)
            self._rows, self._opened = list(self._bias), [None] * batch
            self._bias_t = self._torch.from_numpy(self._bias)
        rows, was_open = self._rows, self._opened
        data = ids.tobytes()
        size = len(data) // batch if batch else 0
        keys = [data] if batch == 1 else [data[b * size:(b + 1) * size] for b in range(batch)]
        g, item, before, before_states = self.grammar, ids.itemsize, self._keys, self._row_states
        by_key, states, opened = None, [], []
        for b, key in enumerate(keys):
            # the parent is the previous call's row this one extends by one token: the row at
            # the same index (greedy, sampling: compared in place, no hashing) or, when beam
            # search reordered the rows, the one with the same content
            parent = None
            if width > self.prompt_length:
                if b < len(before) and len(key) == len(before[b]) + item \
                        and key.startswith(before[b]):
                    parent = before_states[b]
                else:
                    if by_key is None:
                        by_key = dict(zip(before, before_states))
                    parent = by_key.get(key[:-item])
            if parent is None:
                state = self._replay(ids[b])
            else:
                state = parent if g.is_final(parent) else g.advance(parent, int(ids[b, -1]))
            states.append(state)
            allowed, was = g.allowed_index(state), was_open[b]
            # consecutive components of one key often allow the same range: nothing to rewrite
            if allowed is not was and not (type(allowed) is slice and type(was) is slice
                                           and allowed == was):
                row = rows[b]
                if was is not None:
                    row[was] = -np.inf
                row[allowed] = 0.0
            opened.append(allowed)
        self._keys, self._row_states, self._opened = keys, states, opened
        add = self._bias_t
        if not scores.is_cpu or scores.dtype != add.dtype:
            add = add.to(scores.device, scores.dtype)
        return scores + add


# -------------------------------------------------------------------------- xgrammar anchor

def _int_range(lo: int, hi: int) -> str:
    """EBNF for the decimal integers ``lo..hi`` (no leading zeros)."""
    alts = []
    for n in range(len(str(lo)), len(str(hi)) + 1):
        a, b = max(lo, 10 ** (n - 1) if n > 1 else 0), min(hi, 10 ** n - 1)
        alts += _same_length_range(str(a), str(b))
    return alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"


def _same_length_range(a: str, b: str) -> list[str]:
    """Alternatives matching the digit strings ``a..b`` of one length."""
    if len(a) == 1:
        return [f'"{a}"' if a == b else f"[{a}-{b}]"]
    if a[0] == b[0]:
        rest = _same_length_range(a[1:], b[1:])
        return [f'"{a[0]}" ' + (rest[0] if len(rest) == 1 else "(" + " | ".join(rest) + ")")]
    n, out = len(a) - 1, []
    first, last = int(a[0]), int(b[0])
    if a[1:] != "0" * n:
        out += _same_length_range(a, a[0] + "9" * n)
        first += 1
    tail = b[1:] != "9" * n
    if tail:
        last -= 1
    if first <= last:
        out.append((f'"{first}"' if first == last else f"[{first}-{last}]") + " [0-9]" * n)
    if tail:
        out += _same_length_range(b[0] + "0" * n, b)
    return out


def xgrammar_ebnf(grammar: GeneGrammar | JsonGeneGrammar) -> str:
    """The grammar as xgrammar EBNF (root rule ``root``), generated like ours from the registry
    and the tokenizer: category → slots (counts) → templates → parameters in order → float
    tokens, each component's float tokens restricted to the quantile indices ours allows for its
    key (range, integrality, counts with an allowed packed length), written as digit ranges.
    The end token (``<eos>``, ``</code>``) is the stop token, not part of the text. Not
    expressed (ours enforces them): template constraints between components, a packed vector's
    length tied to its count's value (any allowed packed length is accepted), ``at_least_one``
    and ``empty_unless``."""
    core = grammar.core if isinstance(grammar, JsonGeneGrammar) else grammar
    as_json = isinstance(grammar, JsonGeneGrammar)
    bof, floats = core.bof, {}
    cats = " | ".join(f"cat_{k}" for k in range(len(core.categories)))
    rules = [f"root ::= ({cats})" if as_json else f"root ::= {json.dumps(BOS)} ({cats})"]

    def lit(pieces: list[str]) -> str:
        return json.dumps("".join(pieces))

    def num(comp: _Comp) -> str:
        idx = (comp.ids - bof).tolist()
        runs, start = [], 0
        for k in range(1, len(idx) + 1):
            if k == len(idx) or idx[k] != idx[k - 1] + 1:
                runs.append((idx[start], idx[k - 1]))
                start = k
        name = "f_" + "_".join(f"{a}_{b}" for a, b in runs)
        if name not in floats:
            floats[name] = f'{name} ::= "<F" ' + " | ".join(_int_range(a, b) for a, b in runs) \
                + ' ">"'
        return name

    sep = f" {lit(JSON_SEPARATOR)} " if as_json else " "
    lead = f"{lit(JSON_SEPARATOR)} " if as_json else ""

    def seq(comps: list[_Comp]) -> str:
        return sep.join(num(c) for c in comps)

    def vector(p: _Param) -> str:
        """Vectors of exactly the allowed lengths (compact: after their <L{n}> token)."""
        if p.length_ids is not None and not as_json:
            return "(" + " | ".join(f'"{length_token(n)}" {seq(p.comps[:n])}'
                                    for n in p.lengths) + ")"
        lengths, tail = sorted(p.lengths), ""
        for a, b in reversed(list(zip(lengths, lengths[1:]))):
            tail = f" ({lead}{seq(p.comps[a:b])}{tail})?"
        return seq(p.comps[:lengths[0]]) + tail

    pose = core._pose
    tail = JSON_TAIL[:JSON_TAIL.index(END_CODE)]
    for k, cat in enumerate(core.categories):
        tpls = core._templates[k]
        for j, t in enumerate(tpls):
            parts = [lit(json_instance_head(t.spec.name, True)) if as_json
                     else json.dumps(template_token(cat.name, t.spec.name))]
            for i, p in enumerate(t.params):
                parts += [lit(json_param_head(p.param.name, i == 0)), vector(p),
                          lit(JSON_PARAM_END)] if as_json else [vector(p)]
            if as_json:
                parts.append(lit(JSON_INSTANCE_END))
            rules.append(f"tpl_{k}_{j} ::= " + " ".join(parts))
        slots = []
        for s, slot in enumerate(cat.slots):
            alts = " | ".join(f"tpl_{k}_{j}" for j, t in enumerate(tpls) if t.slot == s)
            rules.append(f"slot_{k}_{s} ::= {alts}")
            lo, hi = slot.min_count, slot.max_count
            if as_json and s == 0:
                if lo < 1:
                    raise ValueError(f"{cat.name}: the anchor grammar needs a required first slot")
                ref = f"slot_{k}_0" + ("" if hi == 1 else
                                       f' ({lit(JSON_SEPARATOR)} slot_{k}_0){{{lo - 1},{hi - 1}}}')
            else:
                one = f"({lit(JSON_SEPARATOR)} slot_{k}_{s})" if as_json else f"slot_{k}_{s}"
                ref = one if (lo, hi) == (1, 1) else f"{one}{{{lo},{hi}}}"
            slots.append(ref)
        if as_json:
            head = [lit(json_head(cat.name)), seq(pose[:3]), lit(JSON_POSITION_TO_ROTATION),
                    seq(pose[3:]), lit(JSON_POSE_TO_INSTANCES), *slots, lit(tail)]
        else:
            head = [json.dumps(category_token(cat.name)), seq(pose), *slots]
        rules.append(f"cat_{k} ::= " + " ".join(head))
    return "\n".join(rules + list(floats.values())) + "\n"


def xgrammar_compile(grammar: GeneGrammar | JsonGeneGrammar) -> object:
    """:func:`xgrammar_ebnf` compiled by xgrammar for the grammar's tokenizer (``TokenizerInfo``
    from the closed vocabulary's strings, or from the extended transformers tokenizer), the end
    token as its stop token: an ``xgrammar.CompiledGrammar``."""
    try:
        import xgrammar as xgr
    except ImportError as exc:
        raise ImportError(f"the xgrammar anchor needs xgrammar ({exc}); `make` installs it, or "
                          f"pip install --no-deps xgrammar==0.2.8 'apache-tvm-ffi>=0.1.11'") \
            from None

    tokenizer = grammar.tokenizer
    stop = [grammar.end]
    if tokenizer.base is None:
        info = xgr.TokenizerInfo(list(tokenizer.tokens), xgr.VocabType.RAW,
                                 vocab_size=len(tokenizer), stop_token_ids=stop)
    else:
        info = xgr.TokenizerInfo.from_huggingface(tokenizer.base, vocab_size=len(tokenizer),
                                                  stop_token_ids=stop)
    return xgr.GrammarCompiler(info, max_threads=1).compile_grammar(xgrammar_ebnf(grammar))


# ----------------------------------------------------------------------------- overhead

def _batches(seqs: list[list[int]], batch: int, end: int) -> list[np.ndarray]:
    """Sequences grouped ``batch`` at a time (longest first), padded with the end token."""
    seqs = sorted(seqs, key=len, reverse=True)
    out = []
    for k in range(0, len(seqs) - batch + 1, batch):
        group = seqs[k:k + batch]
        rows = np.full((batch, len(group[0])), end, np.int64)
        for r, s in enumerate(group):
            rows[r, :len(s)] = s
        out.append(rows)
    return out


def _loop_ns(grammar: GeneGrammar | JsonGeneGrammar, rows: np.ndarray, vocab: int) -> list[int]:
    """Per step, ns of a hand-written decode loop's grammar work over the batch: per row
    ``allowed_index`` into an additive mask (the previous step's entries reset) and ``advance`` by
    the row's token, then the mask added to the logits in place (finished rows allow their end
    token)."""
    import torch

    batch = rows.shape[0]
    states = [grammar.initial()] * batch
    bias = np.full((batch, vocab), -np.inf, np.float32)
    bias_rows, opened = list(bias), [grammar.end_ids] * batch
    bias_t, logits, out = torch.from_numpy(bias), torch.zeros(batch, vocab), []
    tokens = rows.tolist()
    for n in range(rows.shape[1]):
        t0 = time.perf_counter_ns()
        for b in range(batch):
            state = states[b]
            if grammar.is_final(state):
                allowed = grammar.end_ids
            else:
                allowed = grammar.allowed_index(state)
                states[b] = grammar.advance(state, tokens[b][n])
            bias_rows[b][opened[b]] = -np.inf
            bias_rows[b][allowed] = 0.0
            opened[b] = allowed
        logits.add_(bias_t)
        out.append(time.perf_counter_ns() - t0)
    return out


def _xgrammar_loop_ns(compiled: object, rows: np.ndarray, vocab: int, end: int) -> list[int]:
    """Per step, ns of the same loop with xgrammar: the next-token bitmask of the unfinished
    rows (``GrammarMatcher``, or ``BatchGrammarMatcher`` on one thread), applied to the logits
    in place, and the rows' tokens accepted."""
    import torch
    import xgrammar as xgr

    batch = rows.shape[0]
    matchers = [xgr.GrammarMatcher(compiled) for _ in range(batch)]
    bitmask = xgr.allocate_token_bitmask(batch, vocab)
    logits, out = torch.zeros(batch, vocab), []
    batcher = xgr.BatchGrammarMatcher(max_threads=1)
    tokens, live = rows.tolist(), list(range(batch))
    for n in range(rows.shape[1]):
        t0 = time.perf_counter_ns()
        if batch == 1:
            matchers[0].fill_next_token_bitmask(bitmask)
            xgr.apply_token_bitmask_inplace(logits, bitmask)
            matchers[0].accept_token(tokens[0][n])
        else:
            active = [matchers[r] for r in live]
            batcher.batch_fill_next_token_bitmask(active, bitmask, live)
            xgr.apply_token_bitmask_inplace(logits, bitmask, indices=live)
            xgr.BatchGrammarMatcher.batch_accept_token(active, [tokens[r][n] for r in live])
        out.append(time.perf_counter_ns() - t0)
        live = [r for r in live if tokens[r][n] != end]
    return out


def _processor_ns(processor: Callable, rows: np.ndarray, vocab: int) -> list[int]:
    """Per step, ns of a transformers logits processor over the batch's prefixes."""
    import torch

    full, scores, out = torch.from_numpy(rows), torch.zeros(rows.shape[0], vocab), []
    for n in range(rows.shape[1]):
        prefix = full[:, :n]
        t0 = time.perf_counter_ns()
        processor(prefix, scores)
        out.append(time.perf_counter_ns() - t0)
    return out


def grammar_overhead_table(n_genes: int = 4, batch: int = 32, repeats: int = 3,
                           seed: int = 0) -> str:
    """Markdown table: mask overhead per generated token (median µs), ours and xgrammar side by
    side, for the compact form, the closed-vocabulary json form and the json form under a
    byte-level BPE extended with the gene tokens (:func:`extend_pretrained`; a BPE trained on
    gene text stands in for a VLM's tokenizer). The token sequences of ``n_genes`` sampled
    genes per category are replayed as if generated (quantiles from other sampled genes).

    *Loop*: what a hand-written decode loop pays per token: ours ``allowed`` + ``advance`` +
    the mask added to the logits; xgrammar (:func:`xgrammar_ebnf` compiled) bitmask fill +
    apply + accept. *LogitsProcessor*: transformers' interface, :class:`GeneLogitsProcessor` vs
    ``xgrammar.contrib.hf.LogitsProcessor``. Batch ``batch`` replays that many different genes
    at once (finished rows padded with the end token); its figures are per row. Each figure is
    the lowest of ``repeats`` medians, the engines taking turns (a shared machine's load moves
    them together). Build: our grammar's constructor and xgrammar's compile (the quantile table
    exists already). Torch runs on one thread, as both grammars do."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _overhead_rows(n_genes, batch, repeats, seed)
    finally:
        torch.set_num_threads(threads)


def _overhead_rows(n_genes: int, batch: int, repeats: int, seed: int) -> str:
    from transformers import PreTrainedTokenizerFast

    from .tokenizer import sample_posed_genes, table_from_genes, train_text_bpe

    train = [g for c in CATEGORIES for g in sample_posed_genes(c, 30, seed + 1)]
    table = table_from_genes(train)
    genes = [g for c in CATEGORIES for g in sample_posed_genes(c, n_genes, seed)]
    closed = GeneTokenizer(table, "json")
    bpe = PreTrainedTokenizerFast(tokenizer_object=train_text_bpe(
        [g.dumps() for g in train] + [closed.text(g) for g in train], 1000))
    forms = {"compact": GeneTokenizer(table, "compact"), "json, closed vocabulary": closed,
             "json, BPE + gene tokens": GeneTokenizer(table, "json", base=bpe)}
    rows = ["| serialisation | tokens / gene | engine | build ms | loop µs, batch 1 | "
            f"loop µs per row, batch {batch} | LogitsProcessor µs, batch 1 | "
            f"LogitsProcessor µs per row, batch {batch} |", "|---|---|---|---|---|---|---|---|"]
    for form, tokenizer in forms.items():
        t0 = time.perf_counter()
        grammar = grammar_for(tokenizer)
        build_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        compiled = xgrammar_compile(grammar)
        build_xgrammar = time.perf_counter() - t0
        from xgrammar.contrib.hf import LogitsProcessor as XgrammarProcessor

        seqs = [tokenizer.encode(g) for g in genes]
        vocab, end = len(tokenizer), grammar.end
        groups = ((_batches(seqs, 1, end), 1), (_batches(seqs, batch, end), batch))
        for rows_1 in groups[0][0]:  # fill the JSON grammar's caches (a model's first genes do)
            _loop_ns(grammar, rows_1, vocab)
        engines = {
            "ours": (build_ours, lambda r: _loop_ns(grammar, r, vocab),
                     lambda: GeneLogitsProcessor(grammar, 0)),
            "xgrammar": (build_xgrammar, lambda r: _xgrammar_loop_ns(compiled, r, vocab, end),
                         lambda: XgrammarProcessor(compiled))}
        best = {engine: np.full(4, np.inf) for engine in engines}
        for _ in range(repeats):
            for engine, (_, loop, new_processor) in engines.items():
                cells = [np.median([t for r in group for t in loop(r)]) / per
                         for group, per in groups]
                cells += [np.median([t for r in group
                                     for t in _processor_ns(new_processor(), r, vocab)]) / per
                          for group, per in groups]
                best[engine] = np.minimum(best[engine], cells)
        for engine, (build, _, _) in engines.items():
            rows.append(f"| {form} | {np.mean([len(s) for s in seqs]):.0f} | {engine} | "
                        f"{build * 1e3:.0f} | "
                        + " | ".join(f"{c / 1e3:.2f}" for c in best[engine]) + " |")
    return "\n".join(rows)
