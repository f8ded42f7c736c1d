"""Knife: a handle (the root), a blade, an optional guard and an optional button. All twelve
templates of the Standard Concept Template Library's Knife are declared (Cuboidal_Handle,
T_Shaped_Handle, Cylindrical_Handle, Curved_Handle, Multideck_Handle, Enveloping_Handle,
Cuboidal_Blade, Cusp_Blade, Curved_Blade, Standard_Guard, Regular_Button); none is left out,
though the library's sampler never uses Cuboidal_Blade (here a cleaver or a square-ended blade)
or Standard_Guard (here a crossguard or bolster on fixed knives, an end cap on the others).

The library moves a blade by placing it (a folding blade's rotation, a cutter blade's height),
and one blade template serves fixed, folding and sliding knives alike, so the mechanism is the
handle's: Multideck_Handle (a folding knife) carries a pivot that turns about x through 0° (open)
to 180° (folded into the slot between the scales), and Enveloping_Handle (a box cutter) carries a
slider that runs along y from retracted (0) up to 80% of the sleeve (posed half way out). Blade
and button are mounted on the handle's moving part, so they move with it; on other handles they
are fixed. The fold angle and the extension are therefore joint values, not gene parameters.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right. The blade points up
(+y) from its base at y = 0, its flat faces normal to x; its spine is on the -z side and its
edge on the +z side.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, length,
                   template)

#: Pivot pin radius as a fraction of the scale width (Multideck_Handle).
PIVOT = 0.18
#: Slider length as a fraction of the sleeve's inner length (Enveloping_Handle); the rest is its
#: travel.
SLIDER = 0.2
#: Slider rest extension as a fraction of its travel.
EXTENSION = 0.5

# --- mesh helpers -----------------------------------------------------------------------------


def _slab(profile: np.ndarray, thickness: float) -> g.Mesh:
    """Flat solid of a convex outline of (z, y) points, its thickness centred on x = 0."""
    ring = np.column_stack([np.zeros(len(profile)), profile[:, 1], profile[:, 0]])
    half = np.array([thickness / 2, 0.0, 0.0])
    return g.loft(np.stack([ring - half, ring + half]))

# --- handles ----------------------------------------------------------------------------------


def _cuboidal_handle(p) -> list[Part]:
    return [Part("handle", *g.box(p["size"]))]


def _t_shaped_handle(p) -> list[Part]:
    main, bottom = p["main_size"], p["bottom_size"]
    cap = g.box(bottom, (p["bottom_offset"][0], -(main[1] + bottom[1]) / 2,
                         p["bottom_offset"][1]))
    return [Part("handle", *g.concat([g.box(main), cap]))]


def _cylindrical_handle(p) -> list[Part]:
    top, bottom, height = p["size"]
    return [Part("handle", *g.cylinder(bottom, top, height, -height / 2))]


def _curved_handle(p) -> list[Part]:
    outer, inner = p["radius"]
    half = p["thickness"][0] / 2
    middle = (outer + inner) / 2
    phi = np.linspace(-np.radians(p["exist_angle"][0]), 0.0, 16)[:, None]
    r = np.array([inner, inner, outer, outer])
    x = np.broadcast_to([-half, half, half, -half], (len(phi), 4))
    rings = np.stack([x, r * np.sin(phi), middle - r * np.cos(phi)], axis=-1)
    return [Part("handle", *g.loft(rings))]


def _pivot(p) -> tuple[np.ndarray, float]:
    """Centre and radius of the folding knife's pivot pin, near the top of the scales."""
    radius = PIVOT * p["beside_size"][2]
    top = (p["bottom_size"][1] + p["beside_size"][1]) / 2
    ox, oz = p["beside_offset"]
    return np.array([ox, top - 1.6 * radius, oz]), radius


def _multideck_handle(p) -> list[Part]:
    sx, sy, _ = p["beside_size"]
    sep = p["beside_seperation"][0]
    ox, oz = p["beside_offset"]
    base = g.box(p["bottom_size"], (0.0, -sy / 2, 0.0))
    scales = [g.box(p["beside_size"], (side * sep / 2 + ox, p["bottom_size"][1] / 2, oz))
              for side in (-1.0, 1.0)]
    centre, radius = _pivot(p)
    span = sep + sx + 0.0012  # the pin shows on both scales
    pin = g.place(g.cylinder(radius, radius, span, -span / 2), centre, (0.0, 0.0, 90.0))
    return [Part("handle", *g.concat([base, *scales])), Part("pivot", *pin)]


