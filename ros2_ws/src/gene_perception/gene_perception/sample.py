"""Random genes derived from the registry: slot choice, parameter sampling, category assembly.

All randomness flows from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import zlib

import numpy as np

from .gene import ConceptInstance, Gene, from_json
from .registry import CATEGORIES
from .registry.core import Category, SampledInstance


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
        by_slot[slot.name] = [SampledInstance.draw(spec, rng) for _ in range(keep)]
    category.assemble(by_slot, rng)
    gene = Gene(category.name, np.zeros(3), np.zeros(3),
                [ConceptInstance(inst.template, inst.params)
                 for slot in category.slots for inst in by_slot[slot.name]])
    # Re-parse so that an assembler that breaks a declared range fails here, loudly.
    return from_json(gene.to_json())


def category_key(category: str) -> int:
    """Stable 32-bit key of a category name for seeding random streams."""
    return zlib.crc32(category.encode())


def gene_rng(seed: int, category: str, index: int) -> np.random.Generator:
    """The stream that samples gene ``index`` of ``category`` for ``seed``."""
    return np.random.default_rng([seed, category_key(category), index])


def sample_genes(category: Category | str, n: int, seed: int) -> list[Gene]:
    """``n`` genes from one seed; gene ``i`` depends only on (seed, category, i)."""
    name = category if isinstance(category, str) else category.name
    return [sample_gene(name, gene_rng(seed, name, i)) for i in range(n)]
