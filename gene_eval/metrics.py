"""Gene-level metrics (SPEC §6): Concept Accuracy, Float Error, executability.

* **Concept Accuracy**: share of predictions that execute and whose *set* of template names
  equals the ground truth's.
* **Float Error**: mean absolute difference of quantile indices (0–1023, the model's own
  quantile table) over every number of the structurally correct predictions: same category, the
  same template sequence (canonical slot order) and the same parameter lengths, so the numbers
  pair up one to one. Reported over all numbers, and split into part parameters and pose.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from gene_perception.execute import execute
from gene_perception.gene import Gene
from gene_perception.tokenizer import QuantileTable, gene_numbers

from .results import summary_markdown


@dataclass
class GenePair:
    """A prediction and its ground truth (``predicted`` None: nothing parseable came out)."""

    truth: Gene
    predicted: Gene | None
    sample_id: str = ""


def template_set(gene: Gene) -> frozenset[str]:
    return frozenset(i.template for i in gene.instances)


def executable(gene: Gene | None) -> bool:
    if gene is None:
        return False
    try:
        execute(gene)
    except Exception:  # any failure of the executor counts as not executable
        return False
    return True


def structure(gene: Gene) -> tuple:
    """What must agree for numbers to pair: category, templates in order, parameter lengths."""
    return (gene.category,) + tuple(
        (i.template, tuple(len(v) for v in i.parameters.values())) for i in gene.instances)


def index_errors(truth: Gene, predicted: Gene, table: QuantileTable) -> tuple[np.ndarray, np.ndarray]:
    """|quantile index difference| per number (structures must agree) and a pose flag each."""
    t, p = gene_numbers(truth), gene_numbers(predicted)
    errors = np.empty(len(t))
    is_pose = np.empty(len(t), bool)
    for k, ((key, a), (key_p, b)) in enumerate(zip(t, p)):
        assert key == key_p, (key, key_p)
        ia, ib = table.index(key, [a, b])
        errors[k] = abs(int(ia) - int(ib))
        is_pose[k] = key.startswith("pose/")
    return errors, is_pose


def _summary(rows: list[dict]) -> dict[str, float | int | None]:
    n = len(rows)
    correct = [r for r in rows if r["structure_correct"]]
    errs = np.concatenate([r["errors"] for r in correct]) if correct else np.zeros(0)
    pose = np.concatenate([r["is_pose"] for r in correct]) if correct else np.zeros(0, bool)

    def mean(x: np.ndarray) -> float | None:
        return float(x.mean()) if x.size else None

    return {"n": n,
            "concept_accuracy": sum(r["concept_correct"] for r in rows) / n if n else None,
            "executability": sum(r["executable"] for r in rows) / n if n else None,
            "category_accuracy": sum(r["category_correct"] for r in rows) / n if n else None,
            "structure_accuracy": len(correct) / n if n else None,
            "float_error": mean(errs), "float_error_parts": mean(errs[~pose]),
            "float_error_pose": mean(errs[pose])}


def gene_metrics(pairs: Iterable[GenePair], table: QuantileTable) -> dict:
    """``{"overall": {...}, "per_category": {category: {...}}}`` (keys of :func:`_summary`)."""
    rows: list[dict] = []
    for pair in pairs:
        p, t = pair.predicted, pair.truth
        ok = executable(p)
        row = {"category": t.category, "executable": ok,
               "category_correct": p is not None and p.category == t.category,
               "concept_correct": ok and template_set(p) == template_set(t),
               "structure_correct": ok and structure(p) == structure(t)}
        if row["structure_correct"]:
            row["errors"], row["is_pose"] = index_errors(t, p, table)
        rows.append(row)
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    return {"overall": _summary(rows),
            "per_category": {c: _summary(rs) for c, rs in sorted(by_cat.items())}}


#: Columns of the gene-metrics table: (summary key, header, digits).
COLUMNS = (("concept_accuracy", "Concept Acc", 3), ("float_error", "Float Err", 1),
           ("float_error_parts", "parts", 1), ("float_error_pose", "pose", 1),
           ("executability", "executable", 3), ("category_accuracy", "category acc", 3))


def metrics_markdown(result: dict) -> str:
    """The per-category table of :func:`gene_metrics` as Markdown."""
    return summary_markdown(result, COLUMNS)
