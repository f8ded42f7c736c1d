"""``genevlm eval report``: one Markdown and one HTML page over evaluation and training folders.

A RUN_DIR may be an evaluation ``--out`` folder, a training run, or both. From it the report
reads:

* ``eval_<kind>.json`` files outside ``checkpoints/`` — the run's results: Concept Accuracy and
  Float Error (``genes``, ``baseline``), VLM score (``judge``, ``baseline``), Chamfer distance and
  F-scores (``geometry``, ``baseline``; the geometry's same-surface ceiling becomes a row of its
  own), per-category values and gallery tiles;
* ``metrics.jsonl`` (training log lines ``{"split", "flops", "loss", ...}``) — loss against
  training compute;
* any JSON file holding ``concept_accuracy`` / ``float_error`` (at the top or in ``overall``) —
  one point of the metric-against-compute curves (Fig. 6 of the source paper). Its compute is its
  own ``training.flops`` (``genevlm eval genes`` records it), else ``counters.flops`` of the
  ``trainer_state.json`` in its folder or the nearest folder above (a checkpoint's).

Written to ``--out``: ``report.md`` (figures and gallery as files beside it), ``report.html``
(everything embedded as base64, one file to share) and ``report.json`` (the collected numbers).
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .genes import EvalDataError
from .results import fmt, write_atomic

#: Table 1 of the source paper (SPEC §6), shown beside our rows.
REFERENCE_ROWS: list[tuple[str, dict[str, float]]] = [
    ("Qwen2.5-VL-32B prompted (paper)", {"concept_accuracy": 0.112, "float_error": 232.2,
                                         "vlm_score": 0.402, "chamfer": 0.131, "f@0.01": 0.051,
                                         "f@0.02": 0.271, "f@0.05": 0.346}),
    ("GeneVLM-7B (paper)", {"concept_accuracy": 0.625, "float_error": 122.5, "vlm_score": 0.721,
                            "chamfer": 0.111, "f@0.01": 0.152, "f@0.02": 0.234, "f@0.05": 0.501}),
    ("GeneVLM-32B (paper)", {"concept_accuracy": 0.660, "float_error": 115.4, "vlm_score": 0.815,
                             "chamfer": 0.055, "f@0.01": 0.139, "f@0.02": 0.315, "f@0.05": 0.609}),
]
#: Table 1's columns: (key, header, digits).
COLUMNS = [("concept_accuracy", "Concept Acc", 3), ("float_error", "Float Err", 1),
           ("vlm_score", "VLM score", 3), ("chamfer", "CD", 4), ("f@0.01", "F@0.01", 3),
           ("f@0.02", "F@0.02", 3), ("f@0.05", "F@0.05", 3)]
TABLE_NOTE = ("CD: symmetric Chamfer distance (sum of both directions' mean squared nearest-"
              "neighbour distance) after unit-sphere normalisation and alignment; F@τ: F-score "
              "at distance τ. The same-surface ceiling is a second sampling of the true "
              "surface: what a perfect prediction scores. Rows marked (paper) are Table 1 of "
              "the source paper, on its own test sets.")
#: Curve metrics: (key, axis label); ``loss`` comes from metrics.jsonl.
CURVES = [("loss", "validation loss"), ("concept_accuracy", "Concept Accuracy"),
          ("float_error", "Float Error")]
#: Files never opened while searching a run for results (large, and never results).
_SKIP = {"tokenizer.json", "tokenizer_config.json", "gene_tokenizer.json", "vocab.json",
         "trainer_state.json"}
#: Larger JSON files are not searched for checkpoint metrics (results are small).
_MAX_SEARCHED = 4 << 20
#: Gallery tiles shown per run and evaluation kind.
GALLERY_PER_KIND = 8


@dataclass
class Run:
    """What one RUN_DIR holds."""

    label: str
    folder: Path
    row: dict[str, float] = field(default_factory=dict)
    ceiling: dict[str, float] = field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    gallery: list[tuple[str, str, Path]] = field(default_factory=list)  # kind, id, file


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"{path}: not valid JSON ({exc})") from None


def _flops_of(path: Path, data: dict, root: Path) -> float | None:
    if isinstance(data.get("training"), dict) and data["training"].get("flops") is not None:
        return float(data["training"]["flops"])
    for folder in [path.parent, *path.parent.parents]:
        state = folder / "trainer_state.json"
        if state.is_file():
            return _read_json(state).get("counters", {}).get("flops")
        if folder == root:
            break
    return None


def _metric_block(data: dict) -> dict | None:
    """The block holding concept_accuracy / float_error, if the JSON has one."""
    for block in (data, data.get("overall")):
        if isinstance(block, dict) and ("concept_accuracy" in block or "float_error" in block):
            return block
    return None


def collect_run(folder: Path, label: str) -> Run:
    """Everything the report shows of one RUN_DIR (module doc); an error when it holds
    nothing the report can use."""
    if not folder.is_dir():
        raise EvalDataError(f"{folder}: not a folder")
    run = Run(label, folder)
    for path in sorted(folder.rglob("eval_*.json")):
        if "checkpoints" in path.relative_to(folder).parts:
            continue
        data = _read_json(path)
        kind = data.get("kind") or path.stem.removeprefix("eval_")
        overall = data.get("overall", {})
        run.row.update({k: overall[k] for k, _, _ in COLUMNS if overall.get(k) is not None})
        run.ceiling.update({k.removeprefix("ceiling_"): v for k, v in overall.items()
                            if k.startswith("ceiling_") and v is not None})
        for category, block in data.get("per_category", {}).items():
            for key, _, _ in COLUMNS:
                if block.get(key) is not None:
                    run.per_category.setdefault(key, {})[category] = block[key]
        for entry in data.get("gallery", [])[:GALLERY_PER_KIND]:
            run.gallery.append((kind, entry["id"], path.parent / entry["file"]))
    log = folder / "metrics.jsonl"
    if log.is_file():
        for n, line in enumerate(log.read_text().splitlines(), 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise EvalDataError(f"{log}:{n}: not valid JSON") from None
            if entry.get("split") == "val" and entry.get("loss") is not None:
                run.curves.setdefault("loss", []).append((entry["flops"], entry["loss"]))
    for path in sorted(folder.rglob("*.json")):
        if path.name in _SKIP or path.stat().st_size > _MAX_SEARCHED:
            continue
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # not a result file; results are read strictly above
        block = _metric_block(data) if isinstance(data, dict) else None
        flops = _flops_of(path, data, folder) if block else None
        if block is None or flops is None:
            continue
        for key in ("concept_accuracy", "float_error"):
            if block.get(key) is not None:
                run.curves.setdefault(key, []).append((float(flops), float(block[key])))
    for points in run.curves.values():
        points.sort()
    if not (run.row or run.curves):
        raise EvalDataError(f"{folder}: no eval_*.json, metrics.jsonl or evaluated checkpoints")
    return run


def _labels(folders: Sequence[Path]) -> list[str]:
    """Folder names, with the parent's name added where two runs share a name."""
    names = [f.resolve().name for f in folders]
    return [f"{f.resolve().parent.name}/{n}" if names.count(n) > 1 else n
            for f, n in zip(folders, names)]


