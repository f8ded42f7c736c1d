"""``genevlm eval judge``: the perceptual score of predictions on photos (SPEC §6).

Per image: the predicted gene is rendered from 8 equally spaced azimuths (views.py; the renders
are mapped over ``--workers`` processes or Ray tasks), and the judge scores the photo against 4
views picked at random, 3 times (judge.py). Items go through in blocks, so a large set never holds
more than a block's renders, and the judge's requests of a block run ``concurrency`` at a time.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from gene_perception.runtime import read_image

from .items import EvalItem
from .judge import AnswerCache, Judge, JudgeSettings, judge_views
from .parallel import parallel_map
from .predict import Prediction
from .results import gallery_tile, summarise, summary_markdown, write_outputs
from .views import VIEWS, RenderTask, png, render_task

#: The photo is sent at most this many pixels on its longer side (request size).
PHOTO_MAX_SIDE = 768
#: Items rendered and judged per block.
BLOCK = 64


def photo_png(path: Path) -> bytes:
    """The photo as PNG, no larger than :data:`PHOTO_MAX_SIDE`."""
    image = read_image(path).convert("RGB")
    image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
    return png(image)


def judge_rows(items: Sequence[EvalItem], predictions: Sequence[Prediction], judge: Judge,
               cache: AnswerCache, settings: JudgeSettings, *, workers: int = 1,
               ray_address: str | None = None, render_size: int = 384, gallery: int = 0
               ) -> tuple[list[dict], list[tuple[str, bytes]]]:
    """Per item: the judge's runs and mean (None without a gene), and gallery tiles (input
    beside the first view) of the first ``gallery`` items. The category is the ground truth's
    where the item has one, else the predicted one."""
    rows: list[dict] = []
    tiles: list[tuple[str, bytes]] = []
    with ThreadPoolExecutor(max(1, judge.concurrency)) as pool:
        try:
            for start in range(0, len(items), BLOCK):
                block = range(start, min(start + BLOCK, len(items)))
                scored = [k for k in block if predictions[k].gene is not None]
                renders = dict(zip(scored, parallel_map(
                    render_task, [RenderTask(predictions[k].gene.dumps(), render_size)
                                  for k in scored], workers, ray_address)))
                futures = {k: pool.submit(judge_views, judge, cache, photo_png(items[k].image),
                                          renders[k], items[k].id, settings) for k in scored}
                for k in block:
                    gene = predictions[k].gene
                    row = {"id": items[k].id,
                           "category": items[k].category or (gene.category if gene else None),
                           "vlm_score": None}
                    if k in futures:
                        row.update(futures[k].result())
                    rows.append(row)
                    if k < gallery:
                        view = np.asarray(Image.open(io.BytesIO(renders[k][0]))) \
                            if k in renders else None
                        tiles.append((items[k].id, gallery_tile(items[k].image, view)))
        except BaseException:  # a refused request: send no more
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return rows, tiles


def evaluate_judge(items: Sequence[EvalItem], predictions: Sequence[Prediction], info: dict,
                   judge: Judge, cache: AnswerCache, settings: JudgeSettings, out: Path | None,
                   *, workers: int = 1, ray_address: str | None = None, render_size: int = 384,
                   gallery: int = 8) -> dict:
    """Judge scores of model predictions; files to ``out`` (results.py)."""
    start = time.perf_counter()
    rows, tiles = judge_rows(items, predictions, judge, cache, settings, workers=workers,
                             ray_address=ray_address, render_size=render_size, gallery=gallery)
    seconds = time.perf_counter() - start
    for row, prediction in zip(rows, predictions):
        row["predicted"] = prediction.gene.to_json() if prediction.gene else None
    result = {"kind": "judge", **info, "judge": judge.name, **summarise(rows, ["vlm_score"]),
              "settings": settings.__dict__, "render_size": render_size,
              "failed_runs": sum(r.get("failed_runs", 0) for r in rows),
              "cache": {"folder": str(cache.folder) if cache.folder else None,
                        "hits": cache.hits, "misses": cache.misses},
              "timing": {"judge_s": seconds, "workers": workers, "ray": ray_address}}
    markdown = (f"# VLM judge: {info.get('model', '')}\n\n{len(rows)} images, judge "
                f"{judge.name}; {settings.runs} runs of {settings.views_per_run} of {VIEWS} "
                f"views; runs without a parseable score: {result['failed_runs']}\n\n"
                + summary_markdown(result, [("vlm_score", "VLM score", 3)]))
    if out is not None:
        write_outputs(out, "judge", result, markdown, rows, tiles)
    return result