def _sleeve(p) -> tuple[float, float, float]:
    """(floor y, slider length, slider travel) inside the cutter's sleeve."""
    inner = p["size"][1] - p["thickness"][0]
    return -p["size"][1] / 2 + p["thickness"][0], SLIDER * inner, (1.0 - SLIDER) * inner


def _enveloping_handle(p) -> list[Part]:
    hx, hy, hz = p["size"]
    t0, t1, t2 = p["thickness"]
    inner, mid = hy - t0, t0 / 2  # walls stand on the bottom
    strip = (hz - p["gap_width"][0]) / 2 - t2
    walls = [g.box((hx, t0, hz), (0.0, -hy / 2 + t0 / 2, 0.0)),
             g.box((t1, inner, hz), (-hx / 2 + t1 / 2, mid, 0.0))]
    for side in (-1.0, 1.0):
        walls.append(g.box((hx - t1, inner, t2), (t1 / 2, mid, side * (hz - t2) / 2)))
        walls.append(g.box((t1, inner, strip), (hx / 2 - t1 / 2, mid,
                                                side * (hz / 2 - t2 - strip / 2))))
    floor, slide, _ = _sleeve(p)
    gap = 0.0002  # clearance so the slider does not touch the walls
    slider = g.box((hx - 2 * t1 - 2 * gap, slide, hz - 2 * t2 - 2 * gap),
                   (0.0, floor + slide / 2, 0.0))
    return [Part("handle", *g.concat(walls)), Part("slider", *slider)]


_HANDLE_SIZE = length("size", 3, (0.006, 0.05, 0.01), (0.035, 0.2, 0.045),
                      "thickness (x), length (y), height across the blade plane (z)")

CUBOIDAL_HANDLE = template(
    "Cuboidal_Handle", "handle", "Straight grip: a cuboid centred on the origin.",
    [_HANDLE_SIZE], _cuboidal_handle)

T_SHAPED_HANDLE = template(
    "T_Shaped_Handle", "handle", "Grip cuboid with a wider butt cap below it.",
    [length("main_size", 3, (0.006, 0.05, 0.01), (0.035, 0.2, 0.045),
            "grip thickness (x), length (y), height (z), centred on the origin"),
     length("bottom_size", 3, (0.006, 0.003, 0.01), (0.06, 0.04, 0.07),
            "butt cap thickness (x), length (y), height (z)"),
     length("bottom_offset", 2, -0.01, 0.01, "butt cap offset in x, in z")],
    _t_shaped_handle)

CYLINDRICAL_HANDLE = template(
    "Cylindrical_Handle", "handle", "Round grip: a frustum along y centred on the origin.",
    [length("size", 3, (0.005, 0.005, 0.05), (0.025, 0.025, 0.2),
            "radius at the top (blade) end, radius at the bottom end, length (y)")],
    _cylindrical_handle)

CURVED_HANDLE = template(
    "Curved_Handle", "handle",
    "Banana grip: an arc of rectangular section whose top end sits on the origin, pointing up.",
    [length("radius", 2, (0.06, 0.04), (0.6, 0.59),
            "outer and inner radius of the arc; their difference is the grip height (z)"),
     length("thickness", 1, 0.006, 0.035, "grip thickness (x)"),
     angle("exist_angle", 1, 8.0, 60.0, "angle the arc spans; the butt curves towards +z")],
    _curved_handle, constraints=(Constraint(("radius", 1), ("radius", 0), margin=0.005),))

