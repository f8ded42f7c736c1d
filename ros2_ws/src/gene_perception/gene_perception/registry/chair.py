"""Chair: a seat (the root), a back rising from the seat's rear edge, a leg set reaching the floor
and optional armrests on the seat's sides; styles range from dining and bar chairs over swivel
and cantilever office chairs to sofa-like wide seats. All fourteen STL-C Chair templates are
declared (2 seats, 5 backs, 5 leg sets, 2 armrests). Object frame: the floor is y = 0, the seat
is centred over the origin in x and z, the front is +z. No joints: the only articulation a real
chair has is the swivel of a Star_leg office chair, which turns the seat (the root slot) relative
to the base, and the executor cannot move the root; the legs' ``central_rotation`` records the
base's angle instead.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from . import furniture_parts as fp
from .core import Param, Part, SampledInstance, Slot, Category, angle, count, flag, length, template

# --- small private helpers ----------------------------------------------------------------------


def _tilt_x(mesh: g.Mesh, degrees: float) -> g.Mesh:
    """Turn a mesh about the x axis through the origin (positive: +y towards +z)."""
    return g.place(mesh, rotation=(degrees, 0.0, 0.0))


def _bools(name: str, n: int, doc: str) -> Param:
    """A vector of ``n`` boolean switches stored as 0 or 1."""
    return Param(name, (n,), "bool", (0.0,) * n, (1.0,) * n, doc, discrete=True)


# --- seats --------------------------------------------------------------------------------------


def _regular_seat(p) -> list[Part]:
    return [Part("seat", *g.box(p["size"]))]


def _round_seat(p) -> list[Part]:
    radius, height = p["size"]
    return [Part("seat", *g.cylinder(radius, radius, height, -height / 2))]


REGULAR_SEAT = template(
    "Regular_seat", "seat", "Rectangular seat slab centred on its origin.",
    [length("size", 3, (0.3, 0.015, 0.3), (2.0, 0.35, 1.0),
            "seat width (x), thickness (y), depth (z)")],
    _regular_seat)
ROUND_SEAT = template(
    "Round_seat", "seat", "Round seat disc centred on its origin.",
    [length("size", 2, (0.12, 0.015), (0.4, 0.15), "radius, thickness (y)")],
    _round_seat)

# --- backs --------------------------------------------------------------------------------------
# Every back rises from its origin (the bottom of its rear face line, on the seat's rear edge)
# and is tilted about x by ``back_rotation`` about that origin; negative values recline it.

BACK_ROTATION = angle("back_rotation", 1, -30.0, 10.0,
                      "tilt of the back about x (negative reclines the top towards -z)")
TOP_RAIL = length("main_horizontal_piece_size", 3, (0.1, 0.02, 0.01), (2.1, 0.2, 0.08),
                  "top rail length (x), height (y), thickness (z)")
POSTS = length("main_vertical_piece_size", 3, (0.015, 0.1, 0.015), (0.08, 1.0, 0.08),
               "each side post's width (x), height (y), thickness (z)")
POST_SEPARATION = length("main_vertical_separation", 1, 0.08, 2.0,
                         "distance between the side posts' centres (x)")
SUB_INTERVAL = length("interval_between_subs", 1, 0.01, 0.8,
                      "spacing between consecutive slats")
SUB_COUNT = count("number_of_subs", 0, 8, "number of slats")


def _posts(p, rails: bool = True) -> list[g.Mesh]:
    """Two side posts from y = 0 and, if ``rails``, the top rail resting on them."""
    pw, ph, pz = p["main_vertical_piece_size"]
    sep = p["main_vertical_separation"][0]
    meshes = [g.box((pw, ph, pz), (s * sep / 2, ph / 2, 0.0)) for s in (-1.0, 1.0)]
    if rails:
        rx, ry, rz = p["main_horizontal_piece_size"]
        meshes.append(g.box((rx, ry, rz), (0.0, ph + ry / 2, 0.0)))
    return meshes


def _solid_back(p) -> list[Part]:
    w, h, t = p["size"]
    return [Part("back", *_tilt_x(g.box((w, h, t), (0.0, h / 2, 0.0)), p["back_rotation"][0]))]


def _ladder_back(p) -> list[Part]:
    pw, ph, _ = p["main_vertical_piece_size"]
    sh, sz = p["sub_horizontal_piece_size"]
    span = p["main_vertical_separation"][0] - pw
    heights = (ph / 2 + p["sub_offset"][0]
               - np.arange(int(p["number_of_subs"][0])) * p["interval_between_subs"][0])
    slats = [g.box((span, sh, sz), (0.0, y, 0.0)) for y in heights]
    return [Part("back", *_tilt_x(g.concat(_posts(p) + slats), p["back_rotation"][0]))]


def _splat_back(p) -> list[Part]:
    _, ph, _ = p["main_vertical_piece_size"]
    sw, sz = p["sub_vertical_piece_size"]
    xs = p["sub_offset"][0] + np.arange(int(p["number_of_subs"][0])) * p["interval_between_subs"][0]
    splats = [g.box((sw, ph, sz), (x, ph / 2, 0.0)) for x in xs]
    return [Part("back", *_tilt_x(g.concat(_posts(p) + splats), p["back_rotation"][0]))]


def _latice_back(p) -> list[Part]:
    pw, ph, _ = p["main_vertical_piece_size"]
    vw, vz = p["sub_vertical_piece_size"]
    hh, hz = p["sub_horizontal_piece_size"]
    rail_y = ph / 2 + p["sub_horizontal_offset"][0]
    meshes = _posts(p) + [g.box((p["main_vertical_separation"][0] - pw, hh, hz),
                                (0.0, rail_y, 0.0))]
    low = rail_y + hh / 2  # the short uprights stand on the mid rail, up to the posts' top
    if ph - low > 1e-3:
        xs = (p["sub_vertical_offset"][0]
              + np.arange(int(p["number_of_subs"][0])) * p["interval_between_subs"][0])
        meshes += [g.box((vw, ph - low, vz), (x, (low + ph) / 2, 0.0)) for x in xs]
    return [Part("back", *_tilt_x(g.concat(meshes), p["back_rotation"][0]))]


def _slat_back(p) -> list[Part]:
    pw, ph, pz = p["main_vertical_piece_size"]
    sh, sz = p["sub_horizontal_piece_size"]
    sep = p["main_vertical_separation"][0]
    turn = p["main_vertical_rotation"][0]
    meshes = [g.place(g.box((pw, ph, pz)), (s * sep / 2, ph / 2, 0.0), (0.0, s * turn, 0.0))
              for s in (-1.0, 1.0)]
    a = np.radians(turn)
    heights = (ph / 2 + p["sub_horizontal_offset"][0]
               - np.arange(int(p["number_of_subs"][0])) * p["interval_between_subs"][0])
    meshes += [g.box((sep - pw * np.cos(a), sh, sz), (0.0, y, pw / 2 * np.sin(a)))
               for y in heights]
    return [Part("back", *_tilt_x(g.concat(meshes), p["back_rotation"][0]))]


SOLID_BACK = template(
    "Solid_back", "back", "Solid backrest slab rising from the seat's rear edge.",
    [length("size", 3, (0.1, 0.1, 0.01), (2.0, 1.0, 0.3), "width (x), height (y), thickness (z)"),
     BACK_ROTATION],
    _solid_back)
LADDER_BACK = template(
    "Ladder_back", "back", "Two posts with a top rail and horizontal slats between them.",
    [TOP_RAIL, POSTS,
     length("sub_horizontal_piece_size", 2, (0.006, 0.008), (0.15, 0.08),
            "each slat's height (y), thickness (z); its length spans the posts"),
     POST_SEPARATION,
     length("sub_offset", 1, -0.5, 0.5, "height of the first (top) slat above the posts' middle"),
     SUB_INTERVAL, BACK_ROTATION, SUB_COUNT],
    _ladder_back)
SPLAT_BACK = template(
    "Splat_back", "back", "Two posts with a top rail and post-high vertical splats between them.",
    [TOP_RAIL, POSTS,
     length("sub_vertical_piece_size", 2, (0.005, 0.008), (0.3, 0.08),
            "each splat's width (x), thickness (z); its height is the posts'"),
     POST_SEPARATION,
     length("sub_offset", 1, -1.0, 1.0, "x of the first (leftmost) splat's centre"),
     SUB_INTERVAL, BACK_ROTATION, SUB_COUNT],
    _splat_back)
LATICE_BACK = template(
    "Latice_back", "back",
    "Two posts with a top rail, a mid rail and short uprights from the mid rail to the top.",
    [TOP_RAIL, POSTS, POST_SEPARATION,
     length("sub_vertical_piece_size", 2, (0.004, 0.008), (0.15, 0.08),
            "each upright's width (x), thickness (z)"),
     length("sub_horizontal_piece_size", 2, (0.006, 0.008), (0.15, 0.08),
            "mid rail height (y), thickness (z); its length spans the posts"),
     length("sub_horizontal_offset", 1, -0.5, 0.5, "height of the mid rail above the posts' middle"),
     length("sub_vertical_offset", 1, -1.0, 1.0, "x of the first (leftmost) upright's centre"),
     SUB_INTERVAL, BACK_ROTATION, SUB_COUNT],
    _latice_back)
SLAT_BACK = template(
    "Slat_back", "back", "Two posts, turned about y, with horizontal slats and no top rail.",
    [POSTS,
     length("sub_horizontal_piece_size", 2, (0.006, 0.008), (0.15, 0.08),
            "each slat's height (y), thickness (z); its length spans the posts"),
     POST_SEPARATION,
     length("sub_horizontal_offset", 1, -0.5, 0.5,
            "height of the first (top) slat above the posts' middle"),
     SUB_INTERVAL,
     angle("main_vertical_rotation", 1, -30.0, 30.0,
           "turn of the posts about y, mirrored between left and right"),
     BACK_ROTATION, SUB_COUNT],
    _slat_back)

# --- legs ---------------------------------------------------------------------------------------
# Leg sets hang from their origin (the seat's underside) unless noted; STL-C leg order for four
# legs: front-left, front-right, rear-left, rear-right. Kept in small functions so the furniture
# categories can share them.


def _regular_leg(p) -> list[Part]:
    tops, frames, sizes = fp.leg_layout(p, int(p["number_of_legs"][0]),
                                        bool(p["symmetry_mode"][0]))
    return [Part("legs", *fp.hanging_cuboids(sizes, tops, frames))]


def _regular_leg_with_splat(p) -> list[Part]:
    tops, frames, sizes = fp.leg_layout(p, 4, True)
    return [Part("legs", *g.concat([fp.hanging_cuboids(sizes, tops, frames),
                                    fp.stretchers(p, tops, frames, sizes)]))]


def _c_shaped_office_leg(p) -> list[Part]:
    vw, vh, vz = p["vertical_leg_size"]
    run_t, run_l = p["horizontal_z_leg_size"]
    bar_t = p["horizontal_x_leg_size"][0]
    sep = p["vertical_leg_separation"][0]
    v_x, v_z = np.radians(p["vertical_leg_rotation"])
    h_x, h_y = np.radians(p["horizontal_leg_rotation"])
    meshes, ends = [], []
    for side in (-1.0, 1.0):
        top = np.array([side * sep / 2, 0.0, 0.0])
        tilt_z = -side * v_z  # mirrored: positive splays the feet inwards
        down = np.array([np.sin(tilt_z), -np.cos(tilt_z) * np.cos(v_x),
                         -np.cos(tilt_z) * np.sin(v_x)])
        foot = top + vh * down
        meshes.append(g.beam(top, foot, vw, vz, (1.0, 0.0, 0.0)))
        yaw = side * h_y
        back = np.array([-np.cos(h_x) * np.sin(yaw), np.sin(h_x), -np.cos(h_x) * np.cos(yaw)])
        start = foot + np.array([0.0, run_t / 2, 0.0]) - back * vz / 2  # runner lies on the floor
        meshes.append(g.beam(start, start + back * (run_l + vz / 2), run_t, vw))
        ends.append(start + back * (run_l + vz / 2 - bar_t / 2))
    # A negative trim lengthens the bar so that it reaches the uprights' outer faces.
    meshes.append(fp.beams(ends[0], ends[1], run_t, bar_t, trim=-vw))
    return [Part("legs", *g.concat(meshes))]


def _star_leg(p) -> list[Part]:
    radius, height = p["vertical_sizes"]
    width, thick, reach = p["sub_sizes"]
    tilt = np.radians(p["tilt_angle"][0])
    n = int(p["number_of_sub_legs"][0])
    meshes = [g.cylinder(radius, radius, height, -height / 2)]
    mid = -height / 2 + p["sub_central_offset"][0] + thick / 2  # feet centres' height
    turns = np.radians(p["central_rotation"][0] + 360.0 * np.arange(n) / n)
    for a in turns:
        out = np.array([np.sin(a), 0.0, np.cos(a)])
        start = np.array([0.0, mid + reach / 2 * np.sin(tilt), 0.0])
        end = out * reach * np.cos(tilt) + np.array([0.0, mid - reach / 2 * np.sin(tilt), 0.0])
        meshes.append(g.beam(start, end, thick, width))
    return [Part("legs", *_tilt_x(g.concat(meshes), p["horizontal_rotation"][0]))]


def _barstool_leg(p) -> list[Part]:
    radius, height = p["vertical_sizes"]
    base_r, base_t = p["bottom_sizes"]
    meshes = [g.cylinder(radius, radius, height, -height),
              g.cylinder(base_r, base_r, base_t, -height - base_t)]
    return [Part("legs", *_tilt_x(g.concat(meshes), p["horizontal_rotation"][0]))]


LEG_SEPARATION = length("legs_separation", 3, 0.05, (1.9, 1.9, 0.95),
                        "x distance of the front legs, of the rear legs, z distance front to rear")
CENTRAL_ROTATION = angle("central_rotation", 1, -180.0, 180.0, "turn of the leg layout about y")
FRONT_LEGS = length("front_legs_size", 3, (0.012, 0.03, 0.012), (0.12, 1.0, 0.12),
                    "front leg width (x), length along the leg, depth (z)")
REAR_LEGS = length("rear_legs_size", 3, (0.012, 0.03, 0.012), (0.12, 1.0, 0.12),
                   "rear leg width (x), length along the leg, depth (z)")
FRONT_TILT = angle("front_rotation", 2, -20.0, 20.0,
                   "front legs' tilt about x (negative: feet forward), about z (negative: left "
                   "foot outwards; mirrored for the right leg)")
REAR_TILT = angle("rear_rotation", 2, -20.0, 20.0,
                  "rear legs' tilt about x (positive: feet backward), about z (as the front's)")

REGULAR_LEG = template(
    "Regular_leg", "leg", "One to four straight cuboid legs hanging from the seat's underside.",
    [count("number_of_legs", 1, 4, "1 centre column, 2 side by side, 3 (two front, one rear), 4"),
     LEG_SEPARATION, CENTRAL_ROTATION,
     flag("symmetry_mode", "1 mirrors the z tilt of right legs so pairs splay symmetrically"),
     FRONT_LEGS, FRONT_TILT, REAR_LEGS, REAR_TILT],
    _regular_leg)
C_SHAPED_OFFICE_LEG = template(
    "C_shaped_office_leg", "leg",
    "Cantilever frame: two uprights, floor runners running back, and a rear crossbar.",
    [length("vertical_leg_size", 3, (0.012, 0.1, 0.012), (0.08, 0.9, 0.08),
            "each upright's width (x), length, depth (z)"),
     length("horizontal_z_leg_size", 2, (0.01, 0.15), (0.08, 0.9),
            "each floor runner's thickness (y), length back from the upright (z)"),
     length("horizontal_x_leg_size", 1, 0.01, 0.08, "rear crossbar depth (z)"),
     length("vertical_leg_separation", 1, 0.15, 0.8, "distance between the uprights (x)"),
     angle("vertical_leg_rotation", 2, -20.0, 20.0,
           "uprights' tilt about x (negative: feet forward), about z (positive: feet inwards)"),
     angle("horizontal_leg_rotation", 2, (-15.0, -20.0), (15.0, 20.0),
           "runners' pitch about x (positive lifts the rear), turn about y (mirrored)")],
    _c_shaped_office_leg)
STAR_LEG = template(
    "Star_leg", "leg", "Swivel base: a central column centred on its origin and radial feet.",
    [length("vertical_sizes", 2, (0.012, 0.05), (0.08, 0.85), "column radius, column height"),
     length("sub_sizes", 3, (0.015, 0.01, 0.1), (0.1, 0.08, 0.5),
            "each foot's width, thickness, radial length"),
     length("sub_central_offset", 1, 0.0, 0.2, "height of the feet's bottom above the column's"),
     angle("tilt_angle", 1, -5.0, 30.0, "downward slope of the feet towards their tips"),
     CENTRAL_ROTATION,
     angle("horizontal_rotation", 1, -15.0, 15.0, "tilt of the whole base about x"),
     count("number_of_sub_legs", 3, 6, "number of feet")],
    _star_leg)
REGULAR_LEG_WITH_SPLAT = template(
    "Regular_leg_with_splat", "leg",
    "Four cuboid legs with optional stretcher bars between them.",
    [FRONT_LEGS, REAR_LEGS, LEG_SEPARATION, CENTRAL_ROTATION, FRONT_TILT, REAR_TILT,
     length("front_rear_bridging_bars_sizes", 2, 0.008, 0.08,
            "front and rear bars' height (y), thickness (z)"),
     length("left_right_bridging_bars_sizes", 2, 0.008, 0.08,
            "left and right bars' thickness (x), height (y)"),
     length("front_rear_bridging_bars_offset", 2, -0.5, 0.5,
            "front bar's, rear bar's height along the legs above their middle"),
     length("left_right_bridging_bars_offset", 2, -0.5, 0.5,
            "side bars' height along the front legs, along the rear legs, above their middle"),
     _bools("bridging_bars_existance", 4, "whether the front, rear, left, right bar exists")],
    _regular_leg_with_splat)
BARSTOOL_LEG = template(
    "Barstool_leg", "leg", "Pedestal: a round column hanging from the seat on a round foot plate.",
    [length("vertical_sizes", 2, (0.012, 0.05), (0.1, 0.85), "column radius, column height"),
     length("bottom_sizes", 2, (0.08, 0.005), (0.35, 0.06), "foot plate radius, thickness"),
     angle("horizontal_rotation", 1, -15.0, 15.0, "tilt of the pedestal about x")],
    _barstool_leg)

# --- armrests -----------------------------------------------------------------------------------
# Armrests stand on their origin's level at x = ±armrest_separation / 2.


def _solid_armrest(p) -> list[Part]:
    tx, h, tz = p["size"]
    sep = p["armrest_separation"][0]
    rx, rz = p["armrest_rotation"]
    slab = g.box((tx, h, tz), (0.0, h / 2, 0.0))
    meshes = [g.place(slab, (-side * sep / 2, 0.0, 0.0), (rx, 0.0, side * rz))
              for side in (1.0, -1.0)]  # the left arm first, as in STL-C
    return [Part("armrests", *g.concat(meshes))]


def _office_arm(p) -> g.Mesh:
    """One office arm about its post's foot: the post then the pad resting on it."""
    pad_w, pad_t, pad_l = p["horizontal_support_sizes"]
    post_w, post_h, post_z = p["vertical_support_sizes"]
    z0 = p["supports_contact_offset"][0]
    lean = p["vertical_support_rotation"][0]
    pitch = p["horizontal_support_rotation"][0]
    post = g.place(g.box((post_w, post_h, post_z), (0.0, post_h / 2, 0.0)), (0.0, 0.0, z0),
                   (lean, 0.0, 0.0))
    a, h = np.radians(lean), np.radians(pitch)
    top_y, top_z = post_h * np.cos(a), z0 + post_h * np.sin(a)
    # Pad centre (at z = 0) such that its underside meets the post's top, the post sunk into it
    # by a third of the pad's thickness.
    along = (top_z + pad_t / 2 * np.sin(h)) / np.cos(h)
    centre_y = top_y - pad_t / 3 + pad_t / 2 * np.cos(h) + along * np.sin(h)
    pad = g.place(g.box((pad_w, pad_t, pad_l)), (0.0, centre_y, 0.0), (pitch, 0.0, 0.0))
    return g.concat([post, pad])


