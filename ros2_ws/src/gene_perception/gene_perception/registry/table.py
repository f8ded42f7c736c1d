"""Table: a desktop (the root, rectangular or round) on a leg set, with optional shelves below
(sublayers), a modesty board, drawers, cabinet doors and a privacy partition on top — dining
and coffee-shop tables, round tables, pedestal tables and desks with drawers or drawer
pedestals. Thirteen of the seventeen Standard Concept Template Library Table templates are
declared; L_type_desktop, Cable_stayed_leg, Desk_type_leg and Regular_cabinet are left out:
the library's sampler never uses them, and their code is unreliable (L_type_desktop skips the
base-class initialisation, Cable_stayed_leg ignores connections_offset and never converts its
extra legs' angles, Regular_cabinet reads an undefined index and mis-indexed slots, and
Desk_type_leg was never exercised). The ``additional_*`` vectors take ``[n, then 9 values
per board]``: Regular_sublayer's holds up to 8 boards (the side, back and bottom boards of desk
pedestals, as in the library's sampler); the leg sets' and Cylindrical_sublayer's are kept at
n = 0 (length 1), which real tables do not need.
Object frame: the floor is y = 0, the desktop centred over the origin, the front is +z.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .. import geometry as g
from . import furniture_parts as fp
from .core import (Category, EmptyUnless, Joint, Param, Part, SampledInstance, Slot, angle, count,
                   flag, length, packed, template)

MAX_DRAWERS = 8
MAX_DOORS = 4
MAX_BOARDS = 8

# --- desktops -------------------------------------------------------------------------------


def _regular_desktop(p) -> list[Part]:
    return [Part("desktop", *g.box(p["size"]))]


def _cylindrical_desktop(p) -> list[Part]:
    radius, height = p["size"]
    return [Part("desktop", *g.cylinder(radius, radius, height, -height / 2, segments=48))]


REGULAR_DESKTOP = template(
    "Regular_desktop", "desktop", "Rectangular table top slab centred on its origin.",
    [length("size", 3, (0.3, 0.012, 0.3), (2.4, 0.08, 1.4), "width (x), thickness (y), depth (z)")],
    _regular_desktop)
CYLINDRICAL_DESKTOP = template(
    "Cylindrical_desktop", "desktop", "Round table top disc centred on its origin.",
    [length("size", 2, (0.2, 0.012), (0.9, 0.08), "radius, thickness (y)")],
    _cylindrical_desktop)

# --- leg sets (hang from their origin, the desktop's underside) -----------------------------

NO_EXTRA_LEGS = fp.board_param("additional_legs_params", 0,
                               "Extra legs (kept empty: n = 0), tops in the object frame.")
LEG_SIZE_DOC = "width (x), length along the leg, depth (z) of each {} leg"


def _extra_legs(p) -> g.Mesh:
    """The library's extra legs hang from their given top points (object frame)."""
    sizes, tops, euler = fp.board_items(p["additional_legs_params"])
    return fp.hanging_cuboids(sizes, tops - p["position"], g.rotation_matrix(euler))


def _regular_leg(p) -> list[Part]:
    tops, frames, sizes = fp.leg_layout(p, int(round(p["number_of_legs"][0])),
                                        p["symmetry_mode"][0] > 0.5)
    return [Part("legs", *g.concat([fp.hanging_cuboids(sizes, tops, frames), _extra_legs(p)]))]


def _splat_leg(p) -> list[Part]:
    tops, frames, sizes = fp.leg_layout(p, 4, True)
    return [Part("legs", *g.concat([fp.hanging_cuboids(sizes, tops, frames),
                                    fp.stretchers(p, tops, frames, sizes), _extra_legs(p)]))]


def _leg_common() -> list[Param]:
    return [length("front_legs_size", 3, (0.015, 0.1, 0.015), (0.8, 1.3, 1.2),
                   LEG_SIZE_DOC.format("front")),
            length("rear_legs_size", 3, (0.015, 0.1, 0.015), (0.8, 1.3, 1.2),
                   LEG_SIZE_DOC.format("rear"))]


SEPARATION = length("legs_separation", 3, 0.0, 2.4,
                    "x spacing of the front pair, x spacing of the rear pair, z spacing "
                    "front to rear (leg top centres)")
CENTRAL = angle("central_rotation", 1, -180.0, 180.0, "turn of the whole leg set about y")
FRONT_TILT = angle("front_rotation", 2, -30.0, 30.0,
                   "front legs' tilt about x (negative: feet forward), about z (negative: left "
                   "foot outwards; mirrored on the right)")
REAR_TILT = angle("rear_rotation", 2, -30.0, 30.0,
                  "rear legs' tilt about x (positive: feet backward), about z (as the front)")

REGULAR_LEG = template(
    "Regular_leg", "leg", "One to four cuboid legs hanging from the desktop's underside.",
    [*_leg_common(), count("number_of_legs", 1, 4, "number of legs (1 centre column, 2 side "
                                                   "slabs, 3 = 2 front + 1 rear, 4)"),
     SEPARATION, CENTRAL, FRONT_TILT, REAR_TILT,
     flag("symmetry_mode", "whether right-hand legs mirror the left-hand z tilt"),
     NO_EXTRA_LEGS],
    _regular_leg)
REGULAR_WITH_SPLAT_LEG = template(
    "Regular_with_splat_leg", "leg", "Four cuboid legs joined by optional stretcher bars.",
    [*_leg_common(), SEPARATION, CENTRAL, FRONT_TILT, REAR_TILT,
     length("front_rear_bridging_bars_sizes", 2, 0.008, 0.2,
            "front and rear bars' height (y), thickness (z)"),
     length("left_right_bridging_bars_sizes", 2, 0.008, 0.2,
            "left and right bars' thickness (x), height (y)"),
     length("front_rear_bridging_bars_offset", 2, -0.7, 0.7,
            "height of the front bar, of the rear bar, above the legs' middle (along the legs)"),
     length("left_right_bridging_bars_offset", 2, -0.7, 0.7,
            "height of the side bars' front end, rear end, above the legs' middle"),
     Param("bridging_bars_existance", (4,), "bool", (0.0,) * 4, (1.0,) * 4,
           "whether the front, rear, left, right bar exists", discrete=True),
     NO_EXTRA_LEGS],
    _splat_leg)