MULTIDECK_HANDLE = template(
    "Multideck_Handle", "handle",
    "Folding-knife handle: a butt block under two parallel scales with a pivot pin at the top.",
    [length("bottom_size", 3, (0.004, 0.003, 0.008), (0.03, 0.04, 0.045),
            "butt block width (x), length (y), height (z), centred at y = -beside length / 2"),
     length("beside_size", 3, (0.0008, 0.04, 0.008), (0.008, 0.16, 0.045),
            "each scale's thickness (x), length (y), height (z)"),
     length("beside_seperation", 1, 0.001, 0.02, "x distance between the scales' centres"),
     length("beside_offset", 2, -0.005, 0.005, "offset of both scales in x, in z")],
    _multideck_handle,
    joints=(Joint("pivot", "revolute", (1.0, 0.0, 0.0), lambda p, k: _pivot(p)[0],
                  lambda p, k: (0.0, 180.0),
                  doc="The blade turns about x at the pivot: 0 open, 180 folded shut."),))

ENVELOPING_HANDLE = template(
    "Enveloping_Handle", "handle",
    "Box-cutter sleeve open at the top, a slot in its front (+x) face, and a blade slider inside.",
    [length("size", 3, (0.008, 0.08, 0.012), (0.03, 0.2, 0.04),
            "outer depth (x), length (y), width (z)"),
     length("thickness", 3, 0.0005, (0.02, 0.006, 0.006),
            "bottom wall (y), back and front walls (x), side walls (z)"),
     length("gap_width", 1, 0.001, 0.015, "width (z) of the slot in the front face")],
    _enveloping_handle,
    joints=(Joint("slider", "prismatic", (0.0, 1.0, 0.0),
                  lambda p, k: np.array([0.0, _sleeve(p)[0], 0.0]),
                  lambda p, k: (0.0, _sleeve(p)[2]),
                  lambda p, k: EXTENSION * _sleeve(p)[2],
                  doc="The slider (and the blade on it) runs up from the floor, 0 retracted."),),
    constraints=(Constraint(("thickness", 0), ("size", 1), factor=0.15),
                 Constraint(("thickness", 1), ("size", 0), factor=0.3),
                 Constraint(("thickness", 2), ("size", 2), factor=0.15),
                 Constraint(("gap_width", 0), ("size", 2), factor=0.6)))

HANDLES = (CUBOIDAL_HANDLE, T_SHAPED_HANDLE, CYLINDRICAL_HANDLE, CURVED_HANDLE, MULTIDECK_HANDLE,
           ENVELOPING_HANDLE)

# --- blades -----------------------------------------------------------------------------------


def _root(p) -> tuple[np.ndarray, float, float, float]:
    """(root outline, thickness, root length, z of the root's top-edge centre)."""
    thickness, height, base, top = p["root_size"]
    off = p["root_z_offset"][0]
    outline = np.array([[-base / 2, 0.0], [base / 2, 0.0], [off + top / 2, height],
                        [off - top / 2, height]])
    return outline, thickness, height, off


def _cuboidal_blade(p) -> list[Part]:
    x, y, z = p["size"]
    return [Part("blade", *g.box((x, y, z), (0.0, y / 2, 0.0)))]


def _cusp_blade(p) -> list[Part]:
    outline, thickness, height, off = _root(p)
    top = p["root_size"][3]
    tip = np.array([[off - top / 2, height], [off + top / 2, height],
                    [off + p["tip_z_offset"][0], height + p["tip_length"][0]]])
    return [Part("blade", *g.concat([_slab(outline, thickness), _slab(tip, thickness)]))]


def _curved_blade(p) -> list[Part]:
    outline, thickness, height, off = _root(p)
    radius = p["tip_length"][0]
    phi = np.radians(np.linspace(0.0, p["tip_angle"][0], 12))
    centre = np.array([off - p["root_size"][3] / 2, height])
    sector = np.concatenate([[centre], centre + radius * np.stack([np.cos(phi), np.sin(phi)], 1)])
    return [Part("blade", *g.concat([_slab(outline, thickness), _slab(sector, thickness)]))]


_ROOT_SIZE = length("root_size", 4, (0.0003, 0.01, 0.004, 0.003), (0.006, 0.3, 0.07, 0.07),
                    "blade thickness (x), root length (y), root width at the base (z), "
                    "at the top (z)")
_ROOT_Z_OFFSET = length("root_z_offset", 1, -0.03, 0.03,
                        "z shift of the root's top edge against its base")