def _office_armrest(p) -> list[Part]:
    arm = _office_arm(p)
    sep = p["armrest_separation"][0]
    turn = p["armrest_rotation"][0]
    meshes = [g.place(arm, (-side * sep / 2, 0.0, 0.0), (0.0, 0.0, side * turn))
              for side in (1.0, -1.0)]
    return [Part("armrests", *g.concat(meshes))]


ARM_SEPARATION = length("armrest_separation", 1, 0.2, 2.3, "distance between the two arms (x)")

SOLID_ARMREST = template(
    "Solid_armrest", "armrest", "Two upright side panels standing at the seat's sides.",
    [length("size", 3, (0.015, 0.08, 0.1), (0.3, 0.7, 1.0),
            "each panel's thickness (x), height (y), length (z)"),
     ARM_SEPARATION,
     angle("armrest_rotation", 2, -15.0, 15.0,
           "tilt about x, about z (positive leans both panels outwards)")],
    _solid_armrest)
OFFICE_ARMREST = template(
    "Office_armrest", "armrest", "Two arms, each a post carrying a horizontal pad.",
    [length("horizontal_support_sizes", 3, (0.03, 0.01, 0.12), (0.12, 0.06, 0.4),
            "each pad's width (x), thickness (y), length (z)"),
     length("vertical_support_sizes", 3, (0.015, 0.05, 0.015), (0.08, 0.5, 0.08),
            "each post's width (x), height (y), depth (z)"),
     length("supports_contact_offset", 1, -0.2, 0.2, "z of the posts' feet relative to the pads"),
     angle("vertical_support_rotation", 1, -30.0, 30.0, "posts' lean about x"),
     angle("horizontal_support_rotation", 1, -15.0, 15.0, "pads' pitch about x"),
     ARM_SEPARATION,
     angle("armrest_rotation", 1, -15.0, 15.0, "lean of both arms about z (positive: outwards)")],
    _office_armrest)

