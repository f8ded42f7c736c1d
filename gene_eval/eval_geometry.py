"""``genevlm eval geometry``: predicted vs ground-truth meshes of image–mesh pairs (SPEC §6).

The model parses every image in this process (batched, on ``--device``); the geometry work is
then mapped over objects, in this process, in ``--workers`` processes or as Ray tasks. One task
is one ground-truth object with all its views: its mesh is loaded, normalised and sampled once,
and its same-surface ceiling measured once, whatever the number of views.
Sampling is seeded per object (``--seed`` and the object's key), so results do not depend on the
number of workers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from .genes import EvalDataError
from .geometry import THRESHOLDS, AlignConfig, ObjectTask, config_json, object_geometry
from .items import EvalItem
from .parallel import parallel_map
from .predict import Prediction
from .results import TILE, gallery_tile, summarise, summary_markdown, write_outputs

#: Per-pair keys of the summaries (the ceiling's beside them).
METRICS = ("chamfer", *(f"f@{t:g}" for t in THRESHOLDS))
CEILING = tuple(f"ceiling_{k}" for k in METRICS)


def geometry_rows(items: Sequence[EvalItem], predictions: Sequence[Prediction], *,
                  workers: int = 1, ray_address: str | None = None, seed: int = 0,
                  config: AlignConfig = AlignConfig(), gallery: int = 0
                  ) -> tuple[list[dict], list[tuple[str, bytes]], float]:
    """Per-item rows (metrics, the object's ceiling), gallery tiles of the first ``gallery``
    items, and the seconds the geometry took."""
    by_object: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, item in enumerate(items):
        if item.mesh is None:
            raise EvalDataError(f"{item.image}: no ground-truth mesh for this image")
        by_object[(str(item.mesh), f"{item.category}/{item.object_id}")].append(k)
    in_gallery = {items[k].id for k in range(min(gallery, len(items)))}
    tasks = [ObjectTask(key, mesh, tuple((items[k].id, None if predictions[k].gene is None
                                          else predictions[k].gene.dumps()) for k in ks),
                        seed, config, tuple(items[k].id for k in ks if items[k].id in in_gallery),
                        TILE)
             for (mesh, key), ks in by_object.items()]
    start = time.perf_counter()
    done = list(parallel_map(object_geometry, tasks, workers, ray_address))
    seconds = time.perf_counter() - start
    found: dict[str, dict] = {}
    renders: dict[str, object] = {}
    for result in done:
        ceiling = {f"ceiling_{k}": v for k, v in result["ceiling"].items()}
        for item_id, metrics in result["views"].items():
            found[item_id] = {**metrics, **ceiling}
        renders.update(result["renders"])
    rows = [{"id": item.id, "category": item.category, **found[item.id]} for item in items]
    tiles = [(item.id, gallery_tile(item.image, renders.get(item.id)))
             for item in items[:gallery]]
    return rows, tiles, seconds


#: Columns of the Markdown table: (key, header, digits).
COLUMNS = [("chamfer", "CD", 4), *((f"f@{t:g}", f"F@{t:g}", 3) for t in THRESHOLDS),
           ("ceiling_chamfer", "ceiling CD", 4),
           *((f"ceiling_f@{t:g}", f"ceiling F@{t:g}", 3) for t in THRESHOLDS)]


def evaluate_geometry(items: Sequence[EvalItem], predictions: Sequence[Prediction], info: dict,
                      out: Path | None, *, workers: int = 1, ray_address: str | None = None,
                      seed: int = 0, gallery: int = 8) -> dict:
    """Geometry of model predictions (``info``: what predicted them, and how long it took);
    files to ``out`` (results.py)."""
    rows, tiles, seconds = geometry_rows(items, predictions, workers=workers,
                                         ray_address=ray_address, seed=seed, gallery=gallery)
    for row, prediction in zip(rows, predictions):
        row["predicted"] = prediction.gene.to_json() if prediction.gene else None
    result = {"kind": "geometry", **info, **summarise(rows, METRICS + CEILING),
              "protocol": config_json(AlignConfig()), "seed": seed,
              "timing": {"geometry_s": seconds, "pairs_per_s": len(rows) / seconds,
                         "workers": workers, "ray": ray_address}}
    markdown = (f"# Geometry: {info.get('model', '')}\n\n{len(rows)} image-mesh pairs of "
                f"{info.get('pairs', '')}; ceiling = a second sampling of the true surface "
                f"(what a perfect prediction scores)\n\n" + summary_markdown(result, COLUMNS))
    if out is not None:
        write_outputs(out, "geometry", result, markdown, rows, tiles)
    return result