def _tilt(mesh: g.Mesh, degrees: float) -> g.Mesh:
    return g.place(mesh, rotation=(degrees, 0.0, 0.0))


def _star_leg(p) -> list[Part]:
    radius, height = p["vertical_size"]
    width, thick, reach = p["sub_size"]
    tilt = p["tilt_angle"][0]
    n = int(round(p["number_of_sub_legs"][0]))
    turn = p["central_rotation"][0] - 360.0 * np.arange(n) / n
    a, t = np.radians(turn), np.radians(tilt)
    mid = -height + thick / 2 + p["sub_central_offset"][0]
    centers = np.column_stack([reach / 2 * np.cos(t) * np.sin(a), np.full(n, mid),
                               reach / 2 * np.cos(t) * np.cos(a)])
    feet = fp.boxes(np.tile([width, thick, reach], (n, 1)), centers,
                    np.column_stack([np.full(n, tilt), turn, np.zeros(n)]))
    column = g.cylinder(radius, radius, height, -height)
    return [Part("legs", *_tilt(g.concat([column, feet, _extra_legs(p)]),
                                p["horizontal_rotation"][0]))]


HORIZONTAL_TILT = angle("horizontal_rotation", 1, -20.0, 20.0,
                        "tilt of the whole leg about x, about its top")

STAR_LEG = template(
    "Star_leg", "leg", "Pedestal column hanging from the top, on radial cuboid feet.",
    [length("vertical_size", 2, (0.015, 0.1), (0.15, 1.3), "column radius, column height"),
     length("sub_size", 3, (0.015, 0.008, 0.08), (0.2, 0.12, 0.8),
            "each foot's width (x), thickness (y), length from the axis (z)"),
     length("sub_central_offset", 1, -0.1, 0.3,
            "raise of the feet's centres above resting on the column's bottom"),
     angle("tilt_angle", 1, -30.0, 30.0, "droop of each foot (positive: outer end down)"),
     angle("central_rotation", 1, -180.0, 180.0, "turn of the feet about y"),
     HORIZONTAL_TILT,
     count("number_of_sub_legs", 3, 6, "number of feet"),
     NO_EXTRA_LEGS],
    _star_leg)


def _bar_cylindrical_leg(p) -> list[Part]:
    radius, height = p["vertical_size"]
    base_r, base_h = p["bottom_size"]
    meshes = [g.cylinder(radius, radius, height, -height),
              g.cylinder(base_r, base_r, base_h, -height - base_h, segments=48), _extra_legs(p)]
    return [Part("legs", *_tilt(g.concat(meshes), p["horizontal_rotation"][0]))]


def _bar_cuboid_leg(p) -> list[Part]:
    vx, vh, vz = p["vertical_size"]
    bx, bh, bz = p["bottom_size"]
    mesh = fp.boxes([[vx, vh, vz], [bx, bh, bz]], [[0.0, -vh / 2, 0.0], [0.0, -vh - bh / 2, 0.0]],
                    [[0.0, 0.0, 0.0], [0.0, p["bottom_rotation"][0], 0.0]])
    return [Part("legs", *_tilt(g.concat([mesh, _extra_legs(p)]), p["horizontal_rotation"][0]))]


BAR_CYLINDRICAL_LEG = template(
    "Bar_cylindrical_leg", "leg", "Round pedestal column on a round base disc.",
    [length("vertical_size", 2, (0.015, 0.1), (0.2, 1.3), "column radius, column height"),
     length("bottom_size", 2, (0.05, 0.005), (0.8, 0.1), "base disc radius, thickness"),
     HORIZONTAL_TILT, NO_EXTRA_LEGS],
    _bar_cylindrical_leg)
BAR_CUBOID_LEG = template(
    "Bar_cuboid_leg", "leg", "Square pedestal column on a cuboid base plate.",
    [length("vertical_size", 3, (0.02, 0.1, 0.02), (1.0, 1.3, 1.0),
            "column width (x), height (y), depth (z)"),
     length("bottom_size", 3, (0.05, 0.005, 0.05), (1.4, 0.1, 1.4),
            "base plate width (x), thickness (y), depth (z)"),
     angle("bottom_rotation", 1, -180.0, 180.0, "turn of the base plate about y"),
     HORIZONTAL_TILT, NO_EXTRA_LEGS],
    _bar_cuboid_leg)

# --- shelves, boards --------------------------------------------------------------------------


def _sub_heights(p) -> np.ndarray:
    n = int(round(p["number_of_subs"][0]))
    return p["subs_offset"][0] + p["interval_between_subs"][0] * np.arange(n)


def _regular_sublayer(p) -> list[Part]:
    ys = _sub_heights(p)
    sizes, centers, euler = fp.board_items(p["additional_sublayers_params"])
    mesh = fp.boxes(np.concatenate([np.tile(p["subs_size"], (len(ys), 1)), sizes]),
                    np.concatenate([np.column_stack([0 * ys, ys, 0 * ys]),
                                    centers - p["position"]]),
                    np.concatenate([np.zeros((len(ys), 3)), euler]))
    return [Part("shelf", *mesh)]


def _cylindrical_sublayer(p) -> list[Part]:
    radius, thick = p["subs_size"]
    discs = [g.cylinder(radius, radius, thick, y - thick / 2, segments=48) for y in _sub_heights(p)]
    sizes, centers, euler = fp.board_items(p["additional_sublayers_params"])
    return [Part("shelf", *g.concat([*discs, fp.boxes(sizes, centers, euler)]))]


SUB_COMMON = [
    length("subs_offset", 1, -1.3, 0.3, "height of the first shelf's centre above the origin"),
    length("interval_between_subs", 1, -1.0, 1.0, "height step from one shelf to the next")]