# --- category -----------------------------------------------------------------------------------

#: Per style: seat top height, width, depth, thickness, round seat radius, back height above the
#: seat top, back recline (deg, negative), back thickness of a solid back.
_STYLES = {
    "regular": dict(top=(0.42, 0.5), width=(0.4, 0.55), depth=(0.38, 0.5), thick=(0.02, 0.06),
                    radius=(0.17, 0.24), back=(0.32, 0.55), recline=(-12.0, 0.0),
                    slab=(0.02, 0.05)),
    "office": dict(top=(0.42, 0.52), width=(0.44, 0.55), depth=(0.4, 0.5), thick=(0.05, 0.1),
                   radius=(0.2, 0.26), back=(0.4, 0.65), recline=(-15.0, -3.0),
                   slab=(0.04, 0.09)),
    "bar": dict(top=(0.62, 0.8), width=(0.34, 0.45), depth=(0.32, 0.42), thick=(0.025, 0.07),
                radius=(0.15, 0.21), back=(0.25, 0.42), recline=(-10.0, 0.0), slab=(0.02, 0.05)),
    "bench": dict(top=(0.42, 0.48), width=(0.9, 1.6), depth=(0.4, 0.55), thick=(0.03, 0.06),
                  radius=(0.2, 0.25), back=(0.3, 0.5), recline=(-12.0, -2.0), slab=(0.02, 0.05)),
    "sofa": dict(top=(0.4, 0.47), width=(0.75, 1.9), depth=(0.55, 0.8), thick=(0.18, 0.3),
                 radius=(0.2, 0.25), back=(0.3, 0.5), recline=(-14.0, -4.0), slab=(0.12, 0.25)),
}


