"""Write an executed gene to a folder: ``gene.json``, ``mesh.glb``, ``mesh.obj``, ``object.urdf``
with ``meshes/``, written to a temporary sibling and renamed, so a folder is complete or absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from .execute import ExecutedGene, execute
from .gene import Gene
from .urdf import write_urdf


def export_gene(gene: Gene, folder: str | Path) -> ExecutedGene:
    """Execute ``gene`` and write its outputs to ``folder`` (replaced if it exists)."""
    folder = Path(folder)
    executed = execute(gene)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "gene.json").write_text(gene.dumps(indent=2) + "\n")
    scene = executed.scene()
    scene.export(tmp / "mesh.glb")
    scene.export(tmp / "mesh.obj")
    write_urdf(executed, tmp)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return executed


def preview_image(executed: ExecutedGene, renderer) -> Image.Image:
    """Two views side by side: the gene as parsed, and every joint at its upper limit."""
    opened = {j.name: j.upper for j in executed.movable_joints}
    views = [renderer.render_orbit(executed.mesh(global_pose=False)),
             renderer.render_orbit(executed.mesh(opened, global_pose=False))]
    return Image.fromarray(np.concatenate(views, axis=1))


def contact_sheet(genes: list[Gene], renderer, columns: int = 4) -> Image.Image:
    """A grid of previews (one render per gene, as parsed) for judging samples at a glance; the
    view is closer to the side than the preview's so that parts at the back (kettle handles)
    and the front (spouts, doors) both show."""
    tiles = [renderer.render_orbit(execute(gene).mesh(global_pose=False), azimuth_deg=60.0,
                                   elevation_deg=20.0) for gene in genes]
    size = renderer.size
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * size, columns * size, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    return Image.fromarray(sheet)
