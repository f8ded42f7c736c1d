"""Mug: a vessel body, a side handle and an optional loose cover.

Template frame (all registry modules): y up, z to the front, x to the right; bodies are centred
on the origin. The handle sits on the body's +x side.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, ConceptTemplate, Constraint, Joint, Part, SampledInstance, Slot,
                   angle, count, length, template)

# --- bodies -----------------------------------------------------------------------------------


def _cylindrical_body(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    return [Part("body", *g.cup(r_bottom, r_top, height, i_bottom, i_top, depth, -height / 2))]


def _prismatic_body(p) -> list[Part]:
    # Four lathe segments turned 45° give a square section; the radius is the half-diagonal.
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    top, floor = height / 2, height / 2 - depth
    return [Part("body", *g.lathe([0.0, r_bottom, r_top, i_top, i_bottom, 0.0],
                                  [-top, -top, top, top, floor, floor], 4, 45.0))]


def vessel_bodies(outer_low: tuple[float, float, float], outer_high: tuple[float, float, float],
                  inner_low: tuple[float, float, float], inner_high: tuple[float, float, float],
                  wall: float = 0.003, floor: float = 0.004
                  ) -> tuple[ConceptTemplate, ConceptTemplate]:
    """Declare (Cylindrical_Body, Prismatic_Body) with the given size ranges; ``wall`` and
    ``floor`` are the least wall and floor thickness. Other vessel categories (Bucket) call this
    with their own ranges."""
    sizes = [
        length("outer_size", 3, outer_low, outer_high,
               "outer radius at the top, outer radius at the bottom, total height"),
        length("inner_size", 3, inner_low, inner_high,
               "cavity radius at the top, cavity radius at the floor, cavity depth"),
    ]
    walls = (
        Constraint(("inner_size", 0), ("outer_size", 0), margin=wall),
        Constraint(("inner_size", 1), ("outer_size", 1), margin=wall),
        Constraint(("inner_size", 2), ("outer_size", 2), margin=floor),
    )
    return (
        template("Cylindrical_Body", "body",
                 "Round open vessel: frustum with a frustum cavity from the top.",
                 sizes, _cylindrical_body, constraints=walls),
        template("Prismatic_Body", "body",
                 "Square open vessel; radii are half-diagonals of the square sections.",
                 sizes, _prismatic_body, constraints=walls),
    )


CYLINDRICAL_BODY, PRISMATIC_BODY = vessel_bodies((0.025, 0.025, 0.05), (0.07, 0.07, 0.16),
                                                 (0.018, 0.018, 0.035), (0.068, 0.068, 0.155))


def _multilevel_body(p) -> list[Part]:
    levels = int(p["num_levels"][0])
    outer = [p["level_1_bottom_radius"][0], p["level_1_top_radius"][0]]
    inner = [p["level_1_bottom_radius"][1], p["level_1_top_radius"][1]]
    heights = [p["level_1_height"][0]]
    for k in range(2, levels + 1):
        outer.append(p[f"level_{k}_top_radius"][0])
        inner.append(p[f"level_{k}_top_radius"][1])
        heights.append(p[f"level_{k}_height"][0])
    y = np.concatenate([[0.0], np.cumsum(heights)])
    y -= y[-1] / 2
    floor = y[0] + p["level_1_height"][0] - p["level_1_height"][1]
    # Cavity follows the inner radii from the rim down to the floor inside level 1.
    inner_y = y[::-1].copy()
    inner_y[-1] = floor
    inner_r = np.array(inner[::-1])
    inner_r[-1] = np.interp(floor, [y[0], y[1]], [inner[0], inner[1]])
    r = np.concatenate([[0.0], outer, inner_r, [0.0]])
    h = np.concatenate([[y[0]], y, inner_y, [floor]])
    return [Part("body", *g.lathe(r, h))]


def _level_params() -> list:
    params = [
        count("num_levels", 1, 4, "number of stacked levels"),
        length("level_1_bottom_radius", 2, (0.025, 0.018), (0.07, 0.066),
               "level 1 bottom radius: outer, inner"),
        length("level_1_top_radius", 2, (0.025, 0.018), (0.07, 0.066),
               "level 1 top radius: outer, inner"),
        length("level_1_height", 2, (0.02, 0.012), (0.1, 0.096),
               "level 1 height: total, cavity part (the rest is the solid floor)"),
    ]
    for k in range(2, 5):
        params += [length(f"level_{k}_top_radius", 2, (0.025, 0.018), (0.07, 0.066),
                          f"level {k} top radius: outer, inner (unused above num_levels)"),
                   length(f"level_{k}_height", 1, 0.005, 0.06,
                          f"level {k} height (unused above num_levels)")]
    return params


MULTILEVEL_BODY = template(
    "Multilevel_Body", "body", "Stack of hollow frustum levels with a solid floor in level 1.",
    _level_params(), _multilevel_body,
    constraints=(Constraint(("level_1_bottom_radius", 1), ("level_1_bottom_radius", 0),
                            margin=0.003),
                 Constraint(("level_1_top_radius", 1), ("level_1_top_radius", 0), margin=0.003),
                 Constraint(("level_1_height", 1), ("level_1_height", 0), margin=0.004),
                 *(Constraint((f"level_{k}_top_radius", 1), (f"level_{k}_top_radius", 0),
                              margin=0.003) for k in range(2, 5))))

# --- handles ----------------------------------------------------------------------------------


def _curved_handle(p) -> list[Part]:
    central, tube = p["radius"]
    half = np.radians(p["central_angle"][0]) / 2
    t = np.linspace(-half, half, 24)
    # C-shape in the x-y plane bulging to +x, its ends at x = central * cos(half) on the body.
    path = np.stack([central * np.cos(t), central * np.sin(t), np.zeros_like(t)], axis=1)
    return [Part("handle", *g.sweep(path, tube))]


CURVED_HANDLE = template(
    "Curved_Handle", "handle", "Round C-shaped handle: a partial torus in the x-y plane.",
    [length("radius", 2, (0.015, 0.003), (0.06, 0.01), "central radius, tube radius"),
     angle("central_angle", 1, 120.0, 270.0, "angle the handle spans")],
    _curved_handle, constraints=(Constraint(("radius", 1), ("radius", 0), factor=0.5),))


def _trifold_handle(p) -> list[Part]:
    thick_y, thick_z = p["horizontal_thickness"]
    sep = p["horizontal_separation"][0]
    offset = p["mounting_offset"][0]
    tips, parts = [], []
    for k, sign in enumerate((1.0, -1.0)):  # arm 0 on top, arm 1 below
        a = np.radians(p["horizontal_rotation"][k]) * sign
        root = np.array([offset if k == 0 else 0.0, sign * sep / 2, 0.0])
        tip = root + p["horizontal_length"][k] * np.array([np.cos(a), np.sin(a), 0.0])
        parts.append(g.beam(root, tip, thick_y, thick_z))
        tips.append(tip)
    vx, vz = p["vertical_thickness"]
    parts.append(g.beam(tips[1], tips[0], vx, vz, up=(1.0, 0.0, 0.0)))
    return [Part("handle", *g.concat(parts))]


TRIFOLD_HANDLE = template(
    "Trifold_Handle", "handle", "Angular handle: two arms from the body joined by an upright.",
    [length("horizontal_thickness", 2, 0.004, 0.015, "arm thickness in y, in z"),
     length("horizontal_length", 2, 0.015, 0.05, "length of the top arm, of the bottom arm"),
     length("vertical_thickness", 2, 0.004, 0.015, "upright thickness in x, in z"),
     angle("horizontal_rotation", 2, -30.0, 30.0, "arm tilt: top arm up, bottom arm down"),
     length("horizontal_separation", 1, 0.03, 0.12, "distance between the arm roots"),
     length("mounting_offset", 1, -0.01, 0.01, "x offset of the top arm's root")],
    _trifold_handle)

# --- cover ------------------------------------------------------------------------------------


def _single_cylinder(p) -> list[Part]:
    radius, height = p["size"]
    return [Part("disc", *g.cylinder(radius, radius, height, -height / 2))]


SINGLE_CYLINDER = template(
    "Single_Cylinder", "lid", "Solid disc; as a cover it lifts straight off (prismatic along y).",
    [length("size", 2, (0.02, 0.002), (0.26, 0.02), "radius, thickness")],
    _single_cylinder,
    joints=(Joint("disc", "prismatic", (0.0, 1.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (0.0, 0.1), doc="Lifts off the rim by up to 0.1 m."),))

# --- category ---------------------------------------------------------------------------------


def body_extent(body: SampledInstance) -> tuple[float, float, float]:
    """(top radius, bottom radius, height) of any vessel body of this module."""
    if body.template is MULTILEVEL_BODY:
        levels = int(body["num_levels"][0])
        heights = [body["level_1_height"][0]] + [body[f"level_{k}_height"][0]
                                                 for k in range(2, levels + 1)]
        top = body[f"level_{levels}_top_radius"][0] if levels > 1 else body["level_1_top_radius"][0]
        return top, body["level_1_bottom_radius"][0], float(sum(heights))
    r_top, r_bottom, height = body["outer_size"]
    return r_top, r_bottom, height


def _shape_body(body: SampledInstance, rng: np.random.Generator) -> None:
    """Mug proportions: 7–13 cm tall, 3–5 cm radius, a gentle taper, 2.5–5 mm walls."""
    height = rng.uniform(0.07, 0.13)
    radius = rng.uniform(0.03, 0.05)
    wall, floor = rng.uniform(0.0025, 0.005), rng.uniform(0.005, 0.012)
    if body.template is MULTILEVEL_BODY:
        levels = int(body["num_levels"][0])
        shares = rng.dirichlet(np.full(levels, 2.0)) * height
        radii = radius * rng.uniform(0.8, 1.15, levels + 1)
        body.set("level_1_bottom_radius", [radii[0], radii[0] - wall])
        body.set("level_1_height", [shares[0], max(shares[0] - floor, 0.012)])
        body.set("level_1_top_radius", [radii[1], radii[1] - wall])
        for k in range(2, levels + 1):
            body.set(f"level_{k}_top_radius", [radii[k], radii[k] - wall])
            body.set(f"level_{k}_height", [shares[k - 1]])
        return
    scale = np.sqrt(2.0) if body.template is PRISMATIC_BODY else 1.0  # half-diagonals
    top, bottom = radius * scale, radius * scale * rng.uniform(0.8, 1.1)
    body.set("outer_size", [top, bottom, height])
    body.set("inner_size", [top - wall * scale, bottom - wall * scale, height - floor])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    _shape_body(body, rng)
    r_top, r_bottom, height = body_extent(body)
    side = max(r_top, r_bottom)
    if body.template is PRISMATIC_BODY:
        side /= np.sqrt(2.0)  # half-diagonal → half-side
    handle = parts["handle"][0]
    if handle.template is CURVED_HANDLE:
        central = handle.set("radius", [rng.uniform(0.25, 0.4) * height,
                                        rng.uniform(0.004, 0.007)])[0]
        half = np.radians(handle.set("central_angle", [rng.uniform(150.0, 210.0)])[0]) / 2
        # Put the C's ends just inside the wall so the handle meets the body.
        handle.set("position", [side - central * np.cos(half) - 0.002, 0.0, 0.0])
    else:
        sep = handle.set("horizontal_separation", [rng.uniform(0.45, 0.75) * height])[0]
        handle.set("horizontal_length", rng.uniform(0.018, 0.032, 2))
        handle.set("horizontal_rotation", rng.uniform(-10.0, 10.0, 2))
        handle.set("mounting_offset", [0.0])
        handle.set("position", [side - 0.002, rng.uniform(-0.1, 0.1) * (height - sep), 0.0])
    for cover in parts["cover"]:
        cover.set("size", [r_top * rng.uniform(1.0, 1.06), rng.uniform(0.004, 0.012)])
        cover.set("position", [0.0, height / 2 + cover["size"][1] / 2, 0.0])


CATEGORY = Category(
    "Mug", "A drinking mug: vessel body, side handle, optional loose cover.",
    (Slot("body", (CYLINDRICAL_BODY, PRISMATIC_BODY, MULTILEVEL_BODY)),
     Slot("handle", (CURVED_HANDLE, TRIFOLD_HANDLE)),
     Slot("cover", (SINGLE_CYLINDER,), min_count=0)),
    _assemble, removal_rate=0.6)
