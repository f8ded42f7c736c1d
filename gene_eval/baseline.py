"""``genevlm eval baseline``: a general VLM prompted to write genes (SPEC §6, Table 1's first row).

The prompt is derived from the registry: the ``genevlm categories --json`` table (per category,
template and parameter: the allowed vector lengths) and one sampled gene as an example. The answer
is parsed into a gene (a fenced ```json block, ``<code>…</code>``, or the outermost braces);
outputs that are not JSON, do not validate or do not execute are counted by kind, and the rest
are scored like the model's predictions: by the judge, and, where the images have ground truth,
by the gene metrics (``images/<view>.json``) and the geometry (a mesh).
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from gene_perception.errors import GeneError
from gene_perception.execute import execute
from gene_perception.gene import from_json, load
from gene_perception.registry import parameter_table
from gene_perception.sample import sample_gene
from gene_perception.tokenizer import QuantileTable

from .eval_geometry import METRICS, geometry_rows
from .eval_judge import judge_rows, photo_png
from .items import EvalItem
from .judge import AnswerCache, Judge, JudgeSettings
from .metrics import GenePair, gene_metrics
from .predict import Prediction
from .results import fmt, summarise, summary_markdown, write_outputs

#: The example gene's category and seed (any valid gene would do; a mug is easy to picture).
EXAMPLE = ("Mug", 0)
#: Failure kinds of a baseline answer, in the order they are checked.
FAILURES = ("no_json", "invalid", "not_executable")


def baseline_prompt() -> str:
    """The instruction, the schema table and the example, all from the registry."""
    category, seed = EXAMPLE
    example = sample_gene(category, np.random.default_rng(seed)).dumps()
    return (
        "The image shows one everyday object. Describe its geometry as a Digital Gene: a JSON "
        'object {"category": ..., "pose": {"global_position": [x, y, z], "global_rotation": '
        '[rx, ry, rz]}, "conceptualization": [{"template": ..., "parameters": {...}}, ...]} '
        "that lists the object's parts as instances of parametric concept templates. Lengths and "
        "positions are in metres, rotations in degrees (Euler x, then y, then z); template "
        "parameters use a frame with y up and z to the front.\n\n"
        "Allowed categories, their templates, and for each parameter the allowed number of "
        "values:\n" + json.dumps(parameter_table(), separators=(",", ":")) + "\n\n"
        f"An example gene (a {category}):\n{example}\n\n"
        "Answer with the gene of the object in the image as JSON inside ```json ... ```.")


_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_CODE = re.compile(r"<code>\s*(\{.*?\})\s*</code>", re.DOTALL)


def parse_answer(text: str) -> Prediction:
    """A gene from a VLM's answer, or the kind of failure (:data:`FAILURES`) and its reason."""
    blocks = _FENCED.findall(text) or _CODE.findall(text)
    if not blocks and "{" in text and "}" in text:
        blocks = [text[text.index("{"):text.rindex("}") + 1]]
    obj = None
    for block in reversed(blocks):  # the last block is the final answer
        try:
            obj = json.loads(block)
            break
        except json.JSONDecodeError:
            continue
    if obj is None:
        return Prediction(None, "no_json", text)
    try:
        gene = from_json(obj)
    except GeneError as exc:
        return Prediction(None, f"invalid: {exc}", text)
    try:
        execute(gene)
    except Exception as exc:  # any executor failure makes the output non-executable
        return Prediction(None, f"not_executable: {type(exc).__name__}: {exc}", text)
    return Prediction(gene, None, text)


def baseline_predictions(items: Sequence[EvalItem], vlm: Judge, cache: AnswerCache, *,
                         temperature: float = 0.0, max_tokens: int = 4096, seed: int = 0
                         ) -> tuple[list[Prediction], dict]:
    """Ask the VLM for every image's gene (cached, ``vlm.concurrency`` requests at a time)."""
    prompt = baseline_prompt()

    def one(item: EvalItem) -> Prediction:
        photo = [photo_png(item.image)]
        key = cache.key(vlm.name, prompt, photo, temperature=temperature, seed=seed,
                        max_tokens=max_tokens)
        answer = cache.get(key)
        if answer is None:
            answer = vlm.ask(prompt, photo, temperature=temperature, seed=seed,
                             max_tokens=max_tokens)
            cache.put(key, vlm.name, answer)
        return parse_answer(answer)

    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, vlm.concurrency)) as pool:
        try:
            predictions = list(pool.map(one, items))
        except BaseException:  # a refused request: send no more
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    seconds = time.perf_counter() - start
    return predictions, {"vlm": vlm.name, "predict_s": seconds}


