"""Laptop: a keyboard base, a hinged screen and optional hinge connectors.

Every template of the library's Laptop is declared (Regular_Base, Regular_Screen,
Cuboidal_Connector, Cylindrical_Connector); none is left out. The screen's ``offset`` keeps the
library's meaning only at ``screen_rotation`` = 0 (upright): the library folds the rotation's
sine into ``offset[1]`` so that its hinge stays put, whereas here the screen is built upright and
the revolute joint at its lower front edge (the hinge at the back of the base) poses it, so
``offset`` does not depend on the opening. Connectors are fixed to the base at the hinge.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import Category, Joint, Part, SampledInstance, Slot, angle, count, length, template

# --- base -------------------------------------------------------------------------------------


def _regular_base(p) -> list[Part]:
    return [Part("base", *g.box(p["size"]))]


REGULAR_BASE = template(
    "Regular_Base", "base", "Keyboard base: a slab centred on the origin.",
    [length("size", 3, (0.2, 0.008, 0.14), (0.45, 0.04, 0.34),
            "width (x), thickness (y), depth (z)")],
    _regular_base)

# --- screen -----------------------------------------------------------------------------------


def _regular_screen(p) -> list[Part]:
    width, panel, thick = p["size"]
    hinge_y, z = p["offset"]
    # Built upright (screen_rotation = 0); the joint turns it about its lower front edge.
    return [Part("screen", *g.box((width, panel, thick), (0.0, hinge_y + panel / 2, z)))]


def _screen_hinge(p, k) -> np.ndarray:
    return np.array([0.0, p["offset"][0], p["offset"][1] + p["size"][2] / 2])


REGULAR_SCREEN = template(
    "Regular_Screen", "screen",
    "Display lid: a slab standing on the hinge line, tilted about x by screen_rotation.",
    [length("size", 3, (0.2, 0.12, 0.003), (0.45, 0.33, 0.02),
            "width (x), panel length from the hinge to the top edge, thickness"),
     length("offset", 2, (-0.03, -0.2), (0.06, 0.2),
            "hinge height (y of the lower edge), z of the panel's mid-plane when upright"),
     angle("screen_rotation", 1, -90.0, 90.0,
           "tilt about x: 0 upright, +90 folded shut onto the base, negative leaning back")],
    _regular_screen,
    joints=(Joint("screen", "revolute", (1.0, 0.0, 0.0), _screen_hinge,
                  lambda p, k: (-90.0, 90.0), lambda p, k: p["screen_rotation"][0],
                  doc="Hinge about x at the screen's lower front edge; +90° closes the lid."),))

# --- connectors -------------------------------------------------------------------------------


def _connector_x(p, k: int, along: float) -> float:
    """Centre x of connector ``k``: laid out left to right from offset[0] with the gaps."""
    return p["offset"][0] + k * along + float(np.sum(p["separation"][:k])) + along / 2


def _cuboidal_connector(p) -> list[Part]:
    along, height, depth = p["size"]
    _, y, z = p["offset"]
    tilt = p["connector_rotation"][0]
    blocks = [g.place(g.box((along, height, depth)), (_connector_x(p, k, along), y, z),
                      (tilt, 0.0, 0.0)) for k in range(int(p["number_of_connector"][0]))]
    return [Part("connector", *g.concat(blocks))]


def _cylindrical_connector(p) -> list[Part]:
    radius, along = p["size"]
    _, y, z = p["offset"]
    barrel = g.cylinder(radius, radius, along, -along / 2)
    rods = [g.place(barrel, (_connector_x(p, k, along), y, z), (0.0, 0.0, 90.0))
            for k in range(int(p["number_of_connector"][0]))]
    return [Part("connector", *g.concat(rods))]


_SEPARATION = length("separation", 2, 0.0, 0.4,
                     "gap after connector 1, after connector 2 (unused past the count)")
_CONNECTOR_OFFSET = length("offset", 3, (-0.25, -0.04, -0.2), (0.1, 0.08, 0.2),
                           "x of the first connector's left end, y and z of the hinge axis")

CUBOIDAL_CONNECTOR = template(
    "Cuboidal_Connector", "connector",
    "Row of hinge blocks along x, tilted about x with the screen.",
    [count("number_of_connector", 1, 3, "number of hinge blocks"),
     length("size", 3, (0.01, 0.004, 0.003), (0.4, 0.04, 0.03),
            "block length along x, height (y), depth (z) before the tilt"),
     _SEPARATION, _CONNECTOR_OFFSET,
     angle("connector_rotation", 1, -90.0, 90.0, "tilt of every block about x")],
    _cuboidal_connector)

CYLINDRICAL_CONNECTOR = template(
    "Cylindrical_Connector", "connector", "Row of hinge barrels: cylinders along x.",
    [count("number_of_connector", 1, 3, "number of hinge barrels"),
     length("size", 2, (0.002, 0.01), (0.015, 0.4), "barrel radius, barrel length along x"),
     _SEPARATION, _CONNECTOR_OFFSET],
    _cylindrical_connector)

# --- category ---------------------------------------------------------------------------------


def _opening(rng: np.random.Generator) -> float:
    """Mostly open at a working angle; sometimes half shut, shut, or laid back flat."""
    kind = rng.choice(4, p=[0.7, 0.14, 0.1, 0.06])
    return float((rng.uniform(-40.0, -5.0), rng.uniform(0.0, 60.0), rng.uniform(86.0, 90.0),
                  rng.uniform(-90.0, -40.0))[kind])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    base = parts["base"][0]
    width = rng.uniform(0.29, 0.4)
    width, thick, depth = base.set("size", [width, rng.uniform(0.014, 0.025),
                                            width * 0.6825 * rng.uniform(0.85, 1.1)])

    screen = parts["screen"][0]
    panel_thick = rng.uniform(0.004, min(0.6 * thick, 0.012))
    inset = rng.uniform(0.0, 0.006)
    hinge_z = -depth / 2 + inset + panel_thick  # lower front edge of the upright screen
    screen.set("size", [width - rng.uniform(0.0, 0.012),
                        (depth / 2 - hinge_z) * rng.uniform(0.92, 0.99), panel_thick])
    screen.set("offset", [thick / 2, hinge_z - panel_thick / 2])
    tilt = screen.set("screen_rotation", [_opening(rng)])[0]

    for connector in parts["connection"]:
        n = int(connector.set("number_of_connector", [rng.integers(1, 4)])[0])
        if n == 1:
            along = width * rng.uniform(0.3, 0.85)
            span = along
        else:
            along = width * rng.uniform(0.05, 0.14)
            span = width * rng.uniform(0.7, 0.92)
        connector.set("separation", [(span - n * along) / max(n - 1, 1)] * 2)
        if connector.template is CYLINDRICAL_CONNECTOR:
            radius = max(panel_thick / 2 * rng.uniform(1.05, 1.4), rng.uniform(0.003, 0.007))
            connector.set("size", [radius, along])
            # The barrel runs under the screen's lower edge, half sunk into the base.
            connector.set("offset", [-span / 2, thick / 2 + rng.uniform(0.0, 0.4) * radius,
                                     hinge_z - panel_thick / 2])
        else:
            height = rng.uniform(0.01, 0.022)
            connector.set("size", [along, height, panel_thick * rng.uniform(1.2, 1.8)])
            # Centred on the screen's lower edge (as posed), reaching a little into the base.
            a = np.radians(tilt)
            up = np.array([np.cos(a), np.sin(a)])  # the screen's upward direction in (y, z)
            edge = np.array([thick / 2, hinge_z]) + panel_thick / 2 * np.array([np.sin(a),
                                                                                -np.cos(a)])
            y, z = edge + up * height * 0.2
            connector.set("offset", [-span / 2, y, z])
            connector.set("connector_rotation", [tilt])


CATEGORY = Category(
    "Laptop", "A laptop: keyboard base, hinged screen, optional hinge connectors.",
    (Slot("base", (REGULAR_BASE,)),
     Slot("screen", (REGULAR_SCREEN,)),
     Slot("connection", (CUBOIDAL_CONNECTOR, CYLINDRICAL_CONNECTOR), min_count=0)),
    _assemble, removal_rate=0.5)
