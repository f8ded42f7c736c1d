"""Shampoo: a shampoo, lotion or toothpaste container (a stacked-frustum, cuboid or squeezed-tube
body) closed by a screw cap that lifts off or by a pump whose head presses down. Of the Standard
Concept Template Library's Shampoo templates, Regular_cap is left out: the library's own sampler
never uses it and its ``separation`` is read nowhere, so neither its meaning nor its length is
defined (Cylindrical_cap covers plain caps). The library's caps have no hinge geometry, so no cap
is a flip cap: caps lift off (prismatic along y). The library's class names end in lower case
(``Cylindrical_body``) and are kept as they are.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right. As in the library, the
body's first section (or the cuboid, or the tube) is centred on the origin, a pump's origin is the
centre of its bottom face and a cap is centred on its origin; the pump's spout points to +z.

``all_sizes`` of Cylindrical_body holds 3 + 2 (num_of_part - 1) values: a packed parameter with a
head of 3 (section 1) and one item of 2 per further section, so validation ties its length to
``num_of_part``.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, count, length,
                   packed, ratio, template)
from .dispenser import STROKE, spout_mesh

SECTIONS = 4

# --- bodies -----------------------------------------------------------------------------------


def _squash(mesh: g.Mesh, ratio: float) -> g.Mesh:
    """Scale z by ``ratio`` (> 0): circular sections become ellipses, winding is kept."""
    return mesh[0] * np.array([1.0, 1.0, ratio]), mesh[1]


def _sections(p) -> tuple[list[float], list[float]]:
    """Radii (section 1 bottom, then each section's top) and heights of a Cylindrical_body."""
    sizes = p["all_sizes"]
    radii = [sizes[2], sizes[0]] + list(sizes[3::2])
    heights = [sizes[1]] + list(sizes[4::2])
    return radii, heights


def _cylindrical_body(p) -> list[Part]:
    radii, heights = _sections(p)
    y = np.concatenate([[0.0], np.cumsum(heights)]) - heights[0] / 2
    r = np.concatenate([[0.0], radii, [0.0]])
    h = np.concatenate([[y[0]], y, [y[-1]]])
    return [Part("body", *_squash(g.lathe(r, h), p["x_z_ratio"][0]))]


CYLINDRICAL_BODY = template(
    "Cylindrical_body", "body",
    "Solid bottle of stacked elliptic frustums, section 1 centred on the origin and each section "
    "above starting at the previous section's top radius.",
    [count("num_of_part", 1, SECTIONS, "number of stacked sections"),
     packed("all_sizes", "num_of_part", range(1, SECTIONS + 1), [(0.004, 0.06), (0.002, 0.2)],
            "m", "flat list of 3 + 2 (num_of_part - 1) values: section 1 top radius, height, bottom "
            "radius, then top radius and height of each further section (its bottom radius is "
            "the previous section's top radius); x radii, z radii are x_z_ratio times these",
            head=[(0.006, 0.06), (0.005, 0.3), (0.006, 0.06)], items_offset=1),
     ratio("x_z_ratio", 1, 0.3, 1.7, "z radius over x radius of every section")],
    _cylindrical_body)


def _cuboidal_body(p) -> list[Part]:
    return [Part("body", *g.box(p["size"]))]


CUBOIDAL_BODY = template(
    "Cuboidal_body", "body", "Box-shaped bottle centred on the origin.",
    [length("size", 3, (0.03, 0.05, 0.015), (0.12, 0.3, 0.1), "width (x), height (y), depth (z)")],
    _cuboidal_body)

#: Half thickness (x) of a toothpaste tube's crimped seam.
SEAM = 0.0015


def _toothpaste_body(p) -> list[Part]:
    radius, seam, height = p["radius"][0], p["bottom_length"][0] / 2, p["height"][0]
    # A loft from a flat seam (x half-thickness SEAM, z half-width seam) at the bottom to a circle
    # at the top: a unit cylinder whose rings are scaled per height.
    vertices, faces = g.lathe([0.0, 1.0, 1.0, 0.0], [-height / 2, -height / 2, height / 2,
                                                     height / 2])
    top = vertices[:, 1] > 0.0
    vertices = vertices * np.stack([np.where(top, radius, SEAM), np.ones(len(vertices)),
                                    np.where(top, radius, seam)], axis=1)
    return [Part("body", vertices, faces)]


TOOTHPASTE_BODY = template(
    "Toothpaste_body", "body",
    "Squeeze tube centred on the origin: round at the top, flattened to a crimped seam along z at "
    "the bottom.",
    [length("radius", 1, 0.008, 0.03, "radius of the round top end"),
     length("bottom_length", 1, 0.02, 0.1, "width (z) of the flat seam at the bottom"),
     length("height", 1, 0.05, 0.25, "length of the tube (y)")],
    _toothpaste_body)

# --- pump -------------------------------------------------------------------------------------


def _pump_parts(p) -> tuple[np.ndarray, np.ndarray, int]:
    """Radii and heights of the stacked cylinders, and the index of the first moving one: the
    stem and the head (the last two) move, the collar rings below them stay."""
    sizes = np.asarray(p["parts_params"]).reshape(-1, 2)
    return sizes[:, 0], sizes[:, 1], max(1, len(sizes) - 2)


def _regular_nozzle(p) -> list[Part]:
    radii, heights, first = _pump_parts(p)
    y = np.concatenate([[0.0], np.cumsum(heights)])
    stack = [g.cylinder(r, r, h, y0) for r, h, y0 in zip(radii, heights, y[:-1])]
    width, thickness = p["nozzle_size"]
    tilts = p["nozzle_rotation"]
    segments = len(p["nozzle_length"])
    root = np.array([0.0, y[-1] + p["nozzle_offset"][0], radii[-1]])
    spout = spout_mesh(root, list(p["nozzle_length"]), [tilts[0], tilts[1]][:segments], width,
                       thickness, 0.5 * radii[-1])
    spout = g.place(spout, rotation=(0.0, tilts[2], 0.0))
    return [Part("collar", *g.concat(stack[:first])),
            Part("head", *g.concat([*stack[first:], spout]))]


def _pump_base(p) -> np.ndarray:
    """Bottom centre of the moving stem, on top of the collar rings."""
    _, heights, first = _pump_parts(p)
    return np.array([0.0, float(np.sum(heights[:first])), 0.0])


def _pump_stroke(p, k) -> tuple[float, float]:
    _, heights, first = _pump_parts(p)
    return 0.0, float(np.clip(0.9 * heights[first], 0.002, STROKE))


REGULAR_NOZZLE = template(
    "Regular_nozzle", "nozzle",
    "Pump: stacked cylinders from the bottom face up (collar rings, stem, head) with a cuboid "
    "spout towards +z.",
    [count("num_of_part", 2, 5, "number of stacked cylinders"),
     count("num_of_nozzle", 1, 2, "number of chained spout segments"),
     length("nozzle_size", 2, (0.002, 0.002), (0.02, 0.02),
            "spout cross-section: width (x), thickness"),
     packed("nozzle_length", "num_of_nozzle", range(1, 3), [(0.003, 0.08)], "m",
            "length of each spout segment (one per segment)"),
     length("nozzle_offset", 1, -0.05, 0.01,
            "height of the spout's axis relative to the top of the stack"),
     angle("nozzle_rotation", 3, (-30.0, -30.0, -180.0), (45.0, 75.0, 180.0),
           "downward tilt of spout segment 1, of segment 2 (unused with one segment), turn of "
           "the spout about y"),
     packed("parts_params", "num_of_part", range(2, 6), [(0.002, 0.035), (0.002, 0.06)], "m",
            "flat list, per stacked cylinder from the bottom: radius, height")],
    _regular_nozzle,
    joints=(Joint("head", "prismatic", (0.0, -1.0, 0.0),
                  lambda p, k: _pump_base(p),
                  _pump_stroke,
                  doc="The stem and head (the last two cylinders with the spout) are pressed "
                      "down, up to 1.5 cm."),))

# --- cap --------------------------------------------------------------------------------------


def _cylindrical_cap(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    bottom, ceiling = -height / 2, -height / 2 + depth
    # The cavity wall runs from i_bottom at the rim towards i_top at the cap's top; it ends at
    # the ceiling, depth above the rim.
    i_ceiling = i_bottom + (i_top - i_bottom) * depth / height
    cap = g.lathe([0.0, i_ceiling, i_bottom, r_bottom, r_top, 0.0],
                  [ceiling, ceiling, bottom, bottom, -bottom, -bottom])
    return [Part("cap", *_squash(cap, p["x_z_ratio"][0]))]


CYLINDRICAL_CAP = template(
    "Cylindrical_cap", "cap",
    "Screw cap centred on its origin: an elliptic frustum with a cavity from below; it lifts "
    "straight off (prismatic y).",
    [length("outer_size", 3, (0.004, 0.004, 0.004), (0.05, 0.05, 0.05),
            "outer radius at the top, outer radius at the bottom, height"),
     length("inner_size", 3, (0.002, 0.002, 0.001), (0.048, 0.048, 0.048),
            "cavity radius towards the top, cavity radius at the rim, cavity depth"),
     ratio("x_z_ratio", 1, 0.3, 1.7, "z radius over x radius")],
    _cylindrical_cap,
    joints=(Joint("cap", "prismatic", (0.0, 1.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (0.0, 0.08), doc="Lifts off the bottle by up to 8 cm."),),
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.001),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.001),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.001)))

