"""Random genes derived from the registry: slot choice, parameter sampling, category assembly.

All randomness flows from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import zlib

import numpy as np

from .gene import ConceptInstance, Gene, from_json
from .registry import CATEGORIES
from .registry.core import Category, ConceptTemplate, SampledInstance


def sample_parameters(spec: ConceptTemplate, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw every parameter uniformly from its declared range (integers for discrete ones),
    narrowing ranges by the template's constraints; position and rotation start at zero."""
    params: dict[str, np.ndarray] = {}
    for param in spec.params:
        if param.name in ("position", "rotation"):
            params[param.name] = np.zeros(3)
            continue
        if param.items_of is not None:
            n = param.packed_length(int(params[param.items_of][0]))
        else:
            n = param.lengths[0] if len(param.lengths) == 1 else int(rng.choice(param.lengths))
        low, high = param.bounds(n)
        if param.discrete:
            high = high + 1.0 - 1e-9  # floor of uniform [low, high + 1) is uniform on integers
        values = rng.uniform(low, high)
        params[param.name] = values
        # Constrained components are redrawn once what they depend on is known (their right-hand
        # side is an earlier parameter or an earlier component of this one), below every bound.
        for k in range(n):
            bounds = [c.bound(params) for c in spec.constraints if c.lhs == (param.name, k)]
            bounds = [b for b in bounds if b is not None]
            if bounds:
                values[k] = rng.uniform(low[k], max(min(high[k], *bounds), low[k]))
        if param.discrete:
            params[param.name] = np.floor(values)
    return params


def sample_gene(category: Category | str, rng: np.random.Generator,
                removal_rate: float | None = None) -> Gene:
    """A valid random gene in canonical pose (global position and rotation zero).

    Per slot one template is chosen for all its instances; the instance count is drawn in
    ``[max(min_count, 1), max_count]`` and each instance beyond ``min_count`` is dropped with
    probability ``removal_rate`` (the category's default when None). The category's assembler
    then places the parts and makes their sizes agree.
    """
    if isinstance(category, str):
        category = CATEGORIES[category]
    rate = category.removal_rate if removal_rate is None else removal_rate
    by_slot: dict[str, list[SampledInstance]] = {}
    for slot in category.slots:
        spec = slot.templates[int(rng.integers(len(slot.templates)))]
        n = int(rng.integers(max(slot.min_count, 1), slot.max_count + 1))
        keep = slot.min_count + int(np.sum(rng.random(n - slot.min_count) >= rate))
        by_slot[slot.name] = [SampledInstance(spec, sample_parameters(spec, rng))
                              for _ in range(keep)]
    category.assemble(by_slot, rng)
    gene = Gene(category.name, np.zeros(3), np.zeros(3),
                [ConceptInstance(inst.template, inst.params)
                 for slot in category.slots for inst in by_slot[slot.name]])
    # Re-parse so that an assembler that breaks a declared range fails here, loudly.
    return from_json(gene.to_json())


def sample_genes(category: Category | str, n: int, seed: int) -> list[Gene]:
    """``n`` genes from one seed; gene ``i`` depends only on (seed, category, i)."""
    name = category if isinstance(category, str) else category.name
    key = zlib.crc32(name.encode())
    return [sample_gene(name, np.random.default_rng([seed, key, i])) for i in range(n)]
