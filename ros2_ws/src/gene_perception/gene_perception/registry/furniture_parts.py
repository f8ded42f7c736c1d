"""Cabinet-making geometry shared by StorageFurniture and Table (plain functions, no templates).

Everything is built from cuboids made many at a time by :func:`boxes` (one numpy pass for a
whole array of boxes), so a carcass with dozens of boards costs about as much as one box. Also
here: door leaves with their handles, drawers (open box, front, handles), cuboid legs hanging
from their tops, beams between two points, and the ``[n, then 9 values per board]`` extra-board
vectors of the Standard Concept Template Library (``additional_*_params``).
Frame as everywhere in the registry: y up, z to the front, x to the right.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import Joint, Param, Part

_UNIT_VERTICES, _UNIT_FACES = g.box((1.0, 1.0, 1.0))
#: Smallest edge a derived board size may shrink to (keeps faces non-degenerate).
MIN_EDGE = 1e-3


def boxes(sizes, centers, euler_deg=None, frames=None) -> g.Mesh:
    """Many cuboids at once: ``sizes`` and ``centers`` (n, 3); each box turned about its centre
    by ``euler_deg`` (n, 3) or by the rotation matrices ``frames`` (n, 3, 3). Box ``i`` owns
    vertices ``8i…8i+7`` and faces ``12i…12i+11``."""
    sizes = np.maximum(np.asarray(sizes, float).reshape(-1, 3), MIN_EDGE)
    corners = _UNIT_VERTICES[None] * sizes[:, None, :]
    if frames is None and euler_deg is not None:
        frames = g.rotation_matrix(np.asarray(euler_deg, float).reshape(-1, 3))
    if frames is not None:
        corners = np.einsum("nij,nkj->nki", frames, corners)
    corners = corners + np.asarray(centers, float).reshape(-1, 1, 3)
    faces = _UNIT_FACES[None] + 8 * np.arange(len(sizes))[:, None, None]
    return corners.reshape(-1, 3), faces.reshape(-1, 3)


def item_parts(prefix: str, mesh: g.Mesh, per_item: int, counts=None) -> list[Part]:
    """Split a :func:`boxes` mesh of ``per_item`` boxes per item into parts ``prefix_k``; item
    ``k`` keeps only its first ``counts[k]`` boxes when ``counts`` is given."""
    vertices, faces = mesh
    n = len(vertices) // (8 * per_item)
    counts = [per_item] * n if counts is None else [int(c) for c in counts]
    local = faces[:12 * per_item]
    return [Part(f"{prefix}_{k}", vertices[8 * per_item * k: 8 * per_item * k + 8 * c],
                 local[:12 * c]) for k, c in enumerate(counts)]


def hanging_cuboids(sizes, tops, frames) -> g.Mesh:
    """Cuboids of ``sizes`` (x, length, z) hanging from the centres of their top faces ``tops``,
    each turned about that point by the rotation matrix in ``frames`` (n, 3, 3)."""
    sizes = np.asarray(sizes, float).reshape(-1, 3)
    centers = np.asarray(tops, float).reshape(-1, 3) - frames[:, :, 1] * sizes[:, 1:2] / 2
    return boxes(sizes, centers, frames=frames)


def beams(starts, ends, up_size, side_size, trim=0.0) -> g.Mesh:
    """Bars from ``starts`` to ``ends`` (n, 3), shortened by ``trim`` (total); ``up_size`` is
    measured along world y projected off the bar's axis, ``side_size`` across both."""
    starts, ends = np.asarray(starts, float).reshape(-1, 3), np.asarray(ends, float).reshape(-1, 3)
    axis = ends - starts
    length = np.linalg.norm(axis, axis=1)
    axis = axis / np.maximum(length, 1e-9)[:, None]
    axis[length < 1e-9] = [1.0, 0.0, 0.0]  # coincident ends: any direction
    up = np.array([0.0, 1.0, 0.0]) - axis * axis[:, 1:2]
    flat = np.linalg.norm(up, axis=1) < 1e-6
    up[flat] = np.cross(axis[flat], [1.0, 0.0, 0.0])
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    frames = np.stack([axis, up, np.cross(axis, up)], axis=-1)
    sizes = np.column_stack([length - np.broadcast_to(trim, length.shape),
                             np.broadcast_to(up_size, length.shape),
                             np.broadcast_to(side_size, length.shape)])
    return boxes(sizes, (starts + ends) / 2, frames=frames)