def _style(seat, back, leg, arms, rng) -> str:
    if leg.template in (STAR_LEG, C_SHAPED_OFFICE_LEG):
        return "office"
    if leg.template is BARSTOOL_LEG:
        return "bar" if rng.random() < 0.6 else "regular"
    if rng.random() < 0.15:
        return "bar"
    # Wide seats: upholstered sofas with a solid back, wooden settees with any back.
    if seat.template is REGULAR_SEAT and all(a.template is SOLID_ARMREST for a in arms):
        r = rng.random()
        if back.template is SOLID_BACK:
            return "sofa" if r < 0.6 else "bench" if r < 0.7 else "regular"
        return "bench" if r < 0.2 else "regular"
    return "regular"


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    seat, back, leg = parts["seat"][0], parts["back"][0], parts["leg"][0]
    arms = parts["armrest"]
    style = _style(seat, back, leg, arms, rng)
    s = _STYLES[style]
    u = rng.uniform
    top = u(*s["top"])
    if seat.template is ROUND_SEAT:
        radius, thick = seat.set("size", [u(*s["radius"]), u(*s["thick"])])
        width = depth = 2 * radius
    else:
        width = u(*s["width"])
        width, thick, depth = seat.set(
            "size", [width, u(*s["thick"]), min(u(*s["depth"]), max(width, s["depth"][0]))])
        radius = None
    seat.set("position", [0.0, top - thick / 2, 0.0])
    bottom = top - thick  # the seat's underside: legs hang from it, backs and arms rise from it
    back_height = _assemble_back(back, s, style, width, depth, radius, thick, bottom, rng)
    _assemble_legs(leg, style, width, depth, radius, bottom, rng)
    for arm in arms:
        _assemble_armrest(arm, style, width, depth, radius, thick, bottom, back_height, rng)


