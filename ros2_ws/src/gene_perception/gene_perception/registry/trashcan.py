"""Trashcan: a round or box-shaped open bin (25–80 cm tall), optionally inside a casing (shell),
closed by a cover — a swinging disc, a hinged lid, a ring or frame with an opening, or a hood
with windows — and, for tall box-shaped bins, a pair of wheels at the back. All templates of the
Standard Concept Template Library's Trashcan are declared; none is left out (the library defines
Standard_Wheel without sampling it; here it rolls tall wheelie bins). The assembler keeps the
shell and cover templates matching the body's shape (round or box), as the library's "cylindrical"
and "cuboidal" types do. Hinged lids turn about their back bottom edge, the swinging disc about
its own diameter; rings, frames and hoods are fixed.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right; the body is centred on
the origin.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .box import open_box, rect_loft, rect_ring
from .core import (Category, ConceptTemplate, Constraint, Joint, Param, Part, SampledInstance,
                   Slot, angle, count, length, template)
from .mug import vessel_bodies

# --- bodies -----------------------------------------------------------------------------------

CYLINDRICAL_BODY, _ = vessel_bodies((0.08, 0.06, 0.25), (0.32, 0.32, 0.8),
                                    (0.07, 0.05, 0.2), (0.318, 0.318, 0.796),
                                    wall=0.002, floor=0.004)


def _separated_cylindrical_body(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    board_x, board_y, board_z = p["clapboard_size"]
    floor = height / 2 - depth
    return [Part("body", *g.concat([
        g.cup(r_bottom, r_top, height, i_bottom, i_top, depth, -height / 2),
        g.box((board_x, board_y, board_z), (0.0, floor + board_y / 2, 0.0))]))]


SEPARATED_CYLINDRICAL_BODY = template(
    "Separated_Cylindrical_Body", "body",
    "Round open bin whose cavity is split in two by an upright divider plate across x.",
    [length("outer_size", 3, (0.08, 0.06, 0.25), (0.32, 0.32, 0.8),
            "outer radius at the top, outer radius at the bottom, total height"),
     length("inner_size", 3, (0.07, 0.05, 0.2), (0.318, 0.318, 0.796),
            "cavity radius at the top, cavity radius at the floor, cavity depth"),
     length("clapboard_size", 3, (0.05, 0.05, 0.002), (0.64, 0.8, 0.02),
            "divider plate width (x, across the cavity), height above the floor, thickness (z)")],
    _separated_cylindrical_body,
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.002),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.002),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.004),
                 Constraint(("clapboard_size", 0), ("inner_size", 1), factor=2.0),
                 Constraint(("clapboard_size", 1), ("inner_size", 2))))


def _prismatic_body(p) -> list[Part]:
    wall_x, wall_z, floor = p["thickness"]
    front, back = p["height"]
    return [Part("body", *open_box(p["top_size"], p["bottom_size"], front, back,
                                   p["top_offset"], (wall_x, wall_z), floor))]


PRISMATIC_BODY = template(
    "Prismatic_Body", "body",
    "Open-topped tapered rectangular bin with a solid floor, centred on the origin.",
    [length("top_size", 2, 0.15, (0.65, 0.8), "outer width (x), outer depth (z) at the rim"),
     length("bottom_size", 2, 0.1, (0.65, 0.8), "outer width (x), outer depth (z) at the base"),
     length("height", 2, 0.25, 0.8, "height at the front, at the back (a sloped rim if unequal)"),
     length("top_offset", 2, -0.1, 0.1, "shift of the rim against the base in x, in z"),
     length("thickness", 3, (0.002, 0.002, 0.003), (0.03, 0.03, 0.05),
            "side wall thickness (x), front/back wall thickness (z), floor thickness (y)")],
    _prismatic_body,
    constraints=(Constraint(("thickness", 0), ("top_size", 0), factor=0.25),
                 Constraint(("thickness", 1), ("top_size", 1), factor=0.25),
                 Constraint(("thickness", 2), ("height", 0), factor=0.5),
                 Constraint(("thickness", 2), ("height", 1), factor=0.5)))

# --- shells -----------------------------------------------------------------------------------


def _cylindrical_shell(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom = p["inner_size"]
    return [Part("shell", *g.tube(r_bottom, r_top, i_bottom, i_top, height, -height / 2))]


CYLINDRICAL_SHELL = template(
    "Cylindrical_Shell", "shell", "Open round casing (a tube) around the bin, centred.",
    [length("outer_size", 3, (0.09, 0.07, 0.2), (0.36, 0.36, 0.8),
            "outer radius at the top, outer radius at the bottom, height"),
     length("inner_size", 2, (0.085, 0.065), (0.355, 0.355),
            "inner radius at the top, inner radius at the bottom")],
    _cylindrical_shell,
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.001),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.001)))


def _cuboidal_shell(p) -> list[Part]:
    out_x, height, out_z = p["outer_size"]
    in_x, in_z = p["inner_size"]
    y0, y1 = -height / 2, height / 2
    rings = [rect_ring((0.0, 0.0), (in_x, in_z), y0), rect_ring((0.0, 0.0), (out_x, out_z), y0),
             rect_ring((0.0, 0.0), (out_x, out_z), y1), rect_ring((0.0, 0.0), (in_x, in_z), y1)]
    return [Part("shell", *rect_loft(rings))]


CUBOIDAL_SHELL = template(
    "Cuboidal_Shell", "shell", "Open rectangular sleeve around the bin, centred.",
    [length("outer_size", 3, (0.12, 0.2, 0.12), (0.75, 0.8, 0.85),
            "outer width (x), height (y), outer depth (z)"),
     length("inner_size", 2, (0.1, 0.1), (0.74, 0.84), "inner width (x), inner depth (z)")],
    _cuboidal_shell,
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.002),
                 Constraint(("inner_size", 1), ("outer_size", 2), margin=0.002)))

# --- covers -----------------------------------------------------------------------------------

#: A hinged lid is built closed from its back bottom edge (the x axis) towards +z and swings up.
HINGED = Joint("lid", "revolute", (-1.0, 0.0, 0.0), lambda p, k: np.zeros(3),
               lambda p, k: (0.0, 110.0),
               doc="Swings up about its back bottom edge (the template's x axis), closed at 0°.")


def _cylindrical_cover(p) -> list[Part]:
    radius, thickness = p["size"]
    return [Part("lid", *g.cylinder(radius, radius, thickness, -thickness / 2))]


CYLINDRICAL_COVER = template(
    "Cylindrical_Cover", "cover",
    "Swing lid: a disc in the rim that tips either way about its own diameter along x.",
    [length("size", 2, (0.06, 0.003), (0.34, 0.04), "radius, thickness")],
    _cylindrical_cover,
    joints=(Joint("lid", "revolute", (1.0, 0.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (-45.0, 45.0),
                  doc="Tips about the x axis through its centre, level at 0°."),))


def _cuboidal_cover(p) -> list[Part]:
    bottom_x, bottom_z = p["bottom_size"]
    front, back = p["height"]
    off_x, off_z = p["top_offset"]
    rings = [rect_ring((0.0, bottom_z / 2), (bottom_x, bottom_z), 0.0),
             rect_ring((off_x, bottom_z / 2 + off_z), p["top_size"], (front, back))]
    return [Part("lid", *rect_loft(rings, (np.array([0.0, 0.0, bottom_z / 2]),
                                           np.array([off_x, (front + back) / 2,
                                                     bottom_z / 2 + off_z]))))]


CUBOIDAL_COVER = template(
    "Cuboidal_Cover", "cover",
    "Hinged lid: a tapered (or wedge) block whose back bottom edge is the hinge on the x axis.",
    [length("top_size", 2, 0.1, (0.75, 0.85), "top face width (x), depth (z)"),
     length("bottom_size", 2, 0.1, (0.75, 0.85), "bottom face width (x), depth (z)"),
     length("height", 2, 0.005, 0.15, "thickness at the front, at the back (a wedge if unequal)"),
     length("top_offset", 2, -0.1, 0.1, "shift of the top face against the bottom in x, in z")],
    _cuboidal_cover, joints=(HINGED,))


def _double_layer_cuboidal_cover(p) -> list[Part]:
    top_x, top_y, top_z = p["top_size"]
    bottom_x, bottom_y, bottom_z = p["bottom_size"]
    off_x, off_z = p["top_offset"]
    return [Part("lid", *g.concat([
        g.box((bottom_x, bottom_y, bottom_z), (0.0, bottom_y / 2, bottom_z / 2)),
        g.box((top_x, top_y, top_z), (off_x, bottom_y + top_y / 2, bottom_z / 2 + off_z))]))]


DOUBLE_LAYER_CUBOIDAL_COVER = template(
    "Double_Layer_Cuboidal_Cover", "cover",
    "Hinged lid: a plate with a smaller raised block on top, hinged along the plate's back edge.",
    [length("top_size", 3, (0.05, 0.005, 0.05), (0.75, 0.1, 0.85),
            "raised block width (x), height (y), depth (z)"),
     length("bottom_size", 3, (0.1, 0.005, 0.1), (0.75, 0.06, 0.85),
            "plate width (x), thickness (y), depth (z)"),
     length("top_offset", 2, -0.15, 0.15, "shift of the block against the plate's centre in x, z")],
    _double_layer_cuboidal_cover, joints=(HINGED,))


def _cylindrical_hollow_cover(p) -> list[Part]:
    outer, inner, height = p["size"]
    return [Part("cover", *g.tube(outer, outer, inner, inner, height))]


CYLINDRICAL_HOLLOW_COVER = template(
    "Cylindrical_Hollow_Cover", "cover",
    "Fixed flat ring on the rim with a round opening, its underside at the origin.",
    [length("size", 3, (0.08, 0.02, 0.005), (0.36, 0.34, 0.08),
            "outer radius, opening radius, thickness")],
    _cylindrical_hollow_cover,
    constraints=(Constraint(("size", 1), ("size", 0), margin=0.005),))


def _cuboidal_hollow_cover(p) -> list[Part]:
    out_x, out_y, out_z = p["outer_size"]
    # The opening is kept 2 mm inside the plate's edge.
    hole = np.minimum(p["inner_size"], np.array([out_x, out_z]) - 0.004)
    center = np.clip(p["inner_offset"], -(np.array([out_x, out_z]) - hole) / 2 + 0.002,
                     (np.array([out_x, out_z]) - hole) / 2 - 0.002)
    (x0, z0), (x1, z1) = center - hole / 2, center + hole / 2
    strips = [((out_x, z0 + out_z / 2), (0.0, (z0 - out_z / 2) / 2)),
              ((out_x, out_z / 2 - z1), (0.0, (z1 + out_z / 2) / 2)),
              ((x0 + out_x / 2, z1 - z0), ((x0 - out_x / 2) / 2, (z0 + z1) / 2)),
              ((out_x / 2 - x1, z1 - z0), ((x1 + out_x / 2) / 2, (z0 + z1) / 2))]
    return [Part("cover", *g.concat([g.box((sx, out_y, sz), (cx, out_y / 2, cz))
                                     for (sx, sz), (cx, cz) in strips]))]


CUBOIDAL_HOLLOW_COVER = template(
    "Cuboidal_Hollow_Cover", "cover",
    "Fixed rectangular frame plate on the rim with a rectangular opening, underside at origin.",
    [length("outer_size", 3, (0.1, 0.005, 0.1), (0.75, 0.08, 0.85),
            "plate width (x), thickness (y), depth (z)"),
     length("inner_size", 2, 0.03, (0.7, 0.8), "opening width (x), depth (z)"),
     length("inner_offset", 2, -0.2, 0.2, "shift of the opening from the plate's centre in x, z")],
    _cuboidal_hollow_cover,
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.01),
                 Constraint(("inner_size", 1), ("outer_size", 2), margin=0.01)))


def _sector(r_out: float, r_in: float, y0: float, y1: float, center_deg: float,
            span_deg: float) -> g.Mesh:
    """Annular sector prism (a curved wall piece) about the y axis; angles run from +z to +x."""
    a = np.radians(center_deg + np.linspace(-span_deg / 2, span_deg / 2,
                                            max(2, int(span_deg / 8) + 2)))
    s, c = np.sin(a)[:, None], np.cos(a)[:, None]
    r = np.array([r_in, r_out, r_out, r_in])
    y = np.array([y0, y0, y1, y1])
    rings = np.stack([r * s, np.broadcast_to(y, (len(a), 4)), r * c], axis=-1)
    mid = rings.mean(axis=1)
    # Walked from the last angle back to the first, the sections keep the outside on the right.
    return rect_loft(list(rings[::-1]), (mid[-1], mid[0]))


def _holed_cylindrical_cover(p) -> list[Part]:
    outer, inner = p["radius"]
    cap, band, windows = p["height"]
    n = int(p["num_sides"][0])
    # Bottom up: num_sides wall pieces with openings between them, a closed band, a top disc.
    span = min(p["exist_angle"][0], 360.0 / n - 1.0)
    pieces = [_sector(outer, inner, 0.0, windows, 360.0 * (k + 0.5) / n, span) for k in range(n)]
    pieces.append(g.tube(outer, outer, inner, inner, band, windows))
    pieces.append(g.cylinder(outer, outer, cap - band, windows + band))
    return [Part("cover", *g.concat(pieces))]


HOLED_CYLINDRICAL_COVER = template(
    "Holed_Cylindrical_Cover", "cover",
    "Fixed round hood on the rim: a flat-topped drum with openings round its lower band.",
    [length("radius", 2, (0.08, 0.07), (0.36, 0.358), "outer radius, inner radius"),
     length("height", 3, (0.01, 0.003, 0.02), (0.3, 0.2, 0.3),
            "height of the top section (closed band and top disc), of its closed band, of the "
            "lower band with the openings"),
     angle("exist_angle", 1, 5.0, 350.0, "angle each wall piece of the lower band spans"),
     count("num_sides", 1, 4, "number of wall pieces (and openings) in the lower band")],
    _holed_cylindrical_cover,
    constraints=(Constraint(("radius", 1), ("radius", 0), margin=0.002),
                 Constraint(("height", 1), ("height", 0), margin=0.003)))


def _windowed_wall(span: float, height: float, thick: float, hole, open_: bool) -> list[g.Mesh]:
    """Wall along x from -span/2 to span/2, y from 0 to height, centred on z = 0; with a
    centred window of ``hole`` (width, height) kept 2 mm inside the wall's edges."""
    if not open_:
        return [g.box((span, height, thick), (0.0, height / 2, 0.0))]
    w, h = min(hole[0], span - 0.004), min(hole[1], height - 0.004)
    side, sill = (span - w) / 2, (height - h) / 2
    return [g.box((side, height, thick), (-(span + w) / 4, height / 2, 0.0)),
            g.box((side, height, thick), ((span + w) / 4, height / 2, 0.0)),
            g.box((w, sill, thick), (0.0, sill / 2, 0.0)),
            g.box((w, sill, thick), (0.0, height - sill / 2, 0.0))]


