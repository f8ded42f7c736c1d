"""What every evaluation command writes to ``--out``, and the helpers they share.

``eval_<kind>.json`` (settings, ``overall`` and ``per_category`` summaries, timing, the gallery
list), ``eval_<kind>.md`` (the same as tables), ``<kind>_items.jsonl`` (one line per image) and
``gallery/NNN.png`` (input beside the prediction, for reports). Files are written to a temporary
name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

#: Gallery tile height in pixels (input and prediction side by side).
TILE = 256


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def summarise(rows: Sequence[dict], keys: Iterable[str]) -> dict:
    """``{"overall": {...}, "per_category": {category: {...}}}``: per key the mean over the rows
    that have a value (None and missing are left out), and ``n`` rows."""
    keys = list(keys)

    def block(rs: list[dict]) -> dict:
        out: dict = {"n": len(rs)}
        for key in keys:
            values = [r[key] for r in rs if r.get(key) is not None]
            out[key] = float(np.mean(values)) if values else None
        return out

    by_cat: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_cat[row.get("category") or "(unknown)"].append(row)
    return {"overall": block(list(rows)),
            "per_category": {c: block(rs) for c, rs in sorted(by_cat.items())}}


def fmt(value: object, digits: int = 3) -> str:
    """A table cell: ``–`` for a missing value."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def summary_markdown(summary: dict, columns: Sequence[tuple[str, str, int]]) -> str:
    """Per-category rows and an overall row; ``columns``: (key, header, digits)."""
    lines = ["| category | n | " + " | ".join(h for _, h, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for name, s in [*summary["per_category"].items(), ("**overall**", summary["overall"])]:
        lines.append(f"| {name} | {s['n']} | "
                     + " | ".join(fmt(s.get(k), d) for k, _, d in columns) + " |")
    return "\n".join(lines)


def _fit(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    return image.resize((max(1, round(image.width * TILE / image.height)), TILE))


def gallery_tile(image_path: Path, rendered: np.ndarray | None) -> bytes:
    """PNG of the input image beside a render of the prediction (grey when there is none)."""
    with Image.open(image_path) as source:
        left = _fit(source)
    right = _fit(Image.fromarray(rendered)) if rendered is not None \
        else Image.new("RGB", (TILE, TILE), (200, 200, 200))
    tile = Image.new("RGB", (left.width + right.width, TILE), (255, 255, 255))
    tile.paste(left, (0, 0))
    tile.paste(right, (left.width, 0))
    buffer = io.BytesIO()
    tile.save(buffer, format="PNG")
    return buffer.getvalue()


def write_outputs(out: Path, kind: str, result: dict, markdown: str,
                  items: Sequence[dict], gallery: Sequence[tuple[str, bytes]] = ()) -> None:
    """Write the files of the module doc; ``result["gallery"]`` lists the tiles written."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for k, (item_id, png) in enumerate(gallery):
        name = f"gallery/{kind}-{k:03d}.png"
        write_atomic(out / name, png)
        names.append({"id": item_id, "file": name})
    result["gallery"] = names
    write_atomic(out / f"{kind}_items.jsonl", "".join(json.dumps(r) + "\n" for r in items))
    write_atomic(out / f"eval_{kind}.md", markdown + "\n")
    write_atomic(out / f"eval_{kind}.json", json.dumps(result, indent=1))
