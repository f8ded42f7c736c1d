"""Predicted genes for evaluation items: from a GeneVLM model, or (baseline.py) a prompted VLM.

A :class:`Prediction` without a gene is a failure (only the prompted baseline has them: the
model decodes under the grammar, so its genes always execute); ``error`` says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gene_perception.gene import Gene
from gene_perception.models import load_model
from gene_perception.runtime import read_image

from .items import EvalItem


@dataclass
class Prediction:
    """A predicted gene (None: no executable gene), the failure kind and the raw answer."""

    gene: Gene | None
    error: str | None = None
    raw: str | None = None


def model_predictions(items: Sequence[EvalItem], model_path: str | Path, batch_size: int = 16,
                      device: str = "cpu") -> tuple[list[Prediction], dict]:
    """Parse every item's image with the model, in batches; also what was run and its time."""
    model = load_model(model_path, device=device)
    predictions: list[Prediction] = []
    start = time.perf_counter()
    for k in range(0, len(items), batch_size):
        images = [read_image(item.image).convert("RGB") for item in items[k:k + batch_size]]
        predictions += [Prediction(r.gene) for r in model.parse(images)]
    seconds = time.perf_counter() - start
    return predictions, {"model": str(Path(model_path).resolve()), "model_type": model.model_type,
                         "parse_s": seconds, "parse_s_per_image": seconds / max(1, len(items))}