CUBOIDAL_BLADE = template(
    "Cuboidal_Blade", "blade", "Rectangular blade (cleaver) standing on its base at y = 0.",
    [length("size", 3, (0.0003, 0.02, 0.005), (0.006, 0.3, 0.11),
            "thickness (x), length (y), width (z)")],
    _cuboidal_blade)

CUSP_BLADE = template(
    "Cusp_Blade", "blade", "Pointed blade: a tapered root and a triangular tip above it.",
    [_ROOT_SIZE, _ROOT_Z_OFFSET,
     length("tip_length", 1, 0.003, 0.12, "length (y) of the pointed tip"),
     length("tip_z_offset", 1, -0.035, 0.035,
            "z of the point against the root's top-edge centre (-width/2: on the spine)")],
    _cusp_blade)

CURVED_BLADE = template(
    "Curved_Blade", "blade",
    "Round-tipped blade: a tapered root and a disc sector rising from its spine corner.",
    [_ROOT_SIZE, _ROOT_Z_OFFSET,
     length("tip_length", 1, 0.003, 0.07, "radius of the rounded tip"),
     angle("tip_angle", 1, 30.0, 90.0,
           "angle the rounded tip sweeps from the edge up towards the spine (90: quarter disc)")],
    _curved_blade, constraints=(Constraint(("tip_length", 0), ("root_size", 3)),))

BLADES = (CUBOIDAL_BLADE, CUSP_BLADE, CURVED_BLADE)

# --- guard and button -------------------------------------------------------------------------


def _standard_guard(p) -> list[Part]:
    return [Part("guard", *g.box(p["size"]))]


def _regular_button(p) -> list[Part]:
    return [Part("button", *g.box(p["size"]))]


STANDARD_GUARD = template(
    "Standard_Guard", "guard", "Crossguard, bolster or end cap: a cuboid centred on the origin.",
    [length("size", 3, (0.004, 0.002, 0.008), (0.05, 0.03, 0.12),
            "thickness (x), length (y), width (z)")],
    _standard_guard)

REGULAR_BUTTON = template(
    "Regular_Button", "button",
    "Slider button, thumb stud or rivet: a cuboid centred on the origin.",
    [length("size", 3, (0.001, 0.002, 0.001), (0.055, 0.05, 0.02),
            "size in x (through the handle or blade), y, z")],
    _regular_button)

# --- category ---------------------------------------------------------------------------------


def _shape_blade(blade: SampledInstance, blade_len: float, width: float, thickness: float,
                 rng: np.random.Generator, cutter: bool = False) -> float:
    """Set a blade of total length ``blade_len`` and base width ``width``; returns the root's
    width at the base."""
    if blade.template is CUBOIDAL_BLADE:
        return blade.set("size", [thickness, blade_len, width])[2]
    top = width if cutter else width * rng.uniform(0.75, 1.0)
    off = 0.0 if cutter else (top - width) / 2 * rng.uniform(0.5, 1.0)  # near-straight spine
    if blade.template is CUSP_BLADE:
        tip = blade_len * (rng.uniform(0.15, 0.25) if cutter else rng.uniform(0.15, 0.35))
        if cutter:  # a snap-off blade: the point on one side
            point = top / 2 * rng.choice([-1.0, 1.0])
        elif rng.random() < 0.2:  # a dagger: the point on the centre line
            point = 0.0
        else:  # the point on or near the spine, the edge curving up to it
            point = -top / 2 * rng.uniform(0.6, 1.0)
        blade.set("tip_length", [tip])
        blade.set("tip_z_offset", [point])
    else:
        tip = top * rng.uniform(0.9, 1.0)  # the round spans (nearly) the whole top edge
        blade.set("tip_angle", [90.0 if cutter else rng.uniform(60.0, 90.0)])
    blade.set("root_size", [thickness, blade_len - tip, width, top])
    blade.set("root_z_offset", [off])
    blade.set("tip_length", [tip])
    return width