def _back_span(width: float, depth: float, radius: float | None, rng) -> tuple[float, float]:
    """Width of the back and z of the seat's rear edge under it (a chord of a round seat)."""
    if radius is None:
        return width, -depth / 2
    a = np.radians(rng.uniform(35.0, 60.0))
    return 2 * radius * np.cos(a), -radius * np.sin(a)


def _assemble_back(back, s, style, width, depth, radius, thick, bottom, rng) -> float:
    """Size and place the back; returns its height above the seat's top."""
    u = rng.uniform
    span, rear = _back_span(width, depth, radius, rng)
    total = thick + u(*s["back"])  # from the seat's underside to the back's top
    back.set("back_rotation", [u(*s["recline"])])
    if back.template is SOLID_BACK:
        t = u(*s["slab"])
        back.set("size", [span * (1.0 if style == "sofa" else u(0.85, 1.0)), total, t])
        back.set("position", [0.0, bottom, rear + t / 2])
        return total - thick
    pw, pz = u(0.022, 0.045), u(0.022, 0.045)
    sep = back.set("main_vertical_separation", [span - pw])[0]
    rail = back.template is not SLAT_BACK
    rail_h = u(0.04, 0.12) if rail else 0.0
    ph = back.set("main_vertical_piece_size", [pw, total - rail_h, pz])[1]
    if rail:
        back.set("main_horizontal_piece_size", [(sep + pw) * u(1.0, 1.08), rail_h, pz * u(0.7, 1.0)])
    back.set("position", [0.0, bottom, rear + pz / 2])
    inner = sep - pw  # clear width between the posts
    low = thick + 0.06  # lowest slat height above the origin
    if back.template is LADDER_BACK:  # n slats evenly between the seat and the top rail
        n = int(back.set("number_of_subs", [int(rng.integers(1, 5))])[0])
        interval = back.set("interval_between_subs", [(ph - low) / n])[0]
        back.set("sub_offset", [ph / 2 - interval / 2])
        back.set("sub_horizontal_piece_size", [min(interval * u(0.3, 0.55), 0.1),
                                               pz * u(0.6, 0.9)])
        return total - thick
    if back.template is SLAT_BACK:  # the first slat at the posts' top, the last above the seat
        n = int(back.set("number_of_subs", [int(rng.integers(2, 6))])[0])
        slat = min((ph - low) / n * u(0.35, 0.6), 0.1)
        first = ph - slat / 2
        interval = back.set("interval_between_subs", [(first - low) / (n - 1)])[0]
        back.set("sub_horizontal_offset", [first - ph / 2])
        back.set("sub_horizontal_piece_size", [slat, pz * u(0.6, 0.9)])
        back.set("main_vertical_rotation", [u(0.0, 20.0)])
        return total - thick
    n = int(back.set("number_of_subs", [int(rng.integers(*((3, 9) if style == "bench"
                                                           else (1, 5))))])[0])
    interval = back.set("interval_between_subs", [inner / (n + 1)])[0]
    first = -inner / 2 + interval
    if back.template is SPLAT_BACK:
        back.set("sub_offset", [first])
        splat = inner * u(0.2, 0.45) if n == 1 else interval * u(0.25, 0.55)
        back.set("sub_vertical_piece_size", [splat, pz * u(0.5, 0.9)])
        return total - thick
    # Latice_back: a mid rail above the seat, uprights from it to the top.
    rail_y = u(low, max(low, 0.55 * ph))
    back.set("sub_horizontal_offset", [rail_y - ph / 2])
    back.set("sub_horizontal_piece_size", [u(0.025, 0.06), pz * u(0.6, 0.9)])
    back.set("sub_vertical_offset", [first])
    back.set("sub_vertical_piece_size", [interval * u(0.2, 0.45), pz * u(0.5, 0.9)])
    return total - thick


