"""Bucket: an open vessel body (Mug's body geometry at bucket scale), a carrying handle that
swings about the axis through its two mounting points, and, on round buckets, an optional loose
cover. All seven templates of the Standard Concept Template Library's Bucket are declared
(Cylindrical_Body, Prismatic_Body, Trifold_Handle, Curved_Handle, Round_U_Handle, Flat_U_Handle,
Single_Cylinder); none is left out. The cover is Mug's Single_Cylinder.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right; the body is centred on
the origin. Every handle is built upright with its two mounting points at (±s, 0, 0), so its
template origin is the pivot: its ``rotation[0]`` is the handle's rest tilt and its joint swings
it about x, limited so that the total tilt stays within ±90°.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, length,
                   template)
from .mug import SINGLE_CYLINDER, vessel_bodies

# --- bodies -----------------------------------------------------------------------------------

CYLINDRICAL_BODY, PRISMATIC_BODY = vessel_bodies(
    (0.06, 0.05, 0.15), (0.26, 0.25, 0.45), (0.055, 0.045, 0.13), (0.258, 0.248, 0.448),
    wall=0.002, floor=0.003)

# --- handles ----------------------------------------------------------------------------------

#: Total handle tilt about the pivot axis (rest tilt + joint value) stays in this range.
SWING = 90.0


def _handle_joint(doc: str) -> tuple[Joint, ...]:
    # Limits are relative to the rest tilt rotation[0], so the absolute swing is ±SWING (the
    # rest pose, joint value 0, always lies within them).
    return (Joint("handle", "revolute", (1.0, 0.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (min(-SWING - p["rotation"][0], 0.0),
                                max(SWING - p["rotation"][0], 0.0)), doc=doc),)


def _trifold_handle(p) -> list[Part]:
    tx, tz = p["vertical_thickness"]
    bar_y, bar_z = p["horizontal_thickness"]
    half = p["vertical_separation"][0] / 2
    meshes, tops = [], []
    for k, side in enumerate((-1.0, 1.0)):  # upright 0 on the left, 1 on the right
        tilt = np.radians(p["vertical_rotation"][k])  # positive leans inwards
        direction = np.array([-side * np.sin(tilt), np.cos(tilt), 0.0])
        foot = np.array([side * half, 0.0, 0.0])
        top = foot + p["vertical_length"][k] * direction
        meshes.append(g.beam(foot, top + direction * bar_y / 2, tx, tz, up=(1.0, 0.0, 0.0)))
        tops.append(top)
    along = (tops[1] - tops[0]) / np.linalg.norm(tops[1] - tops[0])
    meshes.append(g.beam(tops[0] - along * tx / 2, tops[1] + along * tx / 2, bar_y, bar_z))
    return [Part("handle", *g.concat(meshes))]


TRIFOLD_HANDLE = template(
    "Trifold_Handle", "handle",
    "Angular top handle: two uprights from the mounting points joined by a grip bar.",
    [length("vertical_thickness", 2, 0.004, 0.025, "upright thickness in x, in z"),
     length("vertical_length", 2, 0.02, 0.3, "length of the left upright, of the right upright"),
     length("horizontal_thickness", 2, 0.004, 0.03, "grip bar thickness in y, in z"),
     angle("vertical_rotation", 2, -20.0, 20.0,
           "inward lean of the left upright, of the right upright (about z)"),
     length("vertical_separation", 1, 0.1, 0.6, "distance between the two mounting points")],
    _trifold_handle, joints=_handle_joint("Swings about the mounting axis (x)."))


def _curved_handle(p) -> list[Part]:
    central, tube = p["radius"]
    half = np.radians(p["exist_angle"][0]) / 2
    t = np.linspace(-half, half, 32)
    # Arch in the x-y plane symmetric about +y; its two ends (the mounting points) are at y = 0.
    path = np.stack([central * np.sin(t), central * (np.cos(t) - np.cos(half)),
                     np.zeros_like(t)], axis=1)
    return [Part("handle", *g.sweep(path, tube))]


CURVED_HANDLE = template(
    "Curved_Handle", "handle",
    "Wire arch handle: a partial torus over the opening, its ends at the mounting points.",
    [length("radius", 2, (0.04, 0.002), (0.35, 0.012), "central radius of the arch, tube radius"),
     angle("exist_angle", 1, 170.0, 230.0, "angle the arch spans (over 180: ends bend inwards)")],
    _curved_handle, joints=_handle_joint("Swings about the axis through the arch ends (x)."),
    constraints=(Constraint(("radius", 1), ("radius", 0), factor=0.2),))


def _round_u_handle(p) -> list[Part]:
    # Left post up, the half torus over the top, right post down: one round rod.
    path_xy = g.u_path(p["vertical_separation"][0] / 2, p["vertical_length"][0])
    path = np.column_stack([path_xy, np.zeros(len(path_xy))])
    return [Part("handle", *g.sweep(path, p["inner_radius"][0]))]


ROUND_U_HANDLE = template(
    "Round_U_Handle", "handle",
    "Round rod handle: two straight posts from the mounting points joined by a half torus.",
    [length("inner_radius", 1, 0.002, 0.012, "rod radius"),
     length("vertical_separation", 1, 0.1, 0.6, "distance between the posts (mounting points)"),
     length("vertical_length", 1, 0.005, 0.25, "length of each straight post")],
    _round_u_handle, joints=_handle_joint("Swings about the axis through the post feet (x)."))


def _flat_u_handle(p) -> list[Part]:
    thick, post, depth = p["vertical_size"]
    path = g.u_path(p["vertical_separation"][0] / 2, post)
    return [Part("handle", *g.band(path, thick, depth))]


FLAT_U_HANDLE = template(
    "Flat_U_Handle", "handle",
    "Flat strap handle: two flat posts from the mounting points joined by a half ring.",
    [length("vertical_size", 3, (0.003, 0.005, 0.006), (0.02, 0.25, 0.04),
            "post and strap thickness in the handle plane, post length, strap width in z"),
     length("vertical_separation", 1, 0.1, 0.6, "distance between the posts (mounting points)")],
    _flat_u_handle, joints=_handle_joint("Swings about the axis through the post feet (x)."))

# --- category ---------------------------------------------------------------------------------


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    round_body = body.template is CYLINDRICAL_BODY
    # Half-width of the opening (radius, or half-side of a square); the template radius of a
    # square body is its half-diagonal.
    half_top = rng.uniform(0.09, 0.17)
    height = float(np.clip(2 * half_top * rng.uniform(0.75, 1.25), 0.16, 0.42))
    half_bottom = half_top * rng.uniform(0.72, 0.92)
    scale = 1.0 if round_body else np.sqrt(2.0)
    wall, floor = rng.uniform(0.002, 0.005), rng.uniform(0.004, 0.012)
    body.set("outer_size", [half_top * scale, half_bottom * scale, height])
    body.set("inner_size", [(half_top - wall) * scale, (half_bottom - wall) * scale,
                            height - floor])

    if not round_body:
        parts["cover"].clear()  # the library only covers round buckets
    overhang = 0.0
    for cover in parts["cover"]:
        radius = cover.set("size", [half_top * rng.uniform(1.0, 1.03) + 0.002,
                                    rng.uniform(0.004, 0.012)])
        cover.set("position", [0.0, height / 2 + radius[1] / 2, 0.0])
        overhang = radius[0] - half_top

    handle = parts["handle"][0]
    kind = handle.template
    # Handle cross-section first: ``side`` is its half-thickness across the pivot axis when
    # upright, ``flat`` its half-thickness when it lies down (tilted 90°).
    if kind is TRIFOLD_HANDLE:
        tx, tz = handle.set("vertical_thickness", [rng.uniform(0.006, 0.018),
                                                   rng.uniform(0.008, 0.025)])
        bar_y, bar_z = handle.set("horizontal_thickness", [rng.uniform(0.008, 0.025),
                                                           rng.uniform(tz, 0.03)])
        side, flat = tx / 2, max(tz, bar_z) / 2
    elif kind is CURVED_HANDLE:
        side = flat = rng.uniform(0.0025, 0.006)
    elif kind is ROUND_U_HANDLE:
        side = flat = handle.set("inner_radius", [rng.uniform(0.003, 0.009)])[0]
    else:
        thick, strap = rng.uniform(0.004, 0.012), rng.uniform(0.01, 0.03)
        side, flat = thick / 2, strap / 2
    # Round buckets: pivots below the rim, and the handle lying down hangs outside the wall.
    # Square buckets: pivots just above the rim, so the lying handle rests on the rim instead of
    # cutting through the corners.
    drop = rng.uniform(0.015, 0.05) if round_body else -(flat + rng.uniform(0.001, 0.004))
    clearance = overhang + rng.uniform(0.004, 0.012)
    half = half_top + side + clearance  # half the distance between the pivots
    reach = half_top * rng.uniform(0.3, 0.9)  # how far the handle rises above the rim
    # U handles: the posts reach above the rim so the half torus clears it.
    post = drop + max(reach - half, 0.0) + rng.uniform(0.004, 0.03)
    if kind is TRIFOLD_HANDLE:
        lean = rng.uniform(-8.0, 15.0)
        handle.set("vertical_rotation", [lean, lean])
        half += max(0.0, drop * np.tan(np.radians(lean)))  # keep clear of the rim when leaning
        handle.set("vertical_separation", [2 * half])
        handle.set("vertical_length", [(drop + reach) / np.cos(np.radians(lean))] * 2)
    elif kind is CURVED_HANDLE:
        # Arch centre at or above the rim, so the arch rises outside the rim from the pivots.
        least = 180.0 + 2 * np.degrees(np.arctan(max(drop + side, 0.0) / half))
        span = handle.set("exist_angle", [least + rng.uniform(0.0, 12.0)])[0]
        handle.set("radius", [half / np.sin(np.radians(span) / 2), side])
    elif kind is ROUND_U_HANDLE:
        handle.set("vertical_separation", [2 * half])
        handle.set("vertical_length", [post])
    else:
        handle.set("vertical_separation", [2 * half])
        handle.set("vertical_size", [2 * side, post, 2 * flat])
    handle.set("position", [0.0, height / 2 - drop, 0.0])
    # Rest tilt: upright, or leaning towards the front or back.
    tilt = 0.0 if rng.random() < 0.4 else rng.choice([-1.0, 1.0]) * rng.uniform(15.0, 85.0)
    handle.set("rotation", [tilt, 0.0, 0.0])

CATEGORY = Category(
    "Bucket", "A bucket: open vessel body, swinging carrying handle, optional loose cover.",
    (Slot("body", (CYLINDRICAL_BODY, PRISMATIC_BODY)),
     Slot("handle", (TRIFOLD_HANDLE, CURVED_HANDLE, ROUND_U_HANDLE, FLAT_U_HANDLE)),
     Slot("cover", (SINGLE_CYLINDER,), min_count=0)),
    _assemble, removal_rate=0.6)
