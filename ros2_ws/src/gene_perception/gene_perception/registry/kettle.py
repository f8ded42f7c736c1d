"""Kettle: a hollow vessel body, a lid, a back handle, an optional top (U) handle and a spout.
All twelve templates of the Standard Concept Template Library's Kettle are declared
(Semi_Spherical_Body, Spherical_Cylindrical_Body, Multilevel_Body, Standard_Cover, Trifold_Handle,
Curved_Handle, Ring_Handle, Cylindrical_Handle, Round_U_Handle, Flat_U_Handle, Straight_Spout,
Curved_Spout); none is left out. The library builds the round bodies as open surfaces and ignores
their ``thickness``; here ``thickness`` is the wall of a closed hollow shell. The library's lid
has no articulation; here ``Standard_Cover`` hinges at its back edge (its parameters stay the
library's, so its conceptualisations still map; a lid under a U handle opens only partway before
touching the handle, which the URDF does not model). The library always adds the U handle; here
it is optional.

Template frame as in :mod:`.mug`: y up, z to the front, x to the right. The body's equator (the
middle of level 1 for ``Multilevel_Body``) is at the origin, the spout points to the front (+z),
the side handle to the back (-z), and the U handle spans the lid from front to back.
"""

from __future__ import annotations

import numpy as np

from .. import geometry as g
from .core import (Category, Constraint, Joint, Part, SampledInstance, Slot, angle, count, flag,
                   length, template)

# --- shared profile helpers -------------------------------------------------------------------


def _clean(r: np.ndarray, y: np.ndarray, tol: float = 2e-5) -> tuple[np.ndarray, np.ndarray]:
    """Drop profile points that repeat their predecessor (they would give degenerate faces)."""
    r, y = np.asarray(r, float), np.asarray(y, float)
    keep = np.ones(len(r), bool)
    keep[1:] = np.hypot(np.diff(r), np.diff(y)) > tol
    return r[keep], y[keep]


def _solid(r, y) -> g.Mesh:
    """A solid of revolution from a profile that starts and ends on the axis."""
    return g.lathe(*_clean(r, y))