# --- category ---------------------------------------------------------------------------------


def _shape_cylindrical(body: SampledInstance, rng: np.random.Generator, total: float
                       ) -> tuple[float, float, float, float]:
    """Shape a Cylindrical_body ``total`` tall; return (top y, mouth x radius, neck height or 0
    for a flat top, x_z_ratio)."""
    roll = rng.random()
    ratio = rng.uniform(0.5, 0.8) if roll < 0.5 else (1.0 if roll < 0.9 else
                                                      rng.uniform(1.1, 1.4))
    # Oval bottles end in a flat oval top under a matching cap; round ones often in a neck.
    n = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.65, 0.1, 0.1] if ratio < 0.9 else
                       [0.1, 0.3, 0.3, 0.3]))
    radius = float(np.clip(total / rng.uniform(4.0, 7.0), 0.022, 0.042))
    if n == 1:
        sizes = [radius, total, radius * rng.uniform(0.85, 1.0)]
    elif n == 2:  # body and a shoulder up to a flat top
        shoulder = total * rng.uniform(0.04, 0.12)
        sizes = [radius, total - shoulder, radius * rng.uniform(0.88, 1.0),
                 radius * rng.uniform(0.55, 0.85), shoulder]
    else:
        neck, neck_h = rng.uniform(0.009, 0.014), rng.uniform(0.012, 0.022)
        shoulder = total * rng.uniform(0.08, 0.16)
        if n == 3:  # body, shoulder, neck
            sizes = [radius, total - shoulder - neck_h, radius * rng.uniform(0.9, 1.0),
                     neck, shoulder, neck, neck_h]
        else:  # rounded foot, body, shoulder, neck
            foot = total * rng.uniform(0.03, 0.06)
            sizes = [radius, foot, radius * rng.uniform(0.85, 0.94),
                     radius * rng.uniform(0.97, 1.03), total - foot - shoulder - neck_h,
                     neck, shoulder, neck, neck_h]
    body.set("num_of_part", [n])
    body.set("all_sizes", sizes)
    ratio = float(body.set("x_z_ratio", [ratio])[0])
    radii, heights = _sections(body.params)
    top = float(sum(heights) - heights[0] / 2)
    return top, float(radii[-1]), float(heights[-1]) if n >= 3 else 0.0, ratio