def failure_counts(predictions: Sequence[Prediction]) -> dict[str, int]:
    kinds = [p.error.split(":")[0] for p in predictions if p.error]
    return {kind: kinds.count(kind) for kind in FAILURES}


def evaluate_baseline(items: Sequence[EvalItem], predictions: Sequence[Prediction], info: dict,
                      judge: Judge | None, cache: AnswerCache, settings: JudgeSettings,
                      out: Path | None, *, table: QuantileTable | None = None, workers: int = 1,
                      ray_address: str | None = None, render_size: int = 384,
                      gallery: int = 8) -> dict:
    """Score the baseline's predictions with whatever the items and options allow."""
    n = len(predictions)
    executable = sum(p.gene is not None for p in predictions)
    rows = [{"id": item.id, "category": item.category or (p.gene.category if p.gene else None),
             "error": p.error, "raw": p.raw} for item, p in zip(items, predictions)]
    keys: list[str] = []
    tiles: list[tuple[str, bytes]] = []
    if judge is not None:
        judged, tiles = judge_rows(items, predictions, judge, cache, settings, workers=workers,
                                   ray_address=ray_address, render_size=render_size,
                                   gallery=gallery)
        for row, j in zip(rows, judged):
            row.update({k: v for k, v in j.items() if k not in ("id", "category")})
        keys.append("vlm_score")
    if all(item.mesh is not None for item in items):
        geometry, _, _ = geometry_rows(items, predictions, workers=workers,
                                       ray_address=ray_address, seed=settings.seed)
        for row, g in zip(rows, geometry):
            row.update({k: v for k, v in g.items() if k not in ("id", "category")})
        keys += list(METRICS)
    result = {"kind": "baseline", **info, "judge": judge.name if judge else None,
              **summarise(rows, keys), "outputs": n, "executable": executable,
              "non_executable": n - executable, "failures": failure_counts(predictions)}
    result["overall"]["non_executable"] = n - executable
    truths = [(item, p) for item, p in zip(items, predictions) if item.gene is not None]
    if truths and table is not None:
        genes = gene_metrics([GenePair(load(item.gene), p.gene, item.id) for item, p in truths],
                             table)
        result["gene_metrics"] = genes
        for key in ("concept_accuracy", "float_error"):
            result["overall"][key] = genes["overall"][key]
            for category, block in genes["per_category"].items():
                result["per_category"].setdefault(category, {"n": block["n"]})[key] = block[key]
    elif truths:
        result["gene_metrics"] = None
        result["gene_metrics_note"] = ("ground-truth genes found but not scored: pass "
                                       "--quantiles for the Float Error's quantile table")
    columns = [(k, h, d) for k, h, d in [("concept_accuracy", "Concept Acc", 3),
                                          ("float_error", "Float Err", 1),
                                          ("vlm_score", "VLM score", 3), ("chamfer", "CD", 4),
                                          ("f@0.01", "F@0.01", 3), ("f@0.02", "F@0.02", 3),
                                          ("f@0.05", "F@0.05", 3)]
               if result["overall"].get(k) is not None]
    fails = ", ".join(f"{k}: {v}" for k, v in result["failures"].items())
    markdown = (f"# Prompted baseline: {info.get('vlm', '')}\n\n{n} images; non-executable "
                f"outputs: {n - executable} ({fmt((n - executable) / n if n else None)} of all; "
                f"{fails})\n\n" + summary_markdown(result, columns)
                + (f"\n\n{result['gene_metrics_note']}" if "gene_metrics_note" in result else ""))
    if out is not None:
        write_outputs(out, "baseline", result, markdown, rows, tiles)
    return result
