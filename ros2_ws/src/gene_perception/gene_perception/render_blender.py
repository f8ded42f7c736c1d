"""Executed gene → image with Blender (``bpy``, Cycles on the CPU): the higher-quality backend
behind the interface of :class:`~gene_perception.render.SceneRenderer`.

What Cycles adds over the pyrender rasteriser: shadows, ambient light that is occluded (the
world colour lights the object, so creases darken), inter-reflections and physically based
metals. The framing is exactly the WhiteImage's: the same :class:`~gene_perception.render.Camera`
pose and pinhole intrinsics (Blender cameras, like OpenGL ones, look along their -z with +y up,
so the pose is used as it is), the same lights (a sun of strength ``intensity`` lights a
Lambertian surface like pyrender's directional light of that intensity) and the same ambient
level (a world colour ``a`` gives a diffuse surface the radiance pyrender's ambient ``a`` does).

Engine. Cycles on the CPU. EEVEE needs an OpenGL context; on a machine without a GPU that is
Mesa's llvmpipe, measured here at 1.3 s per 224² frame with one sample against 0.19 s for
Cycles with 16 (0.03 s with one), and EEVEE has no object-index pass for the mask.

Read-back. In background mode Blender keeps the render result out of Python's reach, so the
compositor writes the passes (linear RGBA, object index, depth) as uncompressed float OpenEXR
files into a private temporary folder, and they are read back through ``bpy.data.images``. The
colour is composited over the background in linear light and then sRGB-encoded (Blender's
"Standard" view).

Installation. The ``bpy`` wheels exist for CPython 3.11 only and declare ``numpy<2``, which
conflicts with pyrender's ``numpy>=2``; ``bpy`` is therefore installed with ``--no-deps``. It
runs with numpy 2: only its audio module is built against numpy 1 and fails to load (audio is
unused); :func:`import_bpy` hides that module's warning.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from .execute import ExecutedGene
from .geometry import pose_matrix
from .render import (GREY, Appearance, Camera, RenderResult, linear_to_srgb, look_at,
                     object_radius, srgb_to_linear, white_lights)

#: The WhiteImage material (as SceneRenderer's) and ambient level.
_WHITE_METALLIC, _WHITE_ROUGHNESS, _WHITE_AMBIENT = 0.0, 0.8, 0.15


@contextlib.contextmanager
def _fd_redirected(fd: int, target: int) -> Iterator[None]:
    """Point file descriptor ``fd`` at ``target`` for the block (Blender's C code writes to the
    process's stdout/stderr directly, past ``sys.stdout``)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(fd)
    try:
        os.dup2(target, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def import_bpy() -> ModuleType:
    """Import ``bpy`` without the numpy-ABI traceback and "Unable to initialise audio" line its
    audio module prints under numpy 2 (see the module docstring); if the import fails, the error
    carries what Blender printed."""
    if "bpy" in sys.modules:
        return sys.modules["bpy"]
    # Importing bpy appends Blender's script folders (…/bpy/5.0/scripts/modules, holding a
    # package also named ``bpy``) to sys.path; a worker process started by a parent that had
    # imported bpy inherits that sys.path and would import the scripts' package instead.
    sys.path[:] = [p for p in sys.path if f"{os.sep}bpy{os.sep}" not in p]
    with tempfile.TemporaryFile() as log:
        try:
            with _fd_redirected(1, log.fileno()), _fd_redirected(2, log.fileno()):
                import bpy
        except ImportError as exc:
            log.seek(0)
            printed = log.read().decode(errors="replace").strip()
            raise ImportError(f"cannot import bpy (Blender as a module; `pip install --no-deps "
                              f"bpy==5.0.1` on Python 3.11): {exc}"
                              + (f"\n{printed}" if printed else "")) from exc
    return bpy


class BlenderRenderer:
    """Cycles renderer with :class:`~gene_perception.render.SceneRenderer`'s interface.

    ``samples`` are Cycles path-tracing samples per pixel (noise against time, linear), with
    ``max_bounces`` light bounces; ``threads`` 0 uses every core (give each of several worker
    processes 1). Rendering is deterministic for fixed settings. Each renderer owns a private
    Blender scene, so several can live in one process; :meth:`close` frees it.
    """

    def __init__(self, size: int = 224, camera: Camera = Camera(), samples: int = 16,
                 max_bounces: int = 4, threads: int = 0) -> None:
        bpy = import_bpy()
        self._bpy = bpy
        self.size = size
        self.camera = camera
        self._folder = tempfile.mkdtemp(prefix="genevlm-blender-")
        self._scene = scene = bpy.data.scenes.new(f"genevlm-{id(self):x}")
        render = scene.render
        render.engine = "CYCLES"
        render.resolution_x = render.resolution_y = size
        render.resolution_percentage = 100
        render.film_transparent = True  # alpha for compositing over any background
        render.use_persistent_data = False  # kept data reorders objects: not deterministic
        render.threads_mode = "FIXED" if threads else "AUTO"
        if threads:
            render.threads = threads
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.samples = samples
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = False
        cycles.max_bounces = max_bounces
        cycles.caustics_reflective = cycles.caustics_refractive = False
        cycles.seed = 0
        cycles.use_animated_seed = False

        self._world = bpy.data.worlds.new(scene.name)
        scene.world = self._world
        self._material = self._part_material(scene.name)
        self._camera_data = bpy.data.cameras.new(scene.name)
        self._camera_data.sensor_fit = "VERTICAL"
        self._camera_data.lens = self._camera_data.sensor_height / 2 / np.tan(
            np.radians(camera.yfov_deg) / 2)
        self._camera_object = bpy.data.objects.new(scene.name, self._camera_data)
        scene.collection.objects.link(self._camera_object)
        scene.camera = self._camera_object

        self._compositor = bpy.data.node_groups.new(scene.name, "CompositorNodeTree")
        scene.compositing_node_group = self._compositor
        layers = self._compositor.nodes.new("CompositorNodeRLayers")
        layers.scene = scene
        self._output = self._compositor.nodes.new("CompositorNodeOutputFile")
        self._output.directory = self._folder + os.sep
        self._output.file_name = ""
        self._output.save_as_render = False
        fmt = self._output.format
        fmt.media_type = "IMAGE"
        fmt.file_format = "OPEN_EXR"
        fmt.color_depth = "32"
        fmt.exr_codec = "NONE"
        self._layers = layers
        self._passes: tuple[bool, bool] | None = None
        self._objects: list = []  # this frame's objects, removed before the next
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._folder, True)

    def _part_material(self, name: str):
        """One Principled BSDF for every part, reading its base colour, metallic and roughness
        from the object's custom properties: no material datablock per part or per frame."""
        material = self._bpy.data.materials.new(name)
        nodes, links = material.node_tree.nodes, material.node_tree.links
        nodes.clear()
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        output = nodes.new("ShaderNodeOutputMaterial")
        links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
        for prop, socket, out in (("color", "Base Color", "Color"), ("metallic", "Metallic", "Fac"),
                                  ("roughness", "Roughness", "Fac")):
            attribute = nodes.new("ShaderNodeAttribute")
            attribute.attribute_type = "OBJECT"
            attribute.attribute_name = prop
            links.new(attribute.outputs[out], bsdf.inputs[socket])
        return material

    def _set_passes(self, mask: bool, depth: bool) -> None:
        """Write the colour always, the object-index and depth passes only when asked."""
        if self._passes == (mask, depth):
            return
        view_layer = self._scene.view_layers[0]
        view_layer.use_pass_object_index = mask
        view_layer.use_pass_z = depth
        items = self._output.file_output_items
        items.clear()
        for name, wanted, output in (("rgba", True, "Image"), ("index", mask, "Object Index"),
                                     ("depth", depth, "Depth")):
            if wanted:
                items.new("RGBA" if name == "rgba" else "FLOAT", name)
                self._compositor.links.new(self._layers.outputs[output],
                                           self._output.inputs[name])
        self._passes = (mask, depth)

    def _clear_frame(self) -> None:
        """Remove the previous frame's objects and their mesh and light datablocks."""
        data = self._bpy.data
        for obj in self._objects:
            block = obj.data
            data.objects.remove(obj)
            (data.meshes if block.id_type == "MESH" else data.lights).remove(block)
        self._objects = []

    def _add_link(self, name: str, vertices: np.ndarray, faces: np.ndarray, pose: np.ndarray,
                  pass_index: int, color, metallic: float, roughness: float) -> None:
        bpy = self._bpy
        mesh = bpy.data.meshes.new(name)
        mesh.vertices.add(len(vertices))
        mesh.vertices.foreach_set("co", np.ascontiguousarray(vertices, np.float32).ravel())
        mesh.loops.add(faces.size)
        mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, np.int32).ravel())
        mesh.polygons.add(len(faces))
        mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
        mesh.update()
        mesh.shade_flat()  # faceted like SceneRenderer's smooth=False
        mesh.materials.append(self._material)
        obj = bpy.data.objects.new(name, mesh)
        obj.matrix_world = pose.T.tolist()  # mathutils takes rows
        obj.pass_index = pass_index
        obj["color"] = [float(c) for c in color]
        obj["metallic"] = float(metallic)
        obj["roughness"] = float(roughness)
        self._scene.collection.objects.link(obj)
        self._objects.append(obj)

    def _add_sun(self, name: str, direction: np.ndarray, color: np.ndarray,
                 intensity: float) -> None:
        bpy = self._bpy
        sun = bpy.data.lights.new(name, "SUN")
        sun.energy = float(intensity)
        sun.color = [float(c) for c in color]
        obj = bpy.data.objects.new(name, sun)
        # A sun shines along its -z, like pyrender's directional light.
        obj.matrix_world = look_at(np.zeros(3), np.asarray(direction, float)).T.tolist()
        self._scene.collection.objects.link(obj)
        self._objects.append(obj)

    def _read(self, name: str) -> np.ndarray:
        """(H, W, 4) float32 of one pass written by this frame, top row first. The file is
        deleted once read, so that a pass the next frame fails to write cannot be read stale."""
        images = self._bpy.data.images
        path = os.path.join(self._folder, f"{name}.exr")
        image = images.load(path, check_existing=False)
        try:
            channels = image.channels
            pixels = np.empty(self.size * self.size * channels, np.float32)
            image.pixels.foreach_get(pixels)
        finally:
            images.remove(image)
            os.remove(path)
        return pixels.reshape(self.size, self.size, channels)[::-1]

    def render(self, executed: ExecutedGene, appearance: Appearance | None = None,
               mask: bool = False, depth: bool = False) -> RenderResult:
        """Render the gene at its global pose from the fixed camera (WhiteImage when
        ``appearance`` is None: untextured grey on white, a head light and a key light)."""
        poses = executed.link_poses()
        radius = object_radius(executed, poses)
        camera_pose = self.camera.pose(radius, None if appearance is None else appearance.jitter)
        self._clear_frame()
        self._set_passes(mask, depth)
        root = pose_matrix(executed.gene.global_position, executed.gene.global_rotation)
        for k, link in enumerate(executed.links):
            if appearance is None:
                material = (GREY, _WHITE_METALLIC, _WHITE_ROUGHNESS)
            else:
                material = (appearance.colors[k], appearance.metallic[k], appearance.roughness[k])
            self._add_link(link.name, link.vertices, link.faces, root @ poses[link.name],
                           link.instance + 1, *material)
        lights = white_lights(camera_pose) if appearance is None else appearance.lights
        for i, light in enumerate(lights):
            self._add_sun(f"light{i}", light.direction, light.color, light.intensity)
        ambient = _WHITE_AMBIENT if appearance is None else appearance.ambient
        self._world.node_tree.nodes["Background"].inputs["Color"].default_value = (
            ambient, ambient, ambient, 1.0)
        self._camera_object.matrix_world = camera_pose.T.tolist()
        # A ray tracer has no depth buffer to spend precision on: clip far outside the object.
        reach = self.camera.distance * radius
        self._camera_data.clip_start, self._camera_data.clip_end = 0.01 * reach, 100.0 * reach

        with open(os.devnull, "wb") as null, _fd_redirected(1, null.fileno()):
            self._bpy.ops.render.render(scene=self._scene.name)  # quiet: "Saved: ..." lines

        rgba = self._read("rgba")  # premultiplied linear colour and coverage
        if appearance is None:
            background = np.ones(3, np.float32)
        else:
            background = srgb_to_linear(appearance.background.astype(np.float32) / 255.0)
        linear = rgba[..., :3] + (1.0 - rgba[..., 3:]) * background
        image = np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)
        result = RenderResult(image, camera_pose, self.camera.intrinsics(self.size))
        if mask:
            result.mask = np.round(self._read("index")[..., 0]).astype(np.uint8)
        if depth:
            z = self._read("depth")[..., 0]
            result.depth = np.where(z < self._camera_data.clip_end, z, 0.0).astype(np.float32)
        return result

    def close(self) -> None:
        """Free this renderer's scene and datablocks and its temporary folder."""
        self._clear_frame()
        data = self._bpy.data
        data.scenes.remove(self._scene)
        data.objects.remove(self._camera_object)
        data.cameras.remove(self._camera_data)
        data.worlds.remove(self._world)
        data.materials.remove(self._material)
        data.node_groups.remove(self._compositor)
        self._finalizer()
