"""StorageFurniture: a board carcass with shelves and dividers, optional plinth or legs, hinged
doors, sliding drawers and fixed front panels — cabinets, sideboards, wardrobes, bookcases,
fridges, drawer chests and nightstands. All five templates of the Standard Concept Template
Library's StorageFurniture are declared (none left out). Packed per-item vectors keep the
library's strides (12 values per door, 20 per drawer, 6 per panel, 5 per compartment); the
``additional_*_params`` vectors take ``[n, then 9 values per board]`` for up to 8 extra shelves
(body, used for shelves inside single compartments and fridge shelves) and 4 extra legs
(Enclosed_leg, used for cabinets standing on feet instead of a plinth). Unlike the library,
a door turns about its hinge edge (not its centre) and ``door_offset`` is the closed leaf's
centre; the hinge is on the side away from the handle. Object frame: the floor is y = 0, the
carcass centred over the origin in x and z, the front is +z.
"""

from __future__ import annotations

import numpy as np

from . import furniture_parts as fp
from .core import (Category, EmptyUnless, Joint, Param, Part, SampledInstance, Slot, count, flag,
                   length, packed, template)

MAX_LAYERS = 6      # whole-width shelves
MAX_DIVIDERS = 4    # vertical dividers per compartment
MAX_BOARDS = 8      # extra boards in the body
MAX_DOORS = 8
MAX_DRAWERS = 12
MAX_PANELS = 6

# --- body -----------------------------------------------------------------------------------

_COMPARTMENT = ((0.0, float(MAX_DIVIDERS)), (0.008, 0.06), (0.1, 0.9), (0.0, 2.4), (0.0, 2.4))


def _compartment_param() -> Param:
    return packed(
        "storagefurniture_layers_params", "WHOLE_number_of_layer", range(MAX_LAYERS + 1),
        list(_COMPARTMENT), "m",
        "5 per compartment (WHOLE_number_of_layer + 1 of them, top to bottom): number of "
        "vertical dividers (integer), divider thickness in x, divider depth in z, x of the "
        "first divider's centre from the inner left wall, x spacing between dividers",
        items_offset=-1)


