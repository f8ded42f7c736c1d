"""``genevlm eval genes``: a model on a synthesised test split (SPEC §6, gene level).

Reads the split's Parquet shards directly (the layout ``genevlm synth`` documents), takes the
first ``per_category`` images of each category (or all), parses them in batches and writes
``eval_genes.json`` (metrics, model, data, timing), ``eval_genes.md`` and
``predictions.jsonl`` (one line per image: id, truth, prediction, correctness).
"""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from gene_perception.gene import from_json
from gene_perception.models import load_model
from gene_perception.models.genenet.processing import mask_box, pixel_array

from .results import write_atomic
from .metrics import GenePair, gene_metrics, metrics_markdown, structure, template_set


class EvalDataError(Exception):
    """A test folder that cannot be evaluated (named, with the reason)."""


def read_split(data_dir: str | Path, split: str = "test", per_category: int | None = None,
               categories: Sequence[str] = ()) -> list[tuple[str, bytes, str]]:
    """``(sample id, PNG bytes, gene JSON)`` of a split, at most ``per_category`` per category,
    of ``categories`` only if given."""
    data_dir = Path(data_dir)
    shards = sorted((data_dir / split).glob("shard-*.parquet"))
    if not shards:
        raise EvalDataError(f"{data_dir}: no {split}/shard-*.parquet (a genevlm synth folder?)")
    taken: dict[str, int] = defaultdict(int)
    rows = []
    for shard in shards:
        try:
            table = pq.read_table(shard, columns=["image", "gene", "category", "gene_id",
                                                  "pose_index"])
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise EvalDataError(f"{shard}: unreadable shard ({exc})") from None
        for image, gene, cat, gid, k in zip(*(table.column(c).to_pylist() for c in
                                              table.column_names)):
            if (per_category is not None and taken[cat] >= per_category) \
                    or (categories and cat not in categories):
                continue
            taken[cat] += 1
            rows.append((f"{gid}/{k}", image, gene))
    return rows


def split_masks(data_dir: str | Path, split: str = "test") -> dict[str, bytes]:
    """Mask PNG per sample id of a ``--mask`` dataset's split; empty without masks."""
    masks: dict[str, bytes] = {}
    for shard in sorted((Path(data_dir) / split).glob("shard-*.parquet")):
        if "mask" not in pq.read_schema(shard).names:
            return {}
        table = pq.read_table(shard, columns=["gene_id", "pose_index", "mask"])
        for gid, k, mask in zip(*(table.column(c).to_pylist() for c in table.column_names)):
            masks[f"{gid}/{k}"] = mask
    return masks


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of ``[N, 4]`` boxes ``(x0, y0, x1, y1)``, row by row."""
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0.0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def localiser_metrics(found: np.ndarray, truth: np.ndarray, frame: int) -> dict[str, float]:
    """How well predicted object boxes match the mask boxes: mean IoU, the share with IoU ≥ 0.5
    and the median centre error in pixels of a ``frame``-pixel image."""
    iou = box_iou(found, truth)
    centre = lambda b: (b[:, :2] + b[:, 2:]) / 2  # noqa: E731
    error = np.abs(centre(found) - centre(truth)).max(1) * frame
    return {"images": int(len(iou)), "mean_iou": float(iou.mean()),
            "iou_at_least_0.5": float((iou >= 0.5).mean()),
            "median_centre_error_px": float(np.median(error))}


def localiser_line(result: dict) -> str:
    """One line on the localiser's boxes, or nothing where they were not scored."""
    m = result.get("localiser")
    if not m:
        return ""
    return (f"Localiser on {m['images']} images: mean IoU {m['mean_iou']:.3f}, IoU ≥ 0.5 on "
            f"{m['iou_at_least_0.5']:.3f}, median centre error "
            f"{m['median_centre_error_px']:.1f} px\n")


def evaluate_genes(data_dir: str | Path, model_path: str | Path, out: str | Path | None = None,
                   split: str = "test", per_category: int | None = None, batch_size: int = 16,
                   device: str = "cpu", categories: Sequence[str] = ()) -> dict:
    """Parse the split (``categories`` only, if given) with the model and compute
    :func:`gene_metrics`; write files to ``out``."""
    model = load_model(model_path, device=device)
    rows = read_split(data_dir, split, per_category, categories)
    if categories and not rows:
        raise EvalDataError(f"{data_dir}: no {split} images of {', '.join(categories)}")
    # a model with a learned localiser, on a dataset with masks: score its boxes too
    localiser = getattr(model, "localiser", None)
    masks = split_masks(data_dir, split) if localiser is not None else {}
    found, mask_boxes = [], []
    pairs, records = [], []
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        images = [Image.open(io.BytesIO(r[1])).convert("RGB") for r in chunk]
        results = model.parse(images)
        if masks:
            found.append(model.locate(pixel_array(images, model.config.image_size)))
            mask_boxes += [mask_box(np.asarray(Image.open(io.BytesIO(masks[r[0]])))) for r in chunk]
        for (sid, _, gene_json), result in zip(chunk, results):
            truth = from_json(json.loads(gene_json))
            pairs.append(GenePair(truth, result.gene, sid))
            records.append({"id": sid, "truth": json.loads(gene_json),
                            "predicted": json.loads(result.gene.dumps()),
                            "concept_correct": template_set(result.gene) == template_set(truth),
                            "structure_correct": structure(result.gene) == structure(truth)})
    seconds = time.perf_counter() - t0
    result = gene_metrics(pairs, model.tokenizer.table)
    result.update(model=str(Path(model_path).resolve()), model_type=model.model_type,
                  data=str(Path(data_dir).resolve()), split=split, images=len(rows),
                  seconds_per_image=seconds / max(1, len(rows)), batch_size=batch_size)
    if masks:
        known = np.array([b is not None for b in mask_boxes])
        result["localiser"] = localiser_metrics(
            np.concatenate(found)[known], np.array([b for b in mask_boxes if b is not None]),
            model.config.image_size)
    state = Path(model_path) / "trainer_state.json"
    if state.is_file():  # a checkpoint's model folder: record the compute it took
        result["training"] = json.loads(state.read_text()).get("counters")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "predictions.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        write_atomic(out / "eval_genes.md", f"# Gene metrics: {result['model']}\n\n"
                                       f"{len(rows)} {split} images of {result['data']}\n\n"
                                       + metrics_markdown(result) + "\n"
                                       + localiser_line(result))
        write_atomic(out / "eval_genes.json", json.dumps(result, indent=1))
    return result
