"""Analytic mesh primitives as plain numpy functions.

Every primitive returns ``(vertices, faces)``: float64 ``(n, 3)`` and int64 ``(m, 3)`` arrays of a
closed, outward-wound (counter-clockwise seen from outside) surface without degenerate faces.
Composite parts are concatenations of closed primitives, so each connected component is closed.
Primitives are built in the template frame of the concept-template library: y is up.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Mesh = tuple[np.ndarray, np.ndarray]

#: Segments around a surface of revolution; enough for smooth silhouettes at 224² and cheap.
SEGMENTS = 32


def rotation_matrix(rotation_deg) -> np.ndarray:
    """Rotation of Euler angles in degrees applied about x, then y, then z (fixed axes);
    ``(..., 3)`` angles give ``(..., 3, 3)`` matrices."""
    rx, ry, rz = np.moveaxis(np.radians(np.asarray(rotation_deg, dtype=np.float64)), -1, 0)
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    return np.stack([
        np.stack([cy * cz, sx * sy * cz - cx * sz, cx * sy * cz + sx * sz], -1),
        np.stack([cy * sz, sx * sy * sz + cx * cz, cx * sy * sz - sx * cz], -1),
        np.stack([-sy, sx * cy, cx * cy], -1)], -2)


def pose_matrix(position: np.ndarray, rotation_deg: np.ndarray) -> np.ndarray:
    """4×4 homogeneous transform: rotate (x→y→z, degrees), then translate."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation_matrix(rotation_deg)
    matrix[:3, 3] = position
    return matrix


