"""Bottle: a solid body of stacked frustum levels (base, body, shoulder, neck, lip) and a screw
cap that lifts straight off. Both templates of the Standard Concept Template Library's Bottle
(Multilevel_Body, Cylindrical_Lid) are declared; none is left out. The derivative library's
Cylindrical_Button, Round_U_Handle and Cylindrical_Connector (spray and pump bottles) are not
part of the original library and are not declared.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right; the body is centred on
the origin.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import Category, Constraint, Joint, Part, SampledInstance, Slot, count, length, template

LEVELS = 4

# --- body -------------------------------------------------------------------------------------


def _levels(p) -> tuple[list[float], list[float]]:
    """Radii (level 1 bottom, then each level's top) and heights of the levels in use."""
    n = int(p["num_levels"][0])
    radii = [p["level_1_size"][2]] + [p[f"level_{k}_size"][0] for k in range(1, n + 1)]
    heights = [p[f"level_{k}_size"][1] for k in range(1, n + 1)]
    return radii, heights


def _multilevel_body(p) -> list[Part]:
    radii, heights = _levels(p)
    y = np.concatenate([[0.0], np.cumsum(heights)])
    y -= y[-1] / 2
    # Solid of revolution: bottom pole, the level outline upwards, top pole.
    r = np.concatenate([[0.0], radii, [0.0]])
    h = np.concatenate([[y[0]], y, [y[-1]]])
    return [Part("body", *g.lathe(r, h))]


def _level_params() -> list:
    params = [count("num_levels", 1, LEVELS, "number of stacked levels"),
              length("level_1_size", 3, (0.006, 0.005, 0.012), (0.07, 0.35, 0.07),
                     "level 1 (the base of the body): top radius, height, bottom radius")]
    for k in range(2, LEVELS + 1):
        params.append(length(f"level_{k}_size", 3, (0.005, 0.002, 0.005), (0.07, 0.3, 0.07),
                             f"level {k}: top radius, height, unused (its bottom radius is level "
                             f"{k - 1}'s top radius); unused above num_levels"))
    return params


MULTILEVEL_BODY = template(
    "Multilevel_Body", "body",
    "Solid bottle body: a stack of frustums, each starting at the previous level's top radius.",
    _level_params(), _multilevel_body)

# --- lid --------------------------------------------------------------------------------------


def _cylindrical_lid(p) -> list[Part]:
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    bottom, ceiling = -height / 2, -height / 2 + depth
    # Solid cap with a frustum hole from below: hole ceiling pole, hole wall, rim, outside, top.
    return [Part("lid", *g.lathe([0.0, i_top, i_bottom, r_bottom, r_top, 0.0],
                                 [ceiling, ceiling, bottom, bottom, -bottom, -bottom]))]


CYLINDRICAL_LID = template(
    "Cylindrical_Lid", "lid",
    "Cap: a solid frustum with a frustum hole from below; it lifts straight off (prismatic y).",
    [length("outer_size", 3, (0.006, 0.006, 0.004), (0.08, 0.08, 0.06),
            "outer radius at the top, outer radius at the bottom, total height"),
     length("inner_size", 3, (0.004, 0.004, 0.002), (0.078, 0.078, 0.058),
            "hole radius at its ceiling, hole radius at the opening, hole depth")],
    _cylindrical_lid,
    joints=(Joint("lid", "prismatic", (0.0, 1.0, 0.0), lambda p, k: np.zeros(3),
                  lambda p, k: (0.0, 0.1), doc="Lifts off the neck by up to 0.1 m."),),
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.001),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.001),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.001)))

# --- category ---------------------------------------------------------------------------------

#: Probability of 1, 2, 3, 4 levels: the library samples wine and water bottles with 3–4 levels,
#: juice with 2–4 and others with 1–4.
LEVEL_WEIGHTS = np.array([0.08, 0.17, 0.37, 0.38])