REGULAR_SUBLAYER = template(
    "Regular_sublayer", "shelf",
    "Rectangular shelves stacked below the desktop, plus extra boards (desk pedestals).",
    [length("subs_size", 3, (0.05, 0.008, 0.05), (2.4, 0.06, 1.4),
            "each shelf's width (x), thickness (y), depth (z)"),
     count("number_of_subs", 0, 3, "number of shelves"), *SUB_COMMON,
     fp.board_param("additional_sublayers_params", MAX_BOARDS,
                    "Extra boards (pedestal sides, backs, bottoms), centres in the object "
                    "frame.")],
    _regular_sublayer,
    empty_unless=EmptyUnless("number_of_subs", (0,), 0.5, "additional_sublayers_params"))
CYLINDRICAL_SUBLAYER = template(
    "Cylindrical_sublayer", "shelf", "Round shelf discs stacked below the desktop.",
    [length("subs_size", 2, (0.05, 0.008), (0.9, 0.06), "each disc's radius, thickness (y)"),
     count("number_of_subs", 1, 3, "number of discs"), *SUB_COMMON,
     fp.board_param("additional_sublayers_params", 0,
                    "Extra boards (kept empty: n = 0), centres in the template frame.")],
    _cylindrical_sublayer)


def _backboard(p) -> list[Part]:
    w, h, t = p["size"]
    return [Part("board", *g.box((w, h, t), (0.0, -h / 2, 0.0)))]


REGULAR_BACKBOARD = template(
    "Regular_backboard", "board", "Modesty board hanging below its origin under the desktop.",
    [length("size", 3, (0.1, 0.02, 0.005), (2.4, 1.0, 0.05), "width (x), height (y), "
                                                            "thickness (z)")],
    _backboard)


def _partition(p) -> list[Part]:
    right, rear, left = p["has_partition"] > 0.5
    tx, ty, tz = p["left_right_size"]
    rh, rt = p["rear_size"]
    sep = p["left_right_separation"][0]
    sizes, centers = [], []
    for on, side in ((right, 1.0), (left, -1.0)):
        if on:
            sizes.append([tx, ty, tz])
            centers.append([side * (sep / 2 + tx / 2), ty / 2, 0.0])
    if rear:
        sizes.append([sep + 2 * tx, rh, rt])
        centers.append([0.0, rh / 2, -tz / 2 - rt / 2])
    return [Part("board", *fp.boxes(np.reshape(sizes, (-1, 3)), np.reshape(centers, (-1, 3))))]


REGULAR_PARTITION = template(
    "Regular_partition", "board", "Privacy screen boards standing on the desktop.",
    [Param("has_partition", (3,), "bool", (0.0,) * 3, (1.0,) * 3,
           "whether the right, rear, left board exists", discrete=True),
     length("left_right_size", 3, (0.005, 0.05, 0.1), (0.05, 1.0, 1.4),
            "side boards' thickness (x), height (y), depth (z)"),
     length("rear_size", 2, (0.05, 0.005), (1.0, 0.05), "rear board height (y), thickness (z)"),
     length("left_right_separation", 1, 0.2, 2.4, "clear x distance between the side boards")],
    _partition, at_least_one=("has_partition",))

# --- drawers and doors ------------------------------------------------------------------------

_DRAWER_ITEM = [(0.05, 1.2), (0.02, 0.5), (0.08, 0.8),            # drawer_size w, h, d
                (0.003, 0.03),                                    # bottom_size
                (0.06, 1.3), (0.03, 0.8), (0.008, 0.05),          # front_size w, h, t
                (-0.4, 0.4),                                      # front_offset (y)
                (0.004, 0.03), (0.004, 0.03),                     # side, front/back wall
                (1.0, 2.0),                                       # number_of_handle
                (0.005, 0.5), (0.005, 0.5), (0.005, 0.05),        # handle_sizes
                (-180.0, 180.0),                                  # handle_rotation (deg)
                (-0.6, 0.6), (-0.4, 0.4),                         # handle_offset x, y
                (0.0, 1.2),                                       # handle_separation
                (-1.5, 1.5), (-1.5, 1.5), (-0.8, 1.2)]            # drawer_offset x, y, z


def _drawer_box_center(item: np.ndarray) -> np.ndarray:
    return item[18:21] - np.array([0.0, item[1] / 2, 0.0])


def _drawers(p) -> list[Part]:
    d = fp.item_rows(p, "number_of_drawer", "drawers_params", 21)
    n = len(d)
    box, front = d[:, 0:3], d[:, 4:7]
    center = d[:, 18:21] - np.column_stack([np.zeros(n), box[:, 1] / 2, np.zeros(n)])
    front_center = center + np.column_stack([np.zeros(n), d[:, 7], box[:, 2] / 2 + front[:, 2] / 2])
    handles = fp.drawer_handle_centers(center, box, front, d[:, 11:14], d[:, 15:17], d[:, 17],
                                       d[:, 10])
    return fp.drawer_parts(box, center, d[:, 3], d[:, 8], d[:, 9], front, front_center,
                           d[:, 11:14], handles, d[:, 10], d[:, 14])


REGULAR_DRAWER = template(
    "Regular_drawer", "drawer",
    "Drawers hanging from their top: open boxes with a front panel and one or two handles.",
    [count("number_of_drawer", 1, MAX_DRAWERS, "number of drawers"),
     packed("drawers_params", "number_of_drawer", range(1, MAX_DRAWERS + 1), _DRAWER_ITEM, "m",
            "21 per drawer: drawer_size (box width x, height y, depth z); bottom_size (bottom "
            "plate thickness, below the box); front_size (x, y, thickness z); front_offset (y of "
            "the front's centre above the box centre); left_right_inner_size (side wall "
            "thickness); rear_front_inner_size (front and back wall thickness); "
            "number_of_handle (1 or 2); handle_sizes (x, y, z); handle_rotation (deg about z); "
            "handle_offset (x, y) from the box centre; handle_separation (x between two "
            "handles); drawer_offset (x, y of the box's top, z of its centre, pulled out "
            "towards the front)")],
    _drawers,
    joints=(Joint("drawer", "prismatic", (0.0, 0.0, 1.0),
                  lambda p, k: _drawer_box_center(fp.item_row(p, "drawers_params", 21, k)),
                  lambda p, k: (0.0, 0.8 * float(fp.item_row(p, "drawers_params", 21, k)[2])),
                  doc="Each drawer slides out towards the front by up to 0.8 of its depth from "
                      "its position in the gene."),))

