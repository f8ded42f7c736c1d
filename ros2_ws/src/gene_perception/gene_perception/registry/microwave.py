"""Microwave: an open-front box body, a side-hinged door with a handle riding on it, a control
panel beside the door and an optional turntable in the cavity.

Every template of the library's Microwave is declared (Cuboidal_Body, Cuboidal_Door,
Sunken_Door, Controller_With_Button, Cuboidal_Handle, Trifold_Handle, Trifold_Curve_Handle,
Curve_Handle, Cylindrical_Tray); none is left out. The library opens the door through the
template's global rotation (drop-down or side-hinged); here the door is built closed with its
back face on the body front and a revolute joint about its left edge opens it (a door turned
180° about z hinges on the right). The library may zero the control panel's sizes to drop it;
here it is always present. Handles are built as in the library: Cuboidal_Handle lies along x,
the others stand along y.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, count,
                   length, template)

# --- body -------------------------------------------------------------------------------------


def _cuboidal_body(p) -> list[Part]:
    width, height, depth = p["size"]
    top, bottom, right, left, back = p["thickness"]
    wall = depth - back  # walls run from the back plate to the open front at z = depth / 2
    z = back / 2
    side_h = height - top - bottom
    side_y = (bottom - top) / 2
    return [Part("body", *g.concat([
        g.box((width, height, back), (0.0, 0.0, -(depth - back) / 2)),
        g.box((width, top, wall), (0.0, (height - top) / 2, z)),
        g.box((width, bottom, wall), (0.0, -(height - bottom) / 2, z)),
        g.box((right, side_h, wall), ((width - right) / 2, side_y, z)),
        g.box((left, side_h, wall), (-(width - left) / 2, side_y, z)),
    ]))]


CUBOIDAL_BODY = template(
    "Cuboidal_Body", "body",
    "Box open at the front (+z): back plate plus four walls around the cavity, centred.",
    [length("size", 3, (0.36, 0.2, 0.24), (0.7, 0.45, 0.55), "width (x), height (y), depth (z)"),
     length("thickness", 5, 0.006, (0.05, 0.07, 0.24, 0.05, 0.06),
            "wall thickness: top, bottom, right (+x), left (-x), back")],
    _cuboidal_body)

# --- doors ------------------------------------------------------------------------------------


def _cuboidal_door(p) -> list[Part]:
    width, height, thick = p["size"]
    return [Part("door", *g.box((width, height, thick), (0.0, 0.0, thick / 2)))]


def _sunken_door(p) -> list[Part]:
    width, height, thick = p["size"]
    sunk_w, sunk_h, sunk_d = p["sunken_size"]
    margin = 0.002  # keep every frame bar of the recess non-degenerate
    cx = float(np.clip(p["sunken_offset"][0], -(width - sunk_w) / 2 + margin,
                       (width - sunk_w) / 2 - margin))
    cy = float(np.clip(p["sunken_offset"][1], -(height - sunk_h) / 2 + margin,
                       (height - sunk_h) / 2 - margin))
    plate = thick - sunk_d
    z = plate + sunk_d / 2
    x0, x1 = cx - sunk_w / 2, cx + sunk_w / 2
    y0, y1 = cy - sunk_h / 2, cy + sunk_h / 2
    return [Part("door", *g.concat([
        g.box((width, height, plate), (0.0, 0.0, plate / 2)),
        g.box((x0 + width / 2, height, sunk_d), ((x0 - width / 2) / 2, 0.0, z)),
        g.box((width / 2 - x1, height, sunk_d), ((x1 + width / 2) / 2, 0.0, z)),
        g.box((sunk_w, height / 2 - y1, sunk_d), (cx, (y1 + height / 2) / 2, z)),
        g.box((sunk_w, y0 + height / 2, sunk_d), (cx, (y0 - height / 2) / 2, z)),
    ]))]


_DOOR_SIZE = length("size", 3, (0.2, 0.18, 0.01), (0.7, 0.45, 0.05),
                    "width (x), height (y), thickness (z, from the back face at z = 0)")
#: Side hinge at the door's left (-x) back edge; opening swings the free edge out to +z.
_DOOR_HINGE = Joint("door", "revolute", (0.0, -1.0, 0.0),
                    lambda p, k: np.array([-p["size"][0] / 2, 0.0, 0.0]),
                    lambda p, k: (0.0, 110.0),
                    doc="Side hinge about y at the door's left back edge; opens up to 110°.")

CUBOIDAL_DOOR = template(
    "Cuboidal_Door", "door", "Flat door slab in front of the body, hinged at its left edge.",
    [_DOOR_SIZE], _cuboidal_door, joints=(_DOOR_HINGE,))

SUNKEN_DOOR = template(
    "Sunken_Door", "door",
    "Door slab with a rectangular window recessed into its front face, hinged at its left edge.",
    [_DOOR_SIZE,
     length("sunken_size", 3, (0.1, 0.08, 0.002), (0.68, 0.43, 0.03),
            "recess width (x), height (y), depth (z)"),
     length("sunken_offset", 2, (-0.15, -0.1), (0.15, 0.1), "recess centre offset x, y")],
    _sunken_door, joints=(_DOOR_HINGE,),
    constraints=(Constraint(("sunken_size", 0), ("size", 0), margin=0.01),
                 Constraint(("sunken_size", 1), ("size", 1), margin=0.01),
                 Constraint(("sunken_size", 2), ("size", 2), factor=0.7)))

# --- control panel ----------------------------------------------------------------------------


def _controller_with_button(p) -> list[Part]:
    plate = p["bottom_size"]
    meshes = [g.box(plate, (0.0, 0.0, plate[2] / 2))]
    for k in range(1, int(p["num_buttons"][0]) + 1):
        size, offset = p[f"button_{k}_size"], p[f"button_{k}_offset"]
        meshes.append(g.box(size, (offset[0], offset[1], plate[2] + size[2] / 2)))
    return [Part("controller", *g.concat(meshes))]


def _button_params() -> list:
    params = [length("bottom_size", 3, (0.03, 0.18, 0.008), (0.24, 0.45, 0.05),
                     "panel width (x), height (y), thickness (z, from z = 0 forward)")]
    for k in range(1, 5):
        params += [length(f"button_{k}_size", 3, (0.005, 0.005, 0.002), (0.12, 0.1, 0.03),
                          f"button {k} width (x), height (y), protrusion (z); "
                          "unused above num_buttons"),
                   length(f"button_{k}_offset", 3, (-0.1, -0.22, -0.01), (0.1, 0.22, 0.01),
                          f"button {k} centre x, y on the panel front; z unused")]
    return params + [count("num_buttons", 1, 4, "number of buttons")]


CONTROLLER_WITH_BUTTON = template(
    "Controller_With_Button", "controller",
    "Control panel plate beside the door with up to four box buttons on its front.",
    _button_params(), _controller_with_button)

# --- handles ----------------------------------------------------------------------------------


def _arc_band(outer: float, inner: float, span_deg: float, thick: float, z_centre: float,
              n: int = 16) -> g.Mesh:
    """Annular sector in the y-z plane (symmetric about +z, centre at ``z_centre``) extruded
    ``thick`` along x: a curved bar of rectangular section."""
    t = np.radians(np.linspace(-span_deg / 2, span_deg / 2, n))
    mid = (outer + inner) / 2
    vertices, faces = g.band(np.stack([mid * np.sin(t), mid * np.cos(t) + z_centre], axis=1),
                             outer - inner, thick)
    # Band coordinates (y, z, x) → template (x, y, z): a cyclic permutation, a proper rotation.
    return vertices[:, [2, 0, 1]], faces


def _cuboidal_handle(p) -> list[Part]:
    size = p["size"]
    return [Part("handle", *g.box(size, (0.0, 0.0, size[2] / 2)))]


def _posts(p) -> list[g.Mesh]:
    mx, my, mz = p["mounting_size"]
    sep = p["mounting_seperation"][0]
    return [g.box((mx, my, mz), (0.0, s * sep / 2, mz / 2)) for s in (1.0, -1.0)]


def _trifold_handle(p) -> list[Part]:
    grip = p["grip_size"]
    mz = p["mounting_size"][2]
    return [Part("handle", *g.concat([*_posts(p), g.box(grip, (0.0, 0.0, mz + grip[2] / 2))]))]


def _trifold_curve_handle(p) -> list[Part]:
    outer, inner, thick = p["curve_size"]
    span = p["curve_exist_angle"][0]
    mz = p["mounting_size"][2]
    # The inner arc passes through the post tops; posts outside the arc's reach are clamped.
    half_sep = min(p["mounting_seperation"][0] / 2, 0.98 * inner * np.sin(np.radians(span / 2)))
    centre = mz - np.sqrt(inner ** 2 - half_sep ** 2)
    return [Part("handle", *g.concat([*_posts(p),
                                      _arc_band(outer, inner, span, thick, centre)]))]


def _curve_handle(p) -> list[Part]:
    outer, inner, thick = p["curve_size"]
    span = p["curve_exist_angle"][0]
    # Outer arc ends on the door face (z = 0); the grip bulges out to +z.
    centre = -outer * np.cos(np.radians(span / 2))
    return [Part("handle", *_arc_band(outer, inner, span, thick, centre))]


_MOUNTING = (
    length("mounting_size", 3, (0.006, 0.006, 0.008), (0.03, 0.03, 0.06),
           "post width (x), height (y), protrusion from the door (z)"),
    length("mounting_seperation", 1, 0.04, 0.4, "distance between the two posts along y"),
)
_CURVE = (
    length("curve_size", 3, (0.04, 0.03, 0.006), (0.5, 0.49, 0.04),
           "outer radius, inner radius, thickness along x of the arc"),
    angle("curve_exist_angle", 1, 30.0, 150.0, "angle the arc spans"),
)
_CURVE_WALL = Constraint(("curve_size", 1), ("curve_size", 0), margin=0.004)

CUBOIDAL_HANDLE = template(
    "Cuboidal_Handle", "handle", "Straight bar along x standing out from the door front.",
    [length("size", 3, (0.04, 0.006, 0.006), (0.4, 0.05, 0.06),
            "length (x), width (y), protrusion (z)")],
    _cuboidal_handle)

TRIFOLD_HANDLE = template(
    "Trifold_Handle", "handle", "Grip bar along y held off the door by two posts.",
    [*_MOUNTING,
     length("grip_size", 3, (0.006, 0.04, 0.006), (0.035, 0.45, 0.04),
            "grip width (x), length (y), thickness (z)")],
    _trifold_handle)

TRIFOLD_CURVE_HANDLE = template(
    "Trifold_Curve_Handle", "handle", "Arched grip in the y-z plane resting on two posts.",
    [*_MOUNTING, *_CURVE], _trifold_curve_handle, constraints=(_CURVE_WALL,))

CURVE_HANDLE = template(
    "Curve_Handle", "handle", "Arched grip in the y-z plane with both ends on the door face.",
    list(_CURVE), _curve_handle, constraints=(_CURVE_WALL,))

# --- tray -------------------------------------------------------------------------------------


def _cylindrical_tray(p) -> list[Part]:
    radius, height = p["size"]
    return [Part("tray", *g.cylinder(radius, radius, height, -height / 2, segments=48))]


CYLINDRICAL_TRAY = template(
    "Cylindrical_Tray", "tray", "Turntable disc centred on the origin, spinning about y.",
    [length("size", 2, (0.06, 0.003), (0.25, 0.03), "radius, thickness")],
    _cylindrical_tray,
    joints=(Joint("tray", "revolute", (0.0, 1.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (-180.0, 180.0), doc="Turntable about its vertical axis."),))

# --- category ---------------------------------------------------------------------------------


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    width = rng.uniform(0.44, 0.62)
    width, height, depth = body.set("size", [width, width * rng.uniform(0.55, 0.68),
                                             width * rng.uniform(0.62, 0.84)])
    panel_w = width * rng.uniform(0.2, 0.3)
    door_w = width - panel_w
    mirrored = rng.random() < 0.2  # control panel on the left, door hinged on the right
    side = -1.0 if mirrored else 1.0  # the panel's side along x
    panel_wall = panel_w + rng.uniform(0.01, 0.02)
    door_wall = rng.uniform(0.01, 0.03)
    top, bottom, back = rng.uniform(0.01, 0.03), rng.uniform(0.015, 0.05), rng.uniform(0.01, 0.04)
    top, bottom, right, left, back = body.set(
        "thickness", [top, bottom, *((door_wall, panel_wall) if mirrored
                                     else (panel_wall, door_wall)), back])

    door = parts["door"][0]
    door_t = rng.uniform(0.018, 0.04)
    door_w, door_h, door_t = door.set("size", [door_w, height, door_t])
    door_x = -side * (width - door_w) / 2
    door.set("position", [door_x, 0.0, depth / 2])
    door.set("rotation", [0.0, 0.0, 180.0 if mirrored else 0.0])
    if door.template is SUNKEN_DOOR:
        sunk_w = door_w * rng.uniform(0.6, 0.85)
        door.set("sunken_size", [sunk_w, door_h * rng.uniform(0.5, 0.78),
                                 door_t * rng.uniform(0.3, 0.6)])
        # Local -x is the hinge side; the window leans towards it, leaving room for the handle.
        door.set("sunken_offset", [-(door_w - sunk_w) / 2 * rng.uniform(0.1, 0.7),
                                   rng.uniform(-0.01, 0.01)])

    panel = parts["controller"][0]
    panel_w, panel_h, panel_t = panel.set("bottom_size", [panel_w, height,
                                                          door_t * rng.uniform(0.7, 1.0)])
    panel.set("position", [side * (width - panel_w) / 2, 0.0, depth / 2])
    n = int(panel.set("num_buttons", [rng.integers(1, 5)])[0])
    y = panel_h / 2 - rng.uniform(0.03, 0.06)  # top of the next button
    if n > 1:  # a display strip at the top, knobs below
        display_h = rng.uniform(0.02, 0.04)
        panel.set("button_1_size", [panel_w * rng.uniform(0.55, 0.8), display_h,
                                    rng.uniform(0.002, 0.005)])
        panel.set("button_1_offset", [0.0, y - display_h / 2, 0.0])
        y -= display_h + rng.uniform(0.02, 0.04)
    knobs = n - 1 if n > 1 else 1
    room = y + panel_h / 2 - 0.02  # down to 2 cm above the panel's bottom edge
    knob = min(panel_w * rng.uniform(0.3, 0.5), 0.06, (room - 0.008 * (knobs - 1)) / knobs)
    gap = min(rng.uniform(0.015, 0.04), (room - knobs * knob) / max(knobs - 1, 1))
    for k in range(n - knobs + 1, n + 1):
        panel.set(f"button_{k}_size", [knob, knob, rng.uniform(0.008, 0.02)])
        panel.set(f"button_{k}_offset", [0.0, y - knob / 2, 0.0])
        y -= knob + gap

    # Handle on the door's free edge (object frame; it rides on the door leaf).
    handle = parts["handle"][0]
    free_x = door_x + side * (door_w / 2 - rng.uniform(0.02, 0.04))
    front = depth / 2 + door_t
    length_ = door_h * rng.uniform(0.4, 0.75)
    if handle.template is CUBOIDAL_HANDLE:
        handle.set("size", [length_, rng.uniform(0.012, 0.025), rng.uniform(0.012, 0.03)])
        handle.set("rotation", [0.0, 0.0, 90.0])
    elif handle.template is TRIFOLD_HANDLE:
        post = rng.uniform(0.01, 0.02)
        handle.set("mounting_size", [post, post, rng.uniform(0.02, 0.04)])
        handle.set("grip_size", [post * rng.uniform(1.0, 1.1), length_,
                                 rng.uniform(0.01, 0.02)])
        handle.set("mounting_seperation", [length_ * rng.uniform(0.7, 0.8)])
    else:
        span = handle.set("curve_exist_angle", [rng.uniform(60.0, 90.0)])[0]
        outer = length_ / (2 * np.sin(np.radians(span / 2)))
        inner = outer - rng.uniform(0.008, 0.015)
        handle.set("curve_size", [outer, inner, rng.uniform(0.012, 0.025)])
        if handle.template is TRIFOLD_CURVE_HANDLE:
            post = rng.uniform(0.01, 0.02)
            handle.set("mounting_size", [post, post, rng.uniform(0.015, 0.03)])
            handle.set("mounting_seperation",
                       [2 * inner * np.sin(np.radians(span / 2)) * rng.uniform(0.6, 0.85)])
    handle.set("position", [free_x, rng.uniform(-0.02, 0.02), front])

    for tray in parts["tray"]:
        cavity_w, cavity_d = width - right - left, depth - back
        radius, thick = tray.set("size", [min(cavity_w, cavity_d) * rng.uniform(0.38, 0.46),
                                          rng.uniform(0.005, 0.012)])
        tray.set("position", [(left - right) / 2, -height / 2 + bottom + thick / 2
                              + rng.uniform(0.0, 0.012), back / 2])


CATEGORY = Category(
    "Microwave",
    "A microwave oven: open box body, side-hinged door with handle, control panel, turntable.",
    (Slot("body", (CUBOIDAL_BODY,)),
     Slot("door", (CUBOIDAL_DOOR, SUNKEN_DOOR)),
     Slot("controller", (CONTROLLER_WITH_BUTTON,)),
     Slot("handle", (CUBOIDAL_HANDLE, TRIFOLD_HANDLE, TRIFOLD_CURVE_HANDLE, CURVE_HANDLE),
          attach_to="door"),
     Slot("tray", (CYLINDRICAL_TRAY,), min_count=0)),
    _assemble, removal_rate=0.4)