def _holed_cuboidal_cover(p) -> list[Part]:
    out_x, out_y, out_z = p["outer_size"]
    in_x, in_y, in_z = p["inner_size"]
    has = p["has_hole"] > 0.5
    fb, lr = p["front_behind_hole_size"], p["left_right_hole_size"]
    wall_z, wall_x = (out_z - in_z) / 2, (out_x - in_x) / 2
    pieces = [g.box((out_x, out_y - in_y, out_z), (0.0, (out_y + in_y) / 2, 0.0))]
    for k, (z, rot) in enumerate((((out_z - wall_z) / 2, 0.0), ((wall_z - out_z) / 2, 180.0))):
        pieces += [g.place(m, (0.0, 0.0, z), (0.0, rot, 0.0))
                   for m in _windowed_wall(out_x, in_y, wall_z, fb, has[k])]
    for k, x in ((2, (wall_x - out_x) / 2), (3, (out_x - wall_x) / 2)):
        pieces += [g.place(m, (x, 0.0, 0.0), (0.0, 90.0, 0.0))
                   for m in _windowed_wall(in_z, in_y, wall_x, lr, has[k])]
    return [Part("cover", *g.concat(pieces))]


HOLED_CUBOIDAL_COVER = template(
    "Holed_Cuboidal_Cover", "cover",
    "Fixed box hood on the rim: a top slab on four walls, each with an optional window.",
    [length("outer_size", 3, (0.1, 0.03, 0.1), (0.75, 0.4, 0.85),
            "outer width (x), height (y), depth (z)"),
     length("inner_size", 3, (0.08, 0.02, 0.08), (0.74, 0.39, 0.84),
            "hollow width (x), height under the top slab (y), depth (z)"),
     length("front_behind_hole_size", 2, 0.01, (0.7, 0.35),
            "window in the front and behind walls: width (x), height (y)"),
     length("left_right_hole_size", 2, 0.01, (0.8, 0.35),
            "window in the left and right walls: width (z), height (y)"),
     Param("has_hole", (4,), "bool", (0.0,) * 4, (1.0,) * 4,
           "whether the front, behind, left, right wall has its window (0 or 1)",
           discrete=True)],
    _holed_cuboidal_cover,
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.004),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.003),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.004)))