_DOOR_ITEM = [(0.08, 1.0), (0.05, 1.3), (0.008, 0.05),           # door_size w, h, t
              (0.005, 0.4), (0.005, 0.4), (0.005, 0.06),         # handle_size x, y, z
              (-180.0, 180.0),                                   # handle_rotation (deg)
              (-0.5, 0.5), (-0.65, 0.65),                        # handle_offset x, y
              (-180.0, 180.0),                                   # door_rotation (deg)
              (-1.5, 1.5), (-1.5, 1.5), (-0.8, 0.8)]             # door_offset x, y, z


def _door_center(item: np.ndarray) -> np.ndarray:
    return item[10:13] - np.array([0.0, item[1] / 2, 0.0])


def _door_leaf(p, k: int) -> tuple:
    """Door ``k``'s width, closed centre, handle x offset and opening, for its joint."""
    d = fp.item_row(p, "doors_params", 13, k)
    return d[0], _door_center(d), d[7], d[9]


def _doors(p) -> list[Part]:
    d = fp.item_rows(p, "number_of_door", "doors_params", 13)
    n = len(d)
    center = d[:, 10:13] - np.column_stack([np.zeros(n), d[:, 1] / 2, np.zeros(n)])
    return fp.door_parts(d[:, 0:3], d[:, 3:6], d[:, 7:9], center, d[:, 6])


REGULAR_DOOR = template(
    "Regular_door", "door",
    "Hinged cabinet door leaves hanging from their top, with cuboid handles.",
    [count("number_of_door", 1, MAX_DOORS, "number of door leaves"),
     packed("doors_params", "number_of_door", range(1, MAX_DOORS + 1), _DOOR_ITEM, "m",
            "13 per door: door_size (width x, height y, thickness z); handle_size (x, y, z); "
            "handle_rotation (deg about z); handle_offset (x, y) from the leaf centre; "
            "door_rotation (deg, how far the leaf is open about its hinge edge, the edge away "
            "from the handle; written negative for left hinges, positive for right ones); "
            "door_offset (x, y of the leaf's top edge, z of its centre, closed)")],
    _doors,
    joints=fp.door_joints(_door_leaf))

# --- assembly ---------------------------------------------------------------------------------

LEGS4 = (REGULAR_LEG, REGULAR_WITH_SPLAT_LEG)
PEDESTALS = (STAR_LEG, BAR_CYLINDRICAL_LEG, BAR_CUBOID_LEG)


def _desktop(top, leg, carcass, rng) -> SimpleNamespace:
    """Size and place the top; returns the layout the other parts are fitted to."""
    u = rng.uniform
    height = u(0.7, 0.8)
    thick = u(0.018, 0.05)
    if top.template is CYLINDRICAL_DESKTOP:
        radius = u(0.3, 0.6) if leg.template in PEDESTALS else u(0.35, 0.7)
        top.set("size", [radius, thick])
        width = depth = 2 * radius
    else:
        radius = None
        if carcass:
            width, depth = u(1.1, 1.8), u(0.55, 0.8)
        elif leg.template in PEDESTALS:
            width = u(0.6, 1.3)
            depth = width if rng.random() < 0.4 else u(0.6, width)
        elif rng.random() < 0.3:
            width = depth = u(0.6, 1.1)
        else:
            width = u(0.8, 2.0)
            depth = u(0.45, min(1.0, 0.9 * width))
        top.set("size", [width, thick, depth])
    top.set("position", [0.0, height - thick / 2, 0.0])
    return SimpleNamespace(height=height, thick=thick, radius=radius, width=width, depth=depth,
                   under=height - thick)


def _regular_legs(leg, lay, n, carcass, rng) -> None:
    """Four, three, two or one cuboid legs (with stretchers for Regular_with_splat_leg)."""
    u = rng.uniform
    w, d, r = lay.width, lay.depth, lay.radius
    s = u(0.035, 0.075)
    front = np.array([s, 0.0, s * u(0.8, 1.25)])
    rear = front.copy()
    shift = 0.0
    if n == 1:
        front = np.array([min(w * u(0.25, 0.45), 0.7), 0.0, d * u(0.3, 0.6)])
        sep = [0.0, 0.0, 0.0]
    elif n == 2:
        front = np.array([u(0.03, 0.06), 0.0, d * u(0.6, 0.85)])
        sep = [w - front[0] - 2 * u(0.0, 0.08)] * 2 + [0.0]
    elif r is not None and n == 3:
        rho = r * u(0.55, 0.7)
        sep = [2 * rho * np.sin(np.radians(60.0))] * 2 + [1.5 * rho]
        shift = -rho / 4
    elif r is not None:
        a = r * u(0.45, 0.6)
        sep = [2 * a] * 3
    else:
        inset = u(0.0, 0.08) if not carcass else u(0.0, 0.03)
        sep = [w - front[0] - 2 * inset, w - rear[0] - 2 * inset, d - front[2] - 2 * inset]
    fx = fz = rx = rz = 0.0
    if n in (2, 3, 4) and not carcass and rng.random() < 0.25:
        fz = -u(0.0, 10.0) if n != 3 else 0.0
        if n != 2:
            fx = -u(0.0, 10.0)
            rx = -fx
            rz = fz
    front[1] = lay.under / (np.cos(np.radians(fx)) * np.cos(np.radians(fz)))
    rear[1] = lay.under / (np.cos(np.radians(rx)) * np.cos(np.radians(rz)))
    if leg.template is REGULAR_LEG:
        leg.set("number_of_legs", [n])
        leg.set("symmetry_mode", [1])
    leg.set("front_legs_size", front)
    leg.set("rear_legs_size", rear)
    leg.set("legs_separation", sep)
    leg.set("central_rotation", [0.0])
    leg.set("front_rotation", [fx, fz])
    leg.set("rear_rotation", [rx, rz])
    leg.set("additional_legs_params", [0.0])
    leg.set("position", [0.0, lay.under, shift])
    lay.legs = SimpleNamespace(n=n, front=front, rear=rear, sep=np.array(sep), shift=shift)


