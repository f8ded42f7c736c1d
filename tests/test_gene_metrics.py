"""Gene-level metrics: Concept Accuracy on template sets, Float Error on quantile indices."""

import dataclasses

import numpy as np
import pytest

from gene_eval.metrics import GenePair, gene_metrics, metrics_markdown
from gene_perception.gene import Gene
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import sample_posed_genes, table_from_genes


@pytest.fixture(scope="module")
def genes():
    return {c: sample_posed_genes(c, 6, 11) for c in ("Mug", "Table", "Knife")}


@pytest.fixture(scope="module")
def table(genes):
    return table_from_genes([g for c in CATEGORIES for g in sample_posed_genes(c, 20, 12)])


def _shift_rotation(gene: Gene, table, steps: int) -> Gene:
    """The gene with its first rotation component moved ``steps`` quantile indices."""
    row = table.row("pose/rotation[0]")
    i = int(table.index("pose/rotation[0]", [gene.global_rotation[0]])[0])
    rot = gene.global_rotation.copy()
    rot[0] = row[min(i + steps, len(row) - 1)]
    return Gene(gene.category, gene.global_position, rot, gene.instances)


def test_identical_predictions_score_perfectly(genes, table):
    pairs = [GenePair(g, g) for gs in genes.values() for g in gs]
    result = gene_metrics(pairs, table)["overall"]
    assert result["concept_accuracy"] == 1.0 and result["float_error"] == 0.0
    assert result["executability"] == 1.0 and result["n"] == 18


def test_float_error_is_mean_index_distance(genes, table):
    g = genes["Mug"][0]
    q = table.index("pose/rotation[0]", [g.global_rotation[0]])[0]
    steps = min(40, 1023 - int(q))
    moved = _shift_rotation(g, table, steps)
    result = gene_metrics([GenePair(g, moved)], table)["overall"]
    n_numbers = 6 + sum(len(v) for i in g.instances for v in i.parameters.values())
    # one number off by `steps` indices (quantiles may repeat, so at most that far)
    assert 0 < result["float_error"] * n_numbers <= steps
    assert result["float_error_parts"] == 0.0 and result["float_error_pose"] > 0
    assert result["concept_accuracy"] == 1.0


def test_wrong_templates_or_category_are_not_concept_correct(genes, table):
    mug, knife = genes["Mug"][0], genes["Knife"][0]
    other = next(g for g in genes["Mug"][1:]
                 if {i.template for i in g.instances} != {i.template for i in mug.instances})
    result = gene_metrics([GenePair(mug, other), GenePair(mug, knife), GenePair(mug, None),
                           GenePair(mug, mug)], table)
    o = result["overall"]
    assert o["concept_accuracy"] == 0.25 and o["executability"] == 0.75
    assert o["category_accuracy"] == 0.5
    # Float Error only over the structurally correct prediction (the identical one)
    assert o["structure_accuracy"] == 0.25 and o["float_error"] == 0.0
    assert set(result["per_category"]) == {"Mug"}
    assert "| **overall** | 4 | 0.250 |" in metrics_markdown(result)


def test_same_set_different_multiplicity_counts_for_concepts_not_floats(genes, table):
    # sampled genes never repeat a template, so the prediction repeats one of the truth's
    truth = genes["Table"][0]
    doubled = Gene(truth.category, truth.global_position, truth.global_rotation,
                   [*truth.instances, truth.instances[0]])
    o = gene_metrics([GenePair(truth, doubled)], table)["overall"]
    assert o["concept_accuracy"] == 1.0
    assert o["structure_accuracy"] == 0.0 and o["float_error"] is None