# --- cuboid leg sets ----------------------------------------------------------------------------
# The library's leg sets (Table Regular_leg / Regular_with_splat_leg, as Chair's): legs hang from
# their tops; order front-left, front-right, rear-left, rear-right (three legs: the two front
# ones and one rear centre leg; two: left and right; one: a centre column).


def _turn_y(degrees: float) -> np.ndarray:
    return g.rotation_matrix([[0.0, degrees, 0.0]])[0]


def leg_layout(p, number: int, mirror: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tops, frames, sizes) of a leg set from the parameters ``legs_separation`` (front pair x
    spacing, rear pair x spacing, front-to-rear z spacing), ``front/rear_rotation`` (tilt
    about x: positive moves the foot to -z; about z: positive moves it to +x, mirrored for the
    right-hand legs when ``mirror``), ``central_rotation`` (turns the set about y) and
    ``front/rear_legs_size`` (x, length, z)."""
    fx, rx, dz = np.asarray(p["legs_separation"], float) / 2
    layouts = {1: ([[0.0, 0.0, 0.0]], [1], [0]),
               2: ([[-fx, 0.0, 0.0], [fx, 0.0, 0.0]], [1, 1], [-1, 1]),
               3: ([[-fx, 0.0, dz], [fx, 0.0, dz], [0.0, 0.0, -dz]], [1, 1, 0], [-1, 1, 0]),
               4: ([[-fx, 0.0, dz], [fx, 0.0, dz], [-rx, 0.0, -dz], [rx, 0.0, -dz]],
                   [1, 1, 0, 0], [-1, 1, -1, 1])}
    tops, front, side = (np.array(v, float) for v in layouts[int(np.clip(number, 1, 4))])
    front = front.astype(bool)
    tilt = np.where(front[:, None], np.asarray(p["front_rotation"], float),
                    np.asarray(p["rear_rotation"], float))
    if mirror:
        tilt[:, 1] *= np.where(side > 0, -1.0, 1.0)
    turn = _turn_y(float(p["central_rotation"][0]))
    euler = np.column_stack([tilt[:, 0], np.zeros(len(tilt)), tilt[:, 1]])
    frames = turn @ g.rotation_matrix(euler)
    sizes = np.where(front[:, None], np.asarray(p["front_legs_size"], float),
                     np.asarray(p["rear_legs_size"], float))
    return tops @ turn.T, frames, sizes


def leg_point(tops, frames, sizes, leg: int, along: float) -> np.ndarray:
    """The point ``along`` metres down the axis of leg ``leg`` from its top."""
    return tops[leg] - frames[leg][:, 1] * np.clip(along, 0.0, sizes[leg, 1])


def stretchers(p, tops, frames, sizes) -> g.Mesh:
    """Bars between four legs (``bridging_bars_existance``: front, rear, left, right), at
    heights measured up from each leg's middle along the leg (``*_bridging_bars_offset``)."""
    fr_h, fr_t = p["front_rear_bridging_bars_sizes"]
    lr_t, lr_h = p["left_right_bridging_bars_sizes"]
    fr, lr = p["front_rear_bridging_bars_offset"], p["left_right_bridging_bars_offset"]
    bars = ((0, 1, fr[0], fr[0], fr_h, fr_t, 0), (2, 3, fr[1], fr[1], fr_h, fr_t, 0),
            (0, 2, lr[0], lr[1], lr_h, lr_t, 2), (1, 3, lr[0], lr[1], lr_h, lr_t, 2))
    bars = [b for b, on in zip(bars, p["bridging_bars_existance"]) if on > 0.5]
    if not bars:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    a = [leg_point(tops, frames, sizes, i, sizes[i, 1] / 2 - oa) for i, _, oa, _, _, _, _ in bars]
    b = [leg_point(tops, frames, sizes, j, sizes[j, 1] / 2 - ob) for _, j, _, ob, _, _, _ in bars]
    trim = [(sizes[i, k] + sizes[j, k]) / 2 for i, j, _, _, _, _, k in bars]
    return beams(a, b, [bar[4] for bar in bars], [bar[5] for bar in bars], np.array(trim))


