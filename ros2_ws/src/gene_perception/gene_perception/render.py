"""Scene → image with pyrender (OSMesa on CPU, EGL on GPU machines).

``PYOPENGL_PLATFORM`` must be set before PyOpenGL is first imported; this module defaults it to
``osmesa`` so headless machines work out of the box.
"""

from __future__ import annotations

import os

import numpy as np
import trimesh

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera pose (OpenGL convention: camera looks along its -z) from ``eye`` to ``target``."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross(forward, (0.0, 1.0, 0.0))
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, true_up, -forward, eye
    return pose


class Renderer:
    """An offscreen renderer reused across calls (creating a GL context is the slow part)."""

    def __init__(self, size: int = 224, yfov_deg: float = 40.0) -> None:
        import pyrender  # deferred: importing it opens the GL platform library

        self._pyrender = pyrender
        self.size = size
        self.yfov = np.radians(yfov_deg)
        self._renderer = pyrender.OffscreenRenderer(size, size)

    def render_orbit(self, mesh: trimesh.Trimesh, azimuth_deg: float = 35.0,
                     elevation_deg: float = 25.0, color: bool = True) -> np.ndarray:
        """RGB uint8 image of ``mesh`` framed to fill the view, seen from an orbiting camera."""
        pyrender = self._pyrender
        center = (mesh.bounds[0] + mesh.bounds[1]) / 2
        radius = max(float(np.linalg.norm(mesh.vertices - center, axis=1).max()), 1e-3)
        distance = radius / np.sin(self.yfov / 2) * 1.05
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        eye = center + distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                                            np.sin(el)])
        if not color:
            mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
            mesh.visual.face_colors = [180, 180, 180, 255]
        scene = pyrender.Scene(bg_color=[255, 255, 255, 255], ambient_light=[0.35] * 3)
        scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
        camera_pose = look_at(eye, center)
        scene.add(pyrender.PerspectiveCamera(yfov=self.yfov, znear=distance * 0.05,
                                             zfar=distance * 4), pose=camera_pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=camera_pose)
        color_image, _ = self._renderer.render(scene)
        return color_image

    def close(self) -> None:
        self._renderer.delete()