def _leg_corners(width, depth, radius, rng) -> tuple[float, float]:
    """Half extents (x, z) of the rectangle the leg tops stand on, before insetting."""
    if radius is None:
        return width / 2, depth / 2
    a = np.radians(rng.uniform(38.0, 52.0))
    return radius * np.cos(a), radius * np.sin(a)


def _assemble_legs(leg, style, width, depth, radius, bottom, rng) -> None:
    u = rng.uniform
    if leg.template is STAR_LEG:
        _assemble_star_leg(leg, bottom, rng)
    elif leg.template is BARSTOOL_LEG:
        base_t = u(0.01, 0.03)
        r = radius if radius is not None else min(width, depth) / 2
        leg.set("vertical_sizes", [u(0.025, 0.045), bottom - base_t])
        leg.set("bottom_sizes", [max(r * u(0.75, 1.0), 0.16 if style == "bar" else 0.14), base_t])
        leg.set("horizontal_rotation", [0.0])
        leg.set("position", [0.0, bottom, 0.0])
    elif leg.template is C_SHAPED_OFFICE_LEG:
        _assemble_cantilever(leg, width, depth, radius, bottom, rng)
    else:
        _assemble_four_legs(leg, style, width, depth, radius, bottom, rng)


def _assemble_four_legs(leg, style, width, depth, radius, bottom, rng) -> None:
    u = rng.uniform
    three = leg.template is REGULAR_LEG and radius is not None and rng.random() < 0.3
    if leg.template is REGULAR_LEG:
        leg.set("number_of_legs", [3 if three else 4])
        leg.set("symmetry_mode", [1])
    leg.set("central_rotation", [0.0])
    hx, hz = _leg_corners(width, depth, radius, rng)
    if three:
        hx, hz = 0.8 * radius * np.sin(np.radians(60.0)), 0.8 * radius * 0.5
    side = {"sofa": (0.045, 0.075), "bench": (0.03, 0.06)}.get(style, (0.022, 0.045))
    side = u(*side)
    lw, ld = side, side * u(0.85, 1.15)
    inset = u(0.0, 0.05 if style == "sofa" else 0.025)
    if rng.random() < (0.25 if style == "sofa" else 0.45):
        fx, fz = -u(0.0, 10.0), -u(0.0, 8.0)
        rx = -fx if rng.random() < 0.8 else u(0.0, 12.0)
        rz = fz
    else:
        fx = fz = rx = rz = 0.0
    fx, fz = leg.set("front_rotation", [fx, fz])
    rx, rz = leg.set("rear_rotation", [rx, rz])
    front_len = bottom / (np.cos(np.radians(fx)) * np.cos(np.radians(fz)))
    rear_len = bottom / (np.cos(np.radians(rx)) * np.cos(np.radians(rz)))
    leg.set("front_legs_size", [lw, front_len, ld])
    leg.set("rear_legs_size", [lw * u(0.9, 1.1), rear_len, ld * u(0.9, 1.1)])
    sep_x = 2 * (hx - lw / 2 - inset)
    sep_z = 2 * (hz - ld / 2 - inset)
    leg.set("legs_separation", [sep_x, sep_x, sep_z])
    leg.set("position", [0.0, bottom, 0.0])
    if leg.template is REGULAR_LEG_WITH_SPLAT:
        chance = {"sofa": (0.1, 0.1, 0.2, 0.2), "bar": (0.85, 0.85, 0.8, 0.8)}.get(
            style, (0.58, 0.58, 0.91, 0.91))
        leg.set("bridging_bars_existance", (rng.random(4) < np.array(chance)).astype(float))
        low, high = (-0.7, -0.3) if style == "bar" else (-0.7, 0.3)
        f_off = u(low, high) * front_len / 2
        s_off = u(low, high) * front_len / 2
        leg.set("front_rear_bridging_bars_offset", [f_off, f_off * u(0.9, 1.1)])
        leg.set("left_right_bridging_bars_offset", [s_off, s_off * rear_len / front_len])
        leg.set("front_rear_bridging_bars_sizes", [u(0.015, 0.04), ld * u(0.5, 0.85)])
        leg.set("left_right_bridging_bars_sizes", [lw * u(0.5, 0.85), u(0.015, 0.04)])