# --- extra boards: [n, then 9 values per board] -------------------------------------------------

#: Bounds of one extra board: size x, y, z (m); centre x, y, z (m); rotation x, y, z (deg).
BOARD_ITEM = ((0.003, 2.5),) * 3 + ((-2.5, 2.5),) * 3 + ((-180.0, 180.0),) * 3


def board_param(name: str, max_items: int, doc: str) -> Param:
    """``[n, then 9 per board]`` for 0…``max_items`` boards: allowed lengths 1 + 9k."""
    lows = (0.0,) + tuple(lo for lo, _ in BOARD_ITEM) * max_items
    highs = (float(max_items),) + tuple(hi for _, hi in BOARD_ITEM) * max_items
    return Param(name, tuple(1 + 9 * k for k in range(max_items + 1)), "m", lows, highs,
                 doc + " Layout: [n, then per board size x, y, z, centre x, y, z (m), rotation "
                       "x, y, z (deg)]; n counts the boards built (at most those present).")


def board_items(vector) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sizes, centres, rotations in degrees) of the first n boards of a board vector."""
    vector = np.asarray(vector, float)
    n = max(0, min(int(round(vector[0])), (len(vector) - 1) // 9))
    items = vector[1:1 + 9 * n].reshape(n, 9)
    return items[:, 0:3], items[:, 3:6], items[:, 6:9]


def board_vector(sizes, centers, euler_deg=None) -> np.ndarray:
    """Inverse of :func:`board_items`: pack boards into ``[n, 9 per board]``."""
    sizes = np.asarray(sizes, float).reshape(-1, 3)
    rot = np.zeros_like(sizes) if euler_deg is None else np.asarray(euler_deg, float).reshape(-1, 3)
    items = np.column_stack([sizes, np.asarray(centers, float).reshape(-1, 3), rot])
    return np.concatenate([[float(len(sizes))], items.ravel()])


# --- doors --------------------------------------------------------------------------------------


def item_rows(p, count: str, vector: str, stride: int) -> np.ndarray:
    """The packed ``vector`` as (items, stride) rows, one per item of the ``count`` parameter."""
    n = int(round(p[count][0]))
    return np.asarray(p[vector], float)[:stride * n].reshape(n, stride)


def item_row(p, vector: str, stride: int, k: int) -> np.ndarray:
    """Row ``k`` of the packed ``vector`` (for joint callables, which see one item)."""
    return np.asarray(p[vector], float)[stride * k: stride * k + stride]


def drawer_handle_centers(center, box, front, handle_size, offset_xy, separation,
                          count) -> np.ndarray:
    """(n, 2, 3) centres of each drawer's one or two handles: at the box centre plus
    ``offset_xy``, two handles ``separation`` apart in x, standing proud of the front panel."""
    sign = np.where(np.round(count) >= 2, 1.0, 0.0)[:, None] * np.array([1.0, -1.0])
    x = center[:, 0:1] + offset_xy[:, 0:1] + sign * separation[:, None] / 2
    y = np.broadcast_to(center[:, 1:2] + offset_xy[:, 1:2], x.shape)
    z = np.broadcast_to(center[:, 2:3] + box[:, 2:3] / 2 + front[:, 2:3] + handle_size[:, 2:3] / 2,
                        x.shape)
    return np.stack([x, y, z], -1)


def hinge_sides(handle_x, door_x) -> np.ndarray:
    """-1 (hinge on the leaf's left edge) or +1 (right edge), per door: opposite the handle;
    for a centred handle, on the side of the carcass wall the door is nearer to; else left."""
    handle_x, door_x = np.asarray(handle_x, float), np.asarray(door_x, float)
    side = np.where(door_x > 1e-6, 1.0, -1.0)
    return np.where(np.abs(handle_x) > 1e-6, -np.sign(handle_x), side)


def door_parts(size, handle_size, handle_offset, center, handle_rotation=None) -> list[Part]:
    """Closed door leaves ``door_left_k`` / ``door_right_k`` (by hinge side, ``k`` the item
    index): a slab of ``size`` (w, h, t) centred at ``center`` and a cuboid handle on its front
    face, offset by ``handle_offset`` (x, y) from the leaf centre and turned by
    ``handle_rotation`` degrees about z."""
    size, handle_size = np.asarray(size, float), np.asarray(handle_size, float)
    center, handle_offset = np.asarray(center, float), np.asarray(handle_offset, float)
    handle_center = center + np.column_stack([handle_offset[:, 0], handle_offset[:, 1],
                                              size[:, 2] / 2 + handle_size[:, 2] / 2])
    euler = np.zeros((len(size), 2, 3))
    if handle_rotation is not None:
        euler[:, 1, 2] = handle_rotation
    mesh = boxes(np.stack([size, handle_size], 1), np.stack([center, handle_center], 1), euler)
    sides = hinge_sides(handle_offset[:, 0], center[:, 0])
    return [Part(f"door_{'left' if side < 0 else 'right'}_{k}", part.vertices, part.faces)
            for k, (side, part) in enumerate(zip(sides, item_parts("door", mesh, 2)))]


def door_joints(leaf, opening: float = 180.0) -> tuple[Joint, Joint]:
    """The revolute joints of :func:`door_parts` leaves. ``leaf(p, k)`` gives door ``k``'s
    (width, closed centre (3,), handle x offset, door_rotation in degrees). The hinge is the
    vertical edge away from the handle; the axis is -y for left hinges and +y for right ones,
    so positive values swing every leaf outwards (+z); the state is |door_rotation| (the
    library's sign convention: negative for a left hinge)."""

    def origin(p, k):
        width, center, handle_x, _ = leaf(p, k)
        side = float(hinge_sides(handle_x, center[0]))
        return np.array([center[0] + side * width / 2, center[1], center[2]])

    def state(p, k):
        return abs(float(leaf(p, k)[3]))

    doc = ("Door leaves hinged on their {} edge (the side away from the handle) turn about "
           "{}y and open outwards by up to {:g} degrees.")
    return (Joint("door_left", "revolute", (0.0, -1.0, 0.0), origin,
                  lambda p, k: (0.0, opening), state, doc.format("left", "-", opening)),
            Joint("door_right", "revolute", (0.0, 1.0, 0.0), origin,
                  lambda p, k: (0.0, opening), state, doc.format("right", "+", opening)))


# --- drawers ------------------------------------------------------------------------------------


def drawer_parts(box_size, box_center, bottom, wall, end_wall, front_size, front_center,
                 handle_size, handle_centers, n_handles, handle_rotation=None) -> list[Part]:
    """Drawers ``drawer_k``: an open box of ``box_size`` (w, h, d) centred at ``box_center``
    (two side walls ``wall`` thick, front and back walls ``end_wall`` thick) on a bottom plate
    ``bottom`` thick below it, a front panel, and one or two handles (``handle_centers`` is
    (n, 2, 3); the second is built only when ``n_handles`` is 2)."""
    size, c = np.asarray(box_size, float), np.asarray(box_center, float)
    w, h, d = size.T
    n = len(size)
    z = np.zeros(n)
    inner = np.maximum(w - 2 * wall, MIN_EDGE)
    sizes = np.stack([
        np.column_stack([wall, h, d]), np.column_stack([wall, h, d]),
        np.column_stack([inner, h, end_wall]), np.column_stack([inner, h, end_wall]),
        np.column_stack([w, bottom, d]), np.asarray(front_size, float),
        np.asarray(handle_size, float), np.asarray(handle_size, float)], 1)
    offsets = np.stack([
        np.column_stack([-(w - wall) / 2, z, z]), np.column_stack([(w - wall) / 2, z, z]),
        np.column_stack([z, z, (d - end_wall) / 2]), np.column_stack([z, z, -(d - end_wall) / 2]),
        np.column_stack([z, -(h + bottom) / 2, z])], 1) + c[:, None, :]
    centers = np.concatenate([offsets, np.asarray(front_center, float)[:, None, :],
                              np.asarray(handle_centers, float)], 1)
    euler = np.zeros((n, 8, 3))
    if handle_rotation is not None:
        euler[:, 6:, 2] = np.asarray(handle_rotation, float)[:, None]
    counts = 6 + np.clip(np.round(n_handles), 1, 2)
    return item_parts("drawer", boxes(sizes, centers, euler), 8, counts)