# --- wheels -----------------------------------------------------------------------------------


def _standard_wheel(p) -> list[Part]:
    radius, width = p["size"]
    sep = p["seperation"][0]
    wheel = g.cylinder(radius, radius, width, -width / 2)
    return [Part("wheels", *g.concat([g.place(wheel, (x, 0.0, 0.0), (0.0, 0.0, 90.0))
                                      for x in (-sep, sep)]))]


STANDARD_WHEEL = template(
    "Standard_Wheel", "wheel", "Pair of wheels on a common axle along x, centred on the origin.",
    [length("size", 2, (0.03, 0.015), (0.15, 0.08), "radius, width"),
     length("seperation", 1, 0.05, 0.45, "x distance of each wheel's centre from the middle")],
    _standard_wheel)

# --- category ---------------------------------------------------------------------------------

ROUND = (CYLINDRICAL_BODY, SEPARATED_CYLINDRICAL_BODY)
ROUND_COVERS = (CYLINDRICAL_COVER, CYLINDRICAL_HOLLOW_COVER, HOLED_CYLINDRICAL_COVER)
BOX_COVERS = (CUBOIDAL_COVER, DOUBLE_LAYER_CUBOIDAL_COVER, CUBOIDAL_HOLLOW_COVER,
              HOLED_CUBOIDAL_COVER)
