"""Speed benchmarks of the runtime core, printed as a Markdown table for BENCHMARKS.md.

Per category: the median time to parse and validate one sampled gene from its JSON, to execute
it (gene → links, joints, meshes), to execute it into a ``trimesh.Scene`` (one node per link,
global pose applied), and to write its URDF folder (URDF + one STL per link). Timings on a shared machine are noisy, so each
figure is a median, and an anchor (``trimesh.creation.cylinder``, a standard analytic mesh) is
timed in the same process so that figures can be compared across runs as ratios.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import trimesh

from gene_perception.execute import execute
from gene_perception.gene import loads
from gene_perception.registry import CATEGORIES
from gene_perception.sample import sample_genes
from gene_perception.urdf import write_urdf


def _median_ms(fn, items, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
    return median(times) * 1e3


def core_table(n_genes: int = 50, repeats: int = 3, seed: int = 0) -> str:
    """Markdown table: per category, median ms to parse, execute and write the URDF of a gene."""
    anchor_ms = _median_ms(lambda _: trimesh.creation.cylinder(0.05, 0.1), range(200), repeats)
    rows = ["| category | genes | links/gene | parse ms | execute ms | execute → Scene ms "
            "| URDF write ms | execute / anchor |", "|---|---|---|---|---|---|---|---|"]
    all_exec = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CATEGORIES:
            genes = sample_genes(name, n_genes, seed)
            texts = [gene.dumps() for gene in genes]
            executed = [execute(gene) for gene in genes]
            parse_ms = _median_ms(loads, texts, repeats)
            exec_ms = _median_ms(execute, genes, repeats)
            scene_ms = _median_ms(lambda g: execute(g).scene(), genes, repeats)
            urdf_ms = _median_ms(lambda e: write_urdf(e, Path(tmp) / "u"), executed, repeats)
            links = np.mean([len(e.links) for e in executed])
            all_exec.append(scene_ms)
            rows.append(f"| {name} | {n_genes} | {links:.1f} | {parse_ms:.2f} | {exec_ms:.2f} "
                        f"| {scene_ms:.2f} | {urdf_ms:.2f} | {exec_ms / anchor_ms:.1f} |")
    rows.append(f"\nAnchor: `trimesh.creation.cylinder` median {anchor_ms:.3f} ms in the same "
                f"process; worst category median gene → Scene {max(all_exec):.2f} ms.")
    return "\n".join(rows)
