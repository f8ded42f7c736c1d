"""Engine-agnostic constrained decoding with jump-forward (SPEC §5).

:func:`constrained_decode` drives any model through a :class:`DecoderSession` (torch with a KV
cache, ONNX Runtime, TensorRT): the session consumes tokens and returns the logits after the last
one; the loop picks tokens only where the grammar leaves a choice, and feeds a chosen token
together with the whole forced run that follows it in one forward pass.

Batching without padding: every row advances by the same number of tokens per call. A row whose
pending run is longer than the shortest keeps the rest for the next call (its logits are not
looked at meanwhile), so positions stay aligned and no attention mask is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .grammar import GeneGrammar, State


class DecoderSession(Protocol):
    """A decoder with its own cache, already primed with the prompt (e.g. image tokens)."""

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        """Consume ``tokens`` (int64, ``[batch, n]``, ``n >= 1``) and return the logits after the
        last one (float, ``[batch, vocab]``)."""
        ...


@dataclass
class DecodeOutput:
    """Generated ids per row (from ``<bos>`` to ``<eos>``) and forward passes made."""

    sequences: list[list[int]]
    forward_passes: int


class DecodeError(RuntimeError):
    """The decoder did not finish within its step budget (a grammar without an end)."""


def _pick(logits: np.ndarray, allowed: np.ndarray, rng: np.random.Generator | None,
          temperature: float) -> int:
    scores = logits[allowed]
    if rng is None:
        return int(allowed[int(np.argmax(scores))])
    z = scores.astype(np.float64) / max(temperature, 1e-6)
    z -= z.max()
    p = np.exp(z)
    return int(allowed[rng.choice(len(allowed), p=p / p.sum())])


def constrained_decode(session: DecoderSession, grammar: GeneGrammar, batch: int, *,
                       rng: np.random.Generator | None = None, temperature: float = 1.0,
                       start: State | None = None, max_calls: int = 4096) -> DecodeOutput:
    """Decode ``batch`` genes: greedy (``rng=None``) or sampling at ``temperature``.

    ``start`` defaults to the grammar's initial state (the session then receives ``<bos>``
    first). Every returned sequence is accepted by the grammar.
    """
    state0 = grammar.initial() if start is None else start
    states: list[State] = [state0] * batch
    sequences: list[list[int]] = [[] for _ in range(batch)]
    pending: list[list[int]] = []
    for b in range(batch):
        run = grammar.forced_run(state0)
        pending.append(run)
        sequences[b].extend(run)
        for t in run:
            states[b] = grammar.advance(states[b], t)
    active = [not grammar.is_final(s) for s in states]
    filler = grammar.end
    calls = 0
    while any(active):
        if calls >= max_calls:
            raise DecodeError(f"no end after {max_calls} forward passes")
        n = min(len(pending[b]) for b in range(batch) if active[b])
        tokens = np.full((batch, n), filler, dtype=np.int64)
        for b in range(batch):
            if active[b]:
                tokens[b] = pending[b][:n]
                del pending[b][:n]
        logits = session.feed(tokens)
        calls += 1
        for b in range(batch):
            if not active[b] or pending[b]:
                continue
            token = _pick(logits[b], grammar.allowed(states[b]), rng, temperature)
            state = grammar.advance(states[b], token)
            run = [token] + grammar.forced_run(state)
            for t in run[1:]:
                state = grammar.advance(state, t)
            states[b] = state
            sequences[b].extend(run)
            pending[b] = run
            if grammar.is_final(state):
                active[b] = False
    return DecodeOutput(sequences, calls)