def _shape_cap(cap: SampledInstance, rng: np.random.Generator, top: float, mouth: float,
               neck_h: float, ratio: float) -> None:
    """A cap screwed over the neck (``neck_h`` > 0) or sitting on a flat top of radius
    ``mouth``."""
    if neck_h > 0:
        hole = mouth * rng.uniform(1.0, 1.02)
        outer = max(hole * rng.uniform(1.15, 1.45), hole + 0.002)
        depth = neck_h * rng.uniform(0.6, 0.95)
        height = depth + rng.uniform(0.003, 0.008)
        cap.set("outer_size", [outer * rng.uniform(0.94, 1.0), outer, height])
        cap.set("inner_size", [hole, hole, depth])
        y = top - depth + height / 2
    else:
        outer = mouth * (rng.uniform(0.88, 1.0) if rng.random() < 0.6 else rng.uniform(0.4, 0.7))
        outer = max(outer, 0.008)
        height = rng.uniform(0.012, 0.03) if outer > 0.015 else rng.uniform(0.01, 0.02)
        outer_top = outer * rng.uniform(0.92, 1.0)
        cap.set("outer_size", [outer_top, outer, height])
        cap.set("inner_size", [outer_top * rng.uniform(0.6, 0.8), outer * rng.uniform(0.6, 0.8),
                               height * rng.uniform(0.5, 0.8)])
        y = top + height / 2 - 0.0005
    cap.set("x_z_ratio", [ratio])
    cap.set("position", [0.0, y, 0.0])


