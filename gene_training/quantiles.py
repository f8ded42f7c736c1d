"""Quantile tables for tokenising numbers (SPEC §3): 1024 quantiles per parameter key.

A key names one number of a gene: ``{category}/{template}/{param}[{i}]`` for component ``i`` of
a template parameter (for packed per-item vectors, ``i`` is the index within the flat vector) and
``pose/position[i]`` / ``pose/rotation[i]`` for the global pose. The keys come from the registry
(:func:`registry_keys`), so every number a valid gene can hold has a table: keys the training
data never shows get an evenly spaced table over the declared range, marked ``count: 0``.

Quantiles are computed over the training split only, so validation and test genes stay unseen.
The rule per key is :func:`gene_perception.tokenizer.key_quantiles`: linear interpolation between
order statistics for continuous keys; the nearest order statistic for discrete keys (counts,
flags), so every table value decodes to a valid integer, with every allowed integer present.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

# The key scheme and the quantile rule live in the runtime package: its tokenizer needs them.
from gene_perception.tokenizer import N_FLOATS as N_QUANTILES
from gene_perception.tokenizer import key_quantiles, param_key, pose_key, registry_keys

from .dataset import SynthError, read_manifest

FORMAT = "genevlm-quantiles/1"

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
        data = values.get(key, np.zeros(0))
        table[key] = {"count": int(data.size), "discrete": spec.discrete,
                      "values": key_quantiles(data, spec, n).tolist()}
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