def _inset(r: np.ndarray, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The upward wall profile (r, y) moved ``t`` inwards along its normals."""
    pts = np.stack([r, y], axis=1)
    tangent = np.gradient(pts, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    inner = pts + t * np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    return inner[:, 0], inner[:, 1]


def _vessel(r_out, y_out, r_in, y_in, ratio: float = 1.0) -> g.Mesh:
    """Closed open-topped vessel: the outer wall from the bottom edge up to the rim, then the
    cavity wall from the rim down to the floor (both given bottom-up); x is scaled by ``ratio``.
    The cavity is clipped inside the outer wall."""
    r_out, y_out = np.asarray(r_out, float), np.asarray(y_out, float)
    y_in = np.asarray(y_in, float)
    r_in = np.clip(r_in, 5e-4, np.interp(y_in, y_out, r_out) - 5e-4)
    vertices, faces = _solid(np.concatenate([[0.0], r_out, r_in[::-1], [0.0]]),
                             np.concatenate([[y_out[0]], y_out, y_in[::-1], [y_in[0]]]))
    vertices[:, 0] *= ratio
    return vertices, faces


def _shell_cavity(r_out, y_out, wall: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Cavity of a shell of thickness ``wall`` inside the outer wall, above a floor ``floor``
    thick, bottom-up."""
    r_in, y_in = _inset(r_out, y_out, wall)
    floor_y = min(y_out[0] + floor, y_in[-1] - 1e-3)
    above = np.nonzero(y_in > floor_y + 1e-5)[0]
    first = above[0] if len(above) else len(y_in) - 1
    if first > 0:
        r0 = np.interp(floor_y, y_in[first - 1:first + 1], r_in[first - 1:first + 1])
    else:
        r0 = r_in[0]
    return np.concatenate([[r0], r_in[first:]]), np.concatenate([[floor_y], y_in[first:]])


def _ellipse(h: float, v: float, lat0: float, lat1: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Meridian of an ellipsoid (equatorial radius h, polar semi-axis v) between latitudes (rad)."""
    lat = np.linspace(lat0, lat1, n)
    return h * np.cos(lat), v * np.sin(lat)

# --- bodies -----------------------------------------------------------------------------------


def semi_spherical_profile(p) -> tuple[np.ndarray, np.ndarray]:
    """Outer wall (r, y), bottom-up, of a Semi_Spherical_Body: foot, lower and upper ellipsoid."""
    h = p["horizontal_axis"][0]
    up, down = p["vertical_axis"]
    top, bottom = np.radians(p["exist_angle"])
    foot_r, foot_h = p["bottom_size"]
    r_low, y_low = _ellipse(h, down, -bottom, 0.0, 10)
    r_up, y_up = _ellipse(h, up, 0.0, top, 12)
    return (np.concatenate([[foot_r], r_low, r_up[1:]]),
            np.concatenate([[y_low[0] - foot_h], y_low, y_up[1:]]))


def spherical_cylindrical_profile(p) -> tuple[np.ndarray, np.ndarray]:
    """Outer wall (r, y), bottom-up, of a Spherical_Cylindrical_Body: frustum, then dome."""
    h = p["horizontal_axis"][0]
    r_up, y_up = _ellipse(h, p["vertical_axis"][0], 0.0, np.radians(p["exist_angle"][0]), 12)
    return (np.concatenate([[p["bottom_size"][0]], r_up]),
            np.concatenate([[-p["bottom_size"][1]], y_up]))


def _round_body(profile):
    def geometry(p) -> list[Part]:
        r, y = profile(p)
        wall = p["thickness"][0]
        r_in, y_in = _shell_cavity(r, y, wall, max(wall, 0.003))
        return [Part("body", *_vessel(r, y, r_in, y_in, p["x_z_ratio"][0]))]
    return geometry


def _round_body_params(bottom_low, bottom_high, bottom_doc: str) -> list:
    return [
        length("horizontal_axis", 1, 0.045, 0.13,
               "equatorial radius along z (the x radius is this times x_z_ratio)"),
        length("vertical_axis", 2, (0.02, 0.015), (0.18, 0.15),
               "semi-axis (y) of the upper ellipsoid, of the lower ellipsoid"),
        angle("exist_angle", 2, (15.0, 15.0), (80.0, 85.0),
              "latitude of the rim above the equator, latitude of the lower cut below it"),
        length("bottom_size", 2, bottom_low, bottom_high, bottom_doc),
        length("thickness", 1, 0.001, 0.006, "wall thickness of the shell"),
        length("x_z_ratio", 1, 0.7, 1.3, "x radius over z radius (elliptic section)"),
    ]


SEMI_SPHERICAL_BODY = template(
    "Semi_Spherical_Body", "body",
    "Round-bellied shell: two half ellipsoids meeting at the equator on a frustum foot.",
    _round_body_params((0.015, 0.002), (0.13, 0.04),
                       "foot bottom radius, foot height below the lower ellipsoid"),
    _round_body(semi_spherical_profile))

SPHERICAL_CYLINDRICAL_BODY = template(
    "Spherical_Cylindrical_Body", "body",
    "Shell of an ellipsoid dome on a frustum whose top is the equator (vertical_axis[1] and "
    "exist_angle[1] unused, as in the library).",
    _round_body_params((0.03, 0.02), (0.15, 0.22),
                       "frustum bottom radius, frustum height below the equator"),
    _round_body(spherical_cylindrical_profile))

LEVELS = 5


def multilevel_profiles(p):
    """Outer wall and cavity wall, both (r, y) bottom-up, of a Multilevel_Body."""
    n = int(p["num_levels"][0])
    h0, depth = p["level_1_height"]
    outer = [p["level_1_bottom_radius"][0], p["level_1_top_radius"][0]]
    inner = [p["level_1_bottom_radius"][1], p["level_1_top_radius"][1]]
    y = [-h0 / 2, h0 / 2]
    for k in range(2, n + 1):
        outer.append(p[f"level_{k}_top_radius"][0])
        inner.append(p[f"level_{k}_top_radius"][1])
        y.append(y[-1] + p[f"level_{k}_height"][0])
    y_in = np.array(y)
    y_in[0] = h0 / 2 - depth
    return (np.array(outer), np.array(y)), (np.array(inner), y_in)


def _multilevel_body(p) -> list[Part]:
    (r, y), (r_in, y_in) = multilevel_profiles(p)
    return [Part("body", *_vessel(r, y, r_in, y_in, p["x_z_ratio"][0]))]


def _level_params() -> list:
    params = [
        count("num_levels", 1, LEVELS, "number of stacked hollow levels"),
        length("level_1_bottom_radius", 2, (0.04, 0.035), (0.13, 0.128),
               "level 1 bottom radius: outer, cavity (at the floor)"),
        length("level_1_top_radius", 2, (0.03, 0.025), (0.13, 0.128),
               "level 1 top radius: outer, cavity"),
        length("level_1_height", 2, (0.02, 0.012), (0.26, 0.255),
               "level 1 height: total, cavity part (the rest is the solid floor)"),
    ]
    for k in range(2, LEVELS + 1):
        params += [length(f"level_{k}_top_radius", 2, (0.015, 0.01), (0.13, 0.128),
                          f"level {k} top radius: outer, cavity (unused above num_levels)"),
                   length(f"level_{k}_height", 1, 0.003, 0.12,
                          f"level {k} height (unused above num_levels)")]
    return params + [length("x_z_ratio", 1, 0.7, 1.3, "x radius over z radius (elliptic section)")]


MULTILEVEL_BODY = template(
    "Multilevel_Body", "body",
    "Stack of hollow frustum levels with a solid floor in level 1, open at the top.",
    _level_params(), _multilevel_body,
    constraints=(Constraint(("level_1_bottom_radius", 1), ("level_1_bottom_radius", 0),
                            margin=0.0015),
                 Constraint(("level_1_top_radius", 1), ("level_1_top_radius", 0), margin=0.0015),
                 Constraint(("level_1_height", 1), ("level_1_height", 0), margin=0.003),
                 *(Constraint((f"level_{k}_top_radius", 1), (f"level_{k}_top_radius", 0),
                              margin=0.0015) for k in range(2, LEVELS + 1))))

# --- lid --------------------------------------------------------------------------------------

KNOBS = 5


def cover_profile(p) -> tuple[np.ndarray, np.ndarray]:
    """Lid profile (pole to pole): cavity ceiling, skirt, outer frustum, knob stack."""
    r_top, r_bottom, height = p["outer_size"]
    i_top, i_bottom, depth = p["inner_size"]
    depth = min(depth, height - 1e-3)
    r_mid = r_bottom + (r_top - r_bottom) * depth / height
    i_top = min(i_top, r_mid - 5e-4)
    i_bottom = min(i_bottom, r_bottom - 5e-4)
    r, y = [0.0, i_top, i_bottom, r_bottom, r_top], [depth, depth, 0.0, 0.0, height]
    for k in range(1, int(p["num_knobs"][0]) + 1):
        k_top, k_bottom, k_height = p[f"knob_{k}_size"]
        r += [k_bottom, k_top]
        y += [y[-1], y[-1] + k_height]
    return np.array(r + [0.0]), np.array(y + [y[-1]])


def _standard_cover(p) -> list[Part]:
    return [Part("lid", *_solid(*cover_profile(p)))]


def _knob_params() -> list:
    return [length(f"knob_{k}_size", 3, (0.003, 0.003, 0.002), (0.04, 0.04, 0.04),
                   f"knob {k}: top radius, bottom radius, height (unused above num_knobs)")
            for k in range(1, KNOBS + 1)]


STANDARD_COVER = template(
    "Standard_Cover", "lid",
    "Lid: solid frustum over a hollow skirt, its base at y = 0, with a stack of knob frusta.",
    [length("outer_size", 3, (0.015, 0.015, 0.004), (0.14, 0.14, 0.06),
            "top radius, bottom radius, total height (without knobs)"),
     length("inner_size", 3, (0.01, 0.01, 0.001), (0.138, 0.138, 0.05),
            "skirt cavity radius at its ceiling, at the bottom, cavity depth"),
     count("num_knobs", 0, KNOBS, "number of stacked knob frusta"),
     *_knob_params()],
    _standard_cover,
    joints=(Joint("lid", "revolute", (-1.0, 0.0, 0.0),
                  lambda p, k: np.array([0.0, 0.0, -p["outer_size"][1]]),
                  lambda p, k: (0.0, 110.0),
                  doc="Hinge about x at the lid's back bottom edge; positive opens upwards."),),
    constraints=(Constraint(("inner_size", 0), ("outer_size", 0), margin=0.001),
                 Constraint(("inner_size", 1), ("outer_size", 1), margin=0.001),
                 Constraint(("inner_size", 2), ("outer_size", 2), margin=0.002)))

# --- side handles (at the back, -z) -----------------------------------------------------------


def _trifold_handle(p) -> list[Part]:
    width_x, thick_y = p["horizontal_thickness"]
    grip_x, grip_z = p["vertical_thickness"]
    sep = p["horizontal_separation"][0]
    roots = [np.array([0.0, sep / 2, -p["mounting_offset"][0]]), np.array([0.0, -sep / 2, 0.0])]
    meshes, tips = [], []
    for root, length_, tilt in zip(roots, p["horizontal_length"],
                                   np.radians(p["horizontal_rotation"])):
        # Positive tilt turns the arm downwards as it leaves the body towards -z.
        direction = np.array([0.0, -np.sin(tilt), -np.cos(tilt)])
        tip = root + length_ * direction
        meshes.append(g.beam(root, tip + direction * grip_z / 2, thick_y, width_x))
        tips.append(tip)
    back = np.array([0.0, 0.0, -grip_z / 2])
    along = tips[0] - tips[1]
    if np.linalg.norm(along) < 1e-6:
        raise ValueError("the arm tips coincide")
    along /= np.linalg.norm(along)
    meshes.append(g.beam(tips[1] + back - along * thick_y / 2, tips[0] + back + along * thick_y / 2,
                         grip_z, grip_x, up=(0.0, 0.0, 1.0)))
    return [Part("handle", *g.concat(meshes))]


TRIFOLD_HANDLE = template(
    "Trifold_Handle", "handle",
    "Angular back handle: two arms leaving the body towards -z joined by a grip bar.",
    [length("horizontal_thickness", 2, 0.004, (0.03, 0.025), "arm width in x, arm thickness in y"),
     length("horizontal_length", 2, 0.01, 0.14, "length of the top arm, of the bottom arm"),
     length("vertical_thickness", 2, 0.004, 0.03, "grip bar width in x, thickness in z"),
     angle("horizontal_rotation", 2, -60.0, 60.0,
           "downward tilt of the top arm, of the bottom arm (negative tilts upwards)"),
     length("horizontal_separation", 1, 0.02, 0.22, "height between the two arm roots"),
     length("mounting_offset", 1, -0.06, 0.06, "how much further back (-z) the top root is")],
    _trifold_handle)


def _arc_yz(radius: float, half: float, n: int = 24) -> np.ndarray:
    """Arc about the origin in the y-z plane, bulging to -z, spanning ±half (rad) from -z."""
    t = np.linspace(-half, half, n)
    return np.stack([np.zeros(n), radius * np.sin(t), -radius * np.cos(t)], axis=1)


def _curved_handle(p) -> list[Part]:
    central, tube = p["radius"]
    half = np.radians(p["exist_angle"][0]) / 2
    return [Part("handle", *g.sweep(_arc_yz(central, half), tube))]


CURVED_HANDLE = template(
    "Curved_Handle", "handle",
    "Round C handle: a partial torus in the y-z plane centred on the origin, open towards +z.",
    [length("radius", 2, (0.015, 0.003), (0.12, 0.015), "central radius, tube radius"),
     angle("exist_angle", 1, 30.0, 320.0, "angle the arc spans, symmetric about -z")],
    _curved_handle, constraints=(Constraint(("radius", 1), ("radius", 0), factor=0.5),))


def _ring_handle(p) -> list[Part]:
    outer, inner, thick = p["size"]
    half = np.radians(p["exist_angle"][0]) / 2
    t = np.linspace(-half, half, 24)
    mid = (outer + inner) / 2
    # Built in the x-y plane with x pointing back, then turned so that x becomes -z.
    band = g.band(np.stack([mid * np.cos(t), mid * np.sin(t)], axis=1), outer - inner, thick)
    return [Part("handle", *g.place(band, rotation=(0.0, 90.0, 0.0)))]


RING_HANDLE = template(
    "Ring_Handle", "handle",
    "Flat C handle: a partial ring of rectangular section in the y-z plane, open towards +z.",
    [length("size", 3, (0.02, 0.01, 0.004), (0.13, 0.12, 0.03),
            "outer radius, inner radius, thickness in x"),
     angle("exist_angle", 1, 30.0, 320.0, "angle the arc spans, symmetric about -z")],
    _ring_handle, constraints=(Constraint(("size", 1), ("size", 0), margin=0.003),))


def _cylindrical_handle(p) -> list[Part]:
    far, root, length_ = p["size"]
    return [Part("handle", *g.place(g.cylinder(root, far, length_), rotation=(-90.0, 0.0, 0.0)))]


CYLINDRICAL_HANDLE = template(
    "Cylindrical_Handle", "handle",
    "Straight stick handle: a frustum from the origin towards -z.",
    [length("size", 3, (0.005, 0.005, 0.03), (0.03, 0.03, 0.2),
            "radius at the far end, radius at the root, length")],
    _cylindrical_handle)

# --- top (U) handles --------------------------------------------------------------------------


def _round_u_handle(p) -> list[Part]:
    path = g.u_path(p["vertical_separation"][0] / 2, p["vertical_length"][0], 20)
    path3 = np.stack([np.zeros(len(path)), path[:, 1], -path[:, 0]], axis=1)
    return [Part("handle", *g.sweep(path3, p["mounting_radius"][0]))]


ROUND_U_HANDLE = template(
    "Round_U_Handle", "handle",
    "Round rod top handle: posts at z = ±separation/2 from y = 0 joined by a half torus.",
    [length("mounting_radius", 1, 0.002, 0.012, "rod radius"),
     length("vertical_separation", 1, 0.04, 0.26, "distance (z) between the two posts"),
     length("vertical_length", 1, 0.002, 0.15, "height of each straight post")],
    _round_u_handle)


def _flat_u_handle(p) -> list[Part]:
    width, post, thick = p["vertical_size"]
    band = g.band(g.u_path(p["vertical_separation"][0] / 2, post, 20), thick, width)
    return [Part("handle", *g.place(band, rotation=(0.0, 90.0, 0.0)))]


FLAT_U_HANDLE = template(
    "Flat_U_Handle", "handle",
    "Flat strap top handle: posts at z = ±separation/2 from y = 0 joined by a half ring.",
    [length("vertical_size", 3, (0.006, 0.002, 0.002), (0.04, 0.15, 0.015),
            "strap width in x, post height, strap thickness in the y-z plane"),
     length("vertical_separation", 1, 0.04, 0.26, "distance (z) between the post centres")],
    _flat_u_handle)

# --- spouts (at the front, +z) ----------------------------------------------------------------

SUB_SPOUTS = 4


def _spout_segment(base: np.ndarray, elevation: float, radii, thinkness: float,
                   lengths, offset: float) -> tuple[g.Mesh, np.ndarray]:
    """A bevelled hollow frustum tube whose base-cut centre is ``base``; returns the mesh and the
    centre of its outlet cut. ``lengths`` are the upper and lower generatrices; the lower one's
    midpoint lies ``offset`` further along the axis than the upper one's."""
    r_out, r_base = radii
    up_len, low_len = lengths
    axis = np.array([0.0, np.sin(elevation), np.cos(elevation)])
    upper = np.array([0.0, np.cos(elevation), -np.sin(elevation)])
    frame = np.stack([[-1.0, 0.0, 0.0], axis, upper], axis=1)  # proper: e_x × axis = upper
    vertices, faces = g.tube(r_base, r_out, max(r_base - 2 * thinkness, 0.3 * r_base),
                             max(r_out - 2 * thinkness, 0.3 * r_out), 1.0)
    x, t, z = vertices.T
    c = z / np.hypot(x, z)  # +1 on the upper generatrix, -1 on the lower one
    start_up, start_low = -up_len / 2, -low_len / 2 + offset
    end_up, end_low = up_len / 2, low_len / 2 + offset
    start = (start_up + start_low) / 2 + c * (start_up - start_low) / 2
    end = (end_up + end_low) / 2 + c * (end_up - end_low) / 2
    centre = (start_up + start_low) / 2
    local = np.stack([x, start + t * (end - start) - centre, z], axis=1)
    outlet = base + ((end_up + end_low) / 2 - centre) * axis
    return (local @ frame.T + base, faces), outlet


def _straight_spout(p) -> list[Part]:
    base, meshes = np.zeros(3), []
    for k in range(1, int(p["num_of_sub_spouts"][0]) + 1):
        mesh, base = _spout_segment(base, np.radians(p[f"spout_{k}_rotation"][0]),
                                    p[f"spout_{k}_radius"], p[f"spout_{k}_thinkness"][0],
                                    p[f"spout_{k}_length"], p[f"spout_{k}_generatrix_offset"][0])
        meshes.append(mesh)
    return [Part("spout", *g.concat(meshes))]


def straight_spout_path(p, samples: int = 6) -> np.ndarray:
    """Centre line (y, z) of a Straight_Spout from its base at the origin (approximate: the
    segments' base and outlet centres joined by straight lines)."""
    points, base = [np.zeros(2)], np.zeros(2)
    for k in range(1, int(p["num_of_sub_spouts"][0]) + 1):
        theta = np.radians(p[f"spout_{k}_rotation"][0])
        run = np.mean(p[f"spout_{k}_length"]) * np.array([np.sin(theta), np.cos(theta)])
        points.extend(base + np.linspace(0.0, 1.0, samples)[1:, None] * run)
        base = base + run
    return np.array(points)


def _sub_spout_params() -> list:
    params = [count("num_of_sub_spouts", 1, SUB_SPOUTS, "number of chained tube segments")]
    for k in range(1, SUB_SPOUTS + 1):
        unused = " (unused above num_of_sub_spouts)" if k > 1 else ""
        params += [
            length(f"spout_{k}_radius", 2, 0.003, (0.03, 0.035),
                   f"segment {k} outer radius at the outlet, at the base{unused}"),
            length(f"spout_{k}_thinkness", 1, 0.0005, 0.004,
                   f"segment {k} half wall: the bore radius is radius - 2 * thinkness{unused}"),
            length(f"spout_{k}_length", 2, 0.005, 0.2,
                   f"segment {k} length of the upper generatrix, of the lower one{unused}"),
            length(f"spout_{k}_generatrix_offset", 1, -0.08, 0.08,
                   f"segment {k} axial shift of the lower generatrix's midpoint past the upper "
                   f"one's{unused}"),
            angle(f"spout_{k}_rotation", 1, -30.0, 90.0,
                  f"segment {k} elevation of its axis above +z{unused}"),
        ]
    return params


STRAIGHT_SPOUT = template(
    "Straight_Spout", "spout",
    "Chain of bevelled hollow frustum tubes in the y-z plane, the first based at the origin.",
    _sub_spout_params(), _straight_spout,
    constraints=tuple(Constraint((f"spout_{k}_thinkness", 0), (f"spout_{k}_radius", 0),
                                 factor=0.5, margin=0.0005) for k in range(1, SUB_SPOUTS + 1)))


def gooseneck_path(p) -> tuple[np.ndarray, np.ndarray]:
    """Centre line (y, z) of a Curved_Spout from its base at the origin, and its tube radii."""
    c0, c1 = p["central_radius"]
    e0, e1 = np.radians(p["exist_angle"])
    r0, r1, r2 = p["torus_radius"]
    # First arc leaves the origin along +z and curves up; the second one curves back down.
    t = np.linspace(0.0, e0, 14)
    first = np.stack([c0 * (1 - np.cos(t)), c0 * np.sin(t)], axis=1)
    centre = first[-1] + c1 * np.array([-np.cos(e0), np.sin(e0)])
    phi = np.linspace(e0, e0 - e1, 14)[1:]
    second = centre + c1 * np.stack([np.cos(phi), -np.sin(phi)], axis=1)
    radius = np.concatenate([np.linspace(r0, r1, 14), np.linspace(r1, r2, 14)[1:]])
    return np.concatenate([first, second]), radius


def _curved_spout(p) -> list[Part]:
    yz, radius = gooseneck_path(p)
    path = np.stack([np.zeros(len(yz)), yz[:, 0], yz[:, 1]], axis=1)
    return [Part("spout", *g.sweep(path, radius))]


CURVED_SPOUT = template(
    "Curved_Spout", "spout",
    "Solid S-shaped gooseneck: two tapered torus arcs of opposite bend in the y-z plane.",
    [length("central_radius", 2, 0.01, 0.16, "bend radius of the first arc, of the second arc"),
     angle("exist_angle", 2, 5.0, 150.0, "angle of the first (upward) arc, of the second arc"),
     length("torus_radius", 3, 0.002, 0.025,
            "tube radius at the base, at the junction of the arcs, at the tip"),
     length("thickness", 1, 0.0005, 0.004, "wall thickness (recorded; the spout is built solid)")],
    _curved_spout)

# --- category ---------------------------------------------------------------------------------

EMBED = 0.004  # how far a part's mounting end sinks into the wall


def _shape_body(body: SampledInstance, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a plausible body; return its outer wall (r, y), bottom-up."""
    spec = body.template
    height = rng.uniform(0.125, 0.2)  # body alone; the lid and handles add to it
    if spec is SEMI_SPHERICAL_BODY:
        h = rng.uniform(0.065, 0.105)
        up, down = h * rng.uniform(0.75, 1.35), h * rng.uniform(0.55, 1.1)
        top, bottom = rng.uniform(35.0, 65.0), rng.uniform(35.0, 75.0)
        foot_h = rng.uniform(0.004, 0.02)
        foot_r = h * np.cos(np.radians(bottom)) * rng.uniform(0.85, 1.0)
        scale = np.clip(height / (up * np.sin(np.radians(top)) + down * np.sin(np.radians(bottom))
                                  + foot_h), 0.75, 1.35)
        body.set("horizontal_axis", [h * scale])
        body.set("vertical_axis", [up * scale, down * scale])
        body.set("exist_angle", [top, bottom])
        body.set("bottom_size", [foot_r * scale, foot_h * scale])
    elif spec is SPHERICAL_CYLINDRICAL_BODY:
        h = rng.uniform(0.065, 0.1)
        up, top = h * rng.uniform(0.4, 1.0), rng.uniform(35.0, 70.0)
        dome = up * np.sin(np.radians(top))
        body.set("horizontal_axis", [h])
        body.set("vertical_axis", [up, rng.uniform(0.015, 0.15)])
        body.set("exist_angle", [top, rng.uniform(15.0, 85.0)])
        body.set("bottom_size", [h * rng.uniform(0.8, 1.12), max(height - dome, 0.05)])
    else:
        n = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.3, 0.25, 0.1, 0.05]))
        body.set("num_levels", [n])
        wall = rng.uniform(0.0015, 0.003)
        radius = rng.uniform(0.06, 0.1)
        main = height * (1.0 if n == 1 else rng.uniform(0.6, 0.85))
        top = radius * rng.uniform(0.72, 1.05)
        body.set("level_1_bottom_radius", [radius, radius - wall])
        body.set("level_1_top_radius", [top, top - wall])
        body.set("level_1_height", [main, main - rng.uniform(0.003, 0.008)])
        rest = height - main
        weights = rng.uniform(0.5, 1.5, n - 1)
        for k in range(2, n + 1):
            top *= rng.uniform(0.6, 0.92) if k < n or rng.random() < 0.7 else 1.0
            body.set(f"level_{k}_top_radius", [top, top - wall])
            body.set(f"level_{k}_height", [rest * weights[k - 2] / weights.sum()])
        (r, y), _ = multilevel_profiles(body.params)
        body.set("x_z_ratio", [1.0])
        return r, y
    body.set("thickness", [rng.uniform(0.0015, 0.003)])
    body.set("x_z_ratio", [1.0])
    profile = semi_spherical_profile if spec is SEMI_SPHERICAL_BODY \
        else spherical_cylindrical_profile
    return profile(body.params)


def _place_lid(lid: SampledInstance, rim_r: float, rim_y: float,
               rng: np.random.Generator) -> float:
    """Seat the lid on the rim; return the height of its top (knobs included)."""
    bottom = rim_r * rng.uniform(1.0, 1.08) + 0.001
    height = rng.uniform(0.008, 0.028)
    skirt = rng.uniform(0.002, 0.006)
    depth = height * rng.uniform(0.2, 0.55)
    top = bottom * rng.uniform(0.55, 0.95)
    lid.set("outer_size", [top, bottom, height])
    lid.set("inner_size", [(bottom - skirt) * rng.uniform(0.8, 1.0), bottom - skirt, depth])
    knobs = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
    lid.set("num_knobs", [knobs])
    previous = rng.uniform(0.006, 0.015)
    total = height
    for k in range(1, knobs + 1):
        knob_top = rng.uniform(0.004, 0.022) if k < knobs else rng.uniform(0.003, 0.012)
        knob_h = rng.uniform(0.004, 0.015)
        lid.set(f"knob_{k}_size", [knob_top, previous, knob_h])
        previous, total = knob_top, total + knob_h
    lid.set("position", [0.0, rim_y - 0.001, 0.0])
    return rim_y + total


def _place_u_handle(handle: SampledInstance, body: SampledInstance, r, y, lid_r: float,
                    lid_top: float, rng: np.random.Generator) -> float:
    """Stand the U handle over the lid, spanning front to back; return the height of its feet."""
    thick = rng.uniform(0.003, 0.007) if handle.template is ROUND_U_HANDLE \
        else rng.uniform(0.002, 0.005)
    if body.template is MULTILEVEL_BODY:
        half = r[-1] + thick * 0.7  # posts alongside the top level's wall
        foot = y[-1] - rng.uniform(0.01, 0.03)
    else:
        h = body["horizontal_axis"][0]
        low = lid_r + thick + 0.006
        half = min(max(low, h * rng.uniform(0.45, 0.8)), 0.92 * h)
        upper = y >= 0.0  # the dome: radius falls as y rises
        foot = float(np.interp(-half, -r[upper], y[upper])) - EMBED
    clearance = rng.uniform(0.03, 0.05)
    post = max(lid_top + clearance - foot - half + thick, 0.002) + rng.uniform(0.0, 0.02)
    if handle.template is ROUND_U_HANDLE:
        handle.set("mounting_radius", [thick])
        handle.set("vertical_length", [post])
    else:
        handle.set("vertical_size", [rng.uniform(0.012, 0.03), post, thick * 2])
    handle.set("vertical_separation", [2 * half])
    handle.set("position", [0.0, foot, 0.0])
    return foot


def _place_side_handle(handle: SampledInstance, r, y, top_limit: float,
                       rng: np.random.Generator) -> None:
    """Mount the side handle on the back (-z) of the body between two heights."""
    bottom_y, span = y[0], y[-1] - y[0]
    y_top = min(bottom_y + span * rng.uniform(0.65, 0.9), top_limit)
    y_bot = min(bottom_y + span * rng.uniform(0.12, 0.4), y_top - 0.35 * span)
    y_bot = max(y_bot, bottom_y + 0.05 * span)
    r_top, r_bot = np.interp(y_top, y, r), np.interp(y_bot, y, r)
    between = np.linspace(y_bot, y_top, 16)
    widest = float(np.max(np.interp(between, y, r)))
    reach = widest + rng.uniform(0.035, 0.06)  # grip distance from the axis
    spec = handle.template
    if spec is TRIFOLD_HANDLE:
        arm_x, arm_y = rng.uniform(0.01, 0.02), rng.uniform(0.008, 0.014)
        grip_z = handle.set("vertical_thickness", [arm_x, rng.uniform(0.01, 0.018)])[1]
        handle.set("horizontal_thickness", [arm_x, arm_y])
        sep = y_top - y_bot
        drops = sep * rng.uniform(0.0, 0.15, 2)
        lengths, tilts = [], []
        for k, (root_r, sign) in enumerate(((r_top, 1.0), (r_bot, -1.0))):
            run = reach - grip_z / 2 - (root_r - EMBED)
            lengths.append(np.hypot(run, drops[k]))
            tilts.append(sign * np.degrees(np.arctan2(drops[k], run)))
        handle.set("horizontal_separation", [sep])
        handle.set("horizontal_length", lengths)
        handle.set("horizontal_rotation", tilts)
        handle.set("mounting_offset", [r_top - r_bot])
        handle.set("position", [0.0, (y_top + y_bot) / 2, -(r_bot - EMBED)])
    elif spec is CYLINDRICAL_HANDLE:
        y_h = bottom_y + span * rng.uniform(0.45, 0.75)
        tilt = rng.uniform(5.0, 35.0)
        handle.set("size", [rng.uniform(0.008, 0.014), rng.uniform(0.011, 0.018),
                            rng.uniform(0.08, 0.14)])
        handle.set("position", [0.0, y_h, -(np.interp(y_h, y, r) - 1.5 * EMBED)])
        handle.set("rotation", [tilt, 0.0, 0.0])
    else:
        chord = (y_top - y_bot) / 2
        end_z = -(min(r_top, r_bot) - EMBED)
        depth = reach + end_z  # from the ends back to the farthest point of the arc
        half = np.clip(2 * np.arctan(depth / chord), np.radians(20.0), np.radians(150.0))
        central = chord / np.sin(half)
        if spec is CURVED_HANDLE:
            tube = rng.uniform(0.006, 0.011)
            central = handle.set("radius", [central, tube])[0]
        else:
            width = rng.uniform(0.008, 0.016)
            outer = handle.set("size", [central + width / 2, central - width / 2,
                                        rng.uniform(0.01, 0.02)])
            central = (outer[0] + outer[1]) / 2
        half = np.radians(handle.set("exist_angle", [np.degrees(2 * half)])[0]) / 2
        handle.set("position", [0.0, (y_top + y_bot) / 2, end_z + central * np.cos(half)])


def _wall_min(r, y, y0: float, y1: float) -> float:
    return float(np.min(np.interp(np.linspace(y0, y1, 9), y, r)))


def _layout_straight_spout(spout: SampledInstance, shape: dict, angles: list[float],
                           base_y: float, tip_y: float, r, y) -> float:
    """Size a Straight_Spout based at ``base_y`` to reach ``tip_y``; return the z of its base
    centre, deep enough in the wall for the whole (square) base cut to be inside the body."""
    n, theta, radii = len(angles), np.radians(angles), shape["radii"]
    rise = tip_y - base_y
    start = 0.0
    for k in range(n):
        if k + 1 < n:  # mitre cut shared with the next segment
            end = 2 * radii[k + 1] * np.tan((theta[k + 1] - theta[k]) / 2)
        else:  # outlet cut between square and level
            end = shape["cut"] * 2 * radii[k + 1] / np.tan(theta[k])
        mean = rise * shape["shares"][k] / np.sin(theta[k])
        name = f"spout_{k + 1}"
        spout.set(f"{name}_radius", [radii[k + 1], radii[k]])
        spout.set(f"{name}_thinkness", [shape["thinkness"]])
        spout.set(f"{name}_length", [mean - (end - start) / 2, mean + (end - start) / 2])
        spout.set(f"{name}_generatrix_offset", [(end + start) / 2])
        spout.set(f"{name}_rotation", [angles[k]])
        start = -end
    rim = np.linspace(-1.0, 1.0, 9) * radii[0]  # across the base cut, upper side positive
    wall = np.interp(base_y + rim * np.cos(theta[0]), y, r) + rim * np.sin(theta[0])
    return float(wall.min()) - 0.002


def _place_spout(spout: SampledInstance, r, y, rng: np.random.Generator) -> None:
    """Mount the spout on the front (+z) with its outlet about rim height and a short reach,
    based as low as it can be while clearing the belly."""
    bottom_y, span = y[0], y[-1] - y[0]
    tip_y = y[-1] + rng.uniform(-0.02, 0.005)
    lowest = bottom_y + span * rng.uniform(0.12, 0.35)
    max_reach = rng.uniform(0.06, 0.11)  # horizontal run of the spout beyond its base
    straight = spout.template is STRAIGHT_SPOUT
    if straight:
        n = 1 if rng.random() < 0.7 else 2
        spout.set("num_of_sub_spouts", [n])
        angles = [rng.uniform(40.0, 65.0)]
        if n == 2:
            angles.append(angles[0] * rng.uniform(0.45, 0.85))
        radii = [rng.uniform(0.01, 0.018)]
        for _ in range(n):
            radii.append(radii[-1] * rng.uniform(0.5, 0.85))
        first = 1.0 if n == 1 else rng.uniform(0.55, 0.8)
        shape = {"angles": angles, "radii": radii, "shares": [first, 1.0 - first],
                 "cut": rng.uniform(0.2, 0.8),
                 "thinkness": min(rng.uniform(0.0007, 0.0014), 0.5 * min(radii[1:]) - 0.0006)}
    else:
        e0 = rng.uniform(55.0, 90.0)
        e1 = e0 * rng.uniform(0.5, 1.3)
        q = rng.uniform(0.4, 1.0)
        a0, a1 = np.radians(e0), np.radians(e1)
        unit_rise = (1 - np.cos(a0)) + q * (np.cos(a0 - a1) - np.cos(a0))
        unit_run = np.sin(a0) + q * (np.sin(a0) - np.sin(a0 - a1))
        spout.set("exist_angle", [e0, e1])
        r0 = rng.uniform(0.008, 0.014)
        spout.set("torus_radius", [r0, r0 * rng.uniform(0.65, 0.85),
                                   r0 * rng.uniform(0.4, 0.6)])
    tries = [(low, scale) for low in np.linspace(lowest, max(lowest, tip_y - 0.03), 8)
             for scale in ((1.0, 0.85, 0.7) if straight else (1.0,))]
    for low, scale in tries:
        if straight:
            angles = [a * scale for a in shape["angles"]]
            run_per_rise = sum(shape["shares"][k] / np.tan(np.radians(angles[k]))
                               for k in range(len(angles)))
            base_y = max(low, tip_y - max_reach / run_per_rise)
            base_z = _layout_straight_spout(spout, shape, angles, base_y, tip_y, r, y)
            path, tube = straight_spout_path(spout.params), shape["radii"][-1]
        else:
            c0 = np.clip(min((tip_y - low) / unit_rise, max_reach / unit_run), 0.02, 0.1)
            c0 = spout.set("central_radius", [c0, c0 * q])[0]
            base_y = tip_y - c0 * unit_rise
            base_z = _wall_min(r, y, base_y - r0, base_y + r0) - 0.003
            path, radius = gooseneck_path(spout.params)
            tube = radius[len(path) // 3:].max()
        spout.set("position", [0.0, base_y, base_z])
        # Past its first third the spout must be clear of the body's wall.
        outer = path[len(path) // 3:] + [base_y, base_z]
        if np.all(outer[:, 1] > np.interp(outer[:, 0], y, r) + tube + 0.002):
            break


def _assemble(parts: dict[str, list[SampledInstance]], rng: np.random.Generator) -> None:
    body = parts["body"][0]
    r, y = _shape_body(body, rng)
    lid = parts["cover"][0]
    u_handles = parts["U_handle"]
    lid_top = _place_lid(lid, r[-1], y[-1], rng)
    top_limit = y[-1]
    for handle in u_handles:
        foot = _place_u_handle(handle, body, r, y, lid["outer_size"][1], lid_top, rng)
        top_limit = min(top_limit, foot - 0.012)  # keep the side handle below the U posts
    _place_side_handle(parts["handle"][0], r, y, top_limit, rng)
    _place_spout(parts["spout"][0], r, y, rng)


CATEGORY = Category(
    "Kettle", "A kettle: hollow body, lid, back handle, optional top handle, spout.",
    (Slot("body", (SEMI_SPHERICAL_BODY, SPHERICAL_CYLINDRICAL_BODY, MULTILEVEL_BODY)),
     Slot("cover", (STANDARD_COVER,)),
     Slot("handle", (TRIFOLD_HANDLE, CURVED_HANDLE, RING_HANDLE, CYLINDRICAL_HANDLE)),
     Slot("U_handle", (ROUND_U_HANDLE, FLAT_U_HANDLE), min_count=0),
     Slot("spout", (STRAIGHT_SPOUT, CURVED_SPOUT))),
    _assemble, removal_rate=0.6)