def _stretcher_bars(leg, lay, apron_drawers, carcass_sides, rng) -> None:
    u = rng.uniform
    lf, lr = lay.legs.front[1], lay.legs.rear[1]
    apron = rng.random() < 0.35 and not apron_drawers and not carcass_sides
    on = (rng.random(4) < np.array([0.58, 0.58, 0.91, 0.91])).astype(float)
    if apron:
        h, t = u(0.06, 0.12), u(0.018, 0.025)
        leg.set("front_rear_bridging_bars_sizes", [h, t])
        leg.set("left_right_bridging_bars_sizes", [t, h])
        leg.set("front_rear_bridging_bars_offset", [lf / 2 - h / 2] * 2)
        leg.set("left_right_bridging_bars_offset", [lf / 2 - h / 2, lr / 2 - h / 2])
        on[:] = 1.0
    else:
        h, t = u(0.02, 0.05), u(0.015, 0.03)
        low_fr, low_lr = lay.under * u(0.1, 0.3), lay.under * u(0.1, 0.3)
        leg.set("front_rear_bridging_bars_sizes", [h, t])
        leg.set("left_right_bridging_bars_sizes", [t, h])
        # Offsets are along the legs from their middle; convert from heights above the floor.
        leg.set("front_rear_bridging_bars_offset", [low_fr / lay.under * lf - lf / 2,
                                                    low_fr / lay.under * lr - lr / 2])
        leg.set("left_right_bridging_bars_offset", [low_lr / lay.under * lf - lf / 2,
                                                    low_lr / lay.under * lr - lr / 2])
    if apron_drawers:
        on[0] = 0.0
    for side in carcass_sides:  # no bars through a pedestal
        on[:2] = 0.0
        on[2 if side < 0 else 3] = 0.0
    leg.set("bridging_bars_existance", on)


def _pedestal_leg(leg, lay, rng) -> None:
    u = rng.uniform
    span = lay.radius if lay.radius is not None else min(lay.width, lay.depth) / 2
    leg.set("horizontal_rotation", [0.0])
    leg.set("additional_legs_params", [0.0])
    leg.set("position", [0.0, lay.under, 0.0])
    if leg.template is STAR_LEG:
        col = u(0.025, 0.05)
        reach = span * u(0.7, 0.95)
        w, t, tilt = u(0.04, 0.08), u(0.025, 0.05), u(0.0, 12.0)
        a = np.radians(tilt)
        leg.set("vertical_size", [col, lay.under])
        leg.set("sub_size", [w, t, reach])
        leg.set("tilt_angle", [tilt])
        leg.set("sub_central_offset", [reach / 2 * np.sin(a) + t / 2 * np.cos(a) - t / 2])
        n = int(leg.set("number_of_sub_legs", [int(rng.integers(3, 6))])[0])
        leg.set("central_rotation", [u(0.0, 360.0 / n)])
        lay.column = col
    elif leg.template is BAR_CYLINDRICAL_LEG:
        base_h, col = u(0.015, 0.04), u(0.03, 0.07)
        leg.set("vertical_size", [col, lay.under - base_h])
        leg.set("bottom_size", [span * u(0.55, 0.85), base_h])
        lay.column = col
    else:
        base_h = u(0.015, 0.04)
        cx = u(0.06, 0.2)
        cz = cx if lay.radius is not None or rng.random() < 0.6 else u(0.06, 0.2)
        leg.set("vertical_size", [cx, lay.under - base_h, cz])
        if lay.radius is not None:
            b = 2 * span * u(0.45, 0.65)
            leg.set("bottom_size", [b, base_h, b])
            leg.set("bottom_rotation", [45.0 if rng.random() < 0.5 else 0.0])
        else:
            leg.set("bottom_size", [lay.width * u(0.4, 0.7), base_h, lay.depth * u(0.4, 0.7)])
            leg.set("bottom_rotation", [0.0])
        lay.column = max(cx, cz) / 2


def _leg_box_at(lay, height: float):
    """(x half spacing of the legs' axes, z front, z rear) at ``height`` above the floor."""
    legs = lay.legs
    drop = lay.under - height
    fx, fz = np.radians(lay.leg_tilt[:2])
    half_x = legs.sep[0] / 2 + drop * np.tan(-fz) if legs.n != 1 else 0.0
    z_front = legs.sep[2] / 2 + drop * np.tan(-fx) + legs.shift
    z_rear = -legs.sep[2] / 2 - drop * np.tan(np.radians(lay.leg_tilt[2])) + legs.shift
    return half_x, z_front, z_rear


def _handle(rng, style: str, long_side: float) -> list[float]:
    if style == "knob":
        s = rng.uniform(0.02, 0.035)
        return [s, s, rng.uniform(0.02, 0.035)]
    bar = min(long_side, rng.uniform(0.08, 0.2))
    thin = rng.uniform(0.01, 0.02)
    return [bar, thin, rng.uniform(0.015, 0.03)] if style == "drawer" else \
        [thin, bar, rng.uniform(0.015, 0.03)]


