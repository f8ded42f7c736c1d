"""Executed gene → image with pyrender (OSMesa on CPU, EGL on GPU machines).

``PYOPENGL_PLATFORM`` must be set before PyOpenGL is first imported; this module defaults it to
``osmesa`` so headless machines work out of the box (set ``egl`` on a GPU machine).

Framing. The reference's objects were roughly unit-scaled; ours are metric, from a 15 cm knife to
a 2 m wardrobe. The WhiteImage camera is therefore fixed in *object-radius units*: it looks at the
world origin from a fixed direction at ``distance`` times the object's radius ``r`` (the largest
distance of any vertex from the object origin, joints at the gene's state). With the pose
augmentation of SPEC §2 (position uniform in ``[-1, 1]`` radii per axis, any rotation) the object
stays inside the frame, and every category fills a similar share of the image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import trimesh

from .execute import ExecutedGene
from .geometry import pose_matrix, transform

os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

#: Untextured grey of the WhiteImage (linear RGB).
GREY = (0.6, 0.6, 0.6)


def white_lights(camera_pose: np.ndarray) -> list["Light"]:
    """The WhiteImage's fixed lighting: a head light along the view and a key light from above
    the camera's left, so that faces of different orientation get different shades."""
    view = -camera_pose[:3, 2]
    key = view - camera_pose[:3, 1] * 0.8 + camera_pose[:3, 0] * 0.5
    return [Light(view, intensity=1.6), Light(key / np.linalg.norm(key), intensity=1.8)]


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] → linear RGB (materials and lights are linear)."""
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear RGB → sRGB-encoded values in [0, 1], clipped."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


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


@dataclass(frozen=True)
class Camera:
    """The fixed camera: vertical field of view, and where it sits relative to the world origin
    (azimuth from +x towards +y, elevation above the x-y plane, distance in object radii).

    At 6.2 radii with a 50° field of view, a sphere of one radius centred anywhere in the cube
    ``[-1, 1]^3`` radii projects inside the image with about 9 % to spare on the worst side
    (tests/test_render.py checks every corner).
    """

    yfov_deg: float = 50.0
    azimuth_deg: float = 0.0
    elevation_deg: float = 20.0
    distance: float = 6.2

    def pose(self, radius: float, jitter: np.ndarray | None = None) -> np.ndarray:
        """Camera-to-world pose for an object of ``radius``; ``jitter`` = (d azimuth deg,
        d elevation deg, roll deg, distance factor) for small camera perturbations."""
        az, el, roll, scale = (0.0, 0.0, 0.0, 1.0) if jitter is None else jitter
        a, e = np.radians(self.azimuth_deg + az), np.radians(self.elevation_deg + el)
        eye = self.distance * scale * radius * np.array([np.cos(e) * np.cos(a),
                                                         np.cos(e) * np.sin(a), np.sin(e)])
        pose = look_at(eye, np.zeros(3))
        if roll:
            pose = pose @ pose_matrix(np.zeros(3), (0.0, 0.0, roll))
        return pose

    def intrinsics(self, size: int) -> np.ndarray:
        """3×3 pinhole matrix for a square image of ``size`` pixels."""
        f = size / 2 / np.tan(np.radians(self.yfov_deg) / 2)
        return np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])


@dataclass
class Light:
    """A directional light: ``direction`` it shines along (world frame), linear RGB, intensity."""

    direction: np.ndarray
    color: np.ndarray = field(default_factory=lambda: np.ones(3))
    intensity: float = 3.0


@dataclass
class Appearance:
    """What a ColorImage varies; ``None`` in :meth:`SceneRenderer.render` is the WhiteImage.

    Colours are linear RGB in [0, 1], one row per link (``ExecutedGene.links``);
    ``background`` is an (H, W, 3) uint8 image composited behind the object; ``jitter`` is the
    camera perturbation of :meth:`Camera.pose`.
    """

    colors: np.ndarray
    metallic: np.ndarray
    roughness: np.ndarray
    lights: list[Light]
    background: np.ndarray
    ambient: float = 0.3
    jitter: np.ndarray | None = None


@dataclass
class RenderResult:
    """``image`` (H, W, 3) uint8; ``mask`` (H, W) uint8, 0 for background and ``k + 1`` for
    concept instance ``k``; ``depth`` (H, W) float32 metres along the view axis, 0 on background.
    ``camera_pose`` is camera-to-world (OpenGL convention), ``intrinsics`` the pinhole matrix."""

    image: np.ndarray
    camera_pose: np.ndarray
    intrinsics: np.ndarray
    mask: np.ndarray | None = None
    depth: np.ndarray | None = None


def object_radius(executed: ExecutedGene, poses: dict[str, np.ndarray] | None = None) -> float:
    """Largest distance of a vertex from the object origin, joints at the gene's state
    (``poses``: the links' poses when the caller already has them)."""
    poses = executed.link_poses() if poses is None else poses
    return max(float(np.linalg.norm(transform(link.vertices, poses[link.name]), axis=1).max())
               for link in executed.links)


def _share_compiled_shaders(offscreen) -> None:
    """Make pyrender reuse compiled shader programs across frames.

    pyrender keys its program cache by ``OpenGL.contextdata.getContext()``, which under OSMesa is
    a new pointer object on every call, so every primitive of every frame recompiled its shaders
    (about 60 % of a WhiteImage frame, and a slow leak). One renderer owns one context, so the
    context can be dropped from the key. The renderer is created lazily by pyrender on the first
    render; the cache is swapped in on the object that holds it.
    """
    from pyrender.shader_program import ShaderProgramCache

    class _OneContextCache(ShaderProgramCache):
        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None,
                        defines=None):
            key = (vertex_shader, fragment_shader, geometry_shader,
                   tuple(sorted((defines or {}).items())))
            program = self._shared.get(key)
            if program is None:
                program = super().get_program(vertex_shader, fragment_shader, geometry_shader,
                                              defines)
                self._shared[key] = program
            return program

    cache = _OneContextCache()
    cache._shared = {}
    offscreen._renderer._program_cache = cache


