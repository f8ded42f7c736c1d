"""Box: an open-topped cuboid body closed either by a hinged chest lid or by four carton flaps,
optionally standing on cuboid legs (10–80 cm boxes, chests and cartons). All four templates of
the Standard Concept Template Library's Box (Cuboidal_Body, Fourfold_Cover, Regular_Cover,
Cuboidal_Leg) are declared; none is left out. The chest lid turns about its back edge, each
carton flap about its own hinge edge on the rim.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right; the body is centred on
the origin. This module also holds the rectangular loft used by the Trashcan's box-shaped parts.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Param, Part, SampledInstance, Slot, angle, count,
                   length, template)

# --- rectangular lofts (shared with .trashcan) -----------------------------------------------


def rect_ring(center_xz, size_xz, y) -> np.ndarray:
    """Corners (4, 3) of an axis-aligned rectangle of ``size_xz`` centred at ``center_xz``, at
    height ``y`` or at heights ``(y_front, y_back)`` (+z corners, -z corners), in the corner
    order of a four-segment :func:`geometry.lathe` turned 45°."""
    (cx, cz), (sx, sz) = center_xz, size_xz
    front, back = (y, y) if np.ndim(y) == 0 else y
    return np.array([[cx + sx / 2, back, cz - sz / 2], [cx - sx / 2, back, cz - sz / 2],
                     [cx - sx / 2, front, cz + sz / 2], [cx + sx / 2, front, cz + sz / 2]])


def rect_loft(rings: list[np.ndarray], poles: tuple[np.ndarray, np.ndarray] | None = None
              ) -> g.Mesh:
    """Closed solid through rectangular :func:`rect_ring` sections, following the profile rule
    of :func:`geometry.lathe`: with ``poles`` (bottom, top points) the profile runs from the
    bottom pole through the rings to the top pole with the outside on its right; without, the
    rings form a closed counter-clockwise loop (a sleeve)."""
    return g.loft(np.stack(rings), poles, loop=poles is None)


def open_box(top_xz, bottom_xz, height_front: float, height_back: float, offset_xz,
             wall_xz, floor: float) -> g.Mesh:
    """Open-topped tapered box centred on the origin: the rim is ``top_xz`` shifted by
    ``offset_xz``, the base ``bottom_xz``; the rim is ``height_front`` high at the front and
    ``height_back`` at the back; walls ``wall_xz`` thick and a solid floor ``floor`` thick."""
    top_xz, bottom_xz, offset_xz = (np.asarray(v, float) for v in (top_xz, bottom_xz, offset_xz))
    y0 = -height_front / 2
    rim = (height_front / 2, y0 + height_back)
    t = floor / min(height_front, height_back)  # fraction of the height up to the floor
    floor_center, floor_size = t * offset_xz, bottom_xz + t * (top_xz - bottom_xz)
    inner = 2 * np.asarray(wall_xz, float)
    rings = [rect_ring((0.0, 0.0), bottom_xz, y0), rect_ring(offset_xz, top_xz, rim),
             rect_ring(offset_xz, top_xz - inner, rim),
             rect_ring(floor_center, floor_size - inner, y0 + floor)]
    return rect_loft(rings, (np.array([0.0, y0, 0.0]),
                             np.array([floor_center[0], y0 + floor, floor_center[1]])))


# --- body -------------------------------------------------------------------------------------


def _cuboidal_body(p) -> list[Part]:
    wall_x, floor, wall_z = p["thickness"]
    height = p["height"][0]
    return [Part("body", *open_box(p["top_size"], p["bottom_size"], height, height,
                                   p["top_bottom_offset"], (wall_x, wall_z), floor))]


CUBOIDAL_BODY = template(
    "Cuboidal_Body", "body",
    "Open-topped tapered box with a solid floor, centred on the origin.",
    [length("top_size", 2, 0.1, 0.8, "outer width (x), outer depth (z) at the rim"),
     length("bottom_size", 2, 0.1, 0.8, "outer width (x), outer depth (z) at the base"),
     length("height", 1, 0.06, 0.6, "total height"),
     length("top_bottom_offset", 2, -0.05, 0.05, "shift of the rim against the base in x, in z"),
     length("thickness", 3, (0.002, 0.002, 0.002), (0.04, 0.05, 0.04),
            "side wall thickness (x), floor thickness (y), front/back wall thickness (z)")],
    _cuboidal_body,
    constraints=(Constraint(("thickness", 0), ("top_size", 0), factor=0.25),
                 Constraint(("thickness", 1), ("height", 0), factor=0.5),
                 Constraint(("thickness", 2), ("top_size", 1), factor=0.25)))

# --- covers -----------------------------------------------------------------------------------

#: Fourfold flaps: (side, hinge axis, direction from the hinge to the middle). The closed flap
#: lies flat on the rim pointing inwards; a positive angle about the axis swings it up and out.
FLAPS = (("front", (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
         ("behind", (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
         ("left", (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
         ("right", (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)))


def _flap_levels(p) -> tuple[float, float]:
    """Bottom y of the left/right flaps and of the front/behind flaps: the front/behind flaps
    lie on top of the left/right ones when any of those exists."""
    sides = p["has_cover"][2] > 0.5 or p["has_cover"][3] > 0.5
    return 0.0, (p["left_right_size"][0] if sides else 0.0)


def _flap_hinge(p, k: int) -> np.ndarray:
    sep_z, sep_x = p["cover_separation"]
    low, high = _flap_levels(p)
    return np.array([(0.0, high, sep_z / 2), (0.0, high, -sep_z / 2),
                     (-sep_x / 2, low, 0.0), (sep_x / 2, low, 0.0)][k])


def _fourfold_cover(p) -> list[Part]:
    width, fb_len, fb_t = p["front_behind_size"]
    lr_t, lr_len, depth = p["left_right_size"]
    parts = []
    for k in range(4):
        if p["has_cover"][k] < 0.5:
            continue
        hinge = _flap_hinge(p, k)
        inward = np.array(FLAPS[k][2])
        if k < 2:
            size, reach, thick = (width, fb_t, fb_len), fb_len, fb_t
        else:
            size, reach, thick = (lr_len, lr_t, depth), lr_len, lr_t
        center = hinge + inward * reach / 2 + np.array([0.0, thick / 2, 0.0])
        parts.append(Part(f"flap_{k}", *g.box(size, center)))
    return parts


def _flap_joint(k: int) -> Joint:
    side, axis, _ = FLAPS[k]
    return Joint(f"flap_{k}", "revolute", axis, lambda p, _: _flap_hinge(p, k),
                 lambda p, _: (0.0, 270.0), lambda p, _: p["cover_rotation"][k],
                 doc=f"The {side} flap turns about its hinge on the rim: 0° lies flat over the "
                     f"opening, 90° stands upright, 270° hangs down the outside.")


FOURFOLD_COVER = template(
    "Fourfold_Cover", "cover",
    "Carton top: up to four thin flaps hinged on the rim's edges, each opening on its own.",
    [Param("has_cover", (4,), "bool", (0.0,) * 4, (1.0,) * 4,
           "whether the front, behind, left, right flap exists (0 or 1)", discrete=True),
     length("front_behind_size", 3, (0.1, 0.03, 0.001), (0.85, 0.4, 0.008),
            "front and behind flaps: width along the hinge (x), length from the hinge, "
            "thickness"),
     length("left_right_size", 3, (0.001, 0.03, 0.1), (0.008, 0.4, 0.85),
            "left and right flaps: thickness, length from the hinge, width along the hinge (z)"),
     length("cover_separation", 2, 0.1, 0.8,
            "distance between the front and behind hinges (z), between the left and right "
            "hinges (x)"),
     angle("cover_rotation", 4, 0.0, 270.0,
           "opening of the front, behind, left, right flap: 0 flat over the opening, 90 "
           "upright, 270 folded down outside")],
    _fourfold_cover, joints=tuple(_flap_joint(k) for k in range(4)),
    at_least_one=("has_cover",))


def _regular_cover(p) -> list[Part]:
    out_x, out_y, out_z = p["outer_size"]
    in_x, in_y, in_z = p["inner_size"]
    # Lid with a shallow hollow underneath; its back edge lies on the x axis (the hinge).
    center = (0.0, out_z / 2)
    rings = [rect_ring(center, (in_x, in_z), in_y), rect_ring(center, (in_x, in_z), 0.0),
             rect_ring(center, (out_x, out_z), 0.0), rect_ring(center, (out_x, out_z), out_y)]
    return [Part("lid", *rect_loft(rings, (np.array([0.0, in_y, out_z / 2]),
                                           np.array([0.0, out_y, out_z / 2]))))]


REGULAR_COVER = template(
    "Regular_Cover", "cover",
    "Chest lid: a slab with a skirt round a shallow hollow, hinged along its back bottom edge.",
    [length("outer_size", 3, (0.1, 0.01, 0.1), (0.85, 0.25, 0.85),
            "outer width (x), total height (y), depth (z)"),
     length("inner_size", 3, (0.08, 0.002, 0.08), (0.84, 0.24, 0.84),
            "hollow underneath: width (x), height of the skirt (y), depth (z)")],
    _regular_cover,
    joints=(Joint("lid", "revolute", (-1.0, 0.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (0.0, 110.0),
                  doc="Swings up about its back edge (the template's x axis), closed at 0°."),),
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.004),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.003),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.004)))

# --- legs -------------------------------------------------------------------------------------


def _cuboidal_leg(p) -> list[Part]:
    n = int(p["num_legs"][0])
    front, rear = p["front_legs_size"], p["rear_legs_size"]
    sep_front, sep_rear, sep_z = p["legs_separation"]
    # Legs hang from y = 0: 1 one central block, 2 a front pair, 3 plus one rear leg, 4 two pairs.
    legs = [(front, 0.0, 0.0)] if n == 1 else [(front, -sep_front / 2, sep_z / 2),
                                               (front, sep_front / 2, sep_z / 2)]
    if n == 3:
        legs.append((rear, 0.0, -sep_z / 2))
    elif n == 4:
        legs += [(rear, -sep_rear / 2, -sep_z / 2), (rear, sep_rear / 2, -sep_z / 2)]
    return [Part("legs", *g.concat([g.box(size, (x, -size[1] / 2, z)) for size, x, z in legs]))]


CUBOIDAL_LEG = template(
    "Cuboidal_Leg", "leg",
    "One to four cuboid feet hanging from the template origin under the body.",
    [length("front_legs_size", 3, (0.01, 0.005, 0.01), (0.8, 0.15, 0.8),
            "front (or single) leg width (x), height (y), depth (z)"),
     length("rear_legs_size", 3, (0.01, 0.005, 0.01), (0.8, 0.15, 0.8),
            "rear leg width (x), height (y), depth (z)"),
     length("legs_separation", 3, 0.0, 0.8,
            "x distance between the front legs, between the rear legs; z distance from the "
            "front legs to the rear ones"),
     count("num_legs", 1, 4, "1 central block, 2 front pair, 3 front pair and one rear leg, "
                             "4 front and rear pairs")],
    _cuboidal_leg)

# --- category ---------------------------------------------------------------------------------


def _shape_body(body: SampledInstance, carton: bool, rng: np.random.Generator) -> None:
    if carton:  # cardboard: thin walls, straight sides
        width = rng.uniform(0.15, 0.7)
        depth = width * rng.uniform(0.5, 1.0)
        height = 0.5 * (width + depth) * rng.uniform(0.4, 1.2)
        taper, wall = rng.uniform(0.97, 1.0), rng.uniform(0.002, 0.006)
        floor = wall
    else:  # chest: thick walls, possibly narrowing to the base
        width = rng.uniform(0.25, 0.8)
        depth = width * rng.uniform(0.45, 0.8)
        height = depth * rng.uniform(0.6, 1.2)
        taper = 1.0 if rng.random() < 0.5 else rng.uniform(0.85, 1.0)
        wall, floor = rng.uniform(0.008, 0.025), rng.uniform(0.008, 0.025)
    top = body.set("top_size", [width, depth])
    bottom = body.set("bottom_size", top * taper)
    h = body.set("height", [height])[0]
    body.set("top_bottom_offset", (top - bottom) / 2 * rng.uniform(-0.3, 0.3, 2))
    body.set("thickness", [wall, min(floor, 0.3 * h), wall])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body, cover = parts["body"][0], parts["cover"][0]
    carton = cover.template is FOURFOLD_COVER
    _shape_body(body, carton, rng)
    (top_x, top_z), (bottom_x, bottom_z) = body["top_size"], body["bottom_size"]
    height = body["height"][0]
    off_x, off_z = body["top_bottom_offset"]
    if carton:
        has = (rng.random(4) < 0.85).astype(float)
        if not has.any():
            has[rng.integers(4)] = 1.0
        cover.set("has_cover", has)
        cover.set("cover_separation", [top_z, top_x])
        thick = rng.uniform(0.002, 0.005)
        cover.set("front_behind_size", [top_x, top_z / 2 * rng.uniform(0.8, 1.0), thick])
        cover.set("left_right_size", [thick, top_x / 2 * rng.uniform(0.5, 1.0), top_z])
        closed = rng.random() < 0.2
        cover.set("cover_rotation", np.zeros(4) if closed else rng.uniform(0.0, 255.0, 4))
        cover.set("position", [off_x, height / 2, off_z])
    else:
        over = rng.uniform(1.0, 1.04)
        lid_h = float(np.clip(height * rng.uniform(0.1, 0.4), 0.015, 0.25))
        outer = cover.set("outer_size", [top_x * over, lid_h, top_z * over])
        wall = body["thickness"][0]
        cover.set("inner_size", [outer[0] - 2 * wall, lid_h * rng.uniform(0.3, 0.8),
                                 outer[2] - 2 * wall])
        cover.set("position", [off_x, height / 2, off_z - outer[2] / 2])
    if carton:  # cardboard cartons stand on their base
        parts["leg"].clear()
    for legs in parts["leg"]:
        n = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.15, 0.05, 0.6]))
        legs.set("num_legs", [n])
        leg_h = rng.uniform(0.01, 0.06) if n == 1 else height * rng.uniform(0.05, 0.3)
        if n == 1:  # a plinth slightly inside the base
            inset = rng.uniform(0.85, 0.97)
            size = [bottom_x * inset, leg_h, bottom_z * inset]
            legs.set("front_legs_size", size)
            legs.set("rear_legs_size", size)
            legs.set("legs_separation", [0.0, 0.0, 0.0])
        elif n == 2:  # two runners along the depth
            runner = [rng.uniform(0.02, 0.06), leg_h, bottom_z * rng.uniform(0.85, 1.0)]
            front = legs.set("front_legs_size", runner)
            legs.set("rear_legs_size", runner)
            legs.set("legs_separation", [bottom_x * rng.uniform(0.6, 0.9) - front[0], 0.0, 0.0])
        else:  # feet under the corners
            foot = min(bottom_x, bottom_z) * rng.uniform(0.06, 0.15)
            size = [foot, leg_h, foot * rng.uniform(0.8, 1.25)]
            front = legs.set("front_legs_size", size)
            rear = legs.set("rear_legs_size", size)
            inset = rng.uniform(0.0, 0.02)
            legs.set("legs_separation", [bottom_x - front[0] - 2 * inset,
                                         bottom_x - rear[0] - 2 * inset,
                                         bottom_z - front[2] - 2 * inset])
        legs.set("position", [0.0, -height / 2, 0.0])


CATEGORY = Category(
    "Box", "A box: open cuboid body with a hinged chest lid or carton flaps, optional legs.",
    (Slot("body", (CUBOIDAL_BODY,)),
     Slot("cover", (FOURFOLD_COVER, REGULAR_COVER)),
     Slot("leg", (CUBOIDAL_LEG,), min_count=0)),
    _assemble, removal_rate=0.5)
