"""Quantile tables for number tokens: exact values, keys from the registry, train split only."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gene_perception.registry import CATEGORIES
from gene_training.dataset import SynthConfig, synthesize_dataset
from gene_perception.tokenizer import key_quantiles, param_key, pose_key, quantiles, registry_keys
from gene_training.quantiles import N_QUANTILES, dataset_quantiles

GENEVLM = str(Path(sys.executable).parent / "genevlm")


def test_quantiles_are_exact_on_known_data():
    values = np.random.default_rng(0).permutation(np.arange(1024.0) * 0.5 - 3)
    assert np.array_equal(quantiles(values), np.sort(values))
    # Twice as many values: every other order statistic.
    doubled = np.arange(2047.0)
    assert np.array_equal(quantiles(doubled), doubled[::2])
    # Fewer values than quantiles: linear between order statistics, ends at min and max.
    q = quantiles(np.array([4.0, 0.0, 2.0]))
    assert len(q) == N_QUANTILES and q[0] == 0 and q[-1] == 4 and q[511] < 2 < q[512]
    assert np.allclose(q, np.linspace(0, 4, N_QUANTILES))
    assert np.array_equal(quantiles(np.array([7.0])), np.full(N_QUANTILES, 7.0))


def test_quantiles_are_monotone_and_discrete_ones_are_observed_values():
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=5000)
    q = quantiles(values)
    assert len(q) == N_QUANTILES and np.all(np.diff(q) >= 0)
    assert q[0] == values.min() and q[-1] == values.max()
    assert np.allclose(q, np.quantile(values, np.linspace(0, 1, N_QUANTILES)))
    counts = rng.integers(1, 6, 999).astype(float)
    qd = quantiles(counts, discrete=True)
    assert set(qd) <= set(counts) and np.all(np.diff(qd) >= 0)
    assert qd[0] == 1 and qd[-1] == 5


def test_keys_come_from_the_registry():
    keys = registry_keys()
    expected = 6 + sum(max(p.lengths) for c in CATEGORIES.values()
                       for t in c.templates.values() for p in t.params)
    assert len(keys) == expected
    assert [k for k in keys if k.startswith("pose/")] == \
        [pose_key(n, i) for n in ("position", "rotation") for i in range(3)]
    body = CATEGORIES["StorageFurniture"].templates["Regular_drawer"]
    packed = next(p for p in body.params if p.items_of is not None)
    last = max(packed.lengths) - 1
    spec = keys[param_key("StorageFurniture", "Regular_drawer", packed.name, last)]
    low, high = packed.bounds(last + 1)
    assert (spec.low, spec.high) == (low[last], high[last])
    assert param_key("StorageFurniture", "Regular_drawer", packed.name, last + 1) not in keys
    assert keys[param_key("Mug", "Curved_Handle", "radius", 1)].discrete is False


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("qdata")
    synthesize_dataset(SynthConfig(categories=("Mug", "Laptop"), genes=12, poses=2, size=32,
                                   shard_size=8, fractions=(0.5, 0.25, 0.25)),
                       folder, progress=False)
    return folder


def _train_values(folder: Path) -> dict[str, list[float]]:
    """Values per key, parsed independently of the module under test."""
    values: dict[str, list[float]] = defaultdict(list)
    for path in sorted((folder / "train").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            gene = json.loads(row["gene"])
            for i, v in enumerate(gene["pose"]["global_position"]):
                values[f"pose/position[{i}]"].append(v)
            for i, v in enumerate(gene["pose"]["global_rotation"]):
                values[f"pose/rotation[{i}]"].append(v)
            if row["pose_index"]:
                continue
            for inst in gene["conceptualization"]:
                for name, vector in inst["parameters"].items():
                    for i, v in enumerate(vector):
                        values[f"{gene['category']}/{inst['template']}/{name}[{i}]"].append(v)
    return values


def test_dataset_quantiles_use_the_train_split_only(dataset):
    table = dataset_quantiles(dataset)
    manifest = (dataset / "manifest.json").read_bytes()
    assert table["source"]["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert table["split"] == "train" and table["n_quantiles"] == N_QUANTILES
    assert set(table["keys"]) == set(registry_keys())
    expected = _train_values(dataset)
    train_rows = json.loads(manifest)["splits"]["train"]["rows"]
    specs = registry_keys()
    assert table["keys"]["pose/rotation[2]"]["count"] == train_rows
    for key, entry in table["keys"].items():
        values = np.asarray(entry["values"])
        assert len(values) == N_QUANTILES and np.all(np.diff(values) >= 0), key
        if key in expected:
            assert entry["count"] == len(expected[key]), key
            assert np.array_equal(values, key_quantiles(np.array(expected[key]), specs[key])), key
            if not entry["discrete"]:
                assert values[0] == min(expected[key]) and values[-1] == max(expected[key])
            else:  # every allowed integer is representable, observed or not
                assert set(values) == set(range(int(specs[key].low), int(specs[key].high) + 1))
        else:  # never seen in training: evenly spaced over the declared range
            assert entry["count"] == 0
            assert values[0] == specs[key].low and values[-1] == specs[key].high
    # The held-out genes are not in the table: another split gives other counts.
    val = dataset_quantiles(dataset, split="val")
    assert val["keys"]["pose/rotation[0]"]["count"] == \
        json.loads(manifest)["splits"]["val"]["rows"] != train_rows


def test_cli_quantiles(dataset, tmp_path):
    out = tmp_path / "q" / "quantiles.json"
    result = subprocess.run([GENEVLM, "quantiles", "--data", str(dataset), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == dataset_quantiles(dataset)
    result = subprocess.run([GENEVLM, "quantiles", "--data", str(tmp_path), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no manifest" in result.stderr
    assert result.stderr.strip().count("\n") == 0