def _drawer_item_at(rng, x0, x1, f_top, f_bot, z_front, depth, clear, style, pull) -> list:
    """A table drawer whose front spans x0…x1, f_bot…f_top (offsets relative to the drawer
    template's origin) with the front's back face at z_front; its box stays inside ``clear``
    (x0, x1, y0) and behind the front."""
    u = rng.uniform
    fw, fh = x1 - x0, f_top - f_bot
    ft = u(0.015, 0.022)
    fx = (x0 + x1) / 2
    box_w = 2 * min(fx - clear[0], clear[1] - fx, fw / 2) - 2 * u(0.008, 0.015)
    bottom = u(0.005, 0.01)
    box_top = f_top - u(0.008, 0.02)
    low = max(f_bot, clear[2]) + bottom + 0.004
    box_h = max((box_top - low) * u(0.75, 0.95), 0.03)
    box_center_y = box_top - box_h / 2
    hs = _handle(rng, style, fw * 0.45)
    two = fw > 0.55 and rng.random() < 0.5
    return [box_w, box_h, depth, bottom, fw, fh, ft, (f_top + f_bot) / 2 - box_center_y,
            u(0.008, 0.014), u(0.008, 0.014), 2.0 if two else 1.0, *hs, 0.0,
            0.0, (f_top + f_bot) / 2 - box_center_y, fw * u(0.45, 0.6) if two else 0.0,
            (x0 + x1) / 2, box_top, z_front - depth / 2 + pull]


def _door_item_at(rng, x0, x1, y_top, y_bot, z_front, hinge: float, style: str, opened: bool
                  ) -> list:
    u = rng.uniform
    w, h = x1 - x0, y_top - y_bot
    t = u(0.015, 0.022)
    hs = _handle(rng, style, h * 0.5)
    rot = 90.0 if style == "door" and rng.random() < 0.25 else 0.0
    reach = (hs[1] if rot else hs[0]) / 2
    hx = -hinge * max(w / 2 - reach - u(0.02, 0.04), 0.0)
    hy = max(h / 2 - (hs[0] if rot else hs[1]) / 2 - u(0.03, 0.08), 0.0)
    angle_ = hinge * u(10.0, 100.0) if opened else 0.0
    return [w, h, t, *hs, rot, hx, hy, angle_, (x0 + x1) / 2, y_top, z_front + t / 2]


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    """Fit the sampled parts into one table. Besides sizes and places it adjusts the sampled
    slots where the uniform template draw would give implausible tables: it re-draws half of
    the round tops and 55 % of the pedestal legs, drops parts a table of that kind cannot
    hold (partitions and doors off desks on four legs, boards and most drawers under pedestal
    tables, a round shelf under a rectangular top) and adds a Regular_sublayer as the carcass
    of a door pedestal."""
    top, leg = parts["desktop"][0], parts["leg"][0]
    # Most tables are rectangular and stand on legs: re-draw some round tops and pedestals.
    if top.template is CYLINDRICAL_DESKTOP and rng.random() < 0.5:
        top = SampledInstance.draw(REGULAR_DESKTOP, rng)
        parts["desktop"][:] = [top]
    if leg.template in PEDESTALS and rng.random() < 0.55:
        leg = SampledInstance.draw(LEGS4[int(rng.integers(2))], rng)
        parts["leg"][:] = [leg]
    round_top = top.template is CYLINDRICAL_DESKTOP
    legs4 = leg.template in LEGS4
    # Drop what a table of this kind cannot hold; doors need a pedestal carcass (rectangular
    # desk on four legs), built from Regular_sublayer boards as in the library's sampler.
    if round_top or not legs4:
        parts["partition"].clear()
        parts["door"].clear()
    if leg.template in PEDESTALS:
        parts["backboard"].clear()
        if rng.random() < 0.7:  # a drawer under a pedestal table's top is the exception
            parts["drawer"].clear()
    sub = parts["sublayer"][0] if parts["sublayer"] else None
    if sub is not None and sub.template is CYLINDRICAL_SUBLAYER and legs4 and not round_top:
        parts["sublayer"].clear()
        sub = None
    carcass = bool(parts["door"]) or (
        bool(parts["drawer"]) and sub is not None and sub.template is REGULAR_SUBLAYER
        and legs4 and not round_top and rng.random() < 0.6)
    if carcass and (sub is None or sub.template is not REGULAR_SUBLAYER):
        sub = SampledInstance.draw(REGULAR_SUBLAYER, rng)
        parts["sublayer"][:] = [sub]

    lay = _desktop(top, leg, carcass, rng)
    extras = any(parts[s] for s in ("sublayer", "backboard", "drawer"))
    lay.leg_tilt = (0.0, 0.0, 0.0)
    if legs4:
        if carcass:
            n = 4
        elif round_top:
            n = 4 if (leg.template is REGULAR_WITH_SPLAT_LEG or rng.random() < 0.75
                      or parts["backboard"] or (sub is not None
                                                and sub.template is REGULAR_SUBLAYER)) else 3
        elif leg.template is REGULAR_WITH_SPLAT_LEG:
            n = 4
        else:
            n = int(rng.choice([1, 2, 4], p=[0.05, 0.2, 0.75]))
            if n == 1 and (extras or lay.width > 1.2):
                n = 4
        _regular_legs(leg, lay, n, carcass, rng)
        fr, rr = leg["front_rotation"], leg["rear_rotation"]
        lay.leg_tilt = (fr[0], fr[1], rr[0])
    else:
        _pedestal_leg(leg, lay, rng)

    sides = []
    if carcass:
        sides = [-1.0, 1.0] if lay.width > 1.3 and rng.random() < 0.4 else [rng.choice([-1.0, 1.0])]
    if leg.template is REGULAR_WITH_SPLAT_LEG:
        _stretcher_bars(leg, lay, bool(parts["drawer"]) and not carcass, sides, rng)

    drawer_style = "knob" if rng.random() < 0.3 else "drawer"
    pull = rng.random() < 0.25
    drawers, doors, boards = [], [], []
    under = lay.under
    if carcass:
        _pedestals(parts, sub, lay, sides, drawers, doors, boards, drawer_style, pull, rng)
    elif sub is not None:
        _shelves(sub, lay, leg, rng)

    if parts["drawer"] and not carcass:
        _apron_drawers(lay, leg, drawers, drawer_style, pull, rng)
    if parts["drawer"]:
        drawers = drawers[:MAX_DRAWERS]
        inst = parts["drawer"][0]
        inst.set("position", [0.0, under, 0.0])
        inst.set("number_of_drawer", [len(drawers)])
        inst.set("drawers_params", np.ravel(drawers))
    if parts["door"]:
        doors = doors[:MAX_DOORS]
        inst = parts["door"][0]
        inst.set("position", [0.0, under, 0.0])
        inst.set("number_of_door", [len(doors)])
        inst.set("doors_params", np.ravel(doors))
    if parts["backboard"]:
        _backboard_place(parts["backboard"][0], lay, sides, rng)
    if parts["partition"]:
        _partition_place(parts["partition"][0], lay, rng)