def _assemble_star_leg(leg, bottom, rng) -> None:
    u = rng.uniform
    n = int(leg.set("number_of_sub_legs", [5 if rng.random() < 0.65 else rng.integers(3, 5)])[0])
    reach, tilt = u(0.25, 0.35), u(0.0, 15.0)
    width, thick = u(0.03, 0.05), u(0.025, 0.045)
    leg.set("sub_sizes", [width, thick, reach])
    tilt = np.radians(leg.set("tilt_angle", [tilt])[0])
    # The feet's tips rest on the floor; the column runs from the hub up to the seat.
    mid = reach / 2 * np.sin(tilt) + thick / 2 * np.cos(tilt)
    offset = leg.set("sub_central_offset", [u(0.0, 0.3) * max(mid - thick / 2, 0.0)])[0]
    column = bottom - (mid - offset - thick / 2)
    column = leg.set("vertical_sizes", [u(0.02, 0.035), column])[1]
    leg.set("central_rotation", [u(-180.0, 180.0) / n])
    leg.set("horizontal_rotation", [0.0])
    leg.set("position", [0.0, bottom - column / 2, 0.0])


def _assemble_cantilever(leg, width, depth, radius, bottom, rng) -> None:
    u = rng.uniform
    side, run_t = u(0.02, 0.035), u(0.02, 0.035)
    hx, hz = (width / 2, depth / 2) if radius is None else (radius * 0.8, radius * 0.6)
    inset = u(0.0, 0.02)
    vx, vz = -u(0.0, 10.0), -u(0.0, 6.0)
    vx, vz = leg.set("vertical_leg_rotation", [vx, vz])
    length_ = bottom / (np.cos(np.radians(vx)) * np.cos(np.radians(vz)))
    leg.set("vertical_leg_size", [side, length_, side])
    leg.set("horizontal_z_leg_size", [run_t, 2 * hz * u(0.85, 1.05)])
    leg.set("horizontal_x_leg_size", [side * u(0.8, 1.2)])
    leg.set("vertical_leg_separation", [2 * (hx - side / 2 - inset)])
    leg.set("horizontal_leg_rotation", [0.0, u(-6.0, 6.0)])
    leg.set("position", [0.0, bottom, hz - side / 2 - inset])


