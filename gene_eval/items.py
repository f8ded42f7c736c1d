"""Evaluation inputs: images, with their ground truth where there is one.

Three folder layouts are read (docs/evaluation.md shows them):

* **Pairs folder** (``genevlm eval make-pairs`` writes one; any image–mesh set can be copied into
  it)::

      PAIRS/<category>/<object>/mesh.{ply,obj,glb,gltf,stl,off}   ground-truth mesh, any frame
      PAIRS/<category>/<object>/images/<view>.{png,jpg,...}       each image is one pair
      PAIRS/<category>/<object>/images/<view>.json                optional ground-truth gene of
                                                                  that view (synthetic pairs)

  ``<category>`` names the per-category rows; it need not be a GeneVLM category.
* **OmniObject3D** (a local copy of the released layout, only the two folders used)::

      ROOT/raw_scans/<category>/<object>/Scan/Scan.obj
      ROOT/blender_renders/<category>/<object>/render/images/r_<k>.png

  Per object, ``views`` renders at equally spaced indices of the numerically sorted images (the
  reference protocol uses 8 views per object). Objects without a scan or renders (a partial
  download) are skipped and counted.
* **Image folder** (photos without ground truth, for the VLM judge): every image below the
  folder; the category is the predicted one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from gene_perception.execute import execute
from gene_perception.gene import loads
from gene_perception.runtime import IMAGE_SUFFIXES, expand_inputs

from .genes import EvalDataError, read_split

log = logging.getLogger(__name__)

MESH_SUFFIXES = (".ply", ".obj", ".glb", ".gltf", ".stl", ".off")


@dataclass(frozen=True)
class EvalItem:
    """One evaluation image: ``id`` is ``category/object/view`` (pairs) or its path below the
    folder; ``category`` is None for a bare photo."""

    id: str
    image: Path
    category: str | None = None
    object_id: str | None = None
    mesh: Path | None = None
    gene: Path | None = None


def _images(folder: Path) -> list[Path]:
    return expand_inputs([folder])


def _numeric_key(path: Path) -> tuple:
    """``r_10`` after ``r_9``: renders are numbered without padding."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem))


def _mesh_file(folder: Path) -> Path | None:
    found = [folder / f"mesh{s}" for s in MESH_SUFFIXES if (folder / f"mesh{s}").is_file()]
    return found[0] if found else None


def is_omniobject3d(root: Path) -> bool:
    return (root / "raw_scans").is_dir() and (root / "blender_renders").is_dir()


def pair_items(root: Path) -> list[EvalItem]:
    """Items of a pairs folder (layout above); objects without a mesh are an error."""
    items = []
    for image_dir in sorted(root.glob("*/*/images")):
        obj = image_dir.parent
        mesh = _mesh_file(obj)
        if mesh is None:
            raise EvalDataError(f"{obj}: no mesh.{{{','.join(s[1:] for s in MESH_SUFFIXES)}}} "
                                f"beside images/")
        for image in _images(image_dir):
            gene = image.with_suffix(".json")
            items.append(EvalItem(f"{obj.parent.name}/{obj.name}/{image.stem}", image,
                                  obj.parent.name, obj.name, mesh,
                                  gene if gene.is_file() else None))
    return items


def omniobject3d_items(root: Path, views: int = 8) -> list[EvalItem]:
    """``views`` equally spaced renders per scanned object of an OmniObject3D copy."""
    if views < 1:
        raise EvalDataError("--views must be at least 1")
    items, skipped = [], []
    for scan in sorted((root / "raw_scans").glob("*/*/Scan/Scan.obj")):
        obj = scan.parent.parent
        category = obj.parent.name
        render_dir = root / "blender_renders" / category / obj.name / "render" / "images"
        renders = sorted(_images(render_dir), key=_numeric_key) if render_dir.is_dir() else []
        if not renders:
            skipped.append(f"{category}/{obj.name}")
            continue
        picks = sorted({int(k * len(renders) / views) for k in range(views)})
        items += [EvalItem(f"{category}/{obj.name}/{renders[k].stem}", renders[k], category,
                           obj.name, scan) for k in picks]
    if skipped:
        log.warning("%s: %d objects without renders skipped (first: %s)", root, len(skipped),
                    skipped[0])
    return items


def load_pairs(root: str | Path, views: int = 8) -> list[EvalItem]:
    """Image–mesh pairs from a pairs folder or an OmniObject3D copy; an error names the folder
    when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise EvalDataError(f"{root}: pairs folder does not exist")
    items = omniobject3d_items(root, views) if is_omniobject3d(root) else pair_items(root)
    if not items:
        raise EvalDataError(f"{root}: no image-mesh pairs (expected CATEGORY/OBJECT/mesh.* with "
                            f"images/*.png, or an OmniObject3D root with raw_scans/ and "
                            f"blender_renders/)")
    return items


def load_images(root: str | Path, views: int = 8) -> list[EvalItem]:
    """Evaluation images with whatever ground truth the folder has: a pairs folder or an
    OmniObject3D copy as :func:`load_pairs`, else every image below ``root`` (or the one image
    file ``root`` names)."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() in IMAGE_SUFFIXES:
        return [EvalItem(root.stem, root)]
    if not root.is_dir():
        raise EvalDataError(f"{root}: image folder does not exist")
    if is_omniobject3d(root) or any(root.glob("*/*/images")):
        return load_pairs(root, views)
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise EvalDataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return [EvalItem(str(p.relative_to(root).with_suffix("")), p) for p in images]


def make_synthetic_pairs(data_dir: str | Path, out: str | Path, split: str = "test",
                         per_category: int | None = None) -> dict:
    """A pairs folder from a ``genevlm synth`` split: per gene its executed mesh (object frame,
    ``mesh.ply``) and per rendered pose ``images/<pose>.png`` with the view's gene beside it.

    Written to a temporary sibling and renamed, so ``out`` is complete or absent."""
    out = Path(out)
    if out.exists():
        raise EvalDataError(f"{out}: already exists (choose a new folder)")
    rows = read_split(data_dir, split, per_category)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    meshes: set[Path] = set()
    for sample_id, png, gene_json in rows:
        gene_id, view = sample_id.rsplit("/", 1)
        gene = loads(gene_json, f"{data_dir}/{split}:{sample_id}")
        obj = tmp / gene.category / gene_id
        (obj / "images").mkdir(parents=True, exist_ok=True)
        (obj / "images" / f"{view}.png").write_bytes(png)
        (obj / "images" / f"{view}.json").write_text(gene.dumps())
        if obj not in meshes:  # every pose of a gene shares its mesh
            execute(gene).mesh(global_pose=False).export(obj / "mesh.ply")
            meshes.add(obj)
    summary = {"source": str(Path(data_dir).resolve()), "split": split, "images": len(rows),
               "objects": len(meshes)}
    (tmp / "pairs.json").write_text(json.dumps(summary, indent=1))
    os.replace(tmp, out)
    return summary
