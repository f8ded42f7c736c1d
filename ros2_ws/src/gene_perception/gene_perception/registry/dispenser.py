"""Dispenser: a soap, lotion or cleaner bottle (a stacked-frustum or cuboid body) with a press
pump or a trigger sprayer on top. Every template of the Standard Concept Template Library's
Dispenser is declared (Multilevel_Body, Cuboidal_Body, Press_Nozzle, Spray_Nozzle); none is left
out. This Multilevel_Body differs from the Bottle's (levels 2–4 hold two values here, three
there) and is declared separately. The pump head slides down (prismatic along -y) on the
fixed collar (the pump's first level); the sprayer's trigger swings about x at its top end.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right. As in the library, the
body's first level (or the cuboid) is centred on the origin and a nozzle's origin is the centre
of its bottom face; the spout and the sprayer head point to +z.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Joint, Part, SampledInstance, Slot, angle, count, length,
                   template)

BODY_LEVELS = 4
PUMP_LEVELS = 5
#: Pump stroke: a press moves the head down by at most this much (m).
STROKE = 0.015

# --- bodies -----------------------------------------------------------------------------------


def _body_levels(p) -> tuple[list[float], list[float]]:
    """Radii (level 1 bottom, then each level's top) and heights of the levels in use."""
    n = int(p["num_levels"][0])
    radii = [p["level_1_size"][2], p["level_1_size"][0]]
    heights = [p["level_1_size"][1]]
    for k in range(2, n + 1):
        radii.append(p[f"level_{k}_size"][0])
        heights.append(p[f"level_{k}_size"][1])
    return radii, heights


def _multilevel_body(p) -> list[Part]:
    radii, heights = _body_levels(p)
    # Level 1 is centred on the origin; the others stack upwards (as in the library).
    y = np.concatenate([[0.0], np.cumsum(heights)]) - heights[0] / 2
    r = np.concatenate([[0.0], radii, [0.0]])
    h = np.concatenate([[y[0]], y, [y[-1]]])
    return [Part("body", *g.lathe(r, h))]


def _body_level_params() -> list:
    params = [count("num_levels", 1, BODY_LEVELS, "number of stacked frustum levels"),
              length("level_1_size", 3, (0.008, 0.004, 0.008), (0.07, 0.25, 0.07),
                     "level 1 (the base, centred on the origin): top radius, height, bottom "
                     "radius")]
    for k in range(2, BODY_LEVELS + 1):
        params.append(length(f"level_{k}_size", 2, (0.006, 0.002), (0.07, 0.25),
                             f"level {k}: top radius, height (its bottom radius is level "
                             f"{k - 1}'s top radius); unused above num_levels"))
    return params


MULTILEVEL_BODY = template(
    "Multilevel_Body", "body",
    "Solid bottle of stacked frustums, level 1 centred on the origin and each level above "
    "starting at the previous level's top radius.",
    _body_level_params(), _multilevel_body)


def _cuboidal_body(p) -> list[Part]:
    return [Part("body", *g.box(p["size"]))]


CUBOIDAL_BODY = template(
    "Cuboidal_Body", "body", "Box-shaped bottle centred on the origin.",
    [length("size", 3, (0.03, 0.04, 0.025), (0.16, 0.25, 0.16),
            "width (x), height (y), depth (z)")],
    _cuboidal_body)

# --- press pump -------------------------------------------------------------------------------


def spout_mesh(root: np.ndarray, lengths: list[float], tilts_deg: list[float], width: float,
           thickness: float, back: float) -> g.Mesh:
    """A pump spout: a chain of cuboid segments from ``root`` towards +z, each tilted down by its
    angle; the first reaches ``back`` into the head and each later one half a thickness into the
    previous. Shared with :mod:`.shampoo`."""
    pieces, start = [], np.asarray(root, float)
    for k, (seg, tilt) in enumerate(zip(lengths, tilts_deg)):
        a = np.radians(tilt)
        d = np.array([0.0, -np.sin(a), np.cos(a)])
        overlap = back if k == 0 else thickness / 2
        pieces.append(g.beam(start - overlap * d, start + seg * d, thickness, width))
        start = start + seg * d
    return g.concat(pieces)


def _press_levels(p) -> tuple[np.ndarray, np.ndarray]:
    n = int(p["num_levels"][0])
    sizes = np.array([p[f"level_{k}_size"] for k in range(1, n + 1)])
    return sizes[:, 0], sizes[:, 1]


def _press_nozzle(p) -> list[Part]:
    radii, heights = _press_levels(p)
    y = np.concatenate([[0.0], np.cumsum(heights)])
    stack = [g.cylinder(r, r, h, y0) for r, h, y0 in zip(radii, heights, y[:-1])]
    width, thickness = p["nozzle_size"]
    segments = int(p["num_nozzles"][0])
    root = np.array([0.0, y[-1] + p["nozzle_offset"][0], radii[-1]])
    spout = spout_mesh(root, list(p["nozzle_length"][:segments]),
                       list(p["nozzle_rotation"][:segments]), width, thickness, 0.5 * radii[-1])
    # Level 1 is the collar screwed on the bottle; everything above it is the moving head.
    if len(radii) == 1:
        return [Part("head", *g.concat([stack[0], spout]))]
    return [Part("collar", *stack[0]), Part("head", *g.concat([*stack[1:], spout]))]


def _press_stroke(p, k) -> tuple[float, float]:
    _, heights = _press_levels(p)
    # The stem (level 2) slides into the collar; a one-level pump sinks into the neck.
    travel = 0.9 * heights[1] if len(heights) > 1 else STROKE
    return 0.0, float(np.clip(travel, 0.002, STROKE))


def _press_params() -> list:
    params = [count("num_levels", 1, PUMP_LEVELS, "number of stacked cylinders")]
    for k in range(1, PUMP_LEVELS + 1):
        what = "the collar on the bottle neck" if k == 1 else "stem or head"
        params.append(length(f"level_{k}_size", 2, (0.002, 0.002), (0.035, 0.08),
                             f"level {k} ({what}): radius, height; unused above num_levels"))
    return params + [
        count("num_nozzles", 1, 2, "number of chained spout segments"),
        length("nozzle_size", 2, (0.002, 0.002), (0.02, 0.02),
               "spout cross-section: width (x), thickness"),
        length("nozzle_length", 2, 0.003, 0.08,
               "length of spout segment 1, of segment 2 (unused with one segment)"),
        length("nozzle_offset", 1, -0.06, 0.01,
               "height of the spout's axis relative to the top of the stack"),
        angle("nozzle_rotation", 2, -30.0, 75.0,
              "downward tilt of spout segment 1, of segment 2 (unused with one segment)"),
    ]


PRESS_NOZZLE = template(
    "Press_Nozzle", "nozzle",
    "Pump: stacked cylinders from the bottom face up with a chained cuboid spout towards +z.",
    _press_params(), _press_nozzle,
    joints=(Joint("head", "prismatic", (0.0, -1.0, 0.0),
                  lambda p, k: np.array([0.0, p["level_1_size"][1]
                                         if p["num_levels"][0] > 1 else 0.0, 0.0]),
                  _press_stroke,
                  doc="The head (levels 2 and up with the spout) is pressed down, up to 1.5 cm; "
                      "a one-level pump moves as a whole."),))

# --- trigger sprayer --------------------------------------------------------------------------


def _head_frame(p) -> np.ndarray:
    """Pose of the sprayer head's frame: on the neck axis at the head's mid-height, tilted about
    x by top_rotation (positive tilts the front down)."""
    y = p["bottom_size"][1] + p["middle_size"][1] + p["top_size"][1] / 2
    return g.pose_matrix(np.array([0.0, y, 0.0]), (p["top_rotation"][0], 0.0, 0.0))


def _trigger_pivot(p) -> np.ndarray:
    """The trigger's top end under the head, in the head frame."""
    thickness, length_ = p["top_size"][1], p["top_size"][2]
    z = p["top_offset"][0] + length_ / 2 + p["handle_offset"][0] - p["handle_size"][2] / 2
    return np.array([0.0, -thickness / 2, z])


def _spray_nozzle(p) -> list[Part]:
    r_bottom, h_bottom = p["bottom_size"]
    mx, my, mz = p["middle_size"]
    tx, ty, tz = p["top_size"]
    offset = p["top_offset"][0]
    r_nozzle, l_nozzle = p["nozzle_size"]
    frame = _head_frame(p)
    collar = g.cylinder(r_bottom, r_bottom, h_bottom)
    neck = g.box((mx, my + ty / 2, mz), (0.0, h_bottom + (my + ty / 2) / 2, 0.0))
    front = offset + tz / 2
    head = g.concat([g.box((tx, ty, tz), (0.0, 0.0, offset)),
                     # the nozzle: a short cylinder along +z out of the head's front face
                     g.place(g.cylinder(r_nozzle, r_nozzle, l_nozzle + ty / 4, front - ty / 4),
                             rotation=(90.0, 0.0, 0.0))])
    hx, hy, hz = p["handle_size"]
    pivot = _trigger_pivot(p)
    # Built at joint value 0: hanging straight down (in the head frame) from the pivot.
    trigger = g.box((hx, hy + ty / 4, hz), pivot + np.array([0.0, -(hy - ty / 4) / 2, 0.0]))
    head = (g.transform(head[0], frame), head[1])
    trigger = (g.transform(trigger[0], frame), trigger[1])
    return [Part("sprayer", *g.concat([collar, neck, head])), Part("trigger", *trigger)]


SPRAY_NOZZLE = template(
    "Spray_Nozzle", "nozzle",
    "Trigger sprayer: collar cylinder, cuboid neck, tilted cuboid head with a front nozzle and a "
    "trigger hanging under the head.",
    [length("bottom_size", 2, (0.008, 0.004), (0.03, 0.03), "collar: radius, height"),
     length("middle_size", 3, (0.004, 0.003, 0.004), (0.04, 0.05, 0.05),
            "neck cuboid: width (x), height (y), depth (z)"),
     length("top_size", 3, (0.006, 0.006, 0.02), (0.04, 0.04, 0.12),
            "head cuboid: width (x), thickness (y), length along the head (z)"),
     length("top_offset", 2, (-0.02, -0.02), (0.04, 0.02),
            "forward shift of the head's centre along its length from the neck axis; second "
            "component unused (the library samples it but never reads it)"),
     angle("top_rotation", 1, -25.0, 10.0, "tilt of the head about x, positive front down"),
     length("nozzle_size", 2, (0.0015, 0.002), (0.012, 0.025),
            "front nozzle cylinder: radius, length"),
     length("handle_size", 3, (0.003, 0.008, 0.002), (0.03, 0.07, 0.02),
            "trigger cuboid: width (x), length hanging down (y), thickness (z)"),
     length("handle_offset", 1, -0.1, 0.0,
            "shift of the trigger along the head from its front end (negative is backwards)"),
     angle("handle_rotation", 1, -25.0, 15.0,
           "trigger swing about x at its top end: negative forward, positive pulled in")],
    _spray_nozzle,
    joints=(Joint("trigger", "revolute", (1.0, 0.0, 0.0),
                  lambda p, k: g.transform(_trigger_pivot(p)[None], _head_frame(p))[0],
                  lambda p, k: (-25.0, 15.0), lambda p, k: p["handle_rotation"][0],
                  doc="Trigger hinge about x at its top end under the head; pulling swings the "
                      "bottom back (positive)."),))

# --- category ---------------------------------------------------------------------------------


def _shape_multilevel(body: SampledInstance, rng: np.random.Generator, spray: bool
                      ) -> tuple[float, float, float]:
    """Shape a multilevel body; return (top y, mouth radius, neck height or 0 without a neck)."""
    if spray:
        total, style = rng.uniform(0.14, 0.21), rng.choice(["bottle", "slim"])
        radius = float(np.clip(total / rng.uniform(3.8, 5.2), 0.03, 0.048))
    else:
        total = rng.uniform(0.1, 0.19)
        style = rng.choice(["bottle", "based", "slim", "jar"], p=[0.35, 0.25, 0.25, 0.15])
        radius = float(np.clip(total / rng.uniform(2.2, 4.5), 0.025, 0.055))
    neck = rng.uniform(0.011, 0.016)
    if style == "jar":  # one straight level; the pump sits on its flat top
        top = radius * rng.uniform(0.9, 1.0)
        levels, heights, bottom, neck_h = [top], [total], radius, 0.0
        neck = top
    elif style == "based":  # flared foot, straight body, short shoulder to a wide mouth
        foot = total * rng.uniform(0.04, 0.1)
        shoulder = total * rng.uniform(0.06, 0.14)
        mouth = max(radius * rng.uniform(0.45, 0.8), neck)
        levels = [radius, radius * rng.uniform(0.97, 1.02), mouth]
        heights, bottom, neck_h = [foot, total - foot - shoulder, shoulder], \
            radius * rng.uniform(1.04, 1.15), 0.0
        neck = mouth
    elif style == "bottle":  # body, shoulder, neck
        shoulder = total * rng.uniform(0.1, 0.2)
        neck_h = rng.uniform(0.012, 0.022)
        levels = [radius * rng.uniform(0.97, 1.02), neck, neck]
        heights = [total - shoulder - neck_h, shoulder, neck_h]
        bottom = radius * rng.uniform(0.94, 1.0)
    else:  # slim: foot, body, shoulder, neck
        foot = total * rng.uniform(0.03, 0.07)
        shoulder = total * rng.uniform(0.08, 0.18)
        neck_h = rng.uniform(0.012, 0.022)
        levels = [radius, radius * rng.uniform(0.95, 1.02), neck, neck]
        heights = [foot, total - foot - shoulder - neck_h, shoulder, neck_h]
        bottom = radius * rng.uniform(0.88, 0.96)
    body.set("num_levels", [len(levels)])
    body.set("level_1_size", [levels[0], heights[0], bottom])
    for k in range(2, len(levels) + 1):
        body.set(f"level_{k}_size", [levels[k - 1], heights[k - 1]])
    radii, heights = _body_levels(body.params)
    return float(sum(heights) - heights[0] / 2), float(radii[-1]), neck_h


def _shape_press(nozzle: SampledInstance, rng: np.random.Generator, collar: float) -> None:
    """A pump: collar, stem, head (and a top button), with a one- or two-segment spout."""
    style = rng.choice(["lotion", "foam", "slim", "tall"], p=[0.4, 0.2, 0.2, 0.2])
    collar_h = rng.uniform(0.009, 0.015)
    if style == "foam":  # a big head over the collar
        levels = [(collar, collar_h), (collar * rng.uniform(0.95, 1.15), rng.uniform(0.025, 0.04))]
    elif style == "tall":  # a slim column carrying a long gooseneck spout
        levels = [(collar, collar_h), (rng.uniform(0.004, 0.007), rng.uniform(0.03, 0.055))]
    else:
        stem = (rng.uniform(0.0035, 0.0055), rng.uniform(0.008, 0.03))
        head = (collar * rng.uniform(0.7, 1.0), rng.uniform(0.012, 0.022))
        levels = [(collar, collar_h), stem, head]
        if style == "slim":
            levels.append((head[0] * rng.uniform(0.5, 0.8), rng.uniform(0.003, 0.008)))
    nozzle.set("num_levels", [len(levels)])
    for k, level in enumerate(levels, start=1):
        nozzle.set(f"level_{k}_size", level)
    head_r, head_h = levels[-1] if style != "slim" else levels[-2]
    segments = 2 if style == "tall" else int(rng.integers(1, 3))
    width = rng.uniform(0.006, 0.01) if style != "tall" else rng.uniform(0.006, 0.009)
    thickness = min(rng.uniform(0.005, 0.008), 0.8 * head_h)
    nozzle.set("num_nozzles", [segments])
    nozzle.set("nozzle_size", [width, thickness])
    first = rng.uniform(0.035, 0.06) if style == "tall" else rng.uniform(0.012, 0.035)
    nozzle.set("nozzle_length", [first, rng.uniform(0.006, 0.015)])
    nozzle.set("nozzle_rotation", [rng.uniform(-5.0, 5.0), rng.uniform(25.0, 70.0)]
               if segments == 2 else [rng.uniform(-8.0, 8.0), rng.uniform(-8.0, 8.0)])
    top_level = levels[-1][1] if style == "slim" else 0.0
    # The spout leaves the head (below a top button, if any) around its middle.
    drop = top_level + max(thickness / 2, rng.uniform(0.3, 0.6) * head_h)
    drop = min(drop, top_level + head_h - thickness / 2)
    nozzle.set("nozzle_offset", [-drop])


def _shape_spray(nozzle: SampledInstance, rng: np.random.Generator, collar: float,
                 room: float) -> None:
    """A trigger sprayer; ``room`` is the free height below the collar top for the trigger."""
    collar_h = rng.uniform(0.01, 0.016)
    nozzle.set("bottom_size", [collar, collar_h])
    mx, my, mz = (rng.uniform(0.012, 0.02), rng.uniform(0.015, 0.035), rng.uniform(0.016, 0.028))
    mx = min(mx, 1.6 * collar)
    nozzle.set("middle_size", [mx, my, mz])
    tx, ty, tz = rng.uniform(0.012, 0.02), rng.uniform(0.012, 0.02), rng.uniform(0.055, 0.09)
    nozzle.set("top_size", [tx, ty, tz])
    offset = rng.uniform(0.3, 0.9) * (tz / 2 - mz / 2)
    nozzle.set("top_offset", [offset, rng.uniform(-0.01, 0.01)])
    nozzle.set("top_rotation", [rng.uniform(-10.0, 3.0)])
    nozzle.set("nozzle_size", [rng.uniform(0.003, 0.0055), rng.uniform(0.004, 0.01)])
    hz = rng.uniform(0.005, 0.009)
    hy = min(rng.uniform(0.025, 0.045), 0.9 * (room + my + collar_h))
    nozzle.set("handle_size", [rng.uniform(0.008, 0.014), hy, hz])
    # Trigger between the neck (with room to swing back) and the head's front end.
    front = offset + tz / 2
    back_most = mz / 2 + 0.004 + hy * np.sin(np.radians(15.0)) + hz
    lo, hi = min(back_most - front, -0.006), -0.006
    nozzle.set("handle_offset", [rng.uniform(lo, lo + 0.5 * (hi - lo))])
    nozzle.set("handle_rotation", [rng.uniform(-20.0, 5.0)])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body, nozzle = parts["body"][0], parts["nozzle"][0]
    spray = nozzle.template is SPRAY_NOZZLE
    if body.template is MULTILEVEL_BODY:
        top, mouth, neck_h = _shape_multilevel(body, rng, spray)
        collar = mouth * rng.uniform(1.12, 1.3) if neck_h > 0 else \
            min(mouth * rng.uniform(0.6, 0.85), rng.uniform(0.013, 0.02))
    else:
        style = rng.choice(["regular", "slim", "flat"])
        if style == "regular":
            x = rng.uniform(0.06, 0.1)
            size = [x, rng.uniform(0.08, 0.14), x * rng.uniform(0.85, 1.15)]
        elif style == "slim":
            x = rng.uniform(0.04, 0.06)
            size = [x, rng.uniform(0.11, 0.19), x * rng.uniform(0.85, 1.15)]
        else:
            size = [rng.uniform(0.06, 0.1), rng.uniform(0.1, 0.18), rng.uniform(0.035, 0.05)]
        if spray:
            size[1] = max(size[1], rng.uniform(0.13, 0.19))
        x, height, z = body.set("size", size)
        top, neck_h = height / 2, 0.0
        collar = min(rng.uniform(0.013, 0.019), 0.42 * min(x, z))
    # A collar on a neck screws over its top part; on a flat top it sits on the surface.
    sink = min(0.7 * neck_h, rng.uniform(0.5, 0.8) * 0.012) if neck_h > 0 else 0.0
    if spray:
        _shape_spray(nozzle, rng, collar, max(neck_h - sink, 0.0))
    else:
        _shape_press(nozzle, rng, collar)
    nozzle.set("position", [0.0, top - sink, 0.0])


CATEGORY = Category(
    "Dispenser",
    "A soap, lotion or cleaner dispenser: a bottle body with a press pump or trigger sprayer.",
    (Slot("body", (MULTILEVEL_BODY, CUBOIDAL_BODY)),
     Slot("nozzle", (PRESS_NOZZLE, SPRAY_NOZZLE))),
    _assemble)