def _pedestals(parts, sub, lay, sides, drawers, doors, boards, drawer_style, pull, rng) -> None:
    """Drawer/door pedestals between the front and rear legs on one or both sides."""
    u = rng.uniform
    legs = lay.legs
    s, sz = legs.front[0], legs.front[2]
    half = legs.sep[0] / 2
    bt = u(0.016, 0.022)
    clear = min(u(0.3, 0.42), 0.3 * lay.width)
    lift = u(0.03, 0.1)
    height = lay.under - lift
    depth_in = legs.sep[2] - sz
    z_face = legs.sep[2] / 2 + sz / 2
    y_mid = lift + height / 2
    want_door = bool(parts["door"])
    want_drawer = bool(parts["drawer"])
    door_style = "knob" if rng.random() < 0.25 else "door"
    opened = rng.random() < 0.4
    lay.pedestal_inner = {}
    for i, side in enumerate(sides):
        leg_face = side * (half - s / 2)
        inner_face = side * (half - s / 2 - clear)
        inner_x = side * (half - s / 2 - clear - bt / 2)
        lay.pedestal_inner[side] = side * (half - s / 2 - clear - bt)
        span_x = s / 2 + clear  # from the legs' axis to the inner board
        boards += [([bt, height, depth_in], [side * half, y_mid, 0.0]),                  # outer
                   ([bt, height, legs.sep[2] + sz], [inner_x, y_mid, 0.0]),             # inner
                   ([span_x, height, bt], [side * (half - span_x / 2), y_mid, -legs.sep[2] / 2])]
        bottom = ([span_x, bt, depth_in], [side * (half - span_x / 2), lift + bt / 2, 0.0])
        if i == 0:
            sub.set("position", [bottom[1][0], lay.under, 0.0])
            sub.set("subs_size", bottom[0])
            sub.set("number_of_subs", [1])
            sub.set("subs_offset", [bottom[1][1] - lay.under])
            sub.set("interval_between_subs", [0.0])
        else:
            boards.append(bottom)
        # Fronts between the leg's inner face and the inner board (overlaying its edge).
        x0, x1 = sorted([leg_face, side * (half - s / 2 - clear - bt)])
        x0, x1 = x0 + 0.002, x1 - 0.002
        f_top, f_bot = -0.004, lift - lay.under + 0.002
        mix = []
        if want_door and want_drawer:
            mix = ["drawer"] * int(rng.integers(1, 3)) + ["door"]
        elif want_door:
            mix = ["door"]
        else:
            mix = ["drawer"] * int(rng.integers(2, 5 if len(sides) == 1 else 4))
        if want_door and want_drawer and len(sides) == 2 and i == 1 and rng.random() < 0.5:
            mix = ["drawer"] * int(rng.integers(2, 4))
        n_dr = mix.count("drawer")
        total = f_top - f_bot
        drawer_h = min(u(0.12, 0.18), total / (len(mix) + 0.5)) if "door" in mix else \
            total / n_dr
        y = f_top
        for kind in mix:
            h = drawer_h if kind == "drawer" else y - f_bot
            if kind == "drawer":
                d = min(depth_in - 0.03, 0.6) * u(0.8, 0.95)
                drawers.append(_drawer_item_at(rng, x0, x1, y, y - h + 0.003, z_face, d,
                                               (*sorted([leg_face, inner_face]), f_bot + bt),
                                               drawer_style,
                                               d * u(0.1, 0.6) if pull and rng.random() < 0.5
                                               else 0.0))
            else:
                doors.append(_door_item_at(rng, x0, x1, y, y - h + 0.003, z_face, side,
                                           door_style, opened and rng.random() < 0.8))
            y -= h
    if want_drawer and rng.random() < 0.5:
        # A centre drawer in the kneehole.
        left = lay.pedestal_inner.get(-1.0, -half + s / 2)
        right = lay.pedestal_inner.get(1.0, half - s / 2)
        w = min(right - left - 0.1, u(0.4, 0.6))
        if w > 0.2:
            c = (left + right) / 2
            d = min(depth_in - 0.05, 0.45) * u(0.7, 0.95)
            drawers.append(_drawer_item_at(rng, c - w / 2, c + w / 2, -0.004, -u(0.07, 0.1),
                                           z_face, d, (c - w / 2, c + w / 2, -1.0), drawer_style,
                                           d * u(0.1, 0.6) if pull and rng.random() < 0.5
                                           else 0.0))
    boards = boards[:MAX_BOARDS]
    sub.set("additional_sublayers_params",
            fp.board_vector([b for b, _ in boards], [c for _, c in boards]))