HOODS = (HOLED_CYLINDRICAL_COVER, HOLED_CUBOIDAL_COVER)


def _match(parts: dict[str, list[SampledInstance]], slot: str,
           allowed: tuple[ConceptTemplate, ...], rng: np.random.Generator) -> None:
    """Redraw a slot's instances from ``allowed`` if their template does not fit the body."""
    if parts[slot] and parts[slot][0].template not in allowed:
        spec = allowed[int(rng.integers(len(allowed)))]
        parts[slot] = [SampledInstance.draw(spec, rng) for _ in parts[slot]]


def _shape_round(body: SampledInstance, height: float, rng: np.random.Generator
                 ) -> tuple[float, float, float]:
    """Size a round bin; returns (outer top radius, cavity top radius, cavity depth)."""
    r_top = float(np.clip(height * rng.uniform(0.3, 0.55), 0.1, 0.3))
    wall, floor = rng.uniform(0.002, 0.008), rng.uniform(0.005, 0.02)
    outer = body.set("outer_size", [r_top, r_top * rng.uniform(0.75, 1.0), height])
    inner = body.set("inner_size", [outer[0] - wall, outer[1] - wall, outer[2] - floor])
    if body.template is SEPARATED_CYLINDRICAL_BODY:
        body.set("clapboard_size", [2 * min(inner[0], inner[1]) - 0.002,
                                    inner[2] * rng.uniform(0.5, 0.95),
                                    rng.uniform(0.003, 0.01)])
    return outer[0], inner[0], inner[2]


