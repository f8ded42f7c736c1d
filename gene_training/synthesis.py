"""Gene synthesis for datasets (SPEC §2 steps 1–3): genes, pose augmentation, split by gene.

Gene ``i`` of category ``c`` depends only on ``(seed, c, i)``, and so do its augmented poses, its
split and every other random draw made for it (appearance, diffusion noise): each draws from its
own ``numpy.random.Generator`` stream keyed by ``(seed, crc32(c), i, stream[, pose])``. A dataset
can therefore be cut into shards in any way, and a shard can be rewritten alone after a crash,
on any machine, with the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from gene_perception.execute import ExecutedGene, execute
from gene_perception.gene import Gene
from gene_perception.render import object_radius
from gene_perception.sample import category_key, gene_rng, sample_gene

#: Dataset splits, in the order shards are planned.
SPLITS = ("train", "val", "test")
#: Default fractions of genes per split.
DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)
#: Poses per gene (SPEC §2 step 3).
DEFAULT_POSES = 5

# Stream tags: the gene stream is ``(seed, key, i)`` exactly as ``sample_genes`` draws it, so a
# dataset's canonical genes are ``sample_genes``' genes; other draws get a tagged longer key.
_POSE_STREAM = 1
_APPEARANCE_STREAM = 2


def pose_rng(seed: int, category: str, index: int) -> np.random.Generator:
    """The stream that draws the augmented poses of gene ``index`` of ``category``."""
    return np.random.default_rng([seed, category_key(category), index, _POSE_STREAM])


def sample_rng(seed: int, category: str, index: int, pose_index: int) -> np.random.Generator:
    """The stream for per-image draws (appearance, diffusion noise) of one augmented pose."""
    return np.random.default_rng([seed, category_key(category), index, _APPEARANCE_STREAM,
                                  pose_index])


def gene_id(seed: int, category: str, index: int) -> str:
    """Unique, human-readable id of a synthesised gene within any dataset."""
    return f"{category}-s{seed}-{index:08d}"


def split_of(seed: int, category: str, index: int,
             fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split of gene ``index``: a hash of (seed, category, index) mapped to [0, 1) and cut at
    the cumulative fractions, so every pose of a gene lands in the same split and test genes
    are never seen in training. Independent of the gene's random streams."""
    digest = hashlib.blake2b(f"{seed}/{category}/{index}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2.0 ** 64
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, float, float]:
    """Validate train/val/test fractions: three non-negative numbers summing to 1."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, "
                         f"got {list(fractions)}")
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def augment_poses(gene: Gene, executed: ExecutedGene, rng: np.random.Generator,
                  n: int = DEFAULT_POSES) -> list[Gene]:
    """``n`` copies of ``gene`` at random 6D poses (SPEC §2 step 3).

    Positions are uniform in ``[-1, 1]^3`` *object radii* (metres in the gene): the renderer's
    camera sits at a fixed multiple of the radius, so the object stays in frame whatever its
    size. Rotations are uniform in ``[-180, 180]^3`` degrees. Pose ``k`` uses the ``k``-th pair
    of draws, so a shorter list is a prefix of a longer one. The copies share the instances.
    """
    radius = object_radius(executed)
    poses = []
    for _ in range(n):
        position = rng.uniform(-1.0, 1.0, 3) * radius
        rotation = rng.uniform(-180.0, 180.0, 3)
        poses.append(Gene(gene.category, position, rotation, gene.instances))
    return poses


@dataclass
class SynthesizedGene:
    """One canonical gene, its execution (done once) and its augmented poses."""

    category: str
    index: int
    gene: Gene
    executed: ExecutedGene
    poses: list[Gene]

    def posed(self, k: int) -> ExecutedGene:
        """The execution at pose ``k``: links and joints do not depend on the global pose, so
        they are shared and only the gene (which the renderer reads the pose from) changes."""
        return ExecutedGene(self.poses[k], self.executed.links, self.executed.joints)


def synthesize(category: str, index: int, seed: int, n_poses: int = DEFAULT_POSES,
               removal_rate: float | None = None) -> SynthesizedGene:
    """Gene ``index`` of ``category`` for ``seed``: sampled (templates, parameters, the
    category's constraints, removal of optional instances at ``removal_rate`` or the
    category's default), executed once, and augmented to ``n_poses`` poses."""
    gene = sample_gene(category, gene_rng(seed, category, index), removal_rate)
    executed = execute(gene)
    poses = augment_poses(gene, executed, pose_rng(seed, category, index), n_poses)
    return SynthesizedGene(category, index, gene, executed, poses)
