"""Quantile tables for tokenising numbers (SPEC §3): 1024 quantiles per parameter key.

A key names one number of a gene: ``{category}/{template}/{param}[{i}]`` for component ``i`` of
a template parameter (for packed per-item vectors, ``i`` is the index within the flat vector) and
``pose/position[i]`` / ``pose/rotation[i]`` for the global pose. The keys come from the registry
(:func:`registry_keys`), so every number a valid gene can hold has a table: keys the training
data never shows get an evenly spaced table over the declared range, marked ``count: 0``.

Quantiles are computed over the training split only, so validation and test genes stay unseen.
Continuous keys use linear interpolation between order statistics (NumPy's default, type 7);
discrete keys (counts, flags) take the nearest order statistic, so every table value decodes to a
valid integer.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gene_perception.registry import CATEGORIES, GLOBAL_POSITION, GLOBAL_ROTATION
from gene_perception.registry.core import Param

from .dataset import SynthError, read_manifest

N_QUANTILES = 1024
FORMAT = "genevlm-quantiles/1"
#: Pose keys: short name in the key → the registry's parameter (the gene's ``pose`` field).
POSE_PARAMS: dict[str, Param] = {"position": GLOBAL_POSITION, "rotation": GLOBAL_ROTATION}


def param_key(category: str, template: str, param: str, index: int) -> str:
    """Key of component ``index`` of a template parameter."""
    return f"{category}/{template}/{param}[{index}]"


def pose_key(name: str, index: int) -> str:
    """Key of component ``index`` of the global pose's ``position`` or ``rotation``."""
    return f"pose/{name}[{index}]"


@dataclass(frozen=True)
class KeySpec:
    """A key's declared range and kind, read from the registry."""

    low: float
    high: float
    discrete: bool


def registry_keys() -> dict[str, KeySpec]:
    """Every key a valid gene of any category can hold, in registry order, with its range."""
    keys: dict[str, KeySpec] = {}
    for name, param in POSE_PARAMS.items():
        for i, (low, high) in enumerate(zip(*param.bounds(max(param.lengths)))):
            keys[pose_key(name, i)] = KeySpec(float(low), float(high), param.discrete)
    for category in CATEGORIES.values():
        for template in category.templates.values():
            for param in template.params:
                for i, (low, high) in enumerate(zip(*param.bounds(max(param.lengths)))):
                    keys[param_key(category.name, template.name, param.name, i)] = \
                        KeySpec(float(low), float(high), param.discrete)
    return keys


def quantiles(values: np.ndarray, n: int = N_QUANTILES, discrete: bool = False) -> np.ndarray:
    """``n`` quantiles at probabilities ``k / (n - 1)``: linear between order statistics, or the
    nearest order statistic when ``discrete``. Exact: with ``len(values) == n`` distinct values
    the table is the sorted values themselves."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("no values")
    position = np.arange(n) * (ordered.size - 1) / (n - 1)
    if discrete:
        return ordered[np.rint(position).astype(np.int64)]
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def collect_values(data_dir: Path, shards: list[str]) -> dict[str, np.ndarray]:
    """Values per key from the listed shards: parameters from the gene JSON (one row per gene,
    its first pose; all poses share the parameters), pose components from every row's
    ``pose`` column (the gene JSON's pose, as a vector)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    vectors: dict[tuple[str, str, str], list[list[float]]] = defaultdict(list)
    poses = []
    for shard in shards:
        table = pq.read_table(data_dir / shard, columns=["gene", "pose", "pose_index"])
        poses.append(np.asarray(table.column("pose").combine_chunks().flatten(),
                                dtype=np.float64).reshape(-1, 6))
        first = table.filter(pc.equal(table.column("pose_index"), 0))
        for text in first.column("gene").to_pylist():
            gene = json.loads(text)
            category = gene["category"]
            for instance in gene["conceptualization"]:
                for name, vector in instance["parameters"].items():
                    vectors[(category, instance["template"], name)].append(vector)
    values: dict[str, np.ndarray] = {}
    if poses:
        pose = np.concatenate(poses)
        for offset, name in ((0, "position"), (3, "rotation")):
            for i in range(3):
                values[pose_key(name, i)] = pose[:, offset + i]
    for (category, template, name), rows in vectors.items():
        width = max(len(row) for row in rows)
        padded = np.full((len(rows), width), np.nan)
        for r, row in enumerate(rows):
            padded[r, :len(row)] = row
        for i in range(width):
            column = padded[:, i]
            values[param_key(category, template, name, i)] = column[~np.isnan(column)]
    return values


def dataset_quantiles(data_dir: str | Path, split: str = "train",
                      n: int = N_QUANTILES) -> dict[str, Any]:
    """The quantile table of a dataset's ``split``, with per-key counts and the source
    manifest's sha256 (so a table can be traced to the data it came from)."""
    data_dir = Path(data_dir)
    manifest, manifest_sha = read_manifest(data_dir)
    shards = [s["path"] for s in manifest["shards"] if s["path"].split("/")[0] == split]
    if not shards:
        raise SynthError(f"{data_dir}: no {split!r} shards in the manifest")
    values = collect_values(data_dir, shards)
    known = registry_keys()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SynthError(f"{data_dir}: keys not in the registry (data from other code?): "
                         f"{', '.join(unknown[:5])}")
    table: dict[str, dict[str, Any]] = {}
    for key, spec in known.items():
        data = values.get(key)
        if data is not None and data.size:
            q = quantiles(data, n, spec.discrete)
            count = int(data.size)
        else:
            q = np.linspace(spec.low, spec.high, n)
            q = np.rint(q) if spec.discrete else q
            count = 0
        table[key] = {"count": count, "discrete": spec.discrete, "values": q.tolist()}
    split_counts = manifest["splits"].get(split, {})
    return {"format": FORMAT, "n_quantiles": n, "split": split,
            "source": {"data_dir": str(data_dir.resolve()), "manifest_sha256": manifest_sha,
                       "rows": split_counts.get("rows", 0), "genes": split_counts.get("genes", 0),
                       "code_version": manifest["code_version"]},
            "keys": table}


def write_quantiles(data_dir: str | Path, out: str | Path, split: str = "train",
                    n: int = N_QUANTILES) -> dict[str, Any]:
    """Compute :func:`dataset_quantiles` and write it to ``out`` atomically."""
    result = dataset_quantiles(data_dir, split, n)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(out)
    return result

