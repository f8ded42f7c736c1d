"""Gene synthesis for datasets: per-gene streams, pose augmentation, removal, split by gene."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gene_perception.execute import execute
from gene_perception.gene import loads
from gene_perception.registry import CATEGORIES
from gene_perception.render import object_radius
from gene_perception.sample import sample_gene, sample_genes
from gene_training.synthesis import (SPLITS, augment_poses, check_fractions, gene_id, pose_rng,
                                     sample_rng, split_of, synthesize)


def test_gene_depends_only_on_seed_category_and_index():
    """Gene i is the same whether drawn alone, in a batch, or after other genes: shards can be
    cut anywhere and rewritten alone."""
    batch = sample_genes("Chair", 6, seed=3)
    for i in (5, 0, 2):
        alone = synthesize("Chair", i, seed=3)
        assert alone.gene == batch[i]
        assert [p.dumps() for p in alone.poses] == \
            [p.dumps() for p in synthesize("Chair", i, seed=3).poses]
    assert synthesize("Chair", 1, seed=3).gene != synthesize("Chair", 1, seed=4).gene
    assert synthesize("Chair", 1, seed=3).gene != synthesize("Chair", 2, seed=3).gene
    # Same index and seed, other category: another stream.
    assert synthesize("Table", 1, seed=3).poses[0].global_position.tolist() != \
        synthesize("Chair", 1, seed=3).poses[0].global_position.tolist()


def test_streams_are_independent():
    a = pose_rng(0, "Mug", 1).random(4)
    b = sample_rng(0, "Mug", 1, 0).random(4)
    c = sample_rng(0, "Mug", 1, 1).random(4)
    assert not np.allclose(a, b) and not np.allclose(b, c)


def test_augmented_poses_follow_the_spec():
    """Positions uniform in [-1, 1]^3 object radii, rotations uniform in [-180, 180]^3 degrees,
    the canonical gene untouched, the instances shared."""
    gene = sample_gene("Kettle", np.random.default_rng(0))
    executed = execute(gene)
    radius = object_radius(executed)
    poses = augment_poses(gene, executed, np.random.default_rng(1), n=4000)
    positions = np.array([p.global_position for p in poses]) / radius
    rotations = np.array([p.global_rotation for p in poses])
    assert len(poses) == 4000
    assert positions.min() >= -1 and positions.max() <= 1
    assert rotations.min() >= -180 and rotations.max() <= 180
    # Uniform: each axis' deciles of a 4000-draw sample are within 0.05 (of a [0, 1] range).
    for values, (low, high) in ((positions, (-1, 1)), (rotations, (-180, 180))):
        deciles = np.quantile((values - low) / (high - low), np.linspace(0.1, 0.9, 9), axis=0)
        assert np.abs(deciles - np.linspace(0.1, 0.9, 9)[:, None]).max() < 0.05
    assert np.all(gene.global_position == 0) and np.all(gene.global_rotation == 0)
    assert all(p.instances is gene.instances and p.category == gene.category for p in poses)
    # A posed gene is a valid gene, and a shorter list is a prefix of a longer one.
    assert loads(poses[0].dumps()) == poses[0]
    five = augment_poses(gene, executed, np.random.default_rng(1), n=5)
    assert [p.dumps() for p in five] == [p.dumps() for p in poses[:5]]


def test_posed_execution_shares_links_and_moves_only_the_pose():
    synthesized = synthesize("StorageFurniture", 0, seed=0)
    for k in range(5):
        posed = synthesized.posed(k)
        assert posed.links is synthesized.executed.links
        reference = execute(synthesized.poses[k])
        assert np.allclose(posed.mesh().vertices, reference.mesh().vertices)


def test_removal_rate_drops_optional_instances_only():
    """Rate 1 leaves only required instances (a mug never has its lid), rate 0 keeps every
    drawn one; required slots are always filled (the sampler re-validates every gene)."""
    mug = CATEGORIES["Mug"]
    optional = [s for s in mug.slots if s.min_count == 0]
    assert optional
    optional_names = {t.name for s in optional for t in s.templates}
    counts = {}
    for rate in (0.0, 1.0):
        genes = [synthesize("Mug", i, seed=0, n_poses=1, removal_rate=rate).gene
                 for i in range(60)]
        counts[rate] = sum(inst.template in optional_names for g in genes for inst in g.instances)
    assert counts[1.0] == 0
    assert counts[0.0] == 60


def test_split_is_by_gene_and_follows_the_fractions():
    split = [split_of(7, "Table", i) for i in range(20000)]
    assert split == [split_of(7, "Table", i) for i in range(20000)]
    share = Counter(split)
    assert abs(share["train"] / 20000 - 0.9) < 0.01
    assert abs(share["val"] / 20000 - 0.05) < 0.006 and abs(share["test"] / 20000 - 0.05) < 0.006
    assert set(split) == set(SPLITS)
    assert {split_of(7, "Table", i, (1.0, 0.0, 0.0)) for i in range(500)} == {"train"}
    assert {split_of(7, "Table", i, (0.0, 0.0, 1.0)) for i in range(500)} == {"test"}
    # Another seed reshuffles which genes are held out.
    assert [split_of(8, "Table", i) for i in range(2000)] != split[:2000]


@pytest.mark.parametrize("fractions", [(0.9, 0.1), (0.9, 0.2, 0.1), (1.1, -0.05, -0.05)])
def test_bad_fractions_are_rejected(fractions):
    with pytest.raises(ValueError, match="summing to 1"):
        check_fractions(fractions)


def test_gene_ids_are_unique_and_readable():
    ids = {gene_id(s, c, i) for s in (0, 1) for c in CATEGORIES for i in range(50)}
    assert len(ids) == 2 * len(CATEGORIES) * 50
    assert gene_id(3, "Mug", 12) == "Mug-s3-00000012"