def _shelves(sub, lay, leg, rng) -> None:
    """One or two shelves between the legs (or around a pedestal column)."""
    u = rng.uniform
    sub.set("position", [0.0, lay.under, 0.0])
    sub.set("additional_sublayers_params", [0.0])
    n = 2 if rng.random() < 0.25 and leg.template not in PEDESTALS else 1
    low = u(0.08, 0.28)
    step = u(0.15, 0.3) if n == 2 else 0.0
    thick = u(0.015, 0.03)
    sub.set("number_of_subs", [n])
    sub.set("subs_offset", [low - lay.under])
    sub.set("interval_between_subs", [step])
    cylinder = sub.template is CYLINDRICAL_SUBLAYER
    if leg.template in PEDESTALS:
        low = max(low, 0.2)
        sub.set("subs_offset", [low - lay.under])
        if cylinder:
            sub.set("subs_size", [(lay.radius or min(lay.width, lay.depth) / 2) * u(0.45, 0.7),
                                  thick])
        elif lay.radius is not None:
            side = 2 * lay.radius * u(0.4, 0.6)
            sub.set("subs_size", [side, thick, side])
        else:
            sub.set("subs_size", [lay.width * u(0.45, 0.7), thick, lay.depth * u(0.45, 0.7)])
        return
    legs = lay.legs
    # Size the shelf to the legs' axes at the higher shelf (legs splay out going down).
    half_x, z_front, z_rear = _leg_box_at(lay, low + step * (n - 1))
    if cylinder:  # round shelf reaching the legs' axes of a round table
        reach = np.hypot(half_x, (z_front - z_rear) / 2) if legs.n == 4 else \
            (z_front - z_rear) / 1.5
        sub.set("subs_size", [reach, thick])
        sub.set("position", [0.0, lay.under, (z_front + z_rear) / 2 if legs.n == 4 else 0.0])
        return
    if legs.n == 2:
        sub.set("subs_size", [2 * half_x, thick, legs.front[2] * u(0.6, 0.9)])
        return
    if legs.n == 3:
        sub.set("subs_size", [2 * half_x * 0.6, thick, (z_front - z_rear) * 0.6])
        sub.set("position", [0.0, lay.under, (z_front + z_rear) / 2])
        return
    sub.set("subs_size", [2 * half_x, thick, z_front - z_rear])
    sub.set("position", [0.0, lay.under, (z_front + z_rear) / 2])


def _apron_drawers(lay, leg, drawers, style, pull, rng) -> None:
    """Drawers hanging from the underside at the front, between the front legs."""
    u = rng.uniform
    fh = u(0.08, 0.14)
    if leg.template in PEDESTALS:
        col = getattr(lay, "column", 0.05)
        w = u(0.3, 0.5) * (1.0 if lay.radius is None else min(1.0, lay.radius / 0.5))
        if lay.radius is not None:
            z_face = np.sqrt(max(lay.radius ** 2 - (w / 2 + 0.02) ** 2, 0.0)) - 0.03
        else:
            z_face = lay.depth / 2 - u(0.02, 0.06)
        depth = max(min(z_face - col - 0.03, 0.45), 0.1)
        spans = [(-w / 2, w / 2)]
    else:
        legs = lay.legs
        sx = legs.front[0]
        inner = legs.sep[0] - sx if legs.n != 3 else legs.sep[0] - sx
        z_face = legs.sep[2] / 2 + legs.front[2] / 2 + legs.shift - u(0.0, 0.01)
        if legs.n == 2:
            z_face = legs.front[2] / 2 - u(0.0, 0.01)
            reach = legs.front[2] - 0.05
        elif legs.n == 3:
            reach = legs.sep[2] - 0.05 - legs.front[2]
        else:
            reach = legs.sep[2] - legs.front[2] - 0.02
        depth = max(min(reach, 0.55) * u(0.6, 0.9), 0.1)
        k = 1 if inner < 0.9 else int(rng.integers(1, 4))
        gap = 0.003
        w = (inner - (k + 1) * gap) / k
        x0 = -inner / 2 + gap
        spans = [(x0 + i * (w + gap), x0 + i * (w + gap) + w) for i in range(k)]
        if k == 1 and inner > 0.7:  # one drawer, not the full span
            w = inner * u(0.4, 0.6)
            spans = [(-w / 2, w / 2)]
    for x0, x1 in spans:
        drawers.append(_drawer_item_at(
            rng, x0, x1, -0.004, -0.004 - fh, z_face, depth, (x0, x1, -1.0), style,
            depth * u(0.1, 0.6) if pull and rng.random() < 0.5 else 0.0))


def _backboard_place(board, lay, sides, rng) -> None:
    """A modesty board between the rear legs (or the two side slabs, or the pedestals)."""
    u = rng.uniform
    legs = lay.legs
    t = u(0.012, 0.02)
    h = min(u(0.2, 0.45), lay.under - 0.15)
    if legs.n == 2:
        left, right = -legs.sep[0] / 2 + legs.front[0] / 2, legs.sep[0] / 2 - legs.front[0] / 2
        z = -legs.front[2] / 2 + t / 2
    else:
        inner = getattr(lay, "pedestal_inner", {})
        left = inner.get(-1.0, -legs.sep[1] / 2 + legs.rear[0] / 2)
        right = inner.get(1.0, legs.sep[1] / 2 - legs.rear[0] / 2)
        z = _leg_box_at(lay, lay.under - h / 2)[2]
    board.set("size", [right - left, h, t])
    board.set("position", [(left + right) / 2, lay.under, z])


def _partition_place(part, lay, rng) -> None:
    u = rng.uniform
    pattern = [[0, 1, 0], [1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]][
        int(rng.choice(5, p=[0.4, 0.25, 0.1, 0.1, 0.15]))]
    tx, rt = u(0.012, 0.025), u(0.012, 0.025)
    h = u(0.25, 0.5)
    depth = lay.depth * u(0.5, 1.0) - rt
    part.set("has_partition", pattern)
    part.set("left_right_size", [tx, h * u(0.8, 1.0), depth])
    part.set("rear_size", [h, rt])
    part.set("left_right_separation", [lay.width - 2 * tx])
    part.set("position", [0.0, lay.height, -lay.depth / 2 + rt + depth / 2])


CATEGORY = Category(
    "Table",
    "A table or desk: a top on legs or a pedestal, optional shelves, modesty board, drawers, "
    "cabinet doors and privacy partition.",
    (Slot("desktop", (REGULAR_DESKTOP, CYLINDRICAL_DESKTOP)),
     Slot("leg", (REGULAR_LEG, REGULAR_WITH_SPLAT_LEG, STAR_LEG, BAR_CYLINDRICAL_LEG,
                  BAR_CUBOID_LEG)),
     Slot("sublayer", (REGULAR_SUBLAYER, CYLINDRICAL_SUBLAYER), min_count=0),
     Slot("backboard", (REGULAR_BACKBOARD,), min_count=0),
     Slot("drawer", (REGULAR_DRAWER,), min_count=0),
     Slot("door", (REGULAR_DOOR,), min_count=0),
     Slot("partition", (REGULAR_PARTITION,), min_count=0)),
    _assemble, removal_rate=0.6)