def _fixed(handle: SampledInstance, blade: SampledInstance, guards: list[SampledInstance],
           buttons: list[SampledInstance], rng: np.random.Generator) -> None:
    """Kitchen, utility and hunting knives: 15–35 cm long, the blade fixed to the handle."""
    total = rng.uniform(0.17, 0.34)
    grip = float(np.clip(total * rng.uniform(0.3, 0.45), 0.085, 0.14))
    blade_len = total - grip
    if blade.template is CUBOIDAL_BLADE:  # a cleaver
        blade_len = float(np.clip(blade_len, 0.1, 0.22))
        width = blade_len * rng.uniform(0.35, 0.5)
    else:
        width = float(np.clip(blade_len * rng.uniform(0.12, 0.28), 0.014, 0.06))
    tx, tz = rng.uniform(0.013, 0.024), rng.uniform(0.018, 0.03)
    rivet_y = rivet_z = 0.0
    if handle.template is CYLINDRICAL_HANDLE:
        r = rng.uniform(0.008, 0.013)
        handle.set("size", [r, r * rng.uniform(0.95, 1.3), grip])
        tx = tz = 2 * max(handle["size"][:2])
        top = grip / 2
        rivet_y = grip * rng.uniform(-0.25, 0.25)
    elif handle.template is CURVED_HANDLE:
        arc = rng.uniform(15.0, 45.0)
        middle = grip / np.radians(arc)
        handle.set("radius", [middle + tz / 2, middle - tz / 2])
        handle.set("thickness", [tx])
        handle.set("exist_angle", [arc])
        top = 0.0
        phi = -np.radians(arc) * rng.uniform(0.35, 0.65)
        rivet_y, rivet_z = middle * np.sin(phi), middle * (1.0 - np.cos(phi))
    elif handle.template is T_SHAPED_HANDLE:
        main = grip * rng.uniform(0.8, 0.9)
        handle.set("main_size", [tx, main, tz])
        handle.set("bottom_size", [tx * rng.uniform(1.15, 1.5), grip - main,
                                   tz * rng.uniform(1.15, 1.5)])
        handle.set("bottom_offset", [0.0, tz * rng.uniform(0.0, 0.2)])
        top = main / 2
        rivet_y = main * rng.uniform(-0.25, 0.25)
    else:
        handle.set("size", [tx, grip, tz])
        top = grip / 2
        rivet_y = grip * rng.uniform(-0.25, 0.25)

    base = top - min(0.004, 0.05 * grip)  # the tang reaches into the handle
    for guard in guards:
        gy = rng.uniform(0.004, 0.012)
        crossguard = rng.random() < 0.5
        gz = max(tz, width) * (rng.uniform(1.3, 1.8) if crossguard else rng.uniform(1.0, 1.1))
        guard.set("size", [tx * rng.uniform(1.05, 1.3), gy, gz])
        guard.set("position", [0.0, top + gy / 2, (gz - tz) / 2 * (0.0 if crossguard else 1.0)])
        base = top + gy - 0.001
    thickness = rng.uniform(0.0025, 0.006) if blade.template is CUBOIDAL_BLADE \
        else rng.uniform(0.0015, 0.003)
    w0 = _shape_blade(blade, blade_len, width, thickness, rng)
    # A wide blade keeps its spine in line with the handle's back; a narrow one is centred.
    blade.set("position", [0.0, base, max(0.0, (w0 - tz) / 2)])
    for rivet in buttons:
        size = rng.uniform(0.003, 0.006)
        rivet.set("size", [tx + rng.uniform(0.0006, 0.0015), size, size])
        rivet.set("position", [0.0, rivet_y, rivet_z])