def _drop_stored_pointers() -> None:
    """Empty PyOpenGL's per-context pointer store after a frame.

    PyOpenGL keeps every array passed to ``glVertexAttribPointer`` alive in a dict keyed by the
    current context; under OSMesa the key is a new ctypes pointer object per call, equal only to
    itself but hashing by address, so the dict gains an entry per call and every lookup walks
    one ever longer collision chain: a renderer's frame time grew from 9 to 47 ms over 3,200
    frames. pyrender draws from bound buffer objects (the stored values are offsets) and a
    frame has finished once its pixels are read, so nothing stored is needed afterwards.
    """
    from OpenGL import contextdata

    contextdata.storedPointers.clear()


class SceneRenderer:
    """Offscreen renderer reused across calls (creating the GL context is the slow part)."""

    def __init__(self, size: int = 224, camera: Camera = Camera()) -> None:
        import pyrender  # deferred: importing it opens the GL platform library

        self._pyrender = pyrender
        self.size = size
        self.camera = camera
        self._renderer = pyrender.OffscreenRenderer(size, size)
        _share_compiled_shaders(self._renderer)

    def render(self, executed: ExecutedGene, appearance: Appearance | None = None,
               mask: bool = False, depth: bool = False) -> RenderResult:
        """Render the gene at its global pose from the fixed camera (WhiteImage when
        ``appearance`` is None: untextured grey on white, a head light and a key light)."""
        try:
            return self._render(executed, appearance, mask, depth)
        finally:
            _drop_stored_pointers()

    def _render(self, executed: ExecutedGene, appearance: Appearance | None, mask: bool,
                depth: bool) -> RenderResult:
        pyrender = self._pyrender
        poses = executed.link_poses()
        radius = object_radius(executed, poses)
        camera_pose = self.camera.pose(radius, None if appearance is None else appearance.jitter)
        ambient = 0.15 if appearance is None else appearance.ambient
        scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[ambient] * 3)
        root = pose_matrix(executed.gene.global_position, executed.gene.global_rotation)
        nodes = []
        for k, link in enumerate(executed.links):
            if appearance is None:
                material = pyrender.MetallicRoughnessMaterial(baseColorFactor=(*GREY, 1.0),
                                                              metallicFactor=0.0,
                                                              roughnessFactor=0.8)
            else:
                material = pyrender.MetallicRoughnessMaterial(
                    baseColorFactor=(*appearance.colors[k], 1.0),
                    metallicFactor=float(appearance.metallic[k]),
                    roughnessFactor=float(appearance.roughness[k]))
            mesh = trimesh.Trimesh(link.vertices, link.faces, process=False)
            nodes.append(scene.add(pyrender.Mesh.from_trimesh(mesh, material=material,
                                                              smooth=False),
                                   pose=root @ poses[link.name]))
        near = max((self.camera.distance - 2.0 - np.sqrt(3.0)) * radius * 0.5, 1e-3)
        scene.add(pyrender.PerspectiveCamera(yfov=np.radians(self.camera.yfov_deg), znear=near,
                                             zfar=(self.camera.distance + 4.0) * radius * 2),
                  pose=camera_pose)
        lights = white_lights(camera_pose) if appearance is None else appearance.lights
        for light in lights:
            scene.add(pyrender.DirectionalLight(color=light.color, intensity=light.intensity),
                      pose=look_at(np.zeros(3), np.asarray(light.direction, float)))
        color, depth_image = self._renderer.render(scene)
        if appearance is None:
            image = color  # the scene's background is already white
        else:
            # OSMesa gives no alpha channel: the depth buffer marks the object's pixels.
            image = np.where((depth_image > 0)[..., None], color, appearance.background)
        result = RenderResult(image, camera_pose, self.camera.intrinsics(self.size),
                              depth=depth_image.astype(np.float32) if depth else None)
        if mask:
            # One flat colour per instance; the red channel carries the instance index + 1.
            seg = {node: (executed.links[k].instance + 1, 0, 0) for k, node in enumerate(nodes)}
            seg_image, _ = self._renderer.render(scene, flags=pyrender.RenderFlags.SEG,
                                                 seg_node_map=seg)
            result.mask = seg_image[..., 0].astype(np.uint8)
        return result

    def render_orbit(self, mesh: trimesh.Trimesh, azimuth_deg: float = 35.0,
                     elevation_deg: float = 25.0) -> np.ndarray:
        """RGB uint8 preview of ``mesh`` (its own colours) framed to fill the view from an
        orbiting camera: for previews and contact sheets, not for training data."""
        pyrender = self._pyrender
        yfov = np.radians(self.camera.yfov_deg)
        center = (mesh.bounds[0] + mesh.bounds[1]) / 2
        radius = max(float(np.linalg.norm(mesh.vertices - center, axis=1).max()), 1e-3)
        distance = radius / np.sin(yfov / 2) * 1.05
        az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
        eye = center + distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                                            np.sin(el)])
        scene = pyrender.Scene(bg_color=[255, 255, 255, 255], ambient_light=[0.35] * 3)
        scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
        camera_pose = look_at(eye, center)
        scene.add(pyrender.PerspectiveCamera(yfov=yfov, znear=distance * 0.05,
                                             zfar=distance * 4), pose=camera_pose)
        scene.add(pyrender.DirectionalLight(intensity=3.0), pose=camera_pose)
        try:
            color_image, _ = self._renderer.render(scene)
        finally:
            _drop_stored_pointers()
        return color_image

    def close(self) -> None:
        self._renderer.delete()
