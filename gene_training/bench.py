"""Dataset throughput, end to end (gene → image → shard), as a Markdown table for BENCHMARKS.md.

Each cell runs :func:`~gene_training.dataset.synthesize_dataset` into a fresh temporary folder,
exactly as ``genevlm synth`` does (planning, worker start-up, sampling, execution, rendering, PNG
encoding, Parquet writing, done-markers, manifest), and divides the images written by the wall
time. Shards of 50 rows keep both workers busy to the end of a 600-image run.

Runs repeat in one process: the first run with workers > 1 also starts the fork server that
forks the workers (imports, about 2–3 s here), later runs reuse it, as a long ``genevlm synth``
amortises it. The table shows the median and, separately, the first run.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time

from gene_perception.registry import CATEGORIES

from .dataset import SynthConfig, synthesize_dataset

POSES = 5
SHARD_ROWS = 50


def run_once(kind: str, workers: int, samples: int, size: int, categories: tuple[str, ...],
             renderer: str = "pyrender", seed: int = 0) -> tuple[int, float]:
    """(images written, seconds) of one dataset run of about ``samples`` images."""
    genes = max(1, -(-samples // (POSES * len(categories))))
    config = SynthConfig(categories=categories, genes=genes, poses=POSES, kind=kind, seed=seed,
                         size=size, shard_size=SHARD_ROWS, renderer=renderer)
    with tempfile.TemporaryDirectory(prefix="genevlm-bench-") as folder:
        start = time.perf_counter()
        manifest = synthesize_dataset(config, folder, workers=workers, progress=False)
        return manifest["rows"], time.perf_counter() - start


def data_table(kinds: list[str], workers: list[int], samples: int, repeats: int, size: int,
               categories: tuple[str, ...], renderer: str = "pyrender") -> str:
    """One row per (kind, workers): images, median seconds and images per second over
    ``repeats`` runs (same seed, so every run renders the same genes)."""
    named = ["all"] if set(categories) == set(CATEGORIES) else list(categories)
    command = " ".join(["genevlm bench-data", "--kinds", *kinds, "--workers",
                        *map(str, workers), "--samples", str(samples), "--repeats", str(repeats),
                        "--size", str(size), "--categories", *named, "--renderer", renderer])
    lines = [f"Command: `{command}`", "",
             f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
             f"Python {sys.version.split()[0]}, {len(categories)} categories, {POSES} poses per "
             f"gene, shards of {SHARD_ROWS} rows, {size}x{size}, median of {repeats}.", "",
             "| kind | workers | images | median s | pairs/s (median) | pairs/s (min–max) "
             "| first run pairs/s |",
             "|---|---|---|---|---|---|---|"]
    for kind in kinds:
        for n in workers:
            runs = [run_once(kind, n, samples, size, categories, renderer)
                    for _ in range(repeats)]
            rows = runs[0][0]
            seconds = statistics.median(t for _, t in runs)
            rates = [r / t for r, t in runs]
            label = ("WhiteImage" if kind == "white" else "ColorImage (domain randomised)") \
                + f", {renderer}"
            lines.append(f"| {label} | {n} | {rows} | {seconds:.2f} | {rows / seconds:.1f} | "
                         f"{min(rates):.1f}–{max(rates):.1f} | {rates[0]:.1f} |")
    return "\n".join(lines)