def _shape_box(body: SampledInstance, height: float, rng: np.random.Generator) -> None:
    width = float(np.clip(height * rng.uniform(0.45, 0.9), 0.18, 0.6))
    top = body.set("top_size", [width, width * rng.uniform(0.8, 1.3)])
    bottom = body.set("bottom_size", top * rng.uniform(0.75, 1.0, 2))
    h = body.set("height", [height, height])[0]
    body.set("top_offset", (top - bottom) / 2 * rng.uniform(-0.5, 0.5, 2))
    wall = rng.uniform(0.002, 0.01)
    body.set("thickness", [wall, wall, min(rng.uniform(0.005, 0.02), 0.3 * h)])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    round_ = body.template in ROUND
    _match(parts, "cover", ROUND_COVERS if round_ else BOX_COVERS, rng)
    _match(parts, "shell", (CYLINDRICAL_SHELL,) if round_ else (CUBOIDAL_SHELL,), rng)
    cover = parts["cover"][0]
    total = rng.uniform(0.25, 0.8)
    hood = total * rng.uniform(0.15, 0.3) if cover.template in HOODS else 0.0
    height = max(total - hood, 0.25)
    if round_:
        r_top, r_cavity, _ = _shape_round(body, height, rng)
        _, r_bottom, height = body["outer_size"]
        radius = r_top
        for shell in parts["shell"]:
            gap, wall = rng.uniform(0.003, 0.015), rng.uniform(0.001, 0.004)
            inner = [r_top + gap, rng.uniform(r_bottom, r_top) + gap]
            shell_h = height - rng.uniform(0.0, 0.01)  # up to just under the rim
            shell.set("outer_size", [inner[0] + wall, inner[1] + wall, shell_h])
            shell.set("inner_size", inner)
            shell.set("position", [0.0, (shell_h - height) / 2, 0.0])
            radius = max(radius, shell["outer_size"][0])
        _round_cover(cover, height, radius, r_cavity, hood, rng)
        parts["wheel"].clear()
        return
    _shape_box(body, height, rng)
    top, bottom, offset = body["top_size"], body["bottom_size"], body["top_offset"]
    height = body["height"][0]
    # The footprint a cover must close: the rim, widened to the shell if there is one.
    low, high = offset - top / 2, offset + top / 2
    for shell in parts["shell"]:
        gap, wall = rng.uniform(0.003, 0.015), rng.uniform(0.002, 0.006)
        inner = np.maximum(top + 2 * np.abs(offset), bottom) + gap
        shell_h = height - rng.uniform(0.0, 0.01)  # up to just under the rim
        shell.set("outer_size", [inner[0] + 2 * wall, shell_h, inner[1] + 2 * wall])
        inner = shell.set("inner_size", inner)
        shell.set("position", [0.0, (shell_h - height) / 2, 0.0])
        half = shell["outer_size"][[0, 2]] / 2
        low, high = np.minimum(low, -half), np.maximum(high, half)
    _box_cover(cover, height, (low + high) / 2, high - low,
               top - 2 * body["thickness"][:2], hood, rng)
    for wheel in parts["wheel"]:
        if height < 0.55:  # only tall bins roll
            parts["wheel"].clear()
            break
        radius, width = wheel.set("size", [rng.uniform(0.05, 0.1), rng.uniform(0.03, 0.05)])
        # Just clear of the (tapering) side walls at the wheel's top, at the back of the base.
        reach = bottom[0] + (top[0] - bottom[0]) * 2 * radius / height + 2 * abs(offset[0])
        for shell in parts["shell"]:
            reach = max(reach, shell["outer_size"][0])
        wheel.set("seperation", [reach / 2 + width / 2 + 0.003])
        back = min([-bottom[1] / 2] + [-s["outer_size"][2] / 2 for s in parts["shell"]])
        wheel.set("position", [0.0, -height / 2 + radius, back])