def _shape_levels(rng: np.random.Generator, n: int) -> tuple[list[float], list[float], float]:
    """(radii, heights, bottom radius) of a plausible bottle of ``n`` levels: a wide body, a
    shoulder narrowing to the neck, a narrow neck (and a lip or a waisted body for 4 levels)."""
    total = rng.uniform(0.12, 0.34)
    radius = float(np.clip(total / rng.uniform(5.0, 8.5), 0.022, 0.058))
    neck = rng.uniform(0.009, 0.017) if rng.random() < 0.75 else rng.uniform(0.017, 0.03)
    neck = min(neck, 0.6 * radius)
    bottom = radius * rng.uniform(0.93, 1.0)
    if n == 1:  # a jar-like bottle: one straight level under a wide cap
        radius = float(np.clip(total / rng.uniform(3.0, 6.0), 0.02, 0.05))
        return [radius * rng.uniform(0.9, 1.0)], [total], radius
    if n == 2:  # body and a conical shoulder up to a wide mouth
        neck = max(neck, radius * rng.uniform(0.35, 0.6))
        body = total * rng.uniform(0.6, 0.8)
        return [radius * rng.uniform(0.97, 1.02), neck], [body, total - body], bottom
    shoulder = total * rng.uniform(0.08, 0.25)
    if n == 3:  # body, shoulder, neck (wine, water)
        neck_h = total * rng.uniform(0.12, 0.33)
        body = total - shoulder - neck_h
        return ([radius * rng.uniform(0.97, 1.02), neck, neck * rng.uniform(0.92, 1.05)],
                [body, shoulder, neck_h], bottom)
    if rng.random() < 0.5:  # body, shoulder, neck and a collar at the mouth
        neck_h = total * rng.uniform(0.08, 0.25)
        lip_h = rng.uniform(0.006, 0.015)
        body = total - shoulder - neck_h - lip_h
        return ([radius * rng.uniform(0.97, 1.02), neck, neck * rng.uniform(0.95, 1.0),
                 neck * rng.uniform(1.08, 1.2)], [body, shoulder, neck_h, lip_h], bottom)
    # waisted or bulging body in two levels, then shoulder and neck (soda, sauce bottles)
    neck_h = total * rng.uniform(0.1, 0.25)
    lower = (total - shoulder - neck_h) * rng.uniform(0.35, 0.65)
    upper = total - shoulder - neck_h - lower
    return ([radius * rng.uniform(0.82, 1.05), radius * rng.uniform(0.95, 1.02), neck,
             neck * rng.uniform(0.92, 1.05)], [lower, upper, shoulder, neck_h], bottom)


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    n = int(rng.choice(np.arange(1, LEVELS + 1), p=LEVEL_WEIGHTS))
    body.set("num_levels", [n])
    radii, heights, bottom = _shape_levels(rng, n)
    for k, (r, h) in enumerate(zip(radii, heights), start=1):
        body.set(f"level_{k}_size", [r, h, bottom if k == 1 else body[f"level_{k}_size"][2]])
    radii, heights = _levels(body.params)  # as clipped into the declared ranges
    top_y = sum(heights) / 2
    mouth, last = radii[-1], heights[-1]
    for lid in parts["lid"]:
        hole = mouth * rng.uniform(1.0, 1.01)
        # The cap covers the top of the last level only (not the shoulder below it).
        depth = min(float(np.clip(last * rng.uniform(0.2, 0.5), 0.006, 0.035)), 0.95 * last)
        # Narrow necks take a cap 10–30 % wider (library); wide mouths a thinner-walled one.
        wider = rng.uniform(1.1, 1.3) if mouth < 0.022 else rng.uniform(1.03, 1.1)
        outer = max(hole * wider, hole + 0.0015)
        lid_h = depth + rng.uniform(0.002, 0.006)
        lid.set("outer_size", [outer * rng.uniform(0.94, 1.0), outer, lid_h])
        lid.set("inner_size", [hole, hole, depth])
        lid.set("position", [0.0, top_y - depth + lid_h / 2, 0.0])


CATEGORY = Category(
    "Bottle", "A bottle: solid stacked-frustum body with a cap that lifts off.",
    (Slot("body", (MULTILEVEL_BODY,)),
     Slot("lid", (CYLINDRICAL_LID,))),
    _assemble)