def _table(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    header = ["", *(h for _, h, _ in COLUMNS)]
    rows = [[r.label, *(fmt(r.row.get(k), d) for k, _, d in COLUMNS)] for r in runs if r.row]
    rows += [[f"{r.label}: same-surface ceiling", *(fmt(r.ceiling.get(k), d) if k in r.ceiling
                                                     else "" for k, _, d in COLUMNS)]
             for r in runs if r.ceiling]
    rows += [[name, *(fmt(v.get(k), d) for k, _, d in COLUMNS)] for name, v in REFERENCE_ROWS]
    return header, rows


def _bar_chart(runs: Sequence[Run], key: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with_key = [r for r in runs if key in r.per_category]
    categories = sorted({c for r in with_key for c in r.per_category[key]})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(categories) * max(1, len(with_key))),
                                    3.6))
    width = 0.8 / len(with_key)
    x = np.arange(len(categories))
    for k, run in enumerate(with_key):
        values = [run.per_category[key].get(c, np.nan) for c in categories]
        ax.bar(x + (k - (len(with_key) - 1) / 2) * width, values, width, label=run.label)
    ax.set_xticks(x, categories, rotation=40, ha="right")
    ax.set_ylabel(title)
    ax.set_title(f"{title} per category")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve(runs: Sequence[Run], key: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for run in runs:
        if key in run.curves:
            xs, ys = zip(*run.curves[key])
            ax.plot([x / 1e15 for x in xs], ys, marker="o", markersize=3, label=run.label)
    ax.set_xscale("log")
    ax.set_xlabel("training compute (PFLOPs)")
    ax.set_ylabel(title)
    ax.set_title(f"{title} vs training compute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    def cells(tag: str, row: list[str]) -> str:
        return "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)

    return ("<table><tr>" + cells("th", header) + "</tr>"
            + "".join("<tr>" + cells("td", r) + "</tr>" for r in rows) + "</table>")


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
          "text-align:right}td:first-child{text-align:left}img{max-width:100%;margin:4px}")


def write_report(folders: Sequence[Path], out: Path) -> dict:
    """Collect the runs and write ``report.md``, ``report.html``, ``report.json`` and the
    figures and gallery files to ``out``; returns what report.json holds."""
    runs = [collect_run(Path(f), label) for f, label in zip(folders, _labels(folders))]
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    header, rows = _table(runs)
    figures: list[tuple[str, str]] = []  # (section, file)
    for key, title, _ in COLUMNS:
        if any(key in r.per_category for r in runs):
            name = f"figures/per_category_{key.replace('@', '_at_')}.png"
            _bar_chart(runs, key, title, out / name)
            figures.append(("Per category", name))
    for key, title in CURVES:
        if any(key in r.curves for r in runs):
            name = f"figures/curve_{key}.png"
            _curve(runs, key, title, out / name)
            figures.append(("Against training compute", name))
    gallery: list[tuple[str, str]] = []  # (caption, file)
    if any(r.gallery for r in runs):
        (out / "gallery").mkdir(exist_ok=True)
    for k, run in enumerate(runs):
        for kind, item_id, tile in run.gallery:
            if tile.is_file():
                name = f"gallery/{k:02d}-{kind}-{tile.name}"
                shutil.copyfile(tile, out / name)
                gallery.append((f"{run.label} · {kind} · {item_id}", name))

    sources = "\n".join(f"- {r.label}: `{r.folder.resolve()}`" for r in runs)
    md = ["# GeneVLM evaluation report", "", sources, "",
          "## Results (Table 1 layout)", "", TABLE_NOTE, "", _md_table(header, rows)]
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>GeneVLM evaluation report"
            f"</title><style>{_STYLE}</style></head><body><h1>GeneVLM evaluation report</h1>",
            "<ul>" + "".join(f"<li>{html.escape(r.label)}: <code>"
                             f"{html.escape(str(r.folder.resolve()))}</code></li>"
                             for r in runs) + "</ul>",
            "<h2>Results (Table 1 layout)</h2>", f"<p>{html.escape(TABLE_NOTE)}</p>",
            _html_table(header, rows)]
    for section in dict.fromkeys(s for s, _ in figures):
        md += ["", f"## {section}", ""]
        page.append(f"<h2>{section}</h2>")
        for _, name in (f for f in figures if f[0] == section):
            md.append(f"![{name}]({name})")
            page.append(_img(out / name, name))
    if gallery:
        md += ["", "## Gallery: input beside prediction", ""]
        page.append("<h2>Gallery: input beside prediction</h2>")
        for caption, name in gallery:
            md += [f"{caption}", "", f"![{caption}]({name})", ""]
            page.append(f"<figure>{_img(out / name, caption)}<figcaption>"
                        f"{html.escape(caption)}</figcaption></figure>")
    page.append("</body></html>")
    data = {"runs": [{"label": r.label, "folder": str(r.folder.resolve()), "row": r.row,
                      "ceiling": r.ceiling, "per_category": r.per_category,
                      "curves": r.curves} for r in runs],
            "reference": dict(REFERENCE_ROWS), "figures": [n for _, n in figures],
            "gallery": [n for _, n in gallery]}
    write_atomic(out / "report.md", "\n".join(md) + "\n")
    write_atomic(out / "report.html", "\n".join(page) + "\n")
    write_atomic(out / "report.json", json.dumps(data, indent=1))
    return data