def _round_cover(cover: SampledInstance, height: float, radius: float, cavity: float,
                 hood: float, rng: np.random.Generator) -> None:
    top = height / 2
    if cover.template is CYLINDRICAL_COVER:  # a disc just inside the rim, flush with it
        thick = cover.set("size", [cavity - 0.002, rng.uniform(0.005, 0.02)])[1]
        cover.set("position", [0.0, top - thick / 2, 0.0])
        return
    outer = radius * rng.uniform(1.0, 1.03)
    if cover.template is CYLINDRICAL_HOLLOW_COVER:
        cover.set("size", [outer, cavity * rng.uniform(0.35, 0.8), rng.uniform(0.01, 0.04)])
    else:
        n = int(rng.integers(1, 5))
        cover.set("num_sides", [n])
        cover.set("radius", [outer, outer - rng.uniform(0.002, 0.008)])
        windows = hood * rng.uniform(0.4, 0.7)
        section = cover.set("height", [hood - windows, 0.0, windows])[0]
        cover.set("height", [section, section * rng.uniform(0.3, 0.8), windows])
        cover.set("exist_angle", [360.0 / n * rng.uniform(0.55, 0.85)])
    cover.set("position", [0.0, top, 0.0])


def _box_cover(cover: SampledInstance, height: float, center: np.ndarray, size: np.ndarray,
               opening: np.ndarray, hood: float, rng: np.random.Generator) -> None:
    top = height / 2
    if cover.template in (CUBOIDAL_COVER, DOUBLE_LAYER_CUBOIDAL_COVER):
        size = size * rng.uniform(1.0, 1.04)
        if cover.template is CUBOIDAL_COVER:
            bottom = cover.set("bottom_size", size)
            upper = cover.set("top_size", bottom * rng.uniform(0.85, 1.0, 2))
            front = rng.uniform(0.01, 0.05)
            cover.set("height", [front, front * rng.uniform(1.0, 2.0)])
            cover.set("top_offset", [0.0, (bottom[1] - upper[1]) / 2 * rng.uniform(-0.5, 0.5)])
        else:
            bottom = cover.set("bottom_size", [size[0], rng.uniform(0.008, 0.025), size[1]])
            block = cover.set("top_size", [bottom[0] * rng.uniform(0.5, 0.9),
                                           rng.uniform(0.01, 0.05),
                                           bottom[2] * rng.uniform(0.5, 0.9)])
            room = (bottom[[0, 2]] - block[[0, 2]]) / 2
            cover.set("top_offset", room * rng.uniform(-0.5, 0.5, 2))
            bottom = bottom[[0, 2]]
        cover.set("position", [center[0], top, center[1] - bottom[1] / 2])
        return
    if cover.template is CUBOIDAL_HOLLOW_COVER:
        outer = cover.set("outer_size", [size[0] * rng.uniform(1.0, 1.03),
                                         rng.uniform(0.01, 0.04),
                                         size[1] * rng.uniform(1.0, 1.03)])
        hole = cover.set("inner_size", opening * rng.uniform(0.3, 0.8, 2))
        room = (outer[[0, 2]] - hole) / 2 - 0.01
        cover.set("inner_offset", np.maximum(room, 0.0) * rng.uniform(-0.7, 0.7, 2))
    else:
        wall, slab = rng.uniform(0.003, 0.01), rng.uniform(0.005, 0.03)
        outer = cover.set("outer_size", [size[0], hood, size[1]])
        inner = cover.set("inner_size", [outer[0] - 2 * wall, outer[1] - slab,
                                         outer[2] - 2 * wall])
        has = (rng.random(4) < 0.4).astype(float)
        has[0] = 1.0  # the opening faces the front
        cover.set("has_hole", has)
        cover.set("front_behind_hole_size", [inner[0] * rng.uniform(0.4, 0.85),
                                             inner[1] * rng.uniform(0.3, 0.7)])
        cover.set("left_right_hole_size", [inner[2] * rng.uniform(0.4, 0.85),
                                           inner[1] * rng.uniform(0.3, 0.7)])
    cover.set("position", [center[0], top, center[1]])


CATEGORY = Category(
    "Trashcan",
    "A trash can: round or box-shaped open bin, optional casing, a cover, wheels on tall bins.",
    (Slot("body", (CYLINDRICAL_BODY, SEPARATED_CYLINDRICAL_BODY, PRISMATIC_BODY)),
     Slot("shell", (CYLINDRICAL_SHELL, CUBOIDAL_SHELL), min_count=0),
     Slot("cover", (*ROUND_COVERS, *BOX_COVERS)),
     Slot("wheel", (STANDARD_WHEEL,), min_count=0)),
    _assemble, removal_rate=0.5)
