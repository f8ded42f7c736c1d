"""Shared fixtures: a tiny randomly initialised GeneNet (the same one wherever a test needs a
model folder)."""

import pytest
import torch

from gene_perception.models.genenet import GeneNet
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import sample_posed_genes, table_from_genes

#: A GeneNet small enough to build and run in milliseconds.
TINY_GENENET = {"image_size": 32, "channels": [8, 16], "blocks": [0, 1], "hidden_size": 32,
                "num_layers": 1, "num_heads": 2, "num_kv_heads": 1, "intermediate_size": 64}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A saved tiny GeneNet with a quantile table over every category."""
    genes = [g for c in CATEGORIES for g in sample_posed_genes(c, 4, 7)]
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    GeneNet.create(None, table_from_genes(genes), TINY_GENENET).save_pretrained(folder)
    return folder
