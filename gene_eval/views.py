"""Renders of a predicted gene for the judge and the galleries.

SPEC §6: 8 views at equally spaced azimuths, the camera looking at the mesh's centre. The mesh is
rendered in the object frame (z up) with its per-instance colours, so the judge sees the parts;
the rubric tells it to ignore colour. One offscreen renderer per process and size is kept
(creating the GL context is the slow part).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from gene_perception.execute import execute
from gene_perception.gene import Gene, loads

if TYPE_CHECKING:  # importing the renderer opens the GL platform library: only when rendering
    from gene_perception.render import SceneRenderer

#: Views per prediction and their elevation above the horizon (degrees).
VIEWS = 8
ELEVATION_DEG = 20.0

_renderers: dict[int, SceneRenderer] = {}


def _renderer(size: int) -> SceneRenderer:
    from gene_perception.render import SceneRenderer

    if size not in _renderers:
        _renderers[size] = SceneRenderer(size)
    return _renderers[size]


def orbit_views(gene: Gene, size: int, n: int = VIEWS) -> list[np.ndarray]:
    """``n`` RGB renders of the executed gene at azimuths ``360 k / n``."""
    mesh = execute(gene).mesh(global_pose=False)
    renderer = _renderer(size)
    return [renderer.render_orbit(mesh, 360.0 * k / n, ELEVATION_DEG) for k in range(n)]


def preview(gene: Gene, size: int) -> np.ndarray:
    """One render of the executed gene from the front-left, for galleries."""
    return _renderer(size).render_orbit(execute(gene).mesh(global_pose=False), 35.0,
                                        ELEVATION_DEG)


def png(image: np.ndarray | Image.Image) -> bytes:
    """PNG bytes of an RGB array or image."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class RenderTask:
    """A predicted gene (JSON, as it travels to a worker) and the render size."""

    gene_json: str
    size: int


def render_task(task: RenderTask) -> list[bytes]:
    """PNGs of the orbit views of one predicted gene (runs in a worker)."""
    return [png(v) for v in orbit_views(loads(task.gene_json), task.size, VIEWS)]