def euler_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rotation_matrix` (degrees); for URDF ``rpy`` the same convention holds."""
    sy = -rotation[2, 0]
    cy = np.hypot(rotation[0, 0], rotation[1, 0])
    if cy > 1e-9:
        rx = np.arctan2(rotation[2, 1], rotation[2, 2])
        rz = np.arctan2(rotation[1, 0], rotation[0, 0])
    else:  # gimbal lock: fold z into x
        rx = np.arctan2(-rotation[1, 2], rotation[1, 1])
        rz = 0.0
    return np.degrees([rx, np.arctan2(sy, cy), rz])


def transform(vertices: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return vertices @ matrix[:3, :3].T + matrix[:3, 3]


def place(mesh: Mesh, position=(0.0, 0.0, 0.0), rotation=(0.0, 0.0, 0.0)) -> Mesh:
    """Rotate (degrees, x→y→z) then translate a mesh."""
    return transform(mesh[0], pose_matrix(np.asarray(position, float), rotation)), mesh[1]


def concat(meshes: list[Mesh]) -> Mesh:
    """Join meshes into one vertex/face array pair (components stay separate)."""
    meshes = [m for m in meshes if len(m[1])]
    if not meshes:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    offsets = np.cumsum([0] + [len(v) for v, _ in meshes[:-1]])
    return (np.concatenate([v for v, _ in meshes]),
            np.concatenate([f + o for (_, f), o in zip(meshes, offsets)]))


_BOX_FACES = np.array([
    [0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
    [2, 3, 7], [2, 7, 6], [1, 2, 6], [1, 6, 5], [0, 4, 7], [0, 7, 3]], dtype=np.int64)
_BOX_CORNERS = np.array([
    [-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
    [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64) / 2


def box(size, center=(0.0, 0.0, 0.0)) -> Mesh:
    """Axis-aligned cuboid with edge lengths ``size`` = (x, y, z) centred at ``center``."""
    return _BOX_CORNERS * np.asarray(size, float) + np.asarray(center, float), _BOX_FACES


def beam(start, end, width: float, depth: float, up=(0.0, 1.0, 0.0)) -> Mesh:
    """Cuboid whose long axis runs from ``start`` to ``end``; ``width`` is measured along the
    direction of ``up`` projected off the axis (or a perpendicular if parallel), ``depth`` across."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    axis = end - start
    length = float(np.linalg.norm(axis))
    if length < 1e-9:
        raise ValueError("beam of zero length")
    axis /= length
    side = np.asarray(up, float) - axis * (np.asarray(up, float) @ axis)
    if np.linalg.norm(side) < 1e-6:
        side = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    third = np.cross(axis, side)
    frame = np.eye(4)
    frame[:3, 0], frame[:3, 1], frame[:3, 2], frame[:3, 3] = axis, side, third, (start + end) / 2
    return transform(_BOX_CORNERS * [length, width, depth], frame), _BOX_FACES


@lru_cache(maxsize=64)
def _ring_topology(n_profile: int, segments: int, poles: bool) -> np.ndarray:
    """Faces joining consecutive rings of ``segments`` points (and, with ``poles``, a first and
    last single point); cached because only the vertex positions vary."""
    ring = np.arange(segments)
    nxt = (ring + 1) % segments
    faces = []
    rings = n_profile - 2 if poles else n_profile
    base = 1 if poles else 0
    span = rings - 1 if poles else rings
    for i in range(span):
        a = base + i * segments
        b = base + ((i + 1) % rings) * segments
        faces.append(np.stack([a + ring, b + nxt, b + ring], axis=1))
        faces.append(np.stack([a + ring, a + nxt, b + nxt], axis=1))
    if poles:
        top = 1 + rings * segments
        faces.append(np.stack([np.zeros(segments, int), 1 + nxt, 1 + ring], axis=1))
        last = 1 + (rings - 1) * segments
        faces.append(np.stack([np.full(segments, top), last + ring, last + nxt], axis=1))
    return np.concatenate(faces).astype(np.int64)


def lathe(r, z, segments: int = SEGMENTS, phase_deg: float = 0.0) -> Mesh:
    """Revolve a profile (radius ``r``, height ``z``) about the y (up) axis.

    Either the profile starts and ends on the axis (``r[0] == r[-1] == 0``, a solid, traversed
    bottom pole → top pole with the outside on the right when looking along the path), or every
    ``r > 0`` and the profile is a closed loop traversed counter-clockwise in the (r, z) plane (a
    ring, e.g. the wall of a hollow cup). Either way the result is closed and outward-wound.
    """
    r = np.asarray(r, float)
    z = np.asarray(z, float)
    theta = np.linspace(0.0, 2 * np.pi, segments, endpoint=False) + np.radians(phase_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    poles = r[0] == 0.0 and r[-1] == 0.0
    body_r, body_z = (r[1:-1], z[1:-1]) if poles else (r, z)
    # Built about z, then turned z → y by a proper rotation ((x, y, z) → (x, z, -y)), which keeps
    # the winding outward.
    ring = np.stack([body_r[:, None] * cos,
                     np.broadcast_to(body_z[:, None], (len(body_r), segments)),
                     -body_r[:, None] * sin], axis=-1)
    vertices = ring.reshape(-1, 3)
    if poles:
        vertices = np.concatenate([[[0.0, z[0], 0.0]], vertices, [[0.0, z[-1], 0.0]]])
    return vertices, _ring_topology(len(r), segments, poles)


def loft(rings, poles=None, loop: bool = False) -> Mesh:
    """Closed solid through sections ``rings`` (sections, points, 3), each a planar convex
    polygon, consecutive sections joined by quads.

    The ends are closed at ``poles`` (first, last point), by default the end sections'
    centroids; with ``loop`` the sections form a closed loop (a sleeve) and need no ends.
    Whichever way the sections run, the faces are turned outward.
    """
    rings = np.asarray(rings, float)
    sections, points, _ = rings.shape
    vertices = rings.reshape(-1, 3)
    if not loop:
        first, last = (rings[0].mean(axis=0), rings[-1].mean(axis=0)) if poles is None else poles
        vertices = np.concatenate([[first], vertices, [last]])
    faces = _ring_topology(sections + (0 if loop else 2), points, not loop)
    tri = vertices[faces]
    if np.einsum("ij,ij->", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) < 0:
        faces = faces[:, ::-1]  # negative signed volume: the sections ran the other way
    return vertices, faces


def band(path_xy, width: float, depth: float) -> Mesh:
    """A bar of rectangular section (``width`` across the path in the x-y plane, ``depth`` along
    z) following a polyline in the x-y plane, capped at both ends."""
    path_xy = np.asarray(path_xy, float)
    tangent = np.gradient(path_xy, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    signs = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
    xy = path_xy[:, None, :] + signs[None, :, :1] * normal[:, None, :] * (width / 2)
    z = np.broadcast_to(signs[:, 1] * (depth / 2), (len(path_xy), 4))[..., None]
    return loft(np.concatenate([xy, z], axis=2))


def u_path(half: float, post: float, n: int = 24) -> np.ndarray:
    """A 2-D U (upside down): a post from (-half, 0) up to ``post``, a half circle of radius
    ``half`` over the top in ``n`` points, a post down to (half, 0)."""
    t = np.linspace(np.pi, 0.0, n)
    arc = np.stack([half * np.cos(t), post + half * np.sin(t)], axis=1)
    return np.concatenate([[[-half, 0.0]], arc, [[half, 0.0]]])


def mirror_x(mesh: Mesh) -> Mesh:
    """Mirror image across the plane x = 0, faces re-wound to stay outward."""
    return mesh[0] * np.array([-1.0, 1.0, 1.0]), mesh[1][:, ::-1]


def cylinder(radius_bottom: float, radius_top: float, height: float, z0: float = 0.0,
             segments: int = SEGMENTS) -> Mesh:
    """Solid frustum along y from ``z0`` to ``z0 + height``."""
    return lathe([0.0, radius_bottom, radius_top, 0.0], [z0, z0, z0 + height, z0 + height],
                 segments)


def cup(outer_bottom: float, outer_top: float, height: float, inner_bottom: float,
        inner_top: float, inner_depth: float, z0: float = 0.0, segments: int = SEGMENTS) -> Mesh:
    """Open-topped vessel: outer frustum with an inner frustum cavity ``inner_depth`` deep."""
    top = z0 + height
    floor = top - inner_depth
    return lathe([0.0, outer_bottom, outer_top, inner_top, inner_bottom, 0.0],
                 [z0, z0, top, top, floor, floor], segments)


def tube(r_outer_bottom: float, r_outer_top: float, r_inner_bottom: float, r_inner_top: float,
         height: float, z0: float = 0.0, segments: int = SEGMENTS) -> Mesh:
    """Open-ended hollow frustum (a ring in cross-section)."""
    return lathe([r_inner_bottom, r_outer_bottom, r_outer_top, r_inner_top],
                 [z0, z0, z0 + height, z0 + height], segments)


@lru_cache(maxsize=16)
def _sweep_topology(n_path: int, sides: int) -> np.ndarray:
    ring = np.arange(sides)
    nxt = (ring + 1) % sides
    a = (np.arange(n_path - 1)[:, None] * sides + ring).ravel()
    b = a + sides
    an = (np.arange(n_path - 1)[:, None] * sides + nxt).ravel()
    bn = an + sides
    side = np.concatenate([np.stack([a, an, bn], 1), np.stack([a, bn, b], 1)])
    start, end = n_path * sides, n_path * sides + 1
    last = (n_path - 1) * sides
    caps = np.concatenate([np.stack([np.full(sides, start), nxt, ring], 1),
                           np.stack([np.full(sides, end), last + ring, last + nxt], 1)])
    return np.concatenate([side, caps]).astype(np.int64)


def sweep(path: np.ndarray, radius: float | np.ndarray, sides: int = 12) -> Mesh:
    """A round rod of ``radius`` along the polyline ``path`` (n, 3), capped at both ends.

    Cross-sections use parallel-transported frames, so the rod does not twist.
    """
    path = np.asarray(path, float)
    tangents = np.gradient(path, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    helper = np.array([0.0, 0.0, 1.0]) if abs(tangents[0, 2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    normal = np.cross(tangents[0], helper)
    normal /= np.linalg.norm(normal)
    normals = np.empty_like(path)
    for i, t in enumerate(tangents):  # n_path is small (≤ 40); transport is inherently sequential
        normal = normal - t * (normal @ t)
        normal /= np.linalg.norm(normal)
        normals[i] = normal
    binormals = np.cross(tangents, normals)
    theta = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    radius = np.broadcast_to(np.asarray(radius, float), (len(path),))[:, None, None]
    ring = (np.cos(theta)[None, :, None] * normals[:, None, :]
            + np.sin(theta)[None, :, None] * binormals[:, None, :])
    vertices = (path[:, None, :] + radius * ring).reshape(-1, 3)
    vertices = np.concatenate([vertices, path[:1], path[-1:]])
    return vertices, _sweep_topology(len(path), sides)


def arc_path(radius: float, start_deg: float, end_deg: float, n: int = 24) -> np.ndarray:
    """Points on a circle of ``radius`` about the origin in the y-z plane; angle 0 is -y (down),
    increasing towards +z (the front)."""
    t = np.radians(np.linspace(start_deg, end_deg, n))
    return np.stack([np.zeros(n), -radius * np.cos(t), radius * np.sin(t)], axis=1)


def extrude(polygon_xz: np.ndarray, height: float, y0: float = 0.0) -> Mesh:
    """Prism of a convex polygon in the x-z plane (either orientation), extruded up along y
    from ``y0``."""
    polygon_xz = np.asarray(polygon_xz, float)
    x, z = polygon_xz[:, 0], polygon_xz[:, 1]
    if np.dot(x, np.roll(z, -1)) - np.dot(z, np.roll(x, -1)) > 0:
        polygon_xz = polygon_xz[::-1]  # outward winding needs clockwise in (x, z)
    n = len(polygon_xz)
    bottom = np.column_stack([polygon_xz[:, 0], np.full(n, y0), polygon_xz[:, 1]])
    top = np.column_stack([polygon_xz[:, 0], np.full(n, y0 + height), polygon_xz[:, 1]])
    i = np.arange(n)
    j = (i + 1) % n
    side = np.concatenate([np.stack([i, j, n + j], 1), np.stack([i, n + j, n + i], 1)])
    fan = np.arange(1, n - 1)
    caps = np.concatenate([np.stack([np.zeros(n - 2, int), fan + 1, fan], 1),
                           np.stack([np.full(n - 2, n), n + fan, n + fan + 1], 1)])
    return np.concatenate([bottom, top]), np.concatenate([side, caps]).astype(np.int64)