def _body(p) -> list[Part]:
    width, height, depth = p["size"]
    back, wall, base = p["back_size"][0], p["left_right_inner_size"][0], p["base_size"][0]
    inner = max(width - 2 * wall, fp.MIN_EDGE)
    shelf_depth = max(depth - back, fp.MIN_EDGE)
    sizes = [[wall, height, depth], [wall, height, depth], [width, height, back],
             [inner, base, shelf_depth]]
    centers = [[-(width - wall) / 2, 0, 0], [(width - wall) / 2, 0, 0], [0, 0, -(depth - back) / 2],
               [0, -(height - base) / 2, back / 2]]
    if p["has_lid"][0] >= 0.5:
        lid = p["lid_size"]
        offset = p["lid_offset"]
        sizes.append(lid)
        centers.append([offset[0], height / 2 + lid[1] / 2 + offset[1], offset[2]])
    # Whole-width shelves, top to bottom; shelf i sits offset + sum(intervals[:i]) below the top.
    layers = int(round(p["WHOLE_number_of_layer"][0]))
    thick = p["WHOLE_layer_sizes"][0]
    below_top = p["WHOLE_layer_offset"][0] + np.concatenate(
        [[0.0], np.cumsum(p["WHOLE_interval_between_layers"][:max(layers - 1, 0)])])[:layers]
    shelf_y = height / 2 - below_top
    sizes += [[inner, thick, shelf_depth]] * layers
    centers += [[0.0, y, back / 2] for y in shelf_y]
    # Compartments between the top, the shelves and the base hold the vertical dividers.
    tops = np.concatenate([[height / 2], shelf_y - thick / 2])
    bottoms = np.concatenate([shelf_y + thick / 2, [-height / 2 + base]])
    spec = p["storagefurniture_layers_params"]
    for c in range(min(layers + 1, len(spec) // 5)):
        n, dx, dz, first, step = spec[5 * c: 5 * c + 5]
        n = int(round(n))
        h = tops[c] - bottoms[c]
        if n <= 0 or h <= fp.MIN_EDGE:
            continue
        x = -width / 2 + wall + first + step * np.arange(n)
        sizes += [[dx, h, dz]] * n
        centers += [[xi, (tops[c] + bottoms[c]) / 2, depth / 2 - dz / 2] for xi in x]
    extra_size, extra_center, extra_rot = fp.board_items(p["additional_layers_params"])
    euler = np.zeros((len(sizes), 3))
    mesh = fp.boxes(np.concatenate([np.asarray(sizes, float).reshape(-1, 3), extra_size]),
                    np.concatenate([np.asarray(centers, float).reshape(-1, 3),
                                    extra_center - p["position"]]),
                    np.concatenate([euler, extra_rot]))
    return [Part("body", *mesh)]


STORAGEFURNITURE_BODY = template(
    "Storagefurniture_body", "body",
    "Open-front board carcass: sides, back, base, optional top lid, shelves and dividers.",
    [length("size", 3, (0.3, 0.3, 0.2), (2.4, 2.4, 0.9),
            "outer width (x), height (y), depth (z) of the carcass"),
     length("back_size", 1, 0.003, 0.05, "thickness of the back board"),
     length("left_right_inner_size", 1, 0.01, 0.07, "thickness of the two side boards"),
     length("base_size", 1, 0.01, 0.08, "thickness of the bottom board"),
     flag("has_lid", "whether a top slab sits on the carcass"),
     length("lid_size", 3, (0.3, 0.01, 0.2), (2.5, 0.08, 1.0),
            "top slab width (x), thickness (y), depth (z)"),
     length("lid_offset", 3, -0.05, 0.05,
            "top slab centre offset x, y (gap above the carcass), z from the carcass top"),
     count("WHOLE_number_of_layer", 0, MAX_LAYERS, "number of whole-width shelves"),
     length("WHOLE_layer_sizes", 1, 0.008, 0.06, "shelf thickness"),
     length("WHOLE_layer_offset", 1, 0.004, 2.4, "depth of the first shelf's centre below the top"),
     length("WHOLE_interval_between_layers", MAX_LAYERS - 1, 0.02, 2.4,
            "centre-to-centre spacing from shelf i to shelf i + 1 (first "
            "WHOLE_number_of_layer - 1 used)"),
     _compartment_param(),
     fp.board_param("additional_layers_params", MAX_BOARDS,
                    "Extra boards (e.g. shelves inside one compartment), centres in the object "
                    "frame.")],
    _body)

# --- plinth / feet ----------------------------------------------------------------------------


def _enclosed_leg(p) -> list[Part]:
    width, height, depth = p["size"]
    tx, tz = p["inner_sizes"]
    sizes, centers = np.zeros((0, 3)), np.zeros((0, 3))
    if width > 0.01 or depth > 0.01:  # the library skips the skirt when both are tiny
        sizes = np.array([[tx, height, depth], [tx, height, depth],
                          [width, height, tz], [width, height, tz]])
        centers = np.array([[-(width - tx) / 2, 0, 0], [(width - tx) / 2, 0, 0],
                            [0, 0, -(depth - tz) / 2], [0, 0, (depth - tz) / 2]])
    extra_size, extra_center, extra_rot = fp.board_items(p["additional_legs_params"])
    mesh = fp.boxes(np.concatenate([sizes, extra_size]), np.concatenate([centers, extra_center]),
                    np.concatenate([np.zeros((len(sizes), 3)), extra_rot]))
    return [Part("leg", *mesh)]


ENCLOSED_LEG = template(
    "Enclosed_leg", "leg",
    "Plinth: a rectangular skirt of four boards under the carcass, and/or separate feet.",
    [length("size", 3, (0.005, 0.02, 0.005), (2.4, 0.3, 0.9),
            "skirt outer width (x), height (y), depth (z); no skirt when x and z are <= 0.01"),
     length("inner_sizes", 2, 0.005, 0.05, "thickness of the side boards (x), of the front and "
                                           "back boards (z)"),
     fp.board_param("additional_legs_params", 4, "Feet, centres in the template frame.")],
    _enclosed_leg, empty_unless=EmptyUnless("size", (0, 2), 0.01, "additional_legs_params"))

# --- doors ------------------------------------------------------------------------------------

_DOOR_ITEM = [(0.08, 1.3), (0.05, 2.4), (0.008, 0.08),          # door_size w, h, t
              (0.005, 0.1), (0.005, 1.2), (0.005, 0.06),        # handle_size x, y, z
              (-0.65, 0.65), (-1.2, 1.2),                       # handle_offset x, y
              (-180.0, 180.0),                                  # door_rotation (deg)
              (-1.5, 1.5), (-1.5, 1.5), (-0.6, 0.6)]            # door_offset x, y, z


def _doors(p) -> list[Part]:
    d = fp.item_rows(p, "number_of_door", "doors_params", 12)
    return fp.door_parts(d[:, 0:3], d[:, 3:6], d[:, 6:8], d[:, 9:12])


def _door_leaf(p, k: int) -> tuple:
    """Door ``k``'s width, closed centre, handle x offset and opening, for its joint."""
    d = fp.item_row(p, "doors_params", 12, k)
    return d[0], d[9:12], d[6], d[8]


REGULAR_DOOR = template(
    "Regular_door", "door",
    "Hinged door leaves with cuboid handles; each turns about a vertical edge.",
    [count("number_of_door", 1, MAX_DOORS, "number of door leaves"),
     packed("doors_params", "number_of_door", range(1, MAX_DOORS + 1), _DOOR_ITEM, "m",
            "12 per door: door_size (width x, height y, thickness z); handle_size (x, y, z); "
            "handle_offset (x, y) of the handle from the leaf centre; door_rotation (deg, "
            "how far the leaf is open about its hinge edge, the edge away from the handle; "
            "written negative for left hinges, positive for right ones); door_offset (x, y, z) "
            "of the closed leaf's centre")],
    _doors,
    joints=fp.door_joints(_door_leaf))

# --- drawers ----------------------------------------------------------------------------------

_DRAWER_ITEM = [(0.05, 1.3), (0.02, 0.6), (0.08, 0.85),          # drawer_size w, h, d
                (0.003, 0.03),                                   # bottom_size
                (0.06, 1.4), (0.03, 0.8), (0.008, 0.05),         # front_size w, h, t
                (-0.3, 0.3),                                     # front_offset (y)
                (0.004, 0.03), (0.004, 0.03),                    # side, front/back wall
                (1.0, 2.0),                                      # number_of_handle
                (0.005, 0.5), (0.005, 0.1), (0.005, 0.05),       # handle_sizes
                (-0.6, 0.6), (-0.3, 0.3),                        # handle_offset x, y
                (0.0, 1.2),                                      # handle_separation
                (-1.5, 1.5), (-1.5, 1.5), (-0.6, 1.2)]           # drawer_offset x, y, z


def _drawers(p) -> list[Part]:
    d = fp.item_rows(p, "number_of_drawer", "drawers_params", 20)
    box, offset = d[:, 0:3], d[:, 17:20]
    front = d[:, 4:7]
    front_center = offset + np.column_stack([np.zeros(len(d)), d[:, 7],
                                             box[:, 2] / 2 + front[:, 2] / 2])
    handles = fp.drawer_handle_centers(offset, box, front, d[:, 11:14], d[:, 14:16], d[:, 16],
                                       d[:, 10])
    return fp.drawer_parts(box, offset, d[:, 3], d[:, 8], d[:, 9], front, front_center,
                           d[:, 11:14], handles, d[:, 10])


REGULAR_DRAWER = template(
    "Regular_drawer", "drawer",
    "Sliding drawers: open boxes with a front panel and one or two cuboid handles.",
    [count("number_of_drawer", 1, MAX_DRAWERS, "number of drawers"),
     packed("drawers_params", "number_of_drawer", range(1, MAX_DRAWERS + 1), _DRAWER_ITEM, "m",
            "20 per drawer: drawer_size (box width x, height y, depth z); bottom_size (bottom "
            "plate thickness, below the box); front_size (x, y, thickness z); front_offset (y of "
            "the front's centre above the box centre); left_right_inner_size (side wall "
            "thickness); rear_front_inner_size (front and back wall thickness); "
            "number_of_handle (1 or 2); handle_sizes (x, y, z); handle_offset (x, y) from the "
            "box centre; handle_separation (x between two handles); drawer_offset (x, y, z) of "
            "the box centre, z pulled out towards the front")],
    _drawers,
    joints=(Joint("drawer", "prismatic", (0.0, 0.0, 1.0),
                  lambda p, k: fp.item_row(p, "drawers_params", 20, k)[17:20].copy(),
                  lambda p, k: (0.0, 0.8 * float(fp.item_row(p, "drawers_params", 20, k)[2])),
                  doc="Each drawer slides out towards the front by up to 0.8 of its depth from "
                      "its position in the gene."),))

# --- fixed front panels -----------------------------------------------------------------------


def _panels(p) -> list[Part]:
    n = int(round(p["number_of_frontPanel"][0]))
    d = np.asarray(p["frontPanel_params"], float)[:6 * n].reshape(n, 6)
    return [Part("panel", *fp.boxes(d[:, 0:3], d[:, 3:6]))]


REGULAR_FRONT_PANEL = template(
    "Regular_front_panel", "panel", "Fixed front boards closing parts of the carcass front.",
    [count("number_of_frontPanel", 1, MAX_PANELS, "number of panels"),
     packed("frontPanel_params", "number_of_frontPanel", range(1, MAX_PANELS + 1),
            [(0.03, 2.4), (0.02, 2.4), (0.005, 0.05), (-1.5, 1.5), (-1.5, 1.5), (-0.6, 0.6)],
            "m", "6 per panel: size (x, y, thickness z), centre (x, y, z)")],
    _panels)

# --- assembly ---------------------------------------------------------------------------------

_KINDS = {  # (door present, drawer present) → kinds and weights
    (True, True): (("sideboard", "cabinet", "wardrobe", "nightstand"), (3, 3, 2, 1)),
    (True, False): (("wardrobe", "fridge", "sideboard", "cabinet", "bookcase"), (2, 2, 2, 2, 1)),
    (False, True): (("chest", "nightstand", "sideboard"), (4, 2, 1)),
    (False, False): (("bookcase",), (1,)),
}


def _row(h, cols, front, span=None, stack=1):
    """One horizontal compartment: clear height (None: share the rest), columns, the front of
    each column ('open', 'door', 'drawer', 'panel') or of the whole row (span 'single' or
    'double' door leaves), and drawers stacked per cell."""
    fronts = [front] * cols if isinstance(front, str) else list(front)
    return {"h": h, "cols": cols, "fronts": fronts, "span": span, "stack": stack}


def _plan(kind: str, rng: np.random.Generator, drawers: bool, doors: bool) -> dict:
    u = rng.uniform
    if kind == "wardrobe":
        w, h, d = u(0.8, 2.2), u(1.75, 2.3), u(0.5, 0.65)
        cols = int(np.clip(round(w / u(0.45, 0.6)), 2, 4))
        rows = []
        if rng.random() < 0.4:
            rows.append(_row(u(0.3, 0.5), cols, "door"))
        rows.append(_row(None, cols, "door"))
        if drawers:
            for _ in range(rng.integers(1, 3)):
                rows.append(_row(u(0.16, 0.26), cols, "drawer"))
        return {"size": (w, h, d), "rows": rows, "thick": u(0.016, 0.025),
                "lid": rng.random() < 0.5}
    if kind == "fridge":
        w, h, d = u(0.5, 0.9), u(0.8, 2.0), u(0.55, 0.75)
        if h < 1.2 and rng.random() < 0.6:
            rows = [_row(None, 1, "door", span="single")]
        else:
            main_span = "double" if w > 0.75 and rng.random() < 0.4 else "single"
            freezer = _row(h * u(0.22, 0.35), 1, "door", span="single")
            main = _row(None, 1, "door", span=main_span)
            rows = [freezer, main] if rng.random() < 0.5 else [main, freezer]
        return {"size": (w, h, d), "rows": rows, "thick": u(0.035, 0.06), "lid": True,
                "fridge": True}
    if kind == "sideboard":
        w, h, d = u(0.9, 2.2), u(0.55, 1.0), u(0.35, 0.55)
        cols = int(np.clip(round(w / u(0.4, 0.6)), 2, 4))
        rows = []
        if drawers:
            rows.append(_row(u(0.11, 0.18), cols, "drawer"))
        if doors:
            fronts = ["door"] * cols
            if cols > 2 and rng.random() < 0.4:
                fronts[int(rng.integers(cols))] = "open" if rng.random() < 0.5 else "drawer"
                if not drawers and "drawer" in fronts:
                    fronts = ["open" if f == "drawer" else f for f in fronts]
            rows.append(_row(None, cols, fronts, stack=int(rng.integers(2, 4))))
        else:
            rows.append(_row(None, cols, "drawer", stack=int(rng.integers(2, 4))))
        return {"size": (w, h, d), "rows": rows, "thick": u(0.016, 0.025),
                "lid": rng.random() < 0.6}
    if kind == "cabinet":
        w, h, d = u(0.4, 0.9), u(0.7, 2.0), u(0.3, 0.6)
        span = "double" if w > 0.55 else "single"
        rows = []
        if h > 1.4:
            rows.append(_row(None, 1, "door" if rng.random() < 0.6 else "open", span=span))
        if drawers:
            for _ in range(rng.integers(1, 3)):
                rows.append(_row(u(0.12, 0.2), 2 if w > 0.7 and rng.random() < 0.5 else 1,
                                 "drawer"))
        rows.append(_row(u(0.45, 0.8) if h > 1.4 else None, 1, "door", span=span))
        if h > 1.4 and rows[0]["fronts"] == ["open"]:
            rows[0]["h"] = None
            rows[-1]["h"] = u(0.45, 0.75)
        return {"size": (w, h, d), "rows": rows, "thick": u(0.016, 0.025),
                "lid": rng.random() < 0.5}
    if kind == "bookcase":
        w, h, d = u(0.4, 2.0), u(0.8, 2.2), u(0.22, 0.42)
        n_rows = int(np.clip(round(h / u(0.28, 0.42)), 2, 6))
        cols = int(np.clip(round(w / u(0.35, 0.8)), 1, 4))
        rows = []
        for r in range(n_rows):
            c = cols if rng.random() < 0.75 else int(rng.integers(1, 4))
            rows.append(_row(None, c, "open"))
        if doors:
            for r in range(n_rows - int(rng.integers(1, min(3, n_rows))), n_rows):
                rows[r] = _row(None, cols, "door", span="double" if cols == 1 and w > 0.55
                               else None)
        return {"size": (w, h, d), "rows": rows, "thick": u(0.018, 0.03), "lid": rng.random() < 0.4}
    if kind == "chest":
        w, h, d = u(0.4, 1.6), u(0.45, 1.4), u(0.35, 0.6)
        n_rows = int(np.clip(round(h / u(0.16, 0.28)), 2, 6))
        cols = 2 if w > 1.1 or (w > 0.9 and rng.random() < 0.5) else 1
        rows = [_row(None, cols, "drawer") for _ in range(n_rows)]
        if w > 0.8 and rng.random() < 0.5:
            rows[0] = _row(None, int(rng.integers(2, 4)), "drawer")
        return {"size": (w, h, d), "rows": rows, "thick": u(0.015, 0.025),
                "lid": rng.random() < 0.6}
    # nightstand
    w, h, d = u(0.35, 0.6), u(0.4, 0.7), u(0.3, 0.45)
    rows = []
    if drawers:
        rows.append(_row(u(0.1, 0.18), 1, "drawer"))
    if doors:
        rows.append(_row(None, 1, "door", span="single"))
    elif rng.random() < 0.5:
        rows.append(_row(None, 1, "open"))
    else:
        rows.append(_row(None, 1, "drawer", stack=int(rng.integers(1, 3))))
    if doors and not drawers:
        rows.insert(0, _row(u(0.1, 0.18), 1, "open"))
    return {"size": (w, h, d), "rows": rows, "thick": u(0.015, 0.025), "lid": rng.random() < 0.6}


def _handle(rng, style: str, long_side: float) -> np.ndarray:
    """Handle size (x, y, z) for a door (vertical bar) or drawer (horizontal bar) or knob."""
    if style == "knob":
        s = rng.uniform(0.02, 0.035)
        return np.array([s, s, rng.uniform(0.02, 0.035)])
    if style == "fridge":
        return np.array([rng.uniform(0.015, 0.03), long_side, rng.uniform(0.03, 0.05)])
    bar = min(long_side, rng.uniform(0.08, 0.3))
    thin = rng.uniform(0.01, 0.02)
    size = [bar, thin] if style == "drawer" else [thin, bar]
    return np.array([*size, rng.uniform(0.018, 0.035)])


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    """Pick a kind of furniture that has the sampled fronts (doors and/or drawers, or neither),
    lay out its rows (shelves) and columns (dividers), then size every front to its cell.
    The carcass stands on the floor (y = 0), on the plinth or feet when there is a leg."""
    body = parts["body"][0]
    doors, drawers = bool(parts["door"]), bool(parts["drawer"])
    kinds, weights = _KINDS[(doors, drawers)]
    kind = kinds[int(rng.choice(len(kinds), p=np.array(weights) / sum(weights)))]
    plan = _plan(kind, rng, drawers, doors)
    fridge = plan.get("fridge", False)
    rows = plan["rows"]
    width, height, depth = plan["size"]
    thick = plan["thick"]
    wall = thick if not fridge else rng.uniform(0.035, 0.06)
    back = rng.uniform(0.004, 0.012) if not fridge else rng.uniform(0.025, 0.05)
    base = thick if not fridge else rng.uniform(0.035, 0.07)
    lid = bool(plan["lid"])
    if parts["panel"] and not any("open" in r["fronts"] for r in rows):
        # A fixed fascia: a short closed row at the bottom (kick rail) or the top.
        fascia = _row(rng.uniform(0.05, 0.12), 1, "panel")
        lid = True  # room for one more row
        if rng.random() < 0.7:
            rows.append(fascia)
        else:
            rows.insert(0, fascia)
    rows = rows[:MAX_LAYERS + 1 if lid else MAX_LAYERS]
    n_shelves = len(rows) - 1 if lid else len(rows)
    clear = height - base - n_shelves * thick
    fixed = sum(r["h"] for r in rows if r["h"] is not None)
    flexible = [r for r in rows if r["h"] is None]
    if flexible:
        need = 0.15 * len(flexible)
        if clear - fixed < need:
            scale = max(clear - need, 0.05) / max(fixed, 1e-9)
            for r in rows:
                if r["h"] is not None:
                    r["h"] *= scale
            fixed *= scale
        for r in flexible:
            r["h"] = (clear - fixed) / len(flexible)
    else:
        scale = clear / fixed
        for r in rows:
            r["h"] *= scale
    heights = np.array([r["h"] for r in rows])

    leg = parts["leg"][0] if parts["leg"] else None
    feet = leg is not None and not fridge and rng.random() < 0.45
    leg_h = 0.0 if leg is None else (rng.uniform(0.08, 0.22) if feet else rng.uniform(0.05, 0.12))
    floor = -height / 2 - leg_h  # in the carcass frame; the object's floor is y = 0
    lift = leg_h + height / 2

    # --- carcass parameters ---------------------------------------------------------------
    body.set("size", [width, height, depth])
    body.set("position", [0.0, lift, 0.0])
    body.set("back_size", [back])
    body.set("left_right_inner_size", [wall])
    body.set("base_size", [base])
    body.set("has_lid", [1.0 if lid else 0.0])
    if fridge:
        lid_size, lid_offset = [width, wall, depth], [0.0, 0.0, 0.0]
    else:
        over = rng.uniform(0.0, 0.03) if rng.random() < 0.6 else 0.0
        front_over = rng.uniform(0.0, 0.03) if over else 0.0
        lid_size = [width + 2 * over, rng.uniform(0.016, 0.04), depth + front_over]
        lid_offset = [0.0, 0.0, front_over / 2]
    body.set("lid_size", lid_size)
    body.set("lid_offset", lid_offset)
    body.set("WHOLE_number_of_layer", [n_shelves])
    body.set("WHOLE_layer_sizes", [thick])
    intervals = np.full(MAX_LAYERS - 1, 0.3)
    if lid:
        offset = heights[0] + thick / 2 if n_shelves else thick / 2
        intervals[:max(n_shelves - 1, 0)] = heights[1:n_shelves] + thick
        compartments = list(range(len(rows)))
    else:
        offset = thick / 2
        intervals[:n_shelves - 1] = heights[:n_shelves - 1] + thick
        compartments = list(range(1, len(rows) + 1))
    body.set("WHOLE_layer_offset", [offset])
    body.set("WHOLE_interval_between_layers", intervals)

    inner = width - 2 * wall
    shelf_depth = depth - back
    spec = np.tile([0.0, thick, shelf_depth, inner / 2, inner / 2], n_shelves + 1)
    # Row boundaries: clear ranges and the lines fronts overlay to (board centres).
    top_y = height / 2 - (0.0 if lid else thick)
    clear_top = top_y - np.concatenate([[0.0], np.cumsum(heights[:-1] + thick)])
    clear_bottom = clear_top - heights
    line_top = np.concatenate([[height / 2], clear_top[1:] + thick / 2])
    line_bottom = np.concatenate([clear_top[1:] + thick / 2, [-height / 2]])
    gap = rng.uniform(0.0015, 0.003)
    cells = []  # (front kind, row, overlay x0, x1, y0, y1, clear x0, x1, y0, y1)
    for j, r in enumerate(rows):
        cols = r["cols"]
        cw = (inner - (cols - 1) * thick) / cols
        if cols > 1:
            spec[5 * compartments[j]: 5 * compartments[j] + 5] = [
                cols - 1, thick, shelf_depth, cw + thick / 2, cw + thick]
        clear_x0 = -inner / 2 + np.arange(cols) * (cw + thick)
        lines = np.concatenate([[-width / 2], clear_x0[1:] - thick / 2, [width / 2]])
        if r["span"] is not None:
            n = 2 if r["span"] == "double" else 1
            xs = np.linspace(-width / 2, width / 2, n + 1)
            for c in range(n):
                cells.append(("door", j, xs[c] + gap, xs[c + 1] - gap, line_bottom[j] + gap,
                              line_top[j] - gap, -inner / 2, inner / 2, clear_bottom[j],
                              clear_top[j], -1.0 if n == 2 and c == 0 else
                              (1.0 if n == 2 else None)))
            continue
        for c in range(cols):
            cells.append((r["fronts"][c], j, lines[c] + gap, lines[c + 1] - gap,
                          line_bottom[j] + gap, line_top[j] - gap, clear_x0[c], clear_x0[c] + cw,
                          clear_bottom[j], clear_top[j], None, r["stack"]))
    body.set("storagefurniture_layers_params", spec)

    if parts["panel"]:
        opens = [i for i, c in enumerate(cells) if c[0] == "open"]
        if opens:
            for i in rng.choice(opens, size=min(len(opens), int(rng.integers(1, 3))),
                                replace=False):
                cells[i] = ("panel",) + cells[i][1:]

    # --- fronts ---------------------------------------------------------------------------
    door_t = rng.uniform(0.04, 0.07) if fridge else rng.uniform(0.016, 0.025)
    door_handle = "fridge" if fridge else ("knob" if rng.random() < 0.25 else "door")
    drawer_handle = "knob" if rng.random() < 0.3 else "drawer"
    fridge_side = rng.choice([-1.0, 1.0])
    open_doors = rng.random() < 0.5
    open_drawers = rng.random() < 0.3
    door_items, drawer_items, panel_items, shelves = [], [], [], []
    front_z = depth / 2
    for cell in cells:
        kind_c, j, x0, x1, y0, y1, cx0, cx1, cy0, cy1 = cell[:10]
        fw, fh = x1 - x0, y1 - y0
        fx, fy = (x0 + x1) / 2, (y0 + y1) / 2
        if kind_c == "door":
            side = cell[10]
            if side is None:
                side = fridge_side if fridge else (
                    -1.0 if fx < -1e-6 else 1.0 if fx > 1e-6 else rng.choice([-1.0, 1.0]))
            hs = _handle(rng, door_handle, min(fh * rng.uniform(0.25, 0.6), 1.0) if fridge
                         else fh * 0.6)
            margin = hs[0] / 2 + rng.uniform(0.02, 0.05)
            hx = -side * max(fw / 2 - margin, 0.0)
            limit = max(fh / 2 - hs[1] / 2 - 0.02, 0.0)
            hy = float(np.clip(floor + 0.95 - fy, -limit, limit))
            angle = side * rng.uniform(5.0, 100.0) if open_doors and rng.random() < 0.7 else 0.0
            door_items.append([fw, fh, door_t, *hs, hx, hy, angle, fx, fy, front_z + door_t / 2])
            if (cy1 - cy0 > 0.45 and rng.random() < 0.35) or fridge:
                n = int(rng.integers(1, 4 if fridge else 3))
                for i in range(n):
                    shelves.append(([cx1 - cx0, rng.uniform(0.006, 0.012) if fridge else thick,
                                     shelf_depth - 0.03],
                                    [(cx0 + cx1) / 2, cy0 + (i + 1) * (cy1 - cy0) / (n + 1),
                                     back / 2 - 0.015]))
        elif kind_c == "drawer":
            stack = cell[11] if len(cell) > 11 else 1
            edges = np.linspace(y1, y0, stack + 1)
            for s in range(stack):
                f_top = edges[s] - (gap if s else 0.0)
                f_bot = edges[s + 1] + (gap if s < stack - 1 else 0.0)
                ft = rng.uniform(0.015, 0.022)
                slide = rng.uniform(0.008, 0.015)
                box_w = 2 * min(fx - cx0, cx1 - fx) - 2 * slide
                box_d = shelf_depth * rng.uniform(0.75, 0.92)
                bottom = rng.uniform(0.005, 0.01)
                top = min(f_top, cy1) - rng.uniform(0.01, 0.025)
                low = max(f_bot, cy0) + 0.004 + bottom
                box_h = max(top - low, 0.03)
                box_y = low + box_h / 2
                f_h = f_top - f_bot
                f_y = (f_top + f_bot) / 2
                hs = _handle(rng, drawer_handle, fw * 0.45)
                two = fw > 0.6 and rng.random() < 0.5
                sep = fw * rng.uniform(0.45, 0.6) if two else 0.0
                pull = box_d * rng.uniform(0.1, 0.6) if open_drawers and rng.random() < 0.5 else 0.0
                hy = f_y - box_y + (f_h * 0.25 if f_h > 0.3 else 0.0)
                drawer_items.append([
                    box_w, box_h, box_d, bottom, fw, f_h, ft, f_y - box_y,
                    rng.uniform(0.008, 0.014), rng.uniform(0.008, 0.014), 2.0 if two else 1.0,
                    *hs, 0.0, hy, sep, fx, box_y, front_z - box_d / 2 + pull])
        elif kind_c == "panel":
            pt = rng.uniform(0.015, 0.022)
            panel_items.append([fw, fh, pt, fx, fy, front_z + pt / 2])
        elif kind_c == "open" and cy1 - cy0 > 0.4 and rng.random() < 0.25:
            shelves.append(([cx1 - cx0, thick, shelf_depth],
                            [(cx0 + cx1) / 2, (cy0 + cy1) / 2, back / 2]))

    shelves = shelves[:MAX_BOARDS]
    body.set("additional_layers_params",
             fp.board_vector([s for s, _ in shelves],
                             [np.add(c, [0.0, lift, 0.0]) for _, c in shelves])
             if shelves else [0.0])
    for inst in (*parts["door"], *parts["drawer"], *parts["panel"]):
        inst.set("position", body["position"])
        inst.set("rotation", body["rotation"])
    if parts["door"]:
        door_items = door_items[:MAX_DOORS]
        parts["door"][0].set("number_of_door", [len(door_items)])
        parts["door"][0].set("doors_params", np.ravel(door_items))
    if parts["drawer"]:
        drawer_items = drawer_items[:MAX_DRAWERS]
        parts["drawer"][0].set("number_of_drawer", [len(drawer_items)])
        parts["drawer"][0].set("drawers_params", np.ravel(drawer_items))
    if parts["panel"]:
        if not panel_items:  # every row was closed already: a plinth-height kick panel
            panel_items.append([width, 0.06, 0.018, 0.0, -height / 2 + 0.03, front_z + 0.009])
        panel_items = panel_items[:MAX_PANELS]
        parts["panel"][0].set("number_of_frontPanel", [len(panel_items)])
        parts["panel"][0].set("frontPanel_params", np.ravel(panel_items))
    if leg is not None:
        leg.set("position", [0.0, leg_h / 2, 0.0])
        if feet:
            s = rng.uniform(0.03, 0.06)
            inset = rng.uniform(0.0, 0.04)
            xs, zs = width / 2 - inset - s / 2, depth / 2 - inset - s / 2
            corners = [[x, 0.0, z] for x in (-xs, xs) for z in (-zs, zs)]
            leg.set("size", [0.005, leg_h, 0.005])
            leg.set("additional_legs_params", fp.board_vector([[s, leg_h, s]] * 4, corners))
        else:
            inset = rng.uniform(0.0, 0.05)
            leg.set("size", [width - 2 * rng.uniform(0.0, 0.02), leg_h, depth - inset - back])
            leg.set("position", [0.0, leg_h / 2, -inset / 2 + back / 2])
            leg.set("additional_legs_params", [0.0])
        leg.set("inner_sizes", [rng.uniform(0.015, 0.025), rng.uniform(0.015, 0.025)])


CATEGORY = Category(
    "StorageFurniture",
    "Storage furniture: a carcass with shelves, optional plinth or feet, doors, drawers and "
    "fixed front panels.",
    (Slot("body", (STORAGEFURNITURE_BODY,)),
     Slot("leg", (ENCLOSED_LEG,), min_count=0),
     Slot("door", (REGULAR_DOOR,), min_count=0),
     Slot("drawer", (REGULAR_DRAWER,), min_count=0),
     Slot("panel", (REGULAR_FRONT_PANEL,), min_count=0)),
    _assemble, removal_rate=0.35)
