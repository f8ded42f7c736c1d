"""KitchenPot: a pot or pan body, an optional lid with a top handle, and side handles. All
eleven templates of the Standard Concept Template Library's KitchenPot are declared
(Cylindrical_Body, Cylindrical_Cover, Carved_Cylindrical_Cover, Semi_Spherical_Cover,
Cuboidal_Tophandle, Trifold_Tophandle, Semi_Ring_Tophandle, Multilevel_Tophandle,
Trifold_Sidehandle, L_Shaped_Sidehandle, Cuboidal_Sidehandle); none is left out. The library has
no swinging bail handle for pots, so none is declared. Its Semi_Spherical_Cover is an open
spherical cap; here it is the solid dome under that cap.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right; the body is centred on
the origin (Mug's Cylindrical_Body geometry at pot scale). The flat lid hinges at its back (-z)
edge; the domed and carved lids lift straight off; the top handle rides on the lid; side
handles are fixed, a pair on ±x or one long pan handle on +x.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, count, length,
                   template)
from .kettle import _solid
from .mug import vessel_bodies

# --- body -------------------------------------------------------------------------------------

CYLINDRICAL_BODY, _ = vessel_bodies((0.05, 0.04, 0.025), (0.16, 0.16, 0.26),
                                    (0.045, 0.035, 0.02), (0.158, 0.158, 0.255),
                                    wall=0.0015, floor=0.002)

# --- covers -----------------------------------------------------------------------------------

LIFT = Joint("lid", "prismatic", (0.0, 1.0, 0.0), lambda p, k: np.zeros(3),
             lambda p, k: (0.0, 0.15), doc="Lifts straight off the rim by up to 0.15 m.")


def _cylindrical_cover(p) -> list[Part]:
    radius, height = p["size"]
    return [Part("lid", *g.cylinder(radius, radius, height, -height / 2))]


CYLINDRICAL_COVER = template(
    "Cylindrical_Cover", "lid", "Flat disc lid centred on the origin, hinged at its back edge.",
    [length("size", 2, (0.04, 0.002), (0.17, 0.02), "radius, thickness")],
    _cylindrical_cover,
    joints=(Joint("lid", "revolute", (-1.0, 0.0, 0.0),
                  lambda p, k: np.array([0.0, -p["size"][1] / 2, -p["size"][0]]),
                  lambda p, k: (0.0, 110.0),
                  doc="Hinge about x at the lid's back bottom edge; positive opens upwards."),))


def _carved_cylindrical_cover(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    depth = min(depth, height - 1e-3)
    r_mid = r_bottom + (r_top - r_bottom) * depth / height
    i_top, i_bottom = min(i_top, r_mid - 5e-4), min(i_bottom, r_bottom - 5e-4)
    base = -height / 2
    return [Part("lid", *_solid([0.0, i_top, i_bottom, r_bottom, r_top, 0.0],
                                [base + depth, base + depth, base, base, -base, -base]))]


CARVED_CYLINDRICAL_COVER = template(
    "Carved_Cylindrical_Cover", "lid",
    "Lid hollow underneath: a solid frustum over a skirt whose cavity opens downwards.",
    [length("outer_size", 3, (0.02, 0.04, 0.006), (0.17, 0.17, 0.08),
            "top radius, bottom radius, total height"),
     length("inner_size", 3, (0.015, 0.035, 0.002), (0.168, 0.168, 0.075),
            "cavity radius at its ceiling, at the bottom, cavity depth from the bottom")],
    _carved_cylindrical_cover, joints=(LIFT,),
    constraints=(Constraint(("inner_size", 0), ("outer_size", 1), margin=0.001),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.001),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.002)))


def _semi_spherical_cover(p) -> list[Part]:
    radius = p["radius"][0]
    cap = np.radians(p["exist_angle"][0])
    a = np.linspace(cap, 0.0, 14)[:-1]
    r = radius * np.sin(a)
    y = radius * (np.cos(a) - np.cos(cap))
    return [Part("lid", *_solid(np.concatenate([[0.0], r, [0.0]]),
                                np.concatenate([[0.0], y, [radius * (1 - np.cos(cap))]])))]


SEMI_SPHERICAL_COVER = template(
    "Semi_Spherical_Cover", "lid",
    "Domed lid: the solid spherical cap whose base circle lies at y = 0.",
    [length("radius", 1, 0.04, 0.6, "sphere radius"),
     angle("exist_angle", 1, 10.0, 90.0, "polar angle of the cap's edge")],
    _semi_spherical_cover, joints=(LIFT,))

# --- top handles (on the lid) -----------------------------------------------------------------


def _cuboidal_tophandle(p) -> list[Part]:
    size = p["size"]
    return [Part("handle", *g.box(size, (0.0, size[1] / 2, 0.0)))]


CUBOIDAL_TOPHANDLE = template(
    "Cuboidal_Tophandle", "handle", "Block knob standing on y = 0.",
    [length("size", 3, 0.005, (0.14, 0.05, 0.05), "width (x), height (y), depth (z)")],
    _cuboidal_tophandle)


def _trifold_tophandle(p) -> list[Part]:
    post_x, post_y, post_z = p["mounting_size"]
    half = p["mounting_seperation"][0] / 2
    splay = np.radians(p["mounting_rotation"][0])
    meshes = []
    for side in (1.0, -1.0):
        foot = np.array([side * half, 0.0, 0.0])
        top = foot + post_y * np.array([side * np.sin(splay), np.cos(splay), 0.0])
        meshes.append(g.beam(foot, top, post_x, post_z, up=(1.0, 0.0, 0.0)))
    grip = p["grip_size"]
    meshes.append(g.box(grip, (0.0, post_y * np.cos(splay) + grip[1] / 2, 0.0)))
    return [Part("handle", *g.concat(meshes))]


TRIFOLD_TOPHANDLE = template(
    "Trifold_Tophandle", "handle",
    "Bridge handle: two posts standing on y = 0 at x = ±separation/2 under a grip bar.",
    [length("mounting_size", 3, (0.003, 0.005, 0.003), (0.025, 0.06, 0.03),
            "post width (x), length, depth (z)"),
     length("mounting_seperation", 1, 0.01, 0.14, "distance (x) between the post feet"),
     length("grip_size", 3, (0.02, 0.003, 0.005), (0.18, 0.03, 0.04),
            "grip bar length (x), thickness (y), depth (z)"),
     angle("mounting_rotation", 1, -30.0, 30.0, "outward lean of the posts (about z, mirrored)")],
    _trifold_tophandle)


def _semi_ring_tophandle(p) -> list[Part]:
    outer, inner, width = p["curve_size"]
    half = np.radians(p["curve_exist_angle"][0]) / 2
    t = np.linspace(-half, half, 20)
    mid = (outer + inner) / 2
    # Arch symmetric about +y whose outer edge meets y = 0 at both feet.
    path = np.stack([mid * np.sin(t), mid * np.cos(t) - outer * np.cos(half)], axis=1)
    return [Part("handle", *g.band(path, outer - inner, width))]


SEMI_RING_TOPHANDLE = template(
    "Semi_Ring_Tophandle", "handle",
    "Arched strap handle: a partial ring in the x-y plane standing on its feet at y = 0.",
    [length("curve_size", 3, (0.01, 0.005, 0.004), (0.07, 0.065, 0.04),
            "outer radius, inner radius, strap width (z)"),
     angle("curve_exist_angle", 1, 30.0, 300.0, "angle the arch spans, symmetric about +y")],
    _semi_ring_tophandle,
    constraints=(Constraint(("curve_size", 1), ("curve_size", 0), margin=0.002),))

KNOB_LEVELS = 4


def _multilevel_tophandle(p) -> list[Part]:
    r, y = [0.0], [0.0]
    for k in range(1, int(p["num_levels"][0]) + 1):
        top, bottom, height = p[f"level_{k}_size"]
        r += [bottom, top]
        y += [y[-1], y[-1] + height]
    return [Part("handle", *_solid(r + [0.0], y + [y[-1]]))]


MULTILEVEL_TOPHANDLE = template(
    "Multilevel_Tophandle", "handle", "Turned knob: frusta stacked upwards from y = 0.",
    [count("num_levels", 1, KNOB_LEVELS, "number of stacked frusta"),
     *(length(f"level_{k}_size", 3, (0.003, 0.003, 0.002), (0.04, 0.04, 0.05),
              f"level {k}: top radius, bottom radius, height (unused above num_levels)")
       for k in range(1, KNOB_LEVELS + 1))],
    _multilevel_tophandle)

# --- side handles -----------------------------------------------------------------------------


def _trifold_sidehandle(p) -> list[Part]:
    arm_x, arm_y, arm_z = p["mounting_size"]
    half = p["mounting_seperation"][0] / 2
    splay = np.radians(p["mounting_rotation"][0])
    grip = p["grip_size"]
    meshes = []
    for side in (1.0, -1.0):  # the handle on +x, then its mirror image on -x
        parts = [g.box(grip, (side * (arm_x * np.cos(splay) + grip[0] / 2), 0.0, 0.0))]
        for sz in (1.0, -1.0):  # arms at ±z, splayed apart as they leave the wall
            root = np.array([0.0, 0.0, sz * half])
            tip = root + arm_x * np.array([side * np.cos(splay), 0.0, sz * np.sin(splay)])
            parts.append(g.beam(root, tip, arm_y, arm_z))
        meshes.append(g.place(g.concat(parts), (side * p["handle_seperation"][0] / 2, 0.0, 0.0),
                              (0.0, 0.0, side * p["whole_rotation"][0])))
    return [Part("handle", *g.concat(meshes))]


TRIFOLD_SIDEHANDLE = template(
    "Trifold_Sidehandle", "handle",
    "Pair of loop handles on ±x: two arms from the wall joined by a grip bar, tilted about z.",
    [length("mounting_size", 3, (0.005, 0.003, 0.003), (0.06, 0.03, 0.03),
            "arm length (outwards), height (y), depth (z)"),
     length("mounting_seperation", 1, 0.01, 0.15, "distance (z) between the two arms' roots"),
     length("grip_size", 3, (0.004, 0.003, 0.01), (0.04, 0.04, 0.2),
            "grip bar width (x), height (y), length (z)"),
     angle("mounting_rotation", 1, -30.0, 45.0, "splay of the arms apart (about y)"),
     length("handle_seperation", 1, 0.06, 0.34, "distance (x) between the two handles' roots"),
     angle("whole_rotation", 1, -30.0, 45.0, "upward tilt of each handle about z (mirrored)")],
    _trifold_sidehandle)


def _l_shaped_sidehandle(p) -> list[Part]:
    bottom, top = p["bottom_size"], p["top_size"]
    half = p["handle_seperation"][0] / 2
    meshes = []
    for side in (1.0, -1.0):
        meshes.append(g.box(bottom, (side * (half + bottom[0] / 2), 0.0, 0.0)))
        meshes.append(g.box(top, (side * (half + top[0] / 2), (bottom[1] + top[1]) / 2, 0.0)))
    return [Part("handle", *g.concat(meshes))]


L_SHAPED_SIDEHANDLE = template(
    "L_Shaped_Sidehandle", "handle",
    "Pair of lugs on ±x: a block against the wall with a flange on top reaching outwards.",
    [length("bottom_size", 3, (0.003, 0.005, 0.01), (0.03, 0.06, 0.1),
            "wall block thickness (x), height (y), width (z)"),
     length("top_size", 3, (0.005, 0.003, 0.01), (0.06, 0.03, 0.1),
            "flange reach (x), thickness (y), width (z)"),
     length("handle_seperation", 1, 0.06, 0.34,
            "distance (x) between the two blocks' inner faces")],
    _l_shaped_sidehandle)


def _cuboidal_sidehandle(p) -> list[Part]:
    size = p["size"]
    return [Part("handle", *g.box(size, (0.0, 0.0, -size[2] / 2)))]


CUBOIDAL_SIDEHANDLE = template(
    "Cuboidal_Sidehandle", "handle",
    "Long pan handle: a bar along x, its z extent from -size[2] to 0 as in the library.",
    [length("size", 3, (0.04, 0.005, 0.008), (0.3, 0.04, 0.05),
            "length (x), thickness (y), width (z)")],
    _cuboidal_sidehandle)

# --- category ---------------------------------------------------------------------------------


def _shape_body(body: SampledInstance, pan: bool, rng: np.random.Generator):
    """Draw a pot or pan body; return (top radius, bottom radius, height)."""
    if pan:
        top = rng.uniform(0.08, 0.145)
        height, bottom = rng.uniform(0.035, 0.07), top * rng.uniform(0.72, 0.9)
    else:
        top = rng.uniform(0.055, 0.145)
        height = float(np.clip(2 * top * rng.uniform(0.35, 0.8), 0.06, 0.22))
        bottom = top * rng.uniform(0.9, 1.0)
    wall, floor = rng.uniform(0.002, 0.004), rng.uniform(0.003, 0.008)
    top, bottom, height = body.set("outer_size", [top, bottom, height])
    body.set("inner_size", [top - wall, bottom - wall, height - floor])
    return top, bottom, height


def _place_cover(cover: SampledInstance, rim_r: float, rim_y: float, rng: np.random.Generator):
    """Seat the lid on the rim; return a function giving the lid's top height at a distance
    from the axis."""
    spec = cover.template
    radius = rim_r * rng.uniform(1.0, 1.04) + 0.001
    if spec is CYLINDRICAL_COVER:
        radius, thick = cover.set("size", [radius, rng.uniform(0.004, 0.01)])
        cover.set("position", [0.0, rim_y + thick / 2, 0.0])
        return lambda x: rim_y + thick
    if spec is CARVED_CYLINDRICAL_COVER:
        height = rng.uniform(0.012, 0.03)
        top, radius, height = cover.set("outer_size",
                                         [radius * rng.uniform(0.7, 0.95), radius, height])
        depth = height * rng.uniform(0.4, 0.75)
        r_mid = radius + (top - radius) * depth / height
        cover.set("inner_size", [r_mid - rng.uniform(0.003, 0.006),
                                 radius - rng.uniform(0.003, 0.006), depth])
        cover.set("position", [0.0, rim_y + height / 2, 0.0])
        return lambda x: rim_y + height * min(1.0, (radius - x) / max(radius - top, 1e-6))
    cap = np.radians(rng.uniform(15.0, 35.0))
    sphere = cover.set("radius", [radius / np.sin(cap)])[0]
    cap = np.radians(cover.set("exist_angle", [np.degrees(np.arcsin(
        min(radius / sphere, 1.0)))])[0])
    cover.set("position", [0.0, rim_y, 0.0])
    return lambda x: rim_y + np.sqrt(max(sphere ** 2 - x ** 2, 0.0)) - sphere * np.cos(cap)


def _place_tophandle(handle: SampledInstance, lid_top, rng: np.random.Generator) -> None:
    """Stand the top handle on the middle of the lid, turned about y at random."""
    spec = handle.template
    if spec is CUBOIDAL_TOPHANDLE:
        size = handle.set("size", [rng.uniform(0.04, 0.1), rng.uniform(0.012, 0.03),
                                   rng.uniform(0.012, 0.025)])
        foot = np.hypot(size[0], size[2]) / 2
    elif spec is TRIFOLD_TOPHANDLE:
        post = handle.set("mounting_size", [rng.uniform(0.006, 0.012), rng.uniform(0.015, 0.03),
                                            rng.uniform(0.008, 0.015)])
        sep = handle.set("mounting_seperation", [rng.uniform(0.04, 0.09)])[0]
        splay = handle.set("mounting_rotation", [rng.uniform(-10.0, 20.0)])[0]
        span = sep + 2 * post[1] * np.sin(np.radians(splay)) + post[0]
        handle.set("grip_size", [span + rng.uniform(0.01, 0.03), rng.uniform(0.006, 0.012),
                                 post[2] * rng.uniform(1.0, 1.5)])
        foot = sep / 2 + post[0]
    elif spec is SEMI_RING_TOPHANDLE:
        outer = rng.uniform(0.02, 0.045)
        size = handle.set("curve_size", [outer, outer - rng.uniform(0.005, 0.01),
                                         rng.uniform(0.008, 0.02)])
        span = handle.set("curve_exist_angle", [rng.uniform(100.0, 160.0)])[0]
        foot = size[0] * np.sin(np.radians(span) / 2)
    else:
        levels = int(rng.integers(1, KNOB_LEVELS + 1))
        handle.set("num_levels", [levels])
        bottom = foot = rng.uniform(0.008, 0.014)
        # A stem, a flaring cap, its rim, a low dome on top (as many as there are levels).
        shapes = [(0.5, 0.75, 0.006, 0.015), (1.8, 2.8, 0.003, 0.008), (0.9, 1.0, 0.004, 0.01),
                  (0.4, 0.8, 0.002, 0.006)] if levels > 1 else [(0.8, 1.1, 0.01, 0.025)]
        for k, (low, high, h_low, h_high) in enumerate(shapes[:levels], start=1):
            bottom = handle.set(f"level_{k}_size", [bottom * rng.uniform(low, high), bottom,
                                                    rng.uniform(h_low, h_high)])[0]
    handle.set("position", [0.0, lid_top(foot) - 0.001, 0.0])
    handle.set("rotation", [0.0, rng.uniform(0.0, 180.0), 0.0])


def _place_sidehandle(handle: SampledInstance, top: float, bottom: float, height: float,
                      pan: bool, rng: np.random.Generator) -> None:
    """Fix the side handles to the wall just below the rim."""

    def wall(y: float) -> float:
        return bottom + (top - bottom) * (y / height + 0.5)

    def root(y: float, half_width: float) -> float:
        # Distance from the axis at which a flat face half_width wide meets the round wall.
        return float(np.sqrt(max(wall(y) ** 2 - half_width ** 2, 1e-6))) - 0.002

    spec = handle.template
    y = height / 2 - height * rng.uniform(0.15, 0.35)
    if spec is TRIFOLD_SIDEHANDLE:
        arm = handle.set("mounting_size", [rng.uniform(0.015, 0.03), rng.uniform(0.005, 0.01),
                                           rng.uniform(0.005, 0.01)])
        sep = handle.set("mounting_seperation", [rng.uniform(0.03, min(0.07, top))])[0]
        splay = handle.set("mounting_rotation", [rng.uniform(0.0, 25.0)])[0]
        handle.set("grip_size", [rng.uniform(0.008, 0.014), arm[1] * rng.uniform(1.0, 1.6),
                                 sep + 2 * arm[0] * np.sin(np.radians(splay)) + arm[2]
                                 + rng.uniform(0.0, 0.015)])
        handle.set("whole_rotation", [rng.uniform(-5.0, 20.0)])
        handle.set("handle_seperation", [2 * root(y, sep / 2 + arm[2] / 2)])
        handle.set("position", [0.0, y, 0.0])
    elif spec is L_SHAPED_SIDEHANDLE:
        block = handle.set("bottom_size", [rng.uniform(0.006, 0.012),
                                           min(rng.uniform(0.015, 0.035), 0.7 * height),
                                           rng.uniform(0.03, 0.06)])
        flange = handle.set("top_size", [block[0] + rng.uniform(0.01, 0.03),
                                         rng.uniform(0.005, 0.01),
                                         block[2] * rng.uniform(0.9, 1.15)])
        centre = height / 2 - rng.uniform(0.0, 0.01) - flange[1] - block[1] / 2
        handle.set("handle_seperation",
                   [2 * root(centre - block[1] / 2, max(block[2], flange[2]) / 2)])
        handle.set("position", [0.0, centre, 0.0])
    else:
        long_ = rng.uniform(0.12, 0.22) if pan else rng.uniform(0.1, 0.18)
        size = handle.set("size", [long_, rng.uniform(0.01, 0.02), rng.uniform(0.015, 0.03)])
        tilt = rng.uniform(0.0, 20.0) if pan else rng.uniform(0.0, 15.0)
        a = np.radians(tilt)
        start = root(y, size[2] / 2) - size[1] / 2 * np.sin(a)
        handle.set("position", [start + size[0] / 2 * np.cos(a), y + size[0] / 2 * np.sin(a),
                                size[2] / 2])
        handle.set("rotation", [0.0, 0.0, tilt])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    side = parts["sidehandle"][0]
    pan = side.template is CUBOIDAL_SIDEHANDLE and rng.random() < 0.75
    top, bottom, height = _shape_body(parts["body"][0], pan, rng)
    # A lid always carries its top handle; pans go without a lid more often.
    if not parts["tophandle"] or (pan and rng.random() < 0.3):
        parts["cover"].clear()
    if not parts["cover"]:
        parts["tophandle"].clear()
    for cover in parts["cover"]:
        lid_top = _place_cover(cover, top, height / 2, rng)
        for handle in parts["tophandle"]:
            _place_tophandle(handle, lid_top, rng)
    _place_sidehandle(side, top, bottom, height, pan, rng)


CATEGORY = Category(
    "KitchenPot", "A cooking pot or pan: body, optional lid with a top handle, side handles.",
    (Slot("body", (CYLINDRICAL_BODY,)),
     Slot("cover", (CYLINDRICAL_COVER, CARVED_CYLINDRICAL_COVER, SEMI_SPHERICAL_COVER),
          min_count=0),
     Slot("tophandle", (CUBOIDAL_TOPHANDLE, TRIFOLD_TOPHANDLE, SEMI_RING_TOPHANDLE,
                        MULTILEVEL_TOPHANDLE), min_count=0, attach_to="cover"),
     Slot("sidehandle", (TRIFOLD_SIDEHANDLE, L_SHAPED_SIDEHANDLE, CUBOIDAL_SIDEHANDLE))),
    _assemble, removal_rate=0.15)