def _folding(handle: SampledInstance, blade: SampledInstance, guards: list[SampledInstance],
             buttons: list[SampledInstance], rng: np.random.Generator) -> None:
    """Pocket knives: an 8–13 cm handle, the blade fitting into the slot when folded."""
    grip = rng.uniform(0.085, 0.13)
    by = rng.uniform(0.006, 0.016)
    sx, sz = rng.uniform(0.0015, 0.0035), rng.uniform(0.015, 0.026)
    thickness = rng.uniform(0.002, 0.0035)
    sep = thickness + rng.uniform(0.0006, 0.0015) + sx
    handle.set("beside_size", [sx, grip - by, sz])
    handle.set("bottom_size", [sep + sx, by, sz * rng.uniform(0.92, 1.0)])
    handle.set("beside_seperation", [sep])
    handle.set("beside_offset", [0.0, 0.0])
    (_, pivot_y, _), radius = _pivot(handle.params)
    scale_top = handle["bottom_size"][1] / 2 + handle["beside_size"][1] / 2
    scale_bottom = scale_top - handle["beside_size"][1]
    base = pivot_y - radius * rng.uniform(0.8, 1.0)
    # Folded (turned 180° about the pivot) the blade must stay above the butt block.
    blade_len = (2 * pivot_y - base - scale_bottom - 0.003) * rng.uniform(0.85, 0.97)
    w0 = _shape_blade(blade, blade_len, sz * rng.uniform(0.6, 0.85), thickness, rng)
    blade.set("position", [0.0, base, 0.0])
    for stud in buttons:  # a thumb stud on the blade, by the spine, just above the scales
        size = rng.uniform(0.003, 0.005)
        stud.set("size", [thickness + 2 * rng.uniform(0.0015, 0.003), size, size])
        stud.set("position", [0.0, scale_top + rng.uniform(0.004, 0.01),
                              -w0 / 2 * rng.uniform(0.45, 0.65)])
    for cap in guards:  # an end cap under the butt
        gy = rng.uniform(0.003, 0.008)
        cap.set("size", [(sep + sx) * rng.uniform(1.0, 1.15), gy, sz * rng.uniform(1.0, 1.1)])
        cap.set("position", [0.0, scale_bottom - by - gy / 2 + 0.0005, 0.0])


def _cutter(handle: SampledInstance, blade: SampledInstance, guards: list[SampledInstance],
            buttons: list[SampledInstance], rng: np.random.Generator) -> None:
    """Box cutters: a 12–17 cm sleeve; the blade sits retracted on the slider at joint value 0,
    its tip just inside the mouth."""
    hx, hy, hz = handle.set("size", [rng.uniform(0.011, 0.02), rng.uniform(0.12, 0.17),
                                     rng.uniform(0.018, 0.03)])
    handle.set("thickness", [rng.uniform(0.006, 0.015), hx * rng.uniform(0.1, 0.2),
                             hz * rng.uniform(0.05, 0.1)])
    gap = handle.set("gap_width", [rng.uniform(0.003, 0.006)])[0]
    t1, t2 = handle["thickness"][1:]
    floor, slide, _ = _sleeve(handle.params)
    base = floor + 0.3 * slide
    _shape_blade(blade, hy / 2 - base - 0.001, (hz - 2 * t2) * rng.uniform(0.8, 0.92),
                 rng.uniform(0.0004, 0.0007), rng, cutter=True)
    blade.set("position", [0.0, base, 0.0])
    for button in buttons:  # through the slot, riding on the slider
        bx = t1 + rng.uniform(0.002, 0.004)
        button.set("size", [bx, slide * rng.uniform(0.5, 0.85), gap * rng.uniform(0.6, 0.85)])
        button.set("position", [hx / 2 - t1 + bx / 2, floor + slide / 2, 0.0])
    for cap in guards:  # an end cap under the sleeve
        gy = rng.uniform(0.003, 0.01)
        cap.set("size", [hx * rng.uniform(1.0, 1.1), gy, hz * rng.uniform(1.0, 1.1)])
        cap.set("position", [0.0, -hy / 2 - gy / 2 + 0.0005, 0.0])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    handle, blade = parts["handle"][0], parts["blade"][0]
    if handle.template is MULTIDECK_HANDLE:
        shape = _folding
    elif handle.template is ENVELOPING_HANDLE:
        shape = _cutter
    else:
        shape = _fixed
    shape(handle, blade, parts["guard"], parts["button"], rng)


CATEGORY = Category(
    "Knife",
    "A knife: handle, blade (folding, sliding or fixed with the handle), optional guard and "
    "button.",
    (Slot("handle", HANDLES),
     Slot("blade", BLADES, attach_to="handle"),
     Slot("guard", (STANDARD_GUARD,), min_count=0),
     Slot("button", (REGULAR_BUTTON,), min_count=0, attach_to="handle")),
    _assemble, removal_rate=0.5)