def _shape_pump(pump: SampledInstance, rng: np.random.Generator, collar: float,
                body_height: float) -> None:
    """Collar (and rings), a stem and a head with a one- or two-segment spout."""
    n = int(rng.choice([3, 4, 5], p=[0.5, 0.3, 0.2]))
    parts = [(collar, rng.uniform(0.01, 0.016))]
    for _ in range(n - 3):
        parts.append((parts[-1][0] * rng.uniform(0.8, 0.95), rng.uniform(0.003, 0.006)))
    stem_h = float(np.clip(body_height / 6 * rng.uniform(0.7, 1.3), 0.008, 0.04))
    parts.append((rng.uniform(0.0035, 0.0055), stem_h))
    head_r = collar * rng.uniform(0.8, 1.0)
    head_h = float(np.clip(head_r * rng.uniform(0.6, 1.2), 0.008, 0.022))
    parts.append((head_r, head_h))
    pump.set("num_of_part", [n])
    pump.set("parts_params", np.ravel(parts))
    segments = int(rng.integers(1, 3))
    thickness = min(rng.uniform(0.5, 0.7) * head_h, rng.uniform(0.005, 0.008))
    pump.set("num_of_nozzle", [segments])
    pump.set("nozzle_size", [rng.uniform(0.006, 0.01), thickness])
    lengths = [float(np.clip(stem_h * rng.uniform(0.8, 1.2), 0.015, 0.04)),
               rng.uniform(0.006, 0.012)]
    pump.set("nozzle_length", lengths[:segments])
    pump.set("nozzle_rotation", [rng.uniform(-6.0, 6.0), rng.uniform(25.0, 65.0), 0.0])
    drop = max(thickness / 2, rng.uniform(0.3, 0.5) * head_h)
    pump.set("nozzle_offset", [-min(drop, head_h - thickness / 2)])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body, closure = parts["body"][0], parts["cap"][0]
    pump = closure.template is REGULAR_NOZZLE
    # Bottles are 15–30 cm tall with the cap or pump; a pump adds about 5 cm, a cap 1–3 cm.
    total = rng.uniform(0.11, 0.23) if pump else rng.uniform(0.14, 0.26)
    if body.template is CYLINDRICAL_BODY:
        top, mouth, neck_h, ratio = _shape_cylindrical(body, rng, total)
        if pump:  # a collar over the neck, or a round one inside the flat oval top
            collar = mouth * max(1.0, ratio) * rng.uniform(1.12, 1.3) if neck_h > 0 else \
                min(mouth * min(1.0, ratio) * rng.uniform(0.6, 0.85), rng.uniform(0.013, 0.02))
    elif body.template is CUBOIDAL_BODY:
        x = rng.uniform(0.05, 0.09)
        x, height, z = body.set("size", [x, total, x * rng.uniform(0.4, 0.7)])
        top, neck_h, ratio = height / 2, 0.0, 1.0
        mouth = min(rng.uniform(0.012, 0.02), 0.45 * min(x, z))
        collar = mouth
    else:  # toothpaste tube standing on its seam, the round end up
        radius = body.set("radius", [rng.uniform(0.012, 0.02)])[0]
        body.set("bottom_length", [np.pi * radius * rng.uniform(0.9, 1.05)])
        height = body.set("height", [total * rng.uniform(0.7, 0.9)])[0]
        top, neck_h, ratio = height / 2, 0.0, 1.0
        mouth = radius
        collar = radius * rng.uniform(0.8, 1.0)
    if pump:
        _shape_pump(closure, rng, collar, total)
        sink = min(0.7 * neck_h, 0.6 * closure["parts_params"][1]) if neck_h > 0 else 0.0005
        closure.set("position", [0.0, top - sink, 0.0])
    else:
        _shape_cap(closure, rng, top, mouth, neck_h, ratio)


CATEGORY = Category(
    "Shampoo",
    "A shampoo, lotion or toothpaste container: a bottle or tube body closed by a cap that lifts "
    "off or a pump whose head presses down.",
    (Slot("body", (CYLINDRICAL_BODY, CUBOIDAL_BODY, TOOTHPASTE_BODY)),
     Slot("cap", (CYLINDRICAL_CAP, REGULAR_NOZZLE))),
    _assemble)