def _assemble_armrest(arm, style, width, depth, radius, thick, bottom, back_height, rng
                      ) -> None:
    u = rng.uniform
    # The arms' top over the seat's top, below the back's top.
    above = min(u(0.18, 0.26) if style != "sofa" else u(0.12, 0.25), back_height - 0.05)
    half_w = width / 2 if radius is None else radius * u(0.8, 0.92)
    if arm.template is SOLID_ARMREST:
        t = u(0.12, 0.25) if style == "sofa" else u(0.02, 0.05)
        length_ = depth * (u(0.9, 1.0) if style == "sofa" else u(0.6, 0.9))
        rear = -depth / 2
        if radius is not None:  # panels along the round seat's sides, from near its back
            length_, rear = radius * u(0.9, 1.3), -0.9 * radius
        arm.set("size", [t, thick + above, length_])
        arm.set("armrest_separation", [2 * half_w + t])
        arm.set("armrest_rotation", [0.0, 0.0 if style == "sofa" else u(0.0, 6.0)])
        arm.set("position", [0.0, bottom, rear + length_ / 2])
        return
    pad_w, pad_t, pad_l = u(0.05, 0.09), u(0.02, 0.04), min(u(0.2, 0.3), depth * 0.8)
    post_w, post_z = u(0.02, 0.045), u(0.025, 0.06)
    arm.set("horizontal_support_sizes", [pad_w, pad_t, pad_l])
    lean = arm.set("vertical_support_rotation", [u(-15.0, 15.0)])[0]
    post_h = (thick + above - pad_t * 2 / 3) / np.cos(np.radians(lean))
    arm.set("vertical_support_sizes", [post_w, post_h, post_z])
    # Keep the post's top under the pad: its foot sits off the pad centre against the lean.
    reach = pad_l / 2 - post_z / 2
    top_shift = post_h * np.sin(np.radians(lean))
    offset = np.clip(-top_shift + u(-0.5, 0.5) * reach, -reach - top_shift, reach - top_shift)
    offset = arm.set("supports_contact_offset", [offset])[0]
    arm.set("horizontal_support_rotation", [u(-4.0, 4.0)])
    arm.set("armrest_rotation", [u(0.0, 6.0)])
    z = -u(0.0, 0.15) * depth
    foot_z = z + offset
    if radius is not None:  # the posts meet the round seat's rim at their z
        half_w = np.sqrt(max(radius**2 - foot_z**2, (0.5 * radius) ** 2))
    else:
        z = np.clip(z, -depth / 2 - offset + post_z / 2, depth / 2 - offset - post_z / 2)
    arm.set("armrest_separation", [2 * half_w + post_w])
    arm.set("position", [0.0, bottom, z])


CATEGORY = Category(
    "Chair", "A chair: seat, back, legs reaching the floor, optional armrests.",
    (Slot("seat", (REGULAR_SEAT, ROUND_SEAT)),
     Slot("back", (SOLID_BACK, LADDER_BACK, SPLAT_BACK, LATICE_BACK, SLAT_BACK)),
     Slot("leg", (REGULAR_LEG, C_SHAPED_OFFICE_LEG, STAR_LEG, REGULAR_LEG_WITH_SPLAT,
                  BARSTOOL_LEG)),
     Slot("armrest", (SOLID_ARMREST, OFFICE_ARMREST), min_count=0)),
    _assemble, removal_rate=0.5)
